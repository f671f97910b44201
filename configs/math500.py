r"""The dynamic-reward-weighting paper (Lu et al. 2025, arXiv 2509.11452) on MATH-500, at paper scale.

    python -m morl_jax.main --config=configs/math500.py:model=qwen3-8b,path=MODEL_DIR,data=DATA_DIR --workdir=runs/m
    python -m morl_jax.main --config=configs/math500.py:data=tests/fixtures/math500 --workdir=runs/m --dry_run

Variants (comma-separated `key=value`):
  model      qwen3-8b (default; the paper's main policy: 64 prompts x 8 rollouts, <= 2048 new tokens, GRPO with a
             k3 KL loss of 0.001, mini-batches of 32 prompts, 90 epochs of the 300 train problems = 360 steps) or
             qwen2.5-1.5b (the CTWA follow-up's small setting: 32 prompts x 16, <= 1024 tokens, REINFORCE++ with a
             k2 KL loss of 0.001, linear decay)
  weighting  fixed (the baseline; default), gradient (method B: lambda = 1e-5, layers 10-25, PPO clipping off),
             hypervolume (method A; only rescales rewards, so it needs algo=rloo)
  weights    accuracy [0.5, 0.25, 0.25], balanced [0.334, 0.333, 0.333] (default), efficiency [0.25, 0.375, 0.375]
  algo       grpo | reinforce_pp | rloo (default: the model's setting)
  path       the model's Hugging Face directory (weights, config and tokenizer); without it the model is the
             preset's shape initialised from the seed, and the tokenizer is missing (a --dry_run still checks the
             shapes and the data, a training run stops at the tokenizer)
  data       the directory holding MATH-500's test.jsonl (or test-*.parquet) from HuggingFaceH4/MATH-500
             (default data/math500); the paper's 300/100/100 re-split with seed 42 is made from it

Rewards: accuracy (last \boxed{}, math-verify), conciseness (policy tokens below the running mean of all training
lengths), clarity; validation objectives accuracy, length (tokens), clarity; greedy validation every 5 steps on
the 100 validation problems, the test split reported; hypervolume reference = the initial model's point.
"""

from morl_jax.experiment_config import base_config

WEIGHTS = {"accuracy": (0.5, 0.25, 0.25), "balanced": (0.334, 0.333, 0.333), "efficiency": (0.25, 0.375, 0.375)}
MODELS = {
    # preset, prompts/step, rollouts, max new tokens, mini-batches, estimator, KL estimator, lr schedule
    "qwen3-8b": dict(preset="qwen3-8b", prompts=64, group=8, tokens=2048, minibatches=2, algo="grpo", schedule="constant"),
    "qwen2.5-1.5b": dict(preset="qwen2.5-1.5b", prompts=32, group=16, tokens=1024, minibatches=1, algo="reinforce_pp",
                         schedule="linear"),
}
KL = {"grpo": ("k3", 0.001), "reinforce_pp": ("k2", 0.001), "rloo": ("k3", 0.0)}
TRAIN_PROBLEMS, EPOCHS = 300, 90


def parse(arg: str | None, known: set[str], name: str) -> dict[str, str]:
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - known
    if unknown:
        raise ValueError(f"configs/{name}: unknown variant key(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    return args


def get_config(arg: str | None = None):
    args = parse(arg, {"model", "weighting", "weights", "algo", "path", "data"}, "math500.py")
    model = args.get("model", "qwen3-8b")
    if model not in MODELS:
        raise ValueError(f"configs/math500.py: unknown model {model!r}; known: {', '.join(MODELS)}")
    m = MODELS[model]
    algo = args.get("algo", m["algo"])
    if algo not in KL:
        raise ValueError(f"configs/math500.py: unknown algo {algo!r}; known: {', '.join(KL)}")
    weights = args.get("weights", "balanced")
    if weights not in WEIGHTS:
        raise ValueError(f"configs/math500.py: unknown weights {weights!r}; known: {', '.join(WEIGHTS)}")

    c = base_config()
    c.task.name = "math"
    c.task.kwargs = dict(raw_dir=args.get("data", "data/math500"), config="math500", max_completion_len=m["tokens"])
    c.model.preset = m["preset"]
    c.model.path = args.get("path", "")
    c.model.tokenizer = args.get("path", "")
    c.model.chat_template = True  # verl renders the single user turn with the model's chat template
    c.model.dtype = "bfloat16"
    c.sft.steps = 0

    r = c.rl
    r.estimator, r.level = algo, "reward"
    r.prompts_per_step, r.group_size = m["prompts"], m["group"]
    r.num_steps = TRAIN_PROBLEMS // m["prompts"] * EPOCHS  # drop_last: 4 (or 9) steps per epoch
    r.max_new_tokens = m["tokens"]
    r.max_prompt_length = 2048 if model == "qwen3-8b" else 1024
    r.temperature = 1.0
    r.epochs, r.minibatches = 1, m["minibatches"]
    r.clip_low = r.clip_high = 0.2
    r.loss_aggregation = "token-mean"
    r.kl_estimator, r.kl_coef = KL[algo]
    o = c.optimizer
    o.learning_rate, o.schedule, o.warmup_steps, o.weight_decay, o.grad_clip = 1e-6, m["schedule"], 0, 0.0, 1.0

    w = c.weighting
    w.name = args.get("weighting", "fixed")
    w.weights = WEIGHTS[weights]
    if w.name == "gradient":
        w.weights = WEIGHTS["balanced"]
        w.kwargs = dict(reg=1e-5)
        w.gram_layers = (10, 26)
        w.gram_clip_norm = 1.0
        r.clip_low = r.clip_high = 100.0  # the paper's method B disables PPO clipping
    elif w.name == "hypervolume":
        w.eval_every, w.eval_mode, w.reference = 1, "greedy", "initial"
    elif w.name != "fixed":
        raise ValueError(f"configs/math500.py: unknown weighting {w.name!r}; known: fixed, gradient, hypervolume")

    e = c.eval
    e.every, e.num_prompts, e.num_samples = 5, 100, 1
    e.split, e.test_split, e.reference = "validation", "test", "initial"
    c.checkpoint.every, c.checkpoint.max_to_keep = 20, 2
    c.mesh.shape.data, c.mesh.shape.fsdp, c.mesh.shape.tensor = 1, -1, 1  # fully sharded over every device (verl's FSDP)
    return c
