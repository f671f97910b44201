"""morl_jax: multi-objective reinforcement learning of language models in JAX."""
