"""symgrad against the field, measured side by side in one run.

    python -m benchmarks                          # every task, every installed system
    python -m benchmarks --quick                  # smallest sizes: a smoke run of a minute or less
    python -m benchmarks --only rosenbrock --out benchmarks/RESULTS.md

``tasks`` defines the workloads and their reference answers, ``systems/``
holds one module per system (skipped with a note when not installed),
``child`` measures one (system, task, size) in its own process, ``runner``
plans the run, enforces the time limit and writes the report.
"""
