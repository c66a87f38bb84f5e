"""micrograd's ``nn`` (Neuron, Layer, MLP) on symgrad Values, plus a compile-once training path.

The classes and their initialisation are micrograd's: weights drawn from
``random.uniform(-1, 1)`` in the same order, biases 0, ReLU on every layer
but the last. Eager training works exactly as in micrograd (build the loss
from Values, ``zero_grad()``, ``loss.backward()``, update ``p.data``).

The compile-once path builds the loss *symbolically* once and compiles it::

    >>> from symgrad.nn import MLP
    >>> model = MLP(2, [4, 1])
    >>> loss_fn = model.compile_loss(lambda score, y: (1 - y * score).relu(), [[0.5, -1.0]], [1.0])
    >>> model.zero_grad()
    >>> loss, scores = loss_fn()       # value and gradient at the current p.data; p.grad += ...
    >>> for p in model.parameters():
    ...     p.data -= 0.1 * p.grad

Each call then runs generated straight-line code: one compiled function per
sample shape (its arguments: the parameters as one vector ``theta``, a sample's
features ``x`` and its target ``y``), called for every sample (or once for the
whole data set as arrays, ``backend="numpy"``), and one for the regularisation term.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from symgrad import shapes
from symgrad.compiler import CompiledFunction
from symgrad.compiler import compile as compile_fn
from symgrad.engine import Value
from symgrad.expr import Expr, as_expr, symbol


class Module:
    """Something with parameters."""

    if TYPE_CHECKING:  # each kind of module defines it, as in micrograd: a model is called on its inputs
        def __call__(self, x: Sequence[Any]) -> Any: ...

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0 (gradients accumulate, as in micrograd)."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []

    def compile_loss(
        self,
        sample_loss: Callable[[Any, Any], Any],
        inputs: Sequence[Sequence[float]],
        targets: Sequence[Any],
        *,
        reduce: str = "mean",
        regularization: Callable[[list[Any]], Any] | None = None,
        backend: str = "python",
        strategy: str = "auto",
    ) -> CompiledLoss:
        """Compile ``reduce_i sample_loss(model(x_i), y_i) + regularization(parameters)``.

        ``sample_loss(output, target)`` is traced once with symbols for the
        parameters (the elements of one vector ``theta``), the input features
        (of a vector ``x``) and the target; ``regularization`` (optional) once
        with the parameters. ``reduce`` is "mean" or "sum".
        ``backend="numpy"`` evaluates the whole data set as arrays in one call
        (full batch) instead of a Python loop over samples; ``strategy`` is ``sg.compile``'s
        (``"auto"`` batches its groups into a few matrix products where that is faster).
        See ``CompiledLoss`` for what a call does.
        """
        return CompiledLoss(self, sample_loss, inputs, targets, reduce, regularization, backend, strategy)


class Neuron(Module):
    def __init__(self, nin: int, nonlin: bool = True) -> None:
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Any]) -> Any:
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> Any:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    def __init__(self, nin: int, nouts: list[int]) -> None:
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]
        for i, layer in enumerate(self.layers):  # names in backward()'s code: w_layer_neuron_input
            for j, neuron in enumerate(layer.neurons):
                for k, w in enumerate(neuron.w):
                    w.label = f"w_{i}_{j}_{k}"
                neuron.b.label = f"b_{i}_{j}"

    def __call__(self, x: Sequence[Any]) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


class CompiledLoss:
    """A model's loss over a data set, compiled once; calling it is one training step's work.

    ``loss_fn()`` evaluates the loss and its gradient at the parameters'
    current ``.data``, adds the gradient to each parameter's ``.grad`` (as
    ``backward()`` would) and returns ``(loss, outputs)``: the loss value and
    the model's output for every sample (for accuracy, say).

    The loss is traced with one vector of symbols ``theta`` for the model's P parameters
    (``model.parameters()[k]`` is ``theta[k]``), one ``x`` for a sample's features and ``y``
    for its target (a vector where targets are lists), so the compiled function takes three
    arguments: ``sample_loss_and_grad(theta, x, y)`` returns the loss, its gradient by
    ``theta`` as one array of P, and the model's outputs. The Python backend calls it once per
    sample; ``backend="numpy"`` once with the whole data set (``x`` an N × features array,
    ``y`` N targets: a batch), reduced over it.
    """

    def __init__(self, model: Module, sample_loss: Callable[[Any, Any], Any], inputs: Sequence[Sequence[float]],
                 targets: Sequence[Any], reduce: str, regularization: Callable[[list[Any]], Any] | None,
                 backend: str = "python", strategy: str = "auto") -> None:
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
        if len(inputs) != len(targets) or not inputs:
            raise ValueError(f"need as many targets as inputs (and at least one): {len(inputs)} vs {len(targets)}")
        self.params = model.parameters()
        if not self.params or not len(inputs[0]):
            raise ValueError("compile_loss needs a model with parameters and samples of at least one feature")
        numpy = shapes.numpy_module()  # arrays of symbols need NumPy
        self.inputs = numpy.array([[float(v) for v in row] for row in inputs])  # N × features
        several = isinstance(targets[0], (list, tuple))
        self.targets = numpy.array([[float(v) for v in t] if several else float(t) for t in targets])
        self.scale = 1.0 / len(inputs) if reduce == "mean" else 1.0
        theta = shapes.vector("theta", len(self.params))
        x = shapes.vector("x", self.inputs.shape[1])
        y: Any = shapes.vector("y", self.targets.shape[1]) if several else symbol("y")

        for p, s in zip(self.params, theta):
            p._symbol = s
        try:
            output = model(list(x))
            outputs = output if isinstance(output, list) else [output]
            loss = sample_loss(output, list(y) if several else y)
            array_code = {"backend": "numpy", "batch": [x, y], "reduce": reduce} \
                if backend == "numpy" else {"backend": backend}
            self.per_sample: CompiledFunction = compile_fn(
                as_expr(_expr(loss), "sample_loss"), wrt=theta, args=[theta, x, y], aux=[_expr(o) for o in outputs],
                name="sample_loss", strategy=strategy, **array_code,
            )
            self.regularization: CompiledFunction | None = None
            if regularization is not None:
                reg = _expr(regularization(self.params))
                self.regularization = compile_fn(reg, wrt=theta, args=[theta], name="regularization")
        finally:
            for p in self.params:
                p._symbol = None
        self.single_output = not isinstance(output, list)
        self.full_batch = backend == "numpy"
        self._samples = list(zip(self.inputs, self.targets.tolist() if not several else self.targets))

    def _theta(self) -> Any:
        """The parameters' current ``.data``, as the one vector the compiled code takes."""
        return shapes.numpy_module().fromiter((p.data for p in self.params), dtype=float, count=len(self.params))

    def __call__(self) -> tuple[float, list[Any]]:
        total, grad, aux = self._evaluate(self._theta())
        self._accumulate(grad)
        if self.full_batch:
            columns = [a.tolist() for a in aux]
            return total, columns[0] if self.single_output else [list(row) for row in zip(*columns)]
        return total, [row[0] if self.single_output else list(row) for row in aux]

    def loss_and_grad(self, theta: Any) -> tuple[float, Any, Any]:
        """The loss and its gradient at the parameter vector ``theta`` (P floats in
        ``model.parameters()`` order), and the model's outputs (an array of N, or N × outputs),
        reading and writing no ``Value``: a training loop over one vector (``theta -= lr * grad``)
        skips the Python work per parameter that ``loss_fn()`` does."""
        numpy = shapes.numpy_module()
        total, grad, aux = self._evaluate(numpy.asarray(theta, dtype=float))
        if self.full_batch:  # an array per output
            return total, grad, aux[0] if self.single_output else numpy.stack(aux, axis=-1)
        outputs = numpy.array(aux, dtype=float)  # a row per sample
        return total, grad, outputs[:, 0] if self.single_output else outputs

    def _evaluate(self, theta: Any) -> tuple[float, Any, Any]:
        """Loss, gradient and the outputs (per output an array, or per sample a tuple) at ``theta``."""
        if self.full_batch:
            value, grad, aux = self.per_sample._call(theta, self.inputs, self.targets)  # reduced over the batch
            total = float(value)
        else:
            total, grad, aux = 0.0, shapes.numpy_module().zeros(len(self.params)), []
            fn = self.per_sample._call
            for x, y in self._samples:
                value, g, outputs = fn(theta, x, y)
                total += value
                grad += g
                aux.append(outputs)
            total *= self.scale
            grad = grad * self.scale
        if self.regularization is not None:
            reg_value, reg_grad = self.regularization(theta)
            total += reg_value
            grad = grad + reg_grad
        return total, grad, aux

    def _accumulate(self, grad: Any) -> None:
        for p, g in zip(self.params, grad.tolist()):
            p.grad += g

    def __repr__(self) -> str:
        samples, features = self.inputs.shape
        how = "full batch, array code" if self.full_batch else "a loop over the samples"
        extra = " + regularization" if self.regularization is not None else ""
        return (f"<CompiledLoss of {len(self.params)} parameters over {samples} samples of {features} features "
                f"({how}){extra}; {self.per_sample.stats.lines} lines per sample>")

    @property
    def source(self) -> str:
        """The generated per-sample function (and the regularisation's, if any)."""
        return self.per_sample.source + ("\n" + self.regularization.source if self.regularization else "")


def _expr(item: Any) -> Expr:
    return item.expr() if isinstance(item, Value) else as_expr(item)
