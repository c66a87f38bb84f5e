"""One module per system. A module defines:

- ``LABEL``: how the system is named in the report;
- ``REQUIRES``: the modules it imports (missing: the system is reported as not installed);
- ``EAGER`` (optional, default False): all its work happens in each call, so it has no set-up;
- ``reset()`` (optional): forget caches, so that each set-up starts from scratch;
- one function per task it runs, named after the task, taking the size and returning
  a zero-argument callable that computes the answer. Calling the function is the
  set-up (build, differentiate, compile); calling what it returns is the timed call.
  The callable may carry ``source``: generated Python whose CPython ``compile()``
  time is reported next to the set-up.

Every system gets the same inputs from ``benchmarks.tasks``; none gets a
hand-tuned path the others lack.
"""

SYSTEMS = [
    "hand_written",
    "symgrad_scalar",
    "symgrad_arrays",
    "symgrad_vectorised",
    "symgrad_loop",
    "micrograd_eager",
    "sympy_lambdify",
    "symengine_lambdify",
    "casadi_sx",
    "jax_jit",
    "torch_autograd",
]
