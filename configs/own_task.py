"""Your own task: data files + reward functions of your own, named in the config (no Task subclass).

    python -m morl_jax.main --config=configs/own_task.py --workdir=runs/own_task        # from the repository root
    python -m morl_jax.main --config=configs/own_task.py:size=test --workdir=runs/own   # seconds

The data are JSON Lines in examples/own_task/ (`{"question": "what is 5 plus 2?", "answer": 7, "level": 1}`; .json
and .parquet files work the same way); the reward functions are plain Python in examples/own_task/rewards.py,
named by import path, plus the built-in conciseness reward. `digits` is a reward to minimise (`maximise=False`):
RL maximises its negation and validation reports it as a minimised objective. It has no known worst value, so
the hypervolume reference is the initial model's validation point (the loop says so when it starts).

The policy is the built-in character-level model trained from scratch (no SFT: a task from files has no
solutions to imitate), so the example shows the mechanics, not a good policy; point `model.path` /
`model.tokenizer` at a Hugging Face directory (and set `model.chat_template=True`) for a real one.
"""

from morl_jax.experiment_config import base_config

DATA = "examples/own_task"


def get_config(arg: str | None = None):
    size = arg or "cpu"
    if size not in ("cpu", "test"):
        raise ValueError(f"configs/own_task.py: unknown size {size!r}; known: cpu, test")
    c = base_config()
    c.task.name = "files"
    c.task.kwargs = dict(
        files=dict(train=f"{DATA}/train.jsonl", validation=f"{DATA}/validation.jsonl", test=f"{DATA}/test.jsonl"),
        prompt_template="{question} answer:",
        answer_column="answer",
        columns=("level",),
        rewards=(
            dict(name="correct", fn="examples.own_task.rewards:correct", worst=0.0),
            dict(name="digits", fn="examples.own_task.rewards:digits", maximise=False),
            dict(name="conciseness", fn="conciseness", worst=0.0),
        ),
        objectives=("correct", "digits", "length"),
        max_completion_len=32,
    )
    c.model.preset = "arith-cpu"
    c.model.tokenizer = "char"
    c.sft.steps = 0
    c.rl.max_new_tokens = 32
    c.rl.num_steps = 50
    c.rl.prompts_per_step = 16
    c.rl.group_size = 8
    c.rl.temperature = 1.0
    c.optimizer.learning_rate = 3e-4
    c.weighting.weights = (0.6, 0.2, 0.2)
    c.eval.every = 25
    c.eval.num_prompts = 20
    c.checkpoint.every = 25
    if size == "test":
        c.model.preset = "tiny"
        c.rl.num_steps = 2
        c.rl.prompts_per_step = 4
        c.rl.group_size = 4
        c.eval.every = 2
        c.eval.num_prompts = 4
        c.eval.num_samples = 2
        c.checkpoint.every = 2
        c.log.console = False
    return c
