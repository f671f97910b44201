"""The spread behind docs/results/meta_policy.md's headline: re-decode a few aggregates on the test split with
fresh sampling keys (the table used one), and bootstrap the per-prompt difference against the accuracy expert.

    python docs/results/meta_policy_spread.py --workdir=runs/meta_dev [--keys=5]

Also separates the two things `hidden` at weights [1, 0, 0.5] does at once: mixing in the clarity expert, and
Σw = 1.5 > 1 (EMORL's unnormalised weights sharpen the distribution, like a lower temperature), by measuring the
accuracy expert alone at [1.5, 0, 0].
"""

import argparse
import os

import jax
import numpy as np

from morl_jax import ablate
from morl_jax.aggregation.compare import SeedComparison, Settings

CANDIDATES = (("accuracy expert", "hidden", (1.0, 0.0, 0.0)),
              ("hidden [1, 0, 0.5] (searched)", "hidden", (1.0, 0.0, 0.5)),
              ("accuracy expert, sharpened [1.5, 0, 0]", "hidden", (1.5, 0.0, 0.0)),
              ("hidden [0.5, 0.25, 0.5] (searched)", "hidden", (0.5, 0.25, 0.5)),
              ("soup [0.67, 0, 0.33] (p as weights)", "soup", (2 / 3, 0.0, 1 / 3)),
              ("clarity expert", "hidden", (0.0, 0.0, 1.0)))
PREFERENCES = {"1/0/0": (1.0, 0.0, 0.0), "1/3 each": (1 / 3, 1 / 3, 1 / 3), "0/0.33/0.67": (0.0, 1 / 3, 2 / 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--keys", type=int, default=5)
    ap.add_argument("--boot", type=int, default=2000)
    args = ap.parse_args()
    settings = Settings()
    sweep = ablate.load_sweep(settings.experts)
    experts_dir = os.path.join(args.workdir, "experts")
    comp = SeedComparison.from_sweep(settings, ablate.configs(sweep, experts_dir, []), ablate.cells(sweep),
                                     experts_dir, 0, print)
    ev, split = comp.evaluator, comp.splits[1]
    columns = ev.columns(split)
    n, s = len(columns["prompt"]), ev.num_samples
    per_prompt = {}  # name -> [keys, prompts, samples, M] normalised objectives
    for name, agg, w in CANDIDATES:
        draws = []
        for k in range(args.keys):
            decoded = ev.decode(agg, np.asarray(w), columns, jax.random.fold_in(jax.random.PRNGKey(12345), k))
            draws.append(ev.per_sample(decoded, comp.space).reshape(n, s, -1))
        per_prompt[name] = np.stack(draws)
    rng = np.random.default_rng(0)
    base = per_prompt[CANDIDATES[0][0]]
    print(f"\n{split} split, {n} prompts x {s} samples per key, {args.keys} sampling keys; raw accuracy / "
          "normalised length / clarity; utility p·z; ± = std over keys; Δ 95% CI: paired bootstrap over prompts "
          "(all keys' samples pooled per prompt)\n")
    print("| candidate | accuracy | z_length | clarity | " + " | ".join(f"U({p})" for p in PREFERENCES)
          + " | Δ accuracy vs accuracy expert, 95% CI |")
    print("|---|---:|---:|---:|" + "---:|" * len(PREFERENCES) + "---:|")
    for name, _, _ in CANDIDATES:
        x = per_prompt[name]
        key_means = x.mean(axis=(1, 2))  # [keys, M]
        cells = [f"{key_means[:, m].mean():.3f} ± {key_means[:, m].std(ddof=1):.3f}" for m in range(3)]
        for p in PREFERENCES.values():
            u = key_means @ np.asarray(p)
            cells.append(f"{u.mean():.3f} ± {u.std(ddof=1):.3f}")
        diff = (x[..., 0].mean(axis=(0, 2)) - base[..., 0].mean(axis=(0, 2)))  # per prompt
        boots = [diff[rng.integers(0, n, n)].mean() for _ in range(args.boot)]
        lo, hi = np.percentile(boots, [2.5, 97.5])
        cells.append(f"{diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
