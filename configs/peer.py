"""The peer workload (what the TRL and Tunix harnesses of morl_jax/benchmarks/peers run), for `benchmarks.step`.

Character tokenizer, prompts "{a}+{b}=" in file order, 8 prompts x 8 completions sampled at temperature 1,
rewards accuracy + 0.5 brevity scalarised, then GRPO group normalisation, one PPO-clip (0.2) update with
token-mean loss, AdamW lr 1e-5 linear decay, grad-norm clip 1.0, no KL, no SFT, no validation, no checkpoints.

Variants (`get_config("size=small,steps=4,model=DIR")`):
* `size=tiny` (default): the `peer-qwen2` preset (0.5 M parameters), <= 32 new tokens;
* `size=small`: the `peer-qwen2-small` preset (30.5 M parameters, Qwen2-shaped), <= 128 new tokens;
* `model=DIR` loads a Hugging Face directory (the workload directory the step benchmark writes, so every
  framework starts from the same weights); without it the preset is initialised from the seed;
* `steps=N` RL steps (default 12).
"""

from morl_jax.experiment_config import base_config

SIZES = {"tiny": ("peer-qwen2", 32), "small": ("peer-qwen2-small", 128)}


def get_config(arg: str | None = None):
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - {"model", "steps", "size"}
    if unknown:
        raise ValueError(f"configs/peer.py: unknown variant key(s) {sorted(unknown)}; known: model, size, steps")
    size = args.get("size", "tiny")
    if size not in SIZES:
        raise ValueError(f"configs/peer.py: unknown size {size!r}; known: {', '.join(SIZES)}")
    preset, max_new_tokens = SIZES[size]
    c = base_config()
    c.task.name = "peer_addition"
    c.task.kwargs = dict(max_completion_len=max_new_tokens)
    c.model.preset = preset
    c.model.path = args.get("model", "")
    c.model.tokenizer = "char"
    c.sft.steps = 0
    c.rl.shuffle_prompts = False
    c.rl.estimator = "grpo"
    c.rl.num_steps = int(args.get("steps", 12))
    c.rl.prompts_per_step = 8
    c.rl.group_size = 8
    c.rl.max_new_tokens = max_new_tokens
    c.rl.temperature = 1.0
    c.rl.clip_low = 0.2
    c.rl.clip_high = 0.2
    c.rl.loss_aggregation = "token-mean"
    c.rl.kl_coef = 0.0
    c.optimizer.learning_rate = 1e-5
    c.optimizer.schedule = "linear"
    c.optimizer.grad_clip = 1.0
    c.weighting.name = "fixed"
    c.weighting.weights = (1.0, 0.5)
    c.eval.every = 0
    c.checkpoint.every = 0
    c.log.console = False
    return c
