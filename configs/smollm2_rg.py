r"""A real pretrained model in the RL loop on the CPU: SmolLM2-135M-Instruct (from `make smollm2`) trained with GRPO
and the dynamic-weighting paper's three rewards on a reasoning-gym task.

    make smollm2                                                    # writes runs/smollm2 (once)
    python -m morl_jax.main --config=configs/smollm2_rg.py --workdir=runs/smollm2_rg
    python -m morl_jax.main --config=configs/smollm2_rg.py:steps=2,model=DIR --workdir=runs/x

Task: reasoning-gym `basic_arithmetic` with two one-digit terms (`Calculate 5 - 3.`) through the model's chat
template, with a one-shot system prompt that shows numbered steps and a `\boxed{}` answer: with the paper's
instruction alone ("... output the final answer within \boxed{}.") the 135M model boxed 1 of 16 answers at T = 1
and a two-step trial earned no accuracy or clarity reward (measured), leaving GRPO nothing to learn from. Rewards (the paper's): accuracy (last
`\boxed{}`, math-verify), conciseness (policy tokens below the running mean of all training lengths), clarity
(a box and >= 2 enumerators or ordinal words), balanced weights. Sampling at T = 0.7. Validation: accuracy,
length (tokens), clarity on 16 validation and 16 test problems, before and after training.

Variants (`get_config("steps=N,model=DIR,weights=accuracy|balanced|efficiency")`): `model` is the converted
directory (default runs/smollm2, relative to the working directory).
"""

from morl_jax.experiment_config import base_config
from morl_jax.tasks.math_tasks import PAPER_OBJECTIVES, PAPER_REWARDS

SYSTEM_PROMPT = ("Answer like this example.\nQuestion: Calculate 4 + 2.\nAnswer: 1. Start from 4.\n"
                 "2. Add 2 to get 6.\nThe answer is \\boxed{{6}}.")
WEIGHTS = {"accuracy": (0.5, 0.25, 0.25), "balanced": (0.334, 0.333, 0.333), "efficiency": (0.25, 0.375, 0.375)}
MAX_NEW_TOKENS = 96


def get_config(arg: str | None = None):
    args = dict(part.split("=", 1) for part in filter(None, (arg or "").split(",")))
    unknown = set(args) - {"steps", "model", "weights"}
    if unknown:
        raise ValueError(f"configs/smollm2_rg.py: unknown variant key(s) {sorted(unknown)}; known: model, steps, weights")
    weights = args.get("weights", "balanced")
    if weights not in WEIGHTS:
        raise ValueError(f"configs/smollm2_rg.py: unknown weights {weights!r}; known: {', '.join(WEIGHTS)}")
    model = args.get("model", "runs/smollm2")
    c = base_config()
    c.task.name = "reasoning_gym"
    c.task.kwargs = dict(
        dataset="basic_arithmetic",
        dataset_kwargs=dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, operators=("+", "-")),
        seed=0, train_size=2000, validation_size=16, test_size=16,
        prompt_template="Question: {question}", system_prompt=SYSTEM_PROMPT,
        rewards=PAPER_REWARDS, objectives=PAPER_OBJECTIVES, max_completion_len=MAX_NEW_TOKENS)
    c.model.path = model
    c.model.tokenizer = model
    c.model.chat_template = True
    c.sft.steps = 0
    c.rl.estimator = "grpo"
    c.rl.num_steps = int(args.get("steps", 24))
    c.rl.prompts_per_step = 4
    c.rl.group_size = 4
    c.rl.max_new_tokens = MAX_NEW_TOKENS
    c.rl.temperature = 0.7
    c.rl.clip_low = 0.2
    c.rl.clip_high = 0.28
    c.rl.kl_coef = 0.0
    c.optimizer.learning_rate = 1e-5
    c.optimizer.grad_clip = 1.0
    c.weighting.name = "fixed"
    c.weighting.weights = WEIGHTS[weights]
    c.eval.every = c.rl.num_steps  # one validation at the start and one at the end (decoding 135M on a CPU is slow)
    c.eval.num_prompts = 16
    c.eval.num_samples = 2
    c.checkpoint.every = 0
    c.log.console = True
    return c
