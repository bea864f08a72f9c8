"""Side-by-side benchmarks of wg and its peer queues (``python -m benchmarks run``).

Not part of the library: nothing in ``wg_core`` imports this package, and the peers it
measures are installed only in ``benchmarks/.venv`` from ``benchmarks/requirements.txt``.
"""
