"""JAX: the same scalar-operation code traced by jax.jit(value_and_grad) and compiled by XLA (CPU, float64)."""

import types

from benchmarks import tasks

LABEL = "JAX jit"
REQUIRES = ("jax",)


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _compiled(f, point):
    """Set-up: trace and compile (XLA compiles on the first call); the call: value and gradient."""
    jax = _jax()
    import jax.numpy as jnp

    fn = jax.jit(jax.value_and_grad(f))
    x = jnp.asarray(point, dtype=jnp.float64)
    jax.block_until_ready(fn(x))

    def call():
        value, grad = jax.block_until_ready(fn(x))
        return [float(value), *map(float, grad)]

    return call


def micrograd(size):
    jax = _jax()
    return _compiled(lambda v: tasks.micrograd_expression(v[0], v[1], jax.nn.relu), list(tasks.MICROGRAD_POINT))


def rosenbrock(n):
    return _compiled(lambda v: tasks.rosenbrock_expression([v[i] for i in range(n)]), tasks.rosenbrock_point(n))


def chain(depth):
    import jax.numpy as jnp

    return _compiled(lambda v: tasks.chain_expression(v[0], depth, jnp.sin), [tasks.CHAIN_START])


def hessian(n):
    jax = _jax()
    import jax.numpy as jnp

    def f(v):
        return tasks.rosenbrock_expression([v[i] for i in range(n)])

    fn = jax.jit(lambda v: (f(v), jax.grad(f)(v), jax.hessian(f)(v)))
    x = jnp.asarray(tasks.rosenbrock_point(n))
    jax.block_until_ready(fn(x))

    def call():
        value, grad, rows = jax.block_until_ready(fn(x))
        return [float(value), *map(float, grad), *map(float, rows.ravel())]

    return call


def moons(steps):
    """Full batch with matmuls (JAX's natural form), one jitted SGD step."""
    jax = _jax()
    import jax.numpy as jnp
    import numpy as np

    X, y = tasks.moons_data()
    data, labels = jnp.asarray(X), jnp.asarray(y)
    start = [tuple(map(jnp.asarray, layer)) for layer in tasks.layer_arrays(tasks.initial_parameters(), np)]

    def loss(layers):
        act = data
        for i, (W, b) in enumerate(layers):
            act = act @ W.T + b
            if i < len(layers) - 1:
                act = jax.nn.relu(act)
        scores = act[:, 0]
        reg = sum((W * W).sum() + (b * b).sum() for W, b in layers)
        return jax.nn.relu(1 - labels * scores).mean() + tasks.ALPHA * reg, scores

    @jax.jit
    def step(layers, lr):
        (value, scores), grads = jax.value_and_grad(loss, has_aux=True)(layers)
        new = [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(layers, grads)]
        return new, value, scores

    jax.block_until_ready(step(start, 1.0))

    def call():
        layers = start
        for k in range(steps):
            layers, value, scores = step(layers, tasks.learning_rate(k))
        return [float(value), float(jnp.mean((scores > 0) == (labels > 0)))]

    return call


def points(n):
    jax = _jax()
    import jax.numpy as jnp

    functions = types.SimpleNamespace(tanh=jnp.tanh, sigmoid=jax.nn.sigmoid, exp=jnp.exp, log=jnp.log,
                                      sin=jnp.sin, cos=jnp.cos, relu=jax.nn.relu)

    def single(p, a, c):
        return tasks.point_loss(*p, a, c, functions)

    per_point = jax.vmap(jax.value_and_grad(single), in_axes=(None, 0, 0))

    @jax.jit
    def mean_value_and_grad(p, a, c):
        values, grads = per_point(p, a, c)
        return values.mean(), tuple(g.mean() for g in grads)

    p = tuple(jnp.asarray(v) for v in tasks.PARAMS)
    a, c = (jnp.asarray(v) for v in tasks.points_data(n))
    jax.block_until_ready(mean_value_and_grad(p, a, c))

    def call():
        value, grads = jax.block_until_ready(mean_value_and_grad(p, a, c))
        return [float(value), *map(float, grads)]

    return call
