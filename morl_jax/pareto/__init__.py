"""Pareto fronts, hypervolume and MORL metrics (maximisation everywhere).

jit/vmap-able functions take (n, d) NumPy or JAX arrays with an optional boolean `mask` (True = real row)
for static-shape padding and return JAX arrays; `ParetoArchive` is the host-side (NumPy + moocore) record
of evaluated checkpoints. Imports nothing else from morl_jax.
"""

from morl_jax.pareto.archive import ArchiveEntry, ParetoArchive
from morl_jax.pareto.exclusive import contributions, hypervolume_improvement
from morl_jax.pareto.dominance import nondominated_mask
from morl_jax.pareto.estimate import hypervolume_estimate, polar_constant, sphere_directions
from morl_jax.pareto.exact import exact_method, feasible_sizes, hypervolume
from morl_jax.pareto.metrics import (
    cardinality,
    expected_utility,
    igd,
    igd_plus,
    maximum_utility_loss,
    mean_pareto_step,
    sparsity,
)
from morl_jax.pareto.simplex import simplex_lattice, simplex_lattice_size

__all__ = [
    "ArchiveEntry",
    "ParetoArchive",
    "cardinality",
    "contributions",
    "exact_method",
    "expected_utility",
    "feasible_sizes",
    "hypervolume",
    "hypervolume_estimate",
    "hypervolume_improvement",
    "igd",
    "igd_plus",
    "maximum_utility_loss",
    "mean_pareto_step",
    "nondominated_mask",
    "polar_constant",
    "simplex_lattice",
    "simplex_lattice_size",
    "sparsity",
    "sphere_directions",
]
