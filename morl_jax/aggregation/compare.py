"""The meta-policy comparison: train the experts, combine them at every level, and measure each way of answering a
preference against the single-policy dynamic-weighting baseline, in one table.

    python -m morl_jax.aggregation.compare --workdir=runs/meta_policy [--experts=configs/experts.py[:options]]
        [--config.rl.num_steps=40 ...]

1. The experts sweep (`configs/experts.py`, through `morl_jax.ablate`: resumable, one shared warm start) trains
   one policy per reward and the dynamic-weighting baseline, for every seed of the sweep.
2. For the preference vectors p of the simplex lattice (`--divisions`), every method gives one policy per p, and
   its test-split point (the protocol of the runs' sampled validation point) is measured:
   * `soup`, `logprob`, `prob`, `hidden`: the aggregate with mixing weights = p (expert k is objective k's);
   * `task_vectors`, `hidden+search`: EMORL's hierarchical grid search over [0, 1]^K on the validation split
     (score: the mean normalised objective, EMORL's summed score); for each p, the searched weights whose
     validation point has the best utility p·z;
   * `linucb`, `thompson`: a contextual bandit picks the hidden-level mixing weights per prompt (arms: a simplex
     lattice, context: the shared start's hidden state of the prompt), trained on the train split under
     sampled preferences, then greedy for p;
   * `router`: a preference -> mixing-weights network trained by REINFORCE on sampled preferences;
   * `best expert`: for each p, the expert whose validation point has the best utility (no combination);
   * `best expert, tuned T`: the same choice among every expert at every sampling temperature T / s for s in
     `SHARPEN` (the hidden level at weights s·e_k is exactly expert k at T / s; weights that sum above 1, which
     the searches may pick, sharpen like this, so this is the baseline a searched gain must beat);
   * `dynamic (<weighting>)`: the single policy trained with adaptive weights; for each p, the checkpoint whose
     validation point has the best utility (what one run offers);
   * `SFT start`: the shared start, for reference.
3. `WORKDIR/meta_policy.md` (and `.json`, `fronts.png`): hypervolume, expected utility, utility at the
   preference, sparsity and front size over the preferences, training compute and inference cost; mean ± std
   over the sweep's seeds when it has several.

Normalised objectives z: 0 at the task's worst point (its hypervolume reference), 1 at the ideal point (accuracy
1, length 0, clarity 1); utility p·z. Mixing weights and preferences share an index only when expert k is the
expert of objective k (the default experts sweep: reward k measures objective k).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import matplotlib
import ml_collections
import numpy as np
from flax import nnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from morl_jax import ablate, experiment_config, pareto, train  # noqa: E402
from morl_jax.aggregation import bandits as bandit_lib  # noqa: E402
from morl_jax.aggregation.evaluation import MixtureEvaluator, ObjectiveSpace  # noqa: E402
from morl_jax.aggregation.experts import Experts  # noqa: E402
from morl_jax.aggregation.levels import get_aggregator  # noqa: E402
from morl_jax.aggregation.router import Router, train_router  # noqa: E402
from morl_jax.aggregation.search import front_metrics, hierarchical_grid_search, preference_sweep  # noqa: E402
from morl_jax.evaluate import Summary  # noqa: E402
from morl_jax.export import load_policy  # noqa: E402
from morl_jax.logging import read_metrics  # noqa: E402

TABLE, JSON, FIGURE = "meta_policy.md", "meta_policy.json", "fronts.png"
DYNAMIC = "dynamic"
SHARPEN = (1.0, 1.25, 1.5, 2.0)  # `best expert, tuned T`: expert k at temperature T / s


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the comparison runs (the CLI flags of the same names)."""

    experts: str = "configs/experts.py"
    divisions: int = 3
    sweep_levels: tuple[str, ...] = ("soup", "logprob", "prob", "hidden")
    search_levels: tuple[str, ...] = ("task_vectors", "hidden")
    search_iterations: int = 2
    search_samples: int = 1
    bandits: tuple[str, ...] = ("linucb", "thompson")
    bandit_level: str = "hidden"
    bandit_divisions: int = 2
    bandit_rounds: int = 10
    bandit_prompts: int = 64
    router_level: str = "hidden"
    router_rounds: int = 16
    router_preferences: int = 8
    router_draws: int = 4
    router_prompts: int = 4

    def check(self) -> None:
        """Errors naming the flag, before anything trains."""
        for name in (*self.sweep_levels, *self.search_levels, self.bandit_level, self.router_level):
            get_aggregator(name)
        for name in self.search_levels:
            if get_aggregator(name).normalise:
                raise ValueError(f"--search_levels: {name!r} normalises its weights, so the grid search's corner 0 "
                                 "of [0, 1]^K means nothing; search task_vectors, logprob or hidden")
        for flag, name in (("bandit_level", self.bandit_level), ("router_level", self.router_level)):
            if get_aggregator(name).level == "parameter":
                raise ValueError(f"--{flag}: {name!r} merges one model per call, and per-row weights need a token- "
                                 "or hidden-level aggregator")
        for name in self.bandits:
            bandit_lib.get_bandit(name)
        counts = {k: v for k, v in dataclasses.asdict(self).items() if isinstance(v, int)}
        bad = [k for k, v in counts.items() if v < 1]
        if bad:
            raise ValueError(f"--{bad[0]} must be >= 1, got {counts[bad[0]]}")


@dataclasses.dataclass
class Method:
    """One way of answering preferences: its test points [P, M] (one per preference), the mixing weights used
    ([P, K], None when it does not mix), its compute beyond the experts (samples decoded, seconds), its inference
    cost (forward passes per token: '1' or 'K'; seconds per test evaluation), and whether its training is the
    experts' (else `own_training`: RL samples and seconds of its own)."""

    name: str
    level: str
    points: np.ndarray
    weights: np.ndarray | None = None
    extra_samples: int = 0
    extra_seconds: float = 0.0
    forwards: str = "1"
    eval_seconds: list[float] = dataclasses.field(default_factory=list)
    uses_experts: bool = True
    own_training: tuple[int, float] = (0, 0.0)


def _read(path: str) -> str | None:
    """A file's text, None when it does not exist."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


class _Log:
    """The `message` sink `train.Experiment.warm_start` writes to."""

    def __init__(self, log: Callable[[str], None]):
        self.message = log


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished training run of the experts sweep: its config and directory."""

    config: ml_collections.ConfigDict
    workdir: str

    def compute(self) -> tuple[int, float]:
        """(RL samples generated, RL seconds)."""
        c, summary = self.config.rl, Summary.load(os.path.join(self.workdir, "summary.json"))
        return c.num_steps * c.prompts_per_step * c.group_size, float(summary.timings.get("rl_s", float("nan")))


class SeedComparison:
    """Every method measured on one seed's experts. `evaluator` holds the experts and the evaluation protocol;
    `splits` are (selection, report); `experts_compute` is the experts' (RL samples, seconds); `dynamic`, the
    single-policy baseline's run, if any."""

    def __init__(self, settings: Settings, evaluator: MixtureEvaluator, splits: tuple[str, str], seed: int,
                 log: Callable[[str], None], *, experts_compute: tuple[int, float] = (0, 0.0),
                 dynamic: Run | None = None):
        self.settings, self.evaluator, self.splits, self.seed, self.log = settings, evaluator, splits, seed, log
        self.experts, self.task = evaluator.experts, evaluator.task
        self.experts_compute, self.dynamic = experts_compute, dynamic
        self.space = ObjectiveSpace.of_task(self.task)
        self.preferences = np.asarray(pareto.simplex_lattice(len(self.space.names), settings.divisions), np.float64)
        if len(self.experts) != len(self.space.names):
            raise ValueError(f"{len(self.experts)} experts for {len(self.space.names)} objectives: mixing weights = "
                             "preference needs one expert per objective")
        self.key = jax.random.PRNGKey(seed)
        self._cache: dict[tuple, tuple[np.ndarray, float, int]] = {}
        self._compiled: set[tuple] = set()

    @classmethod
    def from_sweep(cls, settings: Settings, configs: dict[str, Any], cells: Sequence[ablate.Cell], experts_dir: str,
                   seed: int, log: Callable[[str], None]) -> SeedComparison:
        """The comparison of the finished experts sweep's runs of `seed` (one expert per reward, in reward order)."""
        mine = [c for c in cells if c.seed == seed]
        runs = {c.labels["expert"]: Run(configs[c.name], os.path.join(experts_dir, c.directory)) for c in mine}
        first = runs[mine[0].labels["expert"]]
        exp = train.Experiment(first.config, first.workdir)
        rewards = list(exp.reward_set.names)
        missing = [r for r in rewards if r not in runs]
        if missing:
            raise ValueError(f"the experts sweep has no expert for reward(s) {missing} at seed {seed} (cells: "
                             f"{sorted(runs)}); the comparison needs one expert per reward")
        params, graphdef = [], None
        for reward in rewards:
            model, _ = load_policy(runs[reward].config, runs[reward].workdir)
            graphdef, state = nnx.split(model)
            params.append(state)
        # The cached warm start the experts began from; had the cache to be rebuilt (the code or the config changed
        # since they trained), the start would differ from theirs.
        marker = os.path.join(first.config.sft.cache_dir, "fingerprint.json")
        before = _read(marker)
        init_graphdef, init = nnx.split(exp.init_model())
        start = exp.warm_start(init_graphdef, init, _Log(log))
        if _read(marker) != before:
            raise ValueError(f"the experts' warm start was not in {first.config.sft.cache_dir} (its fingerprint "
                             "changed since they were trained: the code or the config differs), so they did not "
                             "start from the one just trained; remove the experts' directory to retrain them")
        start = jax.device_put(start, jax.tree.leaves(params[0])[0].sharding)
        c = first.config
        evaluator = MixtureEvaluator(exp.task, exp.tokenizer, Experts.stack(graphdef, params, start, rewards),
                                     prompt_len=exp.prompt_len, max_new_tokens=c.rl.max_new_tokens,
                                     temperature=c.rl.temperature, num_prompts=c.eval.num_prompts,
                                     num_samples=c.eval.num_samples, chat=c.model.chat_template)
        computes = [runs[r].compute() for r in rewards]
        return cls(settings, evaluator, (c.eval.split, c.eval.test_split or c.eval.split), seed, log,
                   experts_compute=(sum(x[0] for x in computes), sum(x[1] for x in computes)),
                   dynamic=runs.get(DYNAMIC))

    # ----- measuring ------------------------------------------------------------------------------------------
    def point(self, aggregator: str, weights: Any, split: str, *, num_samples: int | None = None
              ) -> tuple[np.ndarray, float, int]:
        """(objective vector, decode seconds, completions) of an aggregate on a split; the same noise for every
        aggregate (common random numbers), each (aggregate, weights, split) decoded once."""
        w = np.asarray(weights, dtype=np.float64)
        key = (aggregator, tuple(np.round(w, 12).ravel().tolist()), w.shape, split, num_samples)
        if key not in self._cache:
            columns = self.evaluator.columns(split)
            decoded = self.evaluator.decode(aggregator, w, columns,
                                            jax.random.fold_in(self.key, self.splits.index(split)),
                                            num_samples=num_samples)
            shape = (aggregator, split, num_samples)  # the first decoding of a shape compiles: not timed
            seconds = decoded.seconds if shape in self._compiled else float("nan")
            self._compiled.add(shape)
            self._cache[key] = (self.space.point(self.evaluator.evaluate(decoded)), seconds, len(decoded.completions))
        return self._cache[key]

    def _test(self, method: Method, aggregator: str, weights: Any) -> np.ndarray:
        point, seconds, _ = self.point(aggregator, weights, self.splits[1])
        if np.isfinite(seconds):
            method.eval_seconds.append(seconds)
        return point

    def utility(self, points: np.ndarray, preference: np.ndarray) -> np.ndarray:
        return self.space.normalise(points) @ preference

    def _select(self, validation: np.ndarray) -> np.ndarray:
        """For every preference, the index of the validation point [C, M] with the best utility."""
        return np.array([int(np.argmax(self.utility(validation, p))) for p in self.preferences])

    # ----- methods --------------------------------------------------------------------------------------------
    def sweep(self, aggregator: str) -> Method:
        method = Method(aggregator, get_aggregator(aggregator).level, np.zeros(0),
                        forwards=get_aggregator(aggregator).forwards_per_token)
        result = preference_sweep(lambda w: self._test(method, aggregator, w), self.preferences)
        method.points, method.weights = result.points, result.weights
        return method

    def search(self, aggregator: str) -> Method:
        agg = get_aggregator(aggregator)
        name = aggregator if agg.level == "parameter" else f"{aggregator}+search"
        method = Method(name, agg.level, np.zeros(0), forwards=agg.forwards_per_token)
        validation = {}
        start = time.time()

        def score(w):
            point, _, rows = self.point(aggregator, w, self.splits[0], num_samples=self.settings.search_samples)
            validation[tuple(w.tolist())] = point
            method.extra_samples += rows
            return float(np.mean(self.space.normalise(point)))

        found = hierarchical_grid_search(score, len(self.experts), iterations=self.settings.search_iterations)
        method.extra_seconds = time.time() - start
        candidates = np.array([w for w, _ in found.evaluated])
        chosen = self._select(np.array([validation[tuple(w.tolist())] for w in candidates]))
        method.weights = candidates[chosen]
        method.points = np.array([self._test(method, aggregator, w) for w in method.weights])
        self.log(f"  {name}: {found.num_evaluations} weight vectors searched, best {found.best_weights.round(3)} "
                 f"(score {found.best_score:.3f})")
        return method

    def _decode_samples(self, aggregator: str, weights: np.ndarray, columns: dict[str, np.ndarray],
                        key: jax.Array) -> np.ndarray:
        """One completion per prompt with per-prompt weights -> every completion's normalised objectives [n, M]."""
        decoded = self.evaluator.decode(aggregator, weights, columns, key, num_samples=1)
        return self.evaluator.per_sample(decoded, self.space)

    def _train_rows(self, rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
        columns = self.task.split("train")
        rows = rng.choice(len(columns["prompt"]), size=count, replace=False)
        return {k: np.asarray(v)[rows] for k, v in columns.items()}

    def bandit(self, name: str) -> Method:
        s = self.settings
        agg = get_aggregator(s.bandit_level)
        arms = np.asarray(pareto.simplex_lattice(len(self.experts), s.bandit_divisions), np.float32)
        bandit = bandit_lib.get_bandit(name)
        select, update = jax.jit(bandit.select), jax.jit(bandit.update)
        method = Method(name, agg.level, np.zeros(0), forwards=agg.forwards_per_token)
        rng = np.random.default_rng(self.seed)
        start = time.time()
        state = None
        for r in range(s.bandit_rounds):
            columns = self._train_rows(rng, s.bandit_prompts)
            contexts = bandit_lib.features(self.evaluator.contexts(columns))
            if state is None:
                state = bandit.init(len(arms), contexts.shape[1], len(self.space.names))
            preferences = rng.dirichlet(np.ones(len(self.space.names)), size=len(contexts)).astype(np.float32)
            key = jax.random.fold_in(self.key, 1000 + r)
            chosen = np.asarray(select(state, contexts, preferences, key))
            rewards = self._decode_samples(s.bandit_level, arms[chosen], columns, key).astype(np.float32)
            state = update(state, contexts, chosen, rewards)
            method.extra_samples += len(contexts)
        method.extra_seconds = time.time() - start
        columns = self.evaluator.columns(self.splits[1])
        contexts = bandit_lib.features(self.evaluator.contexts(columns))
        points, weights = [], []
        for p in self.preferences:
            chosen = np.asarray(bandit.greedy(state, contexts, np.broadcast_to(p, (len(contexts), len(p)))))
            points.append(self._test(method, s.bandit_level, arms[chosen]))
            weights.append(arms[chosen].mean(axis=0))
        method.points, method.weights = np.array(points), np.array(weights)
        self.log(f"  {name}: arm pulls {np.asarray(state.counts).tolist()} over {len(arms)} arms")
        return method

    def router(self) -> Method:
        s = self.settings
        agg = get_aggregator(s.router_level)
        method = Method("router", agg.level, np.zeros(0), forwards=agg.forwards_per_token)
        rng = np.random.default_rng(self.seed + 1)
        rounds = itertools.count()

        def reward_fn(preferences: np.ndarray, weights: np.ndarray) -> np.ndarray:
            columns = self._train_rows(rng, len(preferences) * s.router_prompts)
            z = self._decode_samples(s.router_level, np.repeat(weights, s.router_prompts, axis=0), columns,
                                     jax.random.fold_in(self.key, 2000 + next(rounds)))
            method.extra_samples += len(z)
            utilities = np.sum(z * np.repeat(preferences, s.router_prompts, axis=0), axis=1)
            return utilities.reshape(len(preferences), s.router_prompts).mean(axis=1)

        router = Router(len(self.space.names), len(self.experts), rngs=nnx.Rngs(self.seed))
        start = time.time()
        train_router(router, reward_fn, rounds=s.router_rounds, preferences_per_round=s.router_preferences,
                     draws=s.router_draws, seed=self.seed, log=lambda m: self.log("  " + m))
        method.extra_seconds = time.time() - start
        method.weights = np.asarray(router.weights(self.preferences.astype(np.float32)), np.float64)
        method.points = np.array([self._test(method, s.router_level, w) for w in method.weights])
        return method

    def best_expert(self) -> Method:
        method = Method("best expert", "none", np.zeros(0))
        eye = np.eye(len(self.experts))
        validation = np.array([self.point("soup", e, self.splits[0])[0] for e in eye])
        method.weights = eye[self._select(validation)]
        method.points = np.array([self._test(method, "soup", w) for w in method.weights])
        return method

    def tuned_expert(self) -> Method:
        """For each p, the (expert, temperature) with the best validation utility; served as one expert (1 forward
        per token; its decode time is not the hidden aggregate's, so none is recorded)."""
        method = Method("best expert, tuned T", "none", np.zeros(0))
        candidates = np.array([s * e for e in np.eye(len(self.experts)) for s in SHARPEN])
        validation = np.array([self.point("hidden", w, self.splits[0])[0] for w in candidates])
        method.weights = candidates[self._select(validation)]
        method.points = np.array([self.point("hidden", w, self.splits[1])[0] for w in method.weights])
        return method

    def start(self) -> Method:
        method = Method("SFT start", "none", np.zeros(0), uses_experts=False)
        point = self._test(method, "task_vectors", np.zeros(len(self.experts)))  # θ0 + 0 · τ = θ0 exactly
        method.points = np.repeat(point[None], len(self.preferences), axis=0)
        return method

    def dynamic_weighting(self) -> Method | None:
        """The single policy trained with adaptive weights: per preference, its best checkpoint on validation."""
        if self.dynamic is None:
            return None
        rows = read_metrics(self.dynamic.workdir)
        names = self.space.names

        def points(split):
            return {r["step"]: np.array([r[f"{split}/sampled/{n}"] for n in names]) for r in rows
                    if f"{split}/sampled/{names[0]}" in r}

        validation, test = points(self.splits[0]), points(self.splits[1])
        steps = sorted(set(validation) & set(test) - {0})  # checkpoints of this run (step 0 is the start)
        chosen = self._select(np.array([validation[t] for t in steps]))
        return Method(f"{DYNAMIC} ({self.dynamic.config.weighting.name})", "single policy",
                      np.array([test[steps[i]] for i in chosen]), uses_experts=False,
                      own_training=self.dynamic.compute())

    def run(self) -> list[Method]:
        s = self.settings
        methods = [self.start(), self.best_expert(), self.tuned_expert()]
        for aggregator in s.sweep_levels:
            self.log(f"seed {self.seed}: preference sweep, {aggregator}")
            methods.append(self.sweep(aggregator))
        for aggregator in s.search_levels:
            self.log(f"seed {self.seed}: hierarchical grid search, {aggregator}")
            methods.append(self.search(aggregator))
        for name in s.bandits:
            self.log(f"seed {self.seed}: contextual bandit, {name}")
            methods.append(self.bandit(name))
        self.log(f"seed {self.seed}: preference router")
        methods.append(self.router())
        dynamic = self.dynamic_weighting()
        if dynamic is not None:
            methods.append(dynamic)
        return methods


# ----- report -------------------------------------------------------------------------------------------------
def method_row(method: Method, comparison: SeedComparison) -> dict[str, Any]:
    """The table's numbers for one method and seed."""
    z = comparison.space.normalise(method.points)
    samples, seconds = comparison.experts_compute if method.uses_experts else method.own_training
    return {"method": method.name, "level": method.level,
            **front_metrics(z, comparison.preferences),
            "rl_samples": samples, "extra_samples": method.extra_samples,
            "train_minutes": (seconds + method.extra_seconds) / 60,
            "forwards_per_token": {"1": 1, "K": len(comparison.experts)}[method.forwards],
            "eval_seconds": float(np.median(method.eval_seconds)) if method.eval_seconds else float("nan"),
            "points": method.points.tolist(),
            "weights": None if method.weights is None else np.asarray(method.weights).tolist()}


COLUMNS = (("front_size", "front", "{:.0f}"), ("hypervolume", "HV", "{:.3f}"),
           ("expected_utility", "EU", "{:.3f}"), ("utility_at_preference", "U(p)", "{:.3f}"),
           ("sparsity", "sparsity", "{:.3f}"), ("rl_samples", "RL samples", "{:.0f}"),
           ("extra_samples", "extra samples", "{:.0f}"), ("train_minutes", "train min", "{:.1f}"),
           ("forwards_per_token", "fwd/token", "{:.0f}"), ("eval_seconds", "s / test eval", "{:.1f}"))


def markdown(rows: dict[int, list[dict[str, Any]]], preferences: np.ndarray, names: Sequence[str],
             header: str) -> str:
    """The summary table (mean ± std over seeds) and the utility at every preference (first seed)."""
    seeds = sorted(rows)
    methods = [r["method"] for r in rows[seeds[0]]]
    lines = [header, "", "| method | level | " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    for i, name in enumerate(methods):
        cells = []
        for key, _, fmt in COLUMNS:
            values = np.array([rows[s][i][key] for s in seeds], dtype=np.float64)
            if not np.all(np.isfinite(values)):
                cells.append("–")
                continue
            text = fmt.format(values.mean())
            if len(seeds) > 1 and key != "forwards_per_token":
                text += " ± " + fmt.format(values.std(ddof=1))
            cells.append(text)
        lines.append(f"| {name} | {rows[seeds[0]][i]['level']} | " + " | ".join(cells) + " |")
    pref_names = ["/".join(f"{x:.2g}" for x in p) for p in preferences]
    lines += ["", f"Utility p·z of the point each method gives for each preference p ({'/'.join(names)}), seed "
                  f"{seeds[0]}:", "", "| method | " + " | ".join(pref_names) + " |",
              "|---|" + "---:|" * len(pref_names)]
    for r in rows[seeds[0]]:
        lines.append(f"| {r['method']} | " + " | ".join(f"{u:.3f}" for u in r["utilities"]) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], names: Sequence[str], maximise: Sequence[bool], path: str) -> None:
    """Pairwise projections of every method's points (first seed)."""
    pairs = list(itertools.combinations(range(len(names)), 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 4.4), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (i, j) in zip(axes[0], pairs):
        for k, r in enumerate(rows):
            pts = np.asarray(r["points"])
            ax.plot(pts[:, i], pts[:, j], "o", ms=4, alpha=0.75, color=cmap(k % 20), label=r["method"])
        ax.set_xlabel(f"{names[i]} {'↑' if maximise[i] else '↓'}")
        ax.set_ylabel(f"{names[j]} {'↑' if maximise[j] else '↓'}")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("test split: the point of every method at every preference", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def compare(settings: Settings, workdir: str, overrides: Sequence[str] = (),
            log: Callable[[str], None] = print) -> dict[int, list[dict[str, Any]]]:
    """Train the experts (resumably), compare every method for every seed, write the report; its rows by seed."""
    settings.check()
    started = time.time()
    sweep = ablate.load_sweep(settings.experts)
    experts_dir = os.path.join(workdir, "experts")
    ablate.run(sweep, experts_dir, overrides, log=log)
    configs = ablate.configs(sweep, experts_dir, overrides)
    cells = ablate.cells(sweep)
    training_minutes = (time.time() - started) / 60
    rows, comparison = {}, None
    for seed in sweep.seeds:
        comparison = SeedComparison.from_sweep(settings, configs, cells, experts_dir, seed, log)
        rows[seed] = []
        for method in comparison.run():
            row = method_row(method, comparison)
            row["utilities"] = [float(u) for u in
                                np.sum(comparison.space.normalise(method.points) * comparison.preferences, axis=1)]
            rows[seed].append(row)
    minutes = (time.time() - started) / 60
    ev, space = comparison.evaluator, comparison.space
    sft_seconds = float("nan")
    if os.path.exists(sft_info := os.path.join(experts_dir, "sft_cache", "fingerprint.json")):
        with open(sft_info) as f:
            sft_seconds = json.load(f).get("seconds", float("nan"))
    ideal = " / ".join(f"{n} {v:g}" for n, v in zip(space.names, space.ideal))
    header = (f"Seeds {sorted(rows)} of `{settings.experts}` (RL seeds; one shared SFT start, {sft_seconds / 60:.1f} "
              f"min of SFT when it was trained), {len(comparison.preferences)} preference vectors (simplex lattice, "
              f"{settings.divisions} divisions), {comparison.splits[1]} split: {ev.num_prompts} prompts x "
              f"{ev.num_samples} samples at T = {ev.temperature}. Normalised objectives: 0 at the task's worst point, "
              f"1 at {ideal}. This command took {minutes:.1f} min ({training_minutes:.1f} min training the experts "
              f"sweep).")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, TABLE), "w") as f:
        f.write(markdown(rows, comparison.preferences, comparison.space.names, header))
    with open(os.path.join(workdir, JSON), "w") as f:
        json.dump({"settings": dataclasses.asdict(settings), "overrides": list(overrides), "minutes": minutes,
                   "preferences": comparison.preferences.tolist(), "objectives": list(comparison.space.names),
                   "rows": {str(k): v for k, v in rows.items()}}, f, indent=1)
    plot(rows[min(rows)], comparison.space.names, comparison.space.maximise, os.path.join(workdir, FIGURE))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    defaults = Settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True)
    for field in dataclasses.fields(Settings):
        value = getattr(defaults, field.name)
        if isinstance(value, tuple):
            ap.add_argument(f"--{field.name}", default=",".join(value),
                            help=f"comma-separated (default: {','.join(value) or 'none'})")
        else:
            ap.add_argument(f"--{field.name}", type=type(value), default=value, help=f"default: {value}")
    args, rest = ap.parse_known_args(argv)
    bad = [a for a in rest if not a.startswith("--config.")]
    if bad:
        ap.error(f"unrecognised arguments: {' '.join(bad)}")
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)}
    for f in dataclasses.fields(Settings):
        if isinstance(getattr(defaults, f.name), tuple):
            values[f.name] = tuple(x for x in values[f.name].split(",") if x)
    try:
        compare(Settings(**values), args.workdir, [a[len("--config."):] for a in rest])
    except (experiment_config.ConfigError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    with open(os.path.join(args.workdir, TABLE)) as f:
        print(f.read())


if __name__ == "__main__":
    main()
