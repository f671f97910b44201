"""Cheap multi-objective problems without a language model, with known answers, for tests, benchmarks and
notebooks (`morl_jax.problems.concave_front`)."""
