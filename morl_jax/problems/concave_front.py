"""A multi-objective policy-gradient problem with a known non-convex Pareto front, and no language model.

The policy is a Gaussian over actions a = (x, y) in the plane, with learned means (sigmoid(theta)) and a fixed
std. Two rewards, both maximised:

    r1(a) = x - (y - 0.5)^2,        r2(a) = (1 - x)^2 - (y - 0.5)^2.

At y = 0.5 the rewards trace (x, (1 - x)^2), x in [0, 1]: a convex function, so the front bows towards the
origin. A weighted sum w1 r1 + w2 r2 is convex in x, so every fixed linear weighting drives x to an end (0 or
1); interior points of the front are reachable only by non-linear scalarisations or by weights that keep
changing. y is off the front everywhere but 0.5, where both objectives agree: a common direction exists until
the front is reached, which is what MGDA's min-norm finds.

Training is GRPO-style: G actions per group, B groups per step, advantages from `morl_jax.rl` under the
weights (or scalarisation) the weight optimizer returns, one REINFORCE step of plain gradient ascent on the
means. Every signal a weight optimizer may need is provided: rewards, per-objective gradient Gram matrix,
the expected-reward "validation point" with its archive and hypervolume gain, the sampled actions as hidden
states, the learning rate.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.pareto import ParetoArchive, hypervolume
from morl_jax.rl.advantages import objective_advantages
from morl_jax.rl.step import UpdateSettings, weighted_advantages
from morl_jax.weighting import EVAL_SIGNALS, Signals, WeightOptimizer, preference

STD = 0.05
REFERENCE = np.array([-0.1, -0.1])  # strictly worse than every front point (the front spans [0, 1] in each)


def rewards(actions: jax.Array) -> jax.Array:
    """Rewards [N, 2] of actions [N, 2]."""
    x, y = actions[:, 0], actions[:, 1]
    off = (y - 0.5) ** 2
    return jnp.stack([x - off, (1.0 - x) ** 2 - off], axis=1)


def expected_rewards(theta: jax.Array) -> jax.Array:
    """E[rewards] [2] of the policy with means sigmoid(theta) (closed form with the Gaussian noise)."""
    mx, my = jax.nn.sigmoid(theta)
    off = (my - 0.5) ** 2 + STD**2
    return jnp.stack([mx - off, (1.0 - mx) ** 2 + STD**2 - off])


def front(num: int = 201) -> np.ndarray:
    """Points of the true Pareto front (the noise-free policies at y = 0.5)."""
    x = np.linspace(0.0, 1.0, num)
    return np.stack([x, (1.0 - x) ** 2], axis=1)


def on_hull(point: np.ndarray, tol: float = 0.05) -> bool:
    """Whether an expected-reward point sits at an end of the front (the only front points a weighted sum can
    reach: the convex hull of this front is the segment between its ends)."""
    ends = front(2)
    return bool(np.min(np.linalg.norm(ends - np.asarray(point), axis=1)) < tol)


@dataclasses.dataclass(frozen=True)
class Settings:
    steps: int = 400
    groups: int = 8
    group_size: int = 8
    learning_rate: float = 0.5
    estimator: str = "grpo"
    level: str = "reward"
    eval_every: int = 5
    init: tuple[float, float] = (0.0, 1.5)  # x = 0.5 (mid-front), y = 0.82 (off the front)


@dataclasses.dataclass
class History:
    """Per step: means (x, y) [T, 2], expected rewards [T, 2], weights (mean over samples) [T, 2]."""

    means: np.ndarray
    points: np.ndarray
    weights: np.ndarray
    archive: ParetoArchive

    @property
    def final_point(self) -> np.ndarray:
        return self.points[-1]

    def hypervolume(self) -> float:
        """Hypervolume of the final policy's expected point (reference `REFERENCE`)."""
        return float(hypervolume(self.final_point[None], REFERENCE))


def _log_prob(theta: jax.Array, actions: jax.Array) -> jax.Array:
    mean = jax.nn.sigmoid(theta)
    return -0.5 * jnp.sum(((actions - mean) / STD) ** 2, axis=-1)


def _eval_fields(archive: ParetoArchive, count: int, gain: float, size: int) -> dict[str, Any]:
    """The validation signals, the archive padded to `size` rows (fixed for a run: one compilation)."""
    points = archive.signed_points
    front_rows = points[:-1] if count else points
    padded = np.zeros((size, 2), np.float32)
    padded[:len(front_rows)] = front_rows
    return {"eval_point": points[-1].astype(np.float32), "eval_front": padded,
            "eval_front_mask": np.arange(size) < len(front_rows),
            "eval_reference": archive.signed_ref.astype(np.float32), "hv_gain": np.float32(gain),
            "eval_count": np.int32(count)}


def train(optimizer: WeightOptimizer, settings: Settings = Settings(), seed: int = 0) -> History:
    """Train the policy's means with `optimizer` choosing the weights every step; the per-step record."""
    s = settings
    update_settings = UpdateSettings(estimator=s.estimator, level=s.level, group_size=s.group_size)
    n = s.groups * s.group_size

    @jax.jit
    def sample(theta, key):
        actions = jax.nn.sigmoid(theta) + STD * jax.random.normal(key, (n, 2))
        return actions, rewards(actions)

    @jax.jit
    def objective_gradients(theta, actions, r):
        adv = objective_advantages(s.estimator, r, s.group_size)  # [N, K]
        per_sample = jax.vmap(jax.grad(_log_prob), in_axes=(None, 0))(theta, actions)  # [N, 2]
        g = adv.T @ per_sample / n  # [K, params]
        return g @ g.T

    @jax.jit
    def step(theta, actions, r, weights):
        adv = weighted_advantages(r, weights, update_settings)
        grad = jax.grad(lambda t: jnp.mean(jax.lax.stop_gradient(adv) * _log_prob(t, actions)))(theta)
        return theta + s.learning_rate * grad

    weight_step = jax.jit(optimizer.update)
    theta = jnp.asarray(s.init, jnp.float32)
    key = jax.random.PRNGKey(seed)
    state = optimizer.init(2)
    archive = ParetoArchive(REFERENCE, names=["r1", "r2"])
    archive.add(np.asarray(expected_rewards(theta), np.float64), 0)
    count, gain = 0, 0.0
    front_size = 1 << int(np.ceil(np.log2(s.steps // s.eval_every + 2)))
    means, points, weights_log = [], [], []
    for t in range(1, s.steps + 1):
        key, draw = jax.random.split(key)
        actions, r = sample(theta, draw)
        fields: dict[str, Any] = {"rewards": r, "hidden": actions, "learning_rate": np.float32(s.learning_rate)}
        if "gram" in optimizer.needs:
            fields["gram"] = objective_gradients(theta, actions, r)
        if optimizer.needs & EVAL_SIGNALS:
            fields.update(_eval_fields(archive, count, gain, front_size))
        weights, state = weight_step(Signals(group_size=s.group_size,
                                             **{k: v for k, v in fields.items() if k in optimizer.needs}), state)
        theta = step(theta, actions, r, weights)
        point = np.asarray(expected_rewards(theta), np.float64)
        if t % s.eval_every == 0:
            gain = archive.gain(point)
            archive.add(point, t)
            count += 1
        w = np.asarray(preference(weights))
        means.append(np.asarray(jax.nn.sigmoid(theta)))
        points.append(point)
        weights_log.append(w if w.ndim == 1 else w.mean(axis=0))
    return History(np.stack(means), np.stack(points), np.stack(weights_log), archive)


def optimizers() -> dict[str, WeightOptimizer]:
    """The comparison `python -m morl_jax.problems.concave_front` runs (and the notebooks show)."""
    from morl_jax import weighting  # noqa: PLC0415  (the registry is only needed for the comparison)

    return {
        "fixed (0.3, 0.7)": weighting.fixed([0.3, 0.7]), "fixed (0.5, 0.5)": weighting.fixed([0.5, 0.5]),
        "fixed (0.7, 0.3)": weighting.fixed([0.7, 0.3]), "saw": weighting.saw(normalize=True),
        "tchebycheff": weighting.tchebycheff(), "hvo (group nadir)": weighting.hvo(),
        "hvo (fixed reference)": weighting.hvo(reference=tuple(REFERENCE)),
        "hypervolume_gradient": weighting.hypervolume_gradient(),
        "hypervolume_gradient (point)": weighting.hypervolume_gradient(archive=False),
        "gradient": weighting.gradient(reg=1.0), "mgda (advantage level)": weighting.mgda(),
        "ctwa": weighting.ctwa(), "conductor": weighting.conductor(hidden_size=2),
    }


def compare(settings: Settings = Settings(steps=300, eval_every=1), seed: int = 0) -> dict[str, History]:
    """Every optimizer of `optimizers()` trained from the same start (MGDA at the advantage level)."""
    return {name: train(opt, dataclasses.replace(settings, level="advantage") if name.startswith("mgda")
                        else settings, seed)
            for name, opt in optimizers().items()}


def plot(histories: dict[str, History], path: str | None = None) -> Any:
    """Left: the true front and each optimizer's expected-reward trajectory (star: final). Right: the share of
    objective r1 in the weights against the step. Writes `path` when given; returns the matplotlib Figure (built
    without pyplot, so the process's backend is left alone)."""
    import matplotlib  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(12, 4.6))
    ax_front, ax_weights = fig.subplots(1, 2)
    curve = front()
    ax_front.plot(curve[:, 0], curve[:, 1], "k-", lw=2, alpha=0.35, label="true front")
    colors = (matplotlib.colormaps["tab20"](np.linspace(0, 1, 20))[::2].tolist()
              + matplotlib.colormaps["Dark2"](range(8)).tolist())
    for (name, h), color in zip(histories.items(), colors):
        ax_front.plot(h.points[:, 0], h.points[:, 1], lw=0.8, alpha=0.6, color=color)
        ax_front.plot(*h.final_point, "*", ms=12, color=color, label=name)
        share = h.weights[:, 0] / np.maximum(h.weights.sum(axis=1), 1e-12)
        ax_weights.plot(np.arange(1, len(share) + 1), share, lw=1.0, color=color)
    ax_front.set(xlabel="E[r1] ↑", ylabel="E[r2] ↑", xlim=(-0.15, 1.05), ylim=(-0.15, 1.05))
    ax_weights.set(xlabel="step", ylabel="share of r1 in the weights (mean over samples)", ylim=(-0.05, 1.05))
    ax_front.legend(fontsize=7, loc="upper right")
    for ax in (ax_front, ax_weights):
        ax.grid(alpha=0.3)
    fig.suptitle("a front with a concave region: x -> (x, (1 - x)^2)", fontsize=10)
    if path:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def main(argv: list[str] | None = None) -> None:
    import argparse  # noqa: PLC0415

    ap = argparse.ArgumentParser(description="Every weight optimizer on the concave-front problem.")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="concave_front.png")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {seed: compare(seed=seed) for seed in seeds}
    plot(runs[seeds[0]], args.out)
    print(f"{'optimizer':30s} {'final E[r] (seed ' + str(seeds[0]) + ')':>22s} {'HV final':>16s} "
          f"{'HV checkpoints':>16s} {'ends on the hull':>16s}")
    for name in runs[seeds[0]]:
        hv = np.array([runs[s][name].hypervolume() for s in seeds])
        front_hv = np.array([runs[s][name].archive.hypervolume() for s in seeds])
        hull = sum(on_hull(runs[s][name].final_point) for s in seeds)
        point = np.round(runs[seeds[0]][name].final_point, 2)
        print(f"{name:30s} {str(point.tolist()):>22s} {hv.mean():7.3f} ± {hv.std():5.3f} "
              f"{front_hv.mean():7.3f} ± {front_hv.std():5.3f} {hull:>10d} of {len(seeds)}")
    print(f"\nplot: {args.out}; hypervolume reference {REFERENCE.tolist()}; mean ± std over seeds {seeds}")


if __name__ == "__main__":
    main()
