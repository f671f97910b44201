"""GDPO's GSM8K setting (Liu et al. 2026, arXiv 2601.05242; NVlabs/GDPO, trl-GDPO): three binary rewards,
Qwen2.5-1.5B-Instruct, GDPO (each reward normalised within its group, weighted, then batch-whitened) or GRPO.

    python -m morl_jax.main --config=configs/gsm8k_gdpo.py:path=MODEL_DIR,data=DATA_DIR --workdir=runs/gdpo
    python -m morl_jax.main --config=configs/gsm8k_gdpo.py:data=tests/fixtures/gsm8k,validation=2 --workdir=runs/g --dry_run

Variants: `algo=gdpo` (default) or `grpo` (the rewards summed before the group normalisation); `path` = the
model's Hugging Face directory (weights, tokenizer, chat template); `data` = the directory holding GSM8K's
train.jsonl + test.jsonl (or the parquet files of openai/gsm8k, config main), default data/gsm8k; `validation` =
how many train problems are held out for validation (default 500).

Their recipe: the system prompt below (verbatim, typo included), the question as the user turn; rewards
correctness (the `<answer>` text equals the gold number), integer (it is all digits) and format
(`<think>...</think>\\n<answer>...</answer>`), weights 1 each; 16 generations per prompt, 512 completions per
optimizer step (16 per device x 4 accumulation x 8 GPUs = 32 prompts), <= 1024 new tokens, lr 5e-6 cosine with
10 % warm-up, clip 0.2, one epoch of the train split.
"""

from morl_jax.experiment_config import base_config

SYSTEM_PROMPT = """
You are a helpful AI assistant.

For every request, you should carefully think through the math problem step by step, then provide the fianl answer in integer format.

Steps for Each Request:
1. Think: Provide detailed, step-by-step reasoning, calculations, or derivations.
2. Produce Final Answer: After step-by-step reasoning, output the final answer in integer format.

Output Format:
<think>Your thoughts and reasoning</think>
<answer>Final answer in integer format</answer>

Important Notes:
1. You must include your reasoning steps inside <think>.
2. You must always output the Final Answer within <answer> after the reasoning steps is done.
3. You should consistently work through the solution step by step before giving the final answer.
4. The final answer can only be an integer.
"""
REWARDS = (
    {"name": "correctness", "fn": "gdpo_correctness", "worst": 0.0},
    {"name": "integer", "fn": "gdpo_integer", "worst": 0.0},
    {"name": "format", "fn": "gdpo_format", "worst": 0.0},
)
GSM8K_TRAIN, PROMPTS, GROUP = 7473, 32, 16


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def get_config(arg: str | None = None):
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - {"algo", "path", "data", "validation"}
    if unknown:
        raise ValueError(f"configs/gsm8k_gdpo.py: unknown variant key(s) {sorted(unknown)}; known: algo, data, path, "
                         "validation")
    algo = args.get("algo", "gdpo")
    if algo not in ("gdpo", "grpo"):
        raise ValueError(f"configs/gsm8k_gdpo.py: unknown algo {algo!r}; known: gdpo, grpo")
    validation = int(args.get("validation", 500))
    c = base_config()
    c.task.name = "gsm8k"
    c.task.kwargs = dict(raw_dir=args.get("data", "data/gsm8k"), validation_size=validation, prompt_template="{question}",
                         system_prompt=_escape(SYSTEM_PROMPT), rewards=REWARDS, objectives=("correctness", "integer", "format", "length"),
                         max_completion_len=1024)
    c.model.preset = "qwen2.5-1.5b-instruct"
    c.model.path = args.get("path", "")
    c.model.tokenizer = args.get("path", "")
    c.model.chat_template = True
    c.model.dtype = "bfloat16"
    c.sft.steps = 0
    r = c.rl
    r.estimator = algo
    r.level = "advantage" if algo == "gdpo" else "reward"
    r.prompts_per_step, r.group_size = PROMPTS, GROUP
    r.num_steps = (GSM8K_TRAIN - validation) // PROMPTS  # one epoch
    r.max_new_tokens = 1024
    r.max_prompt_length = 512
    r.temperature = 1.0
    r.clip_low = r.clip_high = 0.2
    r.loss_aggregation = "token-mean"
    r.kl_coef = 0.0
    o = c.optimizer
    o.learning_rate, o.schedule, o.warmup_steps, o.grad_clip = 5e-6, "cosine", r.num_steps // 10, 1.0
    c.weighting.name = "fixed"
    c.weighting.weights = (1.0, 1.0, 1.0)
    c.eval.every, c.eval.num_prompts, c.eval.num_samples = 20, 256, 1
    c.checkpoint.every = 20
    c.mesh.shape.data, c.mesh.shape.fsdp, c.mesh.shape.tensor = 1, -1, 1
    return c
