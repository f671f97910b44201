"""Throughput and overhead measurements: `python -m morl_jax.benchmarks.<name>` prints ratios measured in one run."""
