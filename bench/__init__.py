"""Benchmarks. Each module has ``run(results)`` and can be run alone: ``python -m bench.<name>``."""
