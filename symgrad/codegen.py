"""Schedule and emit: an expression DAG as one straight-line Python function.

Nodes are scheduled in topological order. A node used more than once (or
an output) gets one local; a node used once is written inside its consumer
while the line stays short (at most the backend's ``inline_ops`` operations
per inlined piece), so no line nests deeply enough to trouble CPython's
compiler. Every piece of text comes from an op's ``Template`` in
``symgrad.ops``, a number literal, or an identifier made by ``identifier``:
a user's label can never reach the source as code.
"""

from __future__ import annotations

import itertools
import operator
from collections import _count_elements  # type: ignore[attr-defined]  # Counter's counting loop
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad import chunks
from symgrad.array_code import ARRAY_LOCALS
from symgrad.backends import BASE_NAMESPACE_NAMES, PYTHON, Backend, reserved_names
from symgrad.expr import Expr, to_text, topological_order
from symgrad.literals import format_number
from symgrad.names import Namer, Temporaries, comment_text, identifier
from symgrad.ops import ATOM, CONST, UNARY
from symgrad.sections import Section
from symgrad.shapes import Parameter, scalar

# Functions of more nodes than this reuse the names of dead temporaries (few live locals run
# faster: see names.Temporaries); smaller ones keep one name per value, which reads more easily.
REUSE_NAMES_ABOVE = 1000
_INDENT = "        "  # inside def + try
_EXACT_INTEGERS = 2**53  # integers up to this size are exact as floats


class LineNodes(Mapping[int, Expr]):
    """Line number (1-based) -> the node assigned there: a list slot per line from ``first`` on,
    None where no node is. A function of millions of lines keeps this for its errors, and a dict
    of int keys costs about ten times the memory of a list."""

    __slots__ = ("first", "nodes")

    def __init__(self, first: int = 1, nodes: list[Expr | None] | None = None) -> None:
        self.first = first
        self.nodes = [] if nodes is None else nodes

    def __getitem__(self, lineno: int) -> Expr:
        index = lineno - self.first
        node = self.nodes[index] if 0 <= index < len(self.nodes) else None
        if node is None:
            raise KeyError(lineno)
        return node

    def __iter__(self) -> Iterator[int]:
        return (self.first + i for i, node in enumerate(self.nodes) if node is not None)

    def __len__(self) -> int:
        return len(self.nodes) - self.nodes.count(None)


@dataclass
class Emitted:
    """Generated source and what is needed to run it and explain its failures."""

    source: str
    function_name: str
    param_names: list[str]
    namespace_names: set[str]
    # line number (1-based) -> the node assigned there (its inlined pieces are found on demand):
    # a LineNodes, or {} for code whose lines assign no node (vectorised code)
    line_nodes: Mapping[int, Expr] = field(default_factory=LineNodes)
    shared: int = 0  # computed nodes used more than once (what hash-consing shares)
    backend: str = "python"
    # The local each parameter symbol is read from (an array parameter's elements: ``x_0``...),
    # and the parameters that are scalars, which the prologue checks as floats.
    symbol_names: list[str] = field(default_factory=list)
    scalar_names: list[str] = field(default_factory=list)


# How each computed node reads in the code: (text, precedence, operations written inline);
# 0 operations means a name or a literal.
_Text = tuple[str, int, int]


def _literal(value: int | float) -> _Text:
    # Inputs are converted to floats, so an integer constant is written as the float it becomes anyway:
    # CPython specialises float-float arithmetic, not int-float.
    if type(value) is int and abs(value) <= _EXACT_INTEGERS:
        value = float(value)
    elif type(value) is not float:
        CONST.check_param(value)
    text = format_number(value)
    return text, (UNARY if text.startswith("-") else ATOM), 0


def _formatter(template: Any) -> Callable[[list[str]], str]:
    """``text.format(*parts)``, done faster for the shapes most templates have: ``a + b``
    (a join) and ``f(a)`` (a concatenation). str.format parses its text on every call."""
    text, pieces = template.text, template.pieces()
    fields = [piece for piece in pieces if isinstance(piece, int)]
    if len(pieces) == 3 and pieces[0] == 0 and pieces[2] == 1:
        return str(pieces[1]).join
    if fields == [0]:
        at = pieces.index(0)
        before, after = "".join(pieces[:at]), "".join(pieces[at + 1 :])
        return lambda parts: before + parts[0] + after
    return lambda parts: text.format(*parts)


class TemplateCache:
    """Each op's template for a param, and its formatter, looked up once: ops without a param
    print the same template every time, and an integer param (``x**2``) recurs all over a graph."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        # What the hot loop reads without a call, for a node without a param: its op's entry.
        self.found: dict[Any, tuple[Any, Callable[[list[str]], str]]] = {}

    def __call__(self, op: Any, param: Any) -> tuple[Any, Callable[[list[str]], str]]:
        key = op if param is None else (op, param)
        found = self.found.get(key)
        if found is None:
            template = self._backend.template(op, param)
            found = (template, _formatter(template))
            if param is None or type(param) is int:  # a float key would merge 0.0 and -0.0
                self.found[key] = found
        return found


def emit_function(
    name: str,
    params: Sequence[Expr],
    sections: Sequence[Section],
    returns: str,
    *,
    annotate: bool = False,
    header: Callable[[Mapping[Expr, str]], str] | None = None,
    order: list[Expr] | None = None,
    backend: Backend = PYTHON,
    batch: Sequence[Expr] = (),
    signature: Sequence[Parameter] | None = None,
) -> Emitted:
    """One ``def`` computing every section's outputs; ``returns`` formats their names.

    ``returns`` uses ``{0}``, ``{1}``... for the outputs of all sections in order, and
    ``{p[i]}`` for the local ``params[i]`` is read from (an array parameter's element: ``x_0``).
    ``header(names)`` writes the opening comment, given each parameter's identifier.
    ``order`` may pass ``topological_order`` of all the outputs if the caller has it.
    ``backend`` picks scalar Python (``PYTHON``) or array code (``ARRAY``, whose
    prologue binds ``xp`` and ``batch_shape``, the shape of the ``batch`` parameters).
    ``signature`` groups ``params`` into the function's arguments (default: one per symbol); an array
    parameter is one argument, unpacked into its elements on entry (floats, or views in array code).
    """
    emitter = _Emitter(name, params, sections, order, backend, annotate, signature)
    emitter.render()
    return emitter.assemble(returns, header, batch)


def emit_statements(sections: Sequence[Section], inputs: Mapping[Expr, str], namer: Namer, *,
                    annotate: bool = False) -> tuple[list[str], list[str], set[str]]:
    """Lines of scalar code (indented for a function's ``try``) computing the sections' outputs from
    ``inputs``, symbols whose values locals already hold (by name); temporaries and outputs are named
    by ``namer``, which the caller shares with the rest of its function. Also the text each output
    reads as (its name, or a literal), and the namespace names the lines use."""
    emitter = _Emitter("", list(inputs), sections, None, PYTHON, annotate, None, (namer, inputs))
    emitter.render()
    lines, texts = emitter.statements()
    return lines, texts, set().union(*(PYTHON.namespace(op) for op in emitter.ops_used))


class _Emitter:
    """The making of one function, a method per step (the shape of tangent's ``ReverseAD``
    visitor and SymPy's printers): ``__init__`` names the function, its parameters and its
    outputs and counts each node's uses; ``render`` writes the body, section by section;
    ``assemble`` wraps it in the signature, the prologue and the ``try``. Within the body,
    ``assign``, ``update_in_place`` and ``write`` each write one line.

    ``text_of`` maps each node rendered so far to how it reads (``_Text``); ``body`` holds
    the body's lines and ``body_nodes`` the node each of them assigns (None: a comment), line for line.
    """

    def __init__(self, name: str, params: Sequence[Expr], sections: Sequence[Section],
                 order: list[Expr] | None, backend: Backend, annotate: bool,
                 signature: Sequence[Parameter] | None,
                 within: tuple[Namer, Mapping[Expr, str]] | None = None) -> None:
        self.params = params
        self.own_locals = within is not None  # each named output in a local of its own, which the caller may reassign
        if within is None:
            self.namer = namer = Namer(reserved_names())
            self.function_name = namer.claim(identifier(name))
            self.signature = [scalar(p) for p in params] if signature is None else signature
            self.param_names = [namer.claim(identifier(p.name)) for p in self.signature]
            self.param_text = {p.elements[0]: n for p, n in zip(self.signature, self.param_names) if not p.is_array}
            for p in self.signature:
                if p.is_array:
                    self.param_text.update((e, namer.claim(identifier(e.param))) for e in p.elements)
        else:  # lines within a function of the caller's (emit_statements): its namer, its locals
            self.namer = namer = within[0]
            self.param_text = dict(within[1])
            self.function_name, self.signature, self.param_names = name, [], []
        self.text_of: dict[Expr, _Text] = {p: (n, ATOM, 0) for p, n in self.param_text.items()}
        self.sections = sections
        self.outputs = [o for s in sections for o in s.outputs]
        self.order = order = topological_order(self.outputs) if order is None else order
        self.uses = self._count_uses()
        self.shared = sum(1 for node, n in self.uses.items() if n > 1 and node.args)
        self._name_outputs()
        self._write_leaves()
        self.backend = backend
        self.annotate = annotate
        self.ops_used = set(map(_op_of, order))
        # In place only where every op is one of ours (a registered primitive may not be element-wise).
        self.in_place = backend.in_place and not any(op.user for op in self.ops_used)
        # ``uses`` is counted down as lines are written: by then it has been read for each node.
        # In-place updates read an operand's text after its last reference is written: texts stay.
        self.temporaries = Temporaries(namer, self.uses, reuse=self.in_place or len(order) > REUSE_NAMES_ABOVE,
                                       texts=None if self.in_place else self.text_of)
        self.template_of = TemplateCache(backend)
        self.depends = _dependencies(order, params) if self.in_place else {}
        self.body: list[str] = []
        self.body_nodes: list[Expr | None] = []

    def _count_uses(self) -> dict[Expr, int]:
        """How many references each node has: as an argument, as an output."""
        # A plain dict (read faster in the hot loop than a Counter), counted in place by Counter's
        # own C helper: a Counter copied into a dict would hold both at once, millions of entries.
        uses: dict[Expr, int] = {}
        _count_elements(uses, itertools.chain.from_iterable(map(_args_of, self.order)))
        _count_elements(uses, self.outputs)
        # An unnamed output still gets a line of its own (a name the return can read), not inlined there.
        _count_elements(uses, (out for section in self.sections for out, wanted in zip(section.outputs, section.names)
                               if wanted is None))
        return uses

    def _name_outputs(self) -> None:
        """Outputs that are computed nodes take their wanted name (``named_output``). The rest (a
        constant, a parameter, a node returned before) and an output wanted under no name (None)
        are read, in the return, under whatever text their node has: an all-constant gradient is
        then a constant tuple, which the code loads rather than builds. Lines within a caller's
        function (``emit_statements``) give every named output a local of its own: the rest are
        ``aliases``, assigned at the end."""
        self.output_names: list[str | None] = []
        self.named_output: dict[Expr, str] = {}
        self.aliases: list[tuple[str, Expr]] = []  # (lines within a caller's function: outputs it may reassign)
        for section in self.sections:
            for out, wanted in zip(section.outputs, section.names):
                if wanted is None or ((not out.args or out in self.named_output) and not self.own_locals):
                    self.output_names.append(None)
                    continue
                out_name = self.namer.claim(identifier(wanted))
                self.output_names.append(out_name)
                if out.args and out not in self.named_output:
                    self.named_output[out] = out_name
                else:
                    self.aliases.append((out_name, out))

    def _write_leaves(self) -> None:
        """The text of each constant; a symbol that is not a parameter is refused."""
        for node in self.order:
            if not node.args:
                if node.op is CONST:
                    self.text_of[node] = _literal(node.param)
                elif node not in self.param_text:
                    raise ValueError(
                        f"the expression uses the symbol {node.param!r}, which is not an argument "
                        f"(arguments: {', '.join(p.param for p in self.params) or 'none'})"
                    )

    def render(self) -> None:
        """Write the body: each section's heading, then its own nodes."""
        starts = _section_starts(self.sections, self.order)
        bounds = [*sorted(starts), len(self.order)]
        for begin, end in itertools.pairwise(bounds):
            section = starts[begin]
            if section.heading:
                self.body.append(f"{_INDENT}# {section.heading}")
                self.body_nodes.append(None)
            self._render_nodes(itertools.islice(self.order, begin, end), section.prefix)

    def _render_nodes(self, nodes: Iterable[Expr], prefix: str) -> None:
        """The hot loop of code generation: each computed node's text, from its template's
        formatter and its arguments' texts (``_render``'s work, written out here; ``_render``
        re-renders a failing line), is inlined into its consumer or written on a line of its own; the
        temporaries its text reads are gathered in the same pass over its arguments. What the
        loop reads is bound to locals first."""
        text_of, uses, named_output = self.text_of, self.uses, self.named_output
        live, pending = self.temporaries.live, self.temporaries.pending
        template_of, assign, update_in_place = self.template_of, self.assign, self.update_in_place
        in_place, known_template = self.in_place, self.template_of.found.get
        inline_ops = self.backend.inline_ops
        forget_inlined = not in_place  # in-place updates read an operand's text after this loop
        for node in nodes:
            args = node.args
            if not args:
                continue
            found = known_template(node.op) if node.param is None else None
            template, format_parts = template_of(node.op, node.param) if found is None else found
            parts = []
            references: list[Expr] = []
            count = 1
            for arg, need in zip(args, template.arg_prec):
                text, prec, ops = text_of[arg]
                if not ops:  # a name (maybe of a temporary) or a literal
                    if arg in live:
                        references.append(arg)
                elif need >= ATOM:  # the template repeats this inlined argument: compute it once
                    text, prec, ops = assign(arg, text, pending.pop(arg, []), prefix)
                    if arg in live:
                        references.append(arg)
                else:
                    count += ops
                    if arg in pending:
                        references.extend(pending.pop(arg))
                    if forget_inlined:  # its one consumer is this node: the text is read here only
                        del text_of[arg]
                parts.append(f"({text})" if prec < need else text)
            code = format_parts(parts)
            if count <= inline_ops and uses[node] == 1 and node not in named_output:
                text_of[node] = (code, template.prec, count)
                if references:
                    pending[node] = references
            elif not (in_place and update_in_place(node, template, references)):
                assign(node, code, references, prefix)

    def assign(self, node: Expr, code: str, references: list[Expr], prefix: str) -> _Text:
        """Write ``local = code``, ``local`` being ``node``'s output name or a temporary."""
        # Names freed by this very line may be its target: `t3 = t3 * x` reads before it writes.
        self.temporaries.written(references)
        local = self.named_output.get(node) or self.temporaries.claim(node, prefix)
        return self.write(node, local, f"{local} = {code}")

    def update_in_place(self, node: Expr, template: Any, references: list[Expr]) -> bool:
        """Write ``node`` as ``t op= other`` over an operand ``t`` this line reads last, if
        ``t`` holds a fresh array (every built-in template but a bare ``{0}`` makes one)
        whose shape the result keeps."""
        symbol = _AUGMENTED.get(template.text)
        if symbol is None or node in self.named_output:
            return False
        temporaries, depends = self.temporaries, self.depends
        a, b = node.args
        for target, other in ((a, b), (b, a)) if symbol in "+*" else ((a, b),):
            if (temporaries.last_read(target, references) and not depends[other] & ~depends[target]
                    and self.template_of(target.op, target.param)[0].text != "{0}"):
                name = temporaries.take_over(node, target, references)
                self.write(node, name, f"{name} {symbol}= {self.text_of[other][0]}")
                return True
        return False

    def write(self, node: Expr, local: str, statement: str) -> _Text:
        """Write the line ``statement``, which leaves ``node``'s value in ``local``."""
        self.body_nodes.append(node)
        if self.annotate:
            statement += "  # " + comment_text(to_text(node, limit=70, names=self.param_text))
        self.body.append(_INDENT + statement)
        self.text_of[node] = named = (local, ATOM, 0)
        return named

    def statements(self) -> tuple[list[str], list[str]]:
        """The body (closed by the aliases of lines within a caller's function), and the text each
        output reads as."""
        body, text_of = self.body, self.text_of
        for out_name, out in self.aliases:
            body.append(f"{_INDENT}{out_name} = {text_of[out][0]}")
        return body, [text_of[out][0] if n is None else n for n, out in zip(self.output_names, self.outputs)]

    def assemble(self, returns: str, header: Callable[[Mapping[Expr, str]], str] | None,
                 batch: Sequence[Expr]) -> Emitted:
        """The whole ``def``: signature, header comment, prologue, and the body (closed by the
        return) inside a ``try`` whose errors ``_explain`` rewrites."""
        body, returned = self.statements()
        symbol_names = [self.param_text[p] for p in self.params]
        body.append(f"{_INDENT}return {returns.format(*returned, p=symbol_names)}")

        function_name, param_names = self.function_name, self.param_names
        lines = [f"def {function_name}({', '.join(param_names)}):"]
        if header is not None:
            lines.append(f"    # {comment_text(header(self.param_text))}")
        scalar_names = [n for n, p in zip(param_names, self.signature) if not p.is_array]
        unpack = []
        for name, p in zip(param_names, self.signature):
            if p.is_array:  # its elements, checked (the name is an identifier, the shape ints)
                unpack.append(self.backend.unpack([self.param_text[e] for e in p.elements], name, p.shape))
        batch_set = set(batch)  # an array's elements are batch inputs together; the first has their leading dims
        batch_texts = [self.param_text[p.elements[0]] for p in self.signature if p.elements[0] in batch_set]
        lines.extend(self.backend.prologue(function_name, param_names, scalar_names, batch_texts, unpack))
        lines.append("    try:")
        if len(body) > chunks.CHUNK_FROM:  # compiled a chunk at a time (symgrad.chunks)
            prologue = [*param_names, *self.param_text.values(), *ARRAY_LOCALS]
            calls, chunk_lines, where = chunks.chunked(body, prologue, chunks.CHUNK_LINES, _INDENT)
            lines.extend(calls)
            offset = len(lines) + 3  # 1-based line number of chunk_lines[0], after the except clause
            placed: list[Expr | None] = [None] * len(chunk_lines)
            for i, node in enumerate(self.body_nodes):
                placed[where[i]] = node
            line_nodes = LineNodes(offset, placed)
        else:
            offset = len(lines) + 1  # 1-based line number of body[0]
            lines.extend(body)
            chunk_lines = []
            line_nodes = LineNodes(offset, self.body_nodes)
        lines.append("    except (ArithmeticError, ValueError) as _error:")
        lines.append("        raise _explain(_error) from _error")
        lines.extend(chunk_lines)
        lines.append("")  # the final newline, joined in: a source of 10^8 characters is not copied again
        source = "\n".join(lines)
        namespace_names = set(BASE_NAMESPACE_NAMES).union(*(self.backend.namespace(op) for op in self.ops_used))
        if len(scalar_names) < len(param_names) or "_fromiter(" in returns:  # returns: symgrad's text, never a label
            namespace_names |= self.backend.array_names
        return Emitted(source, function_name, param_names, namespace_names, line_nodes, self.shared,
                       self.backend.name, symbol_names, scalar_names)


_args_of = operator.attrgetter("args")
_op_of = operator.attrgetter("op")
# Templates of the arithmetic ops, as an augmented assignment: ``{0} * {1}`` -> ``*``.
_AUGMENTED = {f"{{0}} {symbol} {{1}}": symbol for symbol in "+-*/"}


def _dependencies(order: list[Expr], params: Sequence[Expr]) -> dict[Expr, int]:
    """The parameters each node depends on, as a bit set (bit i: ``params[i]``). Every op
    being element-wise, a node's shape is the broadcast of theirs, so ``t op= other``
    keeps ``t``'s shape when ``other``'s parameters are among ``t``'s."""
    found = {p: 1 << i for i, p in enumerate(params)}
    get = found.get
    for node in order:
        if node.args:
            bits = 0
            for arg in node.args:
                bits |= get(arg, 0)
            found[node] = bits
        else:
            found.setdefault(node, 0)
    return found


def _section_starts(sections: Sequence[Section], order: list[Expr]) -> dict[int, Section]:
    """Index in ``order`` where each section's own nodes begin -> that section.

    The DFS finishes the outputs in order, so a section starts right after
    the last node of the outputs before it.
    """
    earlier = [o for s in sections[:-1] for o in s.outputs]
    # A handful of outputs are found faster by scanning than by indexing the whole order.
    position = {o: order.index(o) for o in earlier} if len(earlier) <= 16 else dict(zip(order, itertools.count()))
    starts: dict[int, Section] = {0: sections[0]}
    end = 0
    for before, section in itertools.pairwise(sections):
        end = max([end, *(position[o] + 1 for o in before.outputs)])
        starts[end] = section
    return starts


def _render(node: Expr, template_of: TemplateCache, text_of: Mapping[Expr, _Text]) -> _Text:
    """How ``node`` reads inline, from its template and its arguments' texts: the hot loop's
    work (``_Emitter._render_nodes``, which also names arguments and gathers temporaries),
    formatting the template's parts the same way."""
    template, format_parts = template_of(node.op, node.param)
    parts = []
    count = 1
    for arg, need in zip(node.args, template.arg_prec):
        text, prec, ops = text_of[arg]
        count += ops
        parts.append(f"({text})" if prec < need else text)
    return format_parts(parts), template.prec, count


def find_failing_node(line_node: Expr, line_nodes: Mapping[int, Expr], source_lines: Sequence[str],
                      params: Mapping[Expr, str], failing_code: str | None,
                      backend: Backend = PYTHON) -> tuple[Expr, str | None]:
    """The node whose code is ``failing_code`` on the line that assigns ``line_node``, and None; where
    no node's code is exactly that (a piece of a template: the ``log(x)`` of ``xlogy``), the
    innermost node whose code holds it, and that piece.

    The inlined pieces of a line are not stored: they are the line node's
    descendants that no line assigns, rendered again exactly as emitted.
    """
    if failing_code is None:
        return line_node, None
    wanted = failing_code.strip()
    text_of: dict[Expr, _Text] = {p: (n, ATOM, 0) for p, n in params.items()}
    for lineno, node in line_nodes.items():
        # The target is the line's first word: `t0 = ...` and in-place `t0 *= ...` alike.
        text_of[node] = (source_lines[lineno - 1].split(None, 1)[0], ATOM, 0)
    pending = [n for n in topological_order([line_node]) if n not in text_of or n is line_node]
    holding = None  # the first (innermost, arguments coming first) node whose code holds the span
    template_of = TemplateCache(backend)
    for node in pending:
        if node.op is CONST:
            text_of[node] = _literal(node.param)
        elif node.args:
            rendered = _render(node, template_of, text_of)
            code = rendered[0]
            if code == wanted:
                return node, None
            if holding is None and wanted in code:
                holding = node
            if node is not line_node:
                text_of[node] = rendered
    return (line_node, None) if holding is None else (holding, wanted)
