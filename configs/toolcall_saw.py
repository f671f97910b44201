"""SAW (He et al. 2026, arXiv 2606.07705) on ToolRL's tool-calling data (`rlla_4k`), Qwen2.5-1.5B-Instruct: the
reward weights are the coefficient of variation of each reward over the whole batch, recomputed every step.

    python -m morl_jax.main --config=configs/toolcall_saw.py:path=MODEL_DIR,data=DATA_DIR --workdir=runs/saw
    python -m morl_jax.main --config=configs/toolcall_saw.py:data=tests/fixtures/toolrl,validation=8 --workdir=runs/s --dry_run

Variants: `algo=grpo` (SAW's "grpo-h": the rewards weighted, then GRPO; default) or `gdpo` ("gdpo-h": each
reward's group-normalised advantage weighted, then batch whitening); `weighting=saw` (default) or `fixed` (the
GRPO / GDPO baselines, weights 1 and 1); `path` = the model's Hugging Face directory; `data` = ToolRL's
dataset/rlla_4k (train.parquet + test.parquet) or dataset/rlla_4k_raw, default data/rlla_4k; `validation` = train
records held out for validation (default 128).

Their setting: rewards format {0, 1} and correctness [-3, 3] (ToolRL's), the correctness shifted by +3 for the
CV statistics; 512 prompts x 4 rollouts per step, <= 1024 new tokens, lr 1e-6, no KL loss, 15 epochs, test every
10 steps.
"""

from morl_jax.experiment_config import base_config

TOOLRL_TRAIN, PROMPTS, EPOCHS = 3920, 512, 15


def get_config(arg: str | None = None):
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - {"algo", "weighting", "path", "data", "validation"}
    if unknown:
        raise ValueError(f"configs/toolcall_saw.py: unknown variant key(s) {sorted(unknown)}; known: algo, data, path, "
                         "validation, weighting")
    algo, weighting = args.get("algo", "grpo"), args.get("weighting", "saw")
    if algo not in ("grpo", "gdpo") or weighting not in ("saw", "fixed"):
        raise ValueError(f"configs/toolcall_saw.py: algo must be grpo or gdpo and weighting saw or fixed, got "
                         f"{algo!r}, {weighting!r}")
    validation = int(args.get("validation", 128))
    c = base_config()
    c.task.name = "toolcall"
    c.task.kwargs = dict(data_dir=args.get("data", "data/rlla_4k"), validation_size=validation, max_completion_len=1024)
    c.model.preset = "qwen2.5-1.5b-instruct"
    c.model.path = args.get("path", "")
    c.model.tokenizer = args.get("path", "")
    c.model.chat_template = True
    c.model.dtype = "bfloat16"
    c.sft.steps = 0
    r = c.rl
    r.estimator = algo
    r.level = "advantage" if algo == "gdpo" else "reward"
    r.prompts_per_step, r.group_size = PROMPTS, 4
    r.num_steps = (TOOLRL_TRAIN - validation) // PROMPTS * EPOCHS
    r.max_new_tokens = 1024
    r.max_prompt_length = 2048
    r.temperature = 1.0
    r.minibatches = 4  # verl's ppo_mini_batch_size 128 of 512 prompts
    r.clip_low = r.clip_high = 0.2
    r.kl_coef = 0.0
    c.optimizer.learning_rate, c.optimizer.grad_clip = 1e-6, 1.0
    c.weighting.name = weighting
    if weighting == "saw":
        c.weighting.weights = None
        c.weighting.kwargs = dict(offsets=(0.0, 3.0))  # rewards (format, correctness): correctness + 3
    else:
        c.weighting.weights = (1.0, 1.0)
    c.eval.every, c.eval.num_prompts, c.eval.num_samples = 10, 128, 1
    c.checkpoint.every = 10
    c.mesh.shape.data, c.mesh.shape.fsdp, c.mesh.shape.tensor = 1, -1, 1
    return c
