"""The exceptions symgrad raises on purpose."""


class SymgradError(Exception):
    """Base class of every error symgrad raises deliberately."""


class EvaluationError(SymgradError, ArithmeticError, ValueError):
    """A compiled function hit a domain error (log of 0, division by zero, overflow...).

    It is both an ``ArithmeticError`` and a ``ValueError``, so code that caught
    Python's own ``math`` errors keeps working. The message names the operation,
    the subexpression, the generated source line and the inputs.
    """


class ParseError(SymgradError, ValueError):
    """Text given to the expression parser uses something it does not allow."""


class SympyDepthError(SymgradError, ValueError):
    """SymPy cannot hold (or work on) an expression this deeply nested: it recurses per level."""
