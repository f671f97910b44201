"""TRL and Tunix running the peer workload, for `python -m morl_jax.benchmarks.step`.

| file | what |
| --- | --- |
| `workload.py` | the workload directory format, the two rewards and step statistics, in plain Python |
| `trl_grpo.py` | TRL's `GRPOTrainer` on a workload directory (runs in `.peers/trl`) |
| `tunix_grpo.py` | Tunix's `GRPOLearner` on a workload directory (runs in `.peers/tunix`) |
| `requirements-trl.txt`, `requirements-tunix.txt` | the pinned virtual environments `make peers` builds |

The harness scripts run in the peers' own virtual environments, where morl_jax is not installed: they import
`workload` as a sibling module, and nothing else of morl_jax.
"""
