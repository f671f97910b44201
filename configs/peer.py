"""The peer workload of ../shared/bench/peers (TRL / Tunix anchors), for `morl_jax.benchmarks.step`.

Tiny Qwen2 (vocab 64, d 128, 2 layers), character tokenizer, prompts "{a}+{b}=" in file order,
8 prompts x 8 completions, <= 32 new tokens at temperature 1, rewards accuracy + 0.5 brevity scalarised,
then GRPO group normalisation, one PPO-clip (0.2) update with token-mean loss, AdamW lr 1e-5 linear decay,
grad-norm clip 1.0, no KL, no SFT, no validation, no checkpoints.

`get_config("model=/tmp/peer_tiny_model")` loads the peers' safetensors; without it, the `peer-qwen2`
preset is initialised from the seed (same shapes, so the same cost).
"""

from morl_jax.experiment_config import base_config


def get_config(arg: str | None = None):
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - {"model", "steps"}
    if unknown:
        raise ValueError(f"configs/peer.py: unknown variant key(s) {sorted(unknown)}; known: model, steps")
    c = base_config()
    c.task.name = "peer_addition"
    c.task.kwargs = dict(max_completion_len=32)
    c.model.preset = "peer-qwen2"
    c.model.path = args.get("model", "")
    c.model.tokenizer = "char"
    c.sft.steps = 0
    c.rl.shuffle_prompts = False
    c.rl.estimator = "grpo"
    c.rl.num_steps = int(args.get("steps", 12))
    c.rl.prompts_per_step = 8
    c.rl.group_size = 8
    c.rl.max_new_tokens = 32
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
