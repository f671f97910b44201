"""Meta-policy MORL: combine separately trained policies (experts) into one that answers any preference.

* `levels`: the registered aggregators, at the parameter level (`soup`, `task_vectors`), the token level
  (`logprob`, `prob`) and the hidden-state level (`hidden`);
* `sampling`: `generate`, one jit-compiled sampler for every aggregator, and `sequence_logprobs`;
* `search`: EMORL's hierarchical zooming grid search, the preference sweep, front metrics;
* `bandits`: LinUCB and linear Thompson sampling over a discrete set of mixing weights, per prompt;
* `router`: a preference -> mixing-weights network trained on sampled preferences;
* `evaluation`: scoring an aggregate on a task split; `compare`: the comparison command (imports the training
  loop, so it is not imported here).

Build and sample::

    experts = Experts.stack(graphdef, [params_accuracy, params_concise, params_clear], start_params, names)
    out = generate("hidden", experts, [0.5, 0.2, 0.3], prompt_tokens, prompt_mask, key, max_new_tokens=96,
                   eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, temperature=0.7)
"""

from morl_jax.aggregation.bandits import (
                                          BANDITS,
                                          BanditState,
                                          ContextualBandit,
                                          features,
                                          get_bandit,
                                          linucb,
                                          posterior_mean,
                                          register_bandit,
                                          thompson,
)
from morl_jax.aggregation.evaluation import Decoded, MixtureEvaluator, ObjectiveSpace
from morl_jax.aggregation.experts import Experts
from morl_jax.aggregation.levels import (
                                          AGGREGATORS,
                                          LEVELS,
                                          Aggregator,
                                          check_weights,
                                          get_aggregator,
                                          register_aggregator,
)
from morl_jax.aggregation.router import Router, train_router
from morl_jax.aggregation.sampling import Completions, generate, prompt_hidden, sequence_logprobs
from morl_jax.aggregation.search import (
                                          GridSearchResult,
                                          SweepResult,
                                          front_metrics,
                                          hierarchical_grid_search,
                                          preference_sweep,
)

__all__ = [
    "AGGREGATORS", "BANDITS", "LEVELS", "Aggregator", "BanditState", "Completions", "ContextualBandit", "Decoded",
    "Experts", "GridSearchResult", "MixtureEvaluator", "ObjectiveSpace", "Router", "SweepResult", "check_weights",
    "features", "front_metrics", "generate", "get_aggregator", "get_bandit", "hierarchical_grid_search", "linucb",
    "posterior_mean", "preference_sweep", "prompt_hidden", "register_aggregator", "register_bandit",
    "sequence_logprobs", "thompson", "train_router",
]
