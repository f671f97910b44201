"""Mutation check: apply named faults to a copy of the repository, run the tests that should catch each, and
report the survivors. A fault no test catches is a missing test.

    make mutants                      # or: python tests/mutants.py [--only NAME ...] [--list]

Each fault replaces one exact snippet of one file (the snippet must occur exactly once, so a refactor that
moves the code makes the check fail loudly rather than silently mutate nothing). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = ("morl_jax", "tests", "configs", "colabs", "examples", "setup.py")


class Mutant(NamedTuple):
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]


MUTANTS = (
    # ---- the update -------------------------------------------------------------------------------------
    Mutant("update recomputes log-probs without the sampling temperature", "morl_jax/rl/step.py",
           "temperature=settings.temperature, with_entropy=with_entropy)",
           "temperature=1.0, with_entropy=with_entropy)",
           ("tests/test_train_invariants.py", "tests/test_rl_step.py")),
    Mutant("update ignores the weights", "morl_jax/rl/step.py",
           "return advantages(settings.estimator, rewards, weights, settings.group_size, level=settings.level,",
           "return advantages(settings.estimator, rewards, jnp.ones_like(weights), settings.group_size, "
           "level=settings.level,",
           ("tests/test_rl_step.py", "tests/test_train_weighting.py")),
    Mutant("minibatches never shuffled", "morl_jax/rl/step.py",
           "perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)",
           "perms = jnp.tile(jnp.arange(n), (settings.epochs, 1))",
           ("tests/test_rl_step.py",)),
    Mutant("PPO clips the low side with clip_high", "morl_jax/rl/losses.py",
           "clipped_ratio = jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)",
           "clipped_ratio = jnp.clip(ratio, 1.0 - clip_high, 1.0 + clip_high)",
           ("tests/test_rl_losses.py",)),
    Mutant("GRPO normalises over the batch instead of the group", "morl_jax/rl/advantages.py",
           "mean, std = _verl_group_stats(r, valid, group_size)\n    return jnp.where(valid, (r - mean) / (std + eps), 0.0)",
           "mean, std = _verl_group_stats(r, valid, r.shape[0])\n    return jnp.where(valid, (r - mean) / (std + eps), 0.0)",
           ("tests/test_rl_advantages.py",)),
    Mutant("token-weighted whitening ignores the lengths", "morl_jax/rl/advantages.py",
           'kwargs["token_counts"] = token_counts', "pass",
           ("tests/test_rl_advantages.py",)),
    Mutant("the fused update drops the KL term", "morl_jax/rl/objective_gradients.py",
           "    if gradients.kl_grads is not None:\n        grads = jax.tree.map(jnp.add, grads, gradients.kl_grads)\n",
           "",
           ("tests/test_rl_objective_gradients.py",)),
    Mutant("Gram matrix of unclipped gradients", "morl_jax/rl/objective_gradients.py",
           "scale = jnp.minimum(1.0, clip_norm / jnp.maximum(norms, 1e-30)) if clip_norm else jnp.ones_like(norms)",
           "scale = jnp.ones_like(norms)",
           ("tests/test_rl_objective_gradients.py",)),
    # ---- the loop and the collector ---------------------------------------------------------------------
    Mutant("group repeat done as a tile", "morl_jax/rollout.py",
           "tokens, mask = np.repeat(tokens, group_size, 0), np.repeat(mask, group_size, 0)",
           "tokens, mask = np.tile(tokens, (group_size, 1)), np.tile(mask, (group_size, 1))",
           ("tests/test_train_invariants.py",)),
    Mutant("columns tiled while prompts are repeated", "morl_jax/rollout.py",
           "columns={**{name: np.repeat(np.asarray(v), group_size, 0) for name, v in columns.items()},",
           "columns={**{name: np.tile(np.asarray(v), group_size) for name, v in columns.items()},",
           ("tests/test_train_invariants.py",)),
    Mutant("KL reference is the policy before the warm start", "morl_jax/train.py",
           "ref_params = jax.tree.map(jnp.copy, params) if self.settings.use_kl else None",
           "ref_params = nnx.split(self.init_model())[1] if self.settings.use_kl else None",
           ("tests/test_train_weighting.py",)),
    Mutant("signal validation on the test split", "morl_jax/evaluate.py",
           "point = self.point(self.result(params, step, s.split, s.signal_mode))",
           "point = self.point(self.result(params, step, s.test_split or s.split, s.signal_mode))",
           ("tests/test_train_weighting.py",)),
    Mutant("validation signals in the objectives' own units", "morl_jax/evaluate.py",
           "points = archive.signed_points", "points = archive.points",
           ("tests/test_train_weighting.py",)),
    # ---- the sampler --------------------------------------------------------------------------------------
    Mutant("top-k/top-p filter decided on the unscaled logits", "morl_jax/models/sampling.py",
           "filter_logits(scaled, top_k=top_k, top_p=top_p)",
           "jnp.where(jnp.isneginf(filter_logits(logits, top_k=top_k, top_p=top_p)), -jnp.inf, scaled)",
           ("tests/test_sampling_distribution.py",)),
    # ---- weighting -----------------------------------------------------------------------------------------
    Mutant("gradient weighting ignores the learning rate", "morl_jax/weighting/gradient.py",
           "step = jnp.asarray(signals.learning_rate, jnp.float32) / reg * total / count",
           "step = 1.0 / reg * total / count",
           ("tests/test_weighting_adaptive.py",)),
    Mutant("hypervolume multiplier recomputed without a fresh validation", "morl_jax/weighting/hypervolume.py",
           "multiplier = jnp.where(fresh, low + span * jnp.tanh(gain), state.multiplier)",
           "multiplier = low + span * jnp.tanh(gain)",
           ("tests/test_weighting_adaptive.py",)),
    Mutant("SAW with the biased std", "morl_jax/weighting/saw.py",
           "var = jnp.where(valid, (shifted - mean) ** 2, 0.0).sum(axis=0) / jnp.maximum(count - 1.0, 1.0)",
           "var = jnp.where(valid, (shifted - mean) ** 2, 0.0).sum(axis=0) / jnp.maximum(count, 1.0)",
           ("tests/test_weighting_optimizers.py",)),
    Mutant("tchebycheff's ideal point is the batch mean", "morl_jax/weighting/tchebycheff.py",
           "ideal = jnp.maximum(state.ideal, rewards.max(axis=0))",
           "ideal = jnp.maximum(state.ideal, rewards.mean(axis=0))",
           ("tests/test_weighting_beyond.py",)),
    Mutant("ctwa never smooths its statistic", "morl_jax/weighting/ctwa.py",
           "ema = jnp.where(state.steps > 0, (1.0 - tau) * state.ema + tau * stat, stat)", "ema = stat",
           ("tests/test_weighting_beyond.py",)),
    Mutant("mgda returns uniform weights", "morl_jax/weighting/mgda.py",
           "alpha = min_norm_weights(gram, iterations)", "alpha = jnp.full(gram.shape[0], 1.0 / gram.shape[0])",
           ("tests/test_weighting_beyond.py",)),
    # ---- meta-policy aggregation -----------------------------------------------------------------------------
    Mutant("task vectors forget the shared start", "morl_jax/aggregation/levels.py",
           "x0 + jnp.tensordot(weights.astype(x.dtype), x - x0[None], axes=1)",
           "jnp.tensordot(weights.astype(x.dtype), x, axes=1)",
           ("tests/test_aggregation_levels.py",)),
    Mutant("the probability mixture ignores its weights", "morl_jax/aggregation/levels.py",
           "logp + log_w.T[:, :, None, None]", "logp",
           ("tests/test_aggregation_levels.py",)),
    # ---- ablations -------------------------------------------------------------------------------------------
    Mutant("the ablation runner reruns finished cells", "morl_jax/ablate.py",
           'if os.path.exists(os.path.join(directory, "summary.json")):', "if False:",
           ("tests/test_ablate.py",)),
    # ---- rewards -------------------------------------------------------------------------------------------
    Mutant("conciseness running mean never updated", "morl_jax/rewards/conciseness.py",
           "        if self.training:\n            self._length_sum", "        if False:\n            self._length_sum",
           ("tests/test_rewards_conciseness.py",)),
    # ---- checkpointing -------------------------------------------------------------------------------------
    Mutant("the prompt iterator's position is not restored", "morl_jax/run_state.py",
           "        self.iterator.restore(record.iterator)\n", "",
           ("tests/test_train_loop.py",)),
    Mutant("the weight optimizer's state is not restored", "morl_jax/run_state.py",
           'self.weights, self.key = device["weights"], device["key"]', 'self.key = device["key"]',
           ("tests/test_train_weighting.py",)),
    Mutant("a LoRA run checkpoints the frozen base too", "morl_jax/run_state.py",
           "return nnx.filter_state(params, nnx.LoRAParam) if adapters_only else params", "return params",
           ("tests/test_train_loop.py",)),
    Mutant("a non-finite state is checkpointed", "morl_jax/checkpointing.py",
           "bad = nonfinite_leaves(state)", "bad = []",
           ("tests/test_checkpointing.py",)),
)


def apply(mutant: Mutant, root: str) -> None:
    path = os.path.join(root, mutant.path)
    with open(path) as f:
        text = f.read()
    count = text.count(mutant.original)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name!r}: the snippet occurs {count} times in {mutant.path}, not once")
    with open(path, "w") as f:
        f.write(text.replace(mutant.original, mutant.mutated))


def run(mutant: Mutant) -> tuple[bool, float]:
    """(caught, seconds): True when the listed tests fail on the mutated copy."""
    with tempfile.TemporaryDirectory(prefix="morl_mutant_") as root:
        for name in COPIED:
            source = os.path.join(ROOT, name)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(root, name), ignore=shutil.ignore_patterns("__pycache__"))
            elif os.path.exists(source):
                shutil.copy(source, root)
        apply(mutant, root)
        env = dict(os.environ, PYTHONPATH=root, JAX_COMPILATION_CACHE_DIR=os.path.join(ROOT, ".pytest_cache", "jax"))
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                              cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"mutant {mutant.name!r}: pytest exited {proc.returncode}\n{proc.stdout[-3000:]}")
        return proc.returncode == 1, time.time() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="run the mutants whose names contain these words")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or any(w in m.name for w in args.only)]
    if args.list:
        print("\n".join(f"{m.name}  [{m.path}]" for m in mutants))
        return
    survivors = []
    for mutant in mutants:
        caught, seconds = run(mutant)
        print(f"{'caught  ' if caught else 'SURVIVED'} {seconds:6.0f} s  {mutant.name}  [{mutant.path}]", flush=True)
        if not caught:
            survivors.append(mutant.name)
    print(f"\n{len(mutants) - len(survivors)} of {len(mutants)} faults caught"
          + (f"; survivors: {', '.join(survivors)}" if survivors else ""))
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
