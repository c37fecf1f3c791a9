"""Benchmarks of the convgrad oracle against named peers measured in the same run.

Run ``python -m benchmarks.run`` (see its docstring); results go to ``reports/bench.json``.
"""
