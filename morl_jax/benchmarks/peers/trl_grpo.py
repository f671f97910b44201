"""The peer workload in TRL: `GRPOTrainer` with two weighted reward functions, timed per optimizer step.

    .peers/trl/bin/python morl_jax/benchmarks/peers/trl_grpo.py --workload DIR [--steps 12] [--warmup 2]

Runs in the TRL virtual environment (`make peers`), never in morl_jax's. DIR is a workload directory written
by `python -m morl_jax.benchmarks.step` (see workload.py). One step: the prompts of one batch x the group
size, sampled at temperature 1 up to the generation limit, rewards accuracy + weight x brevity summed then
normalised per group (TRL's `sum_then_normalize`, `scale_rewards="group"`), one update with TRL's default
token-mean loss (`dapo`), AdamW with linear decay and grad-norm clip 1, no KL. TRL's own defaults stay as a
user gets them (gradient checkpointing on; torch's thread count). Prints `STEP {json}` per step (wall and
CPU seconds from one optimizer step's end to the next, and the rollout + reward part of it) and `RESULT`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import workload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True, help="a workload directory written by benchmarks.step")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback

    spec = workload.read_workload(args.workload)
    max_len, (w_acc, w_brev) = spec["max_new_tokens"], spec["reward_weights"]
    per_step = spec["prompts_per_step"] * spec["group_size"]
    rows = spec["rows"][: args.steps * spec["prompts_per_step"]]
    torch.manual_seed(0)

    def accuracy(prompts, completions, answer, **_):
        return workload.accuracy_rewards(completions, answer)

    def brevity(prompts, completions, **_):
        return workload.brevity_rewards(completions, max_len)

    rollout_s: list[float] = []

    class Trainer(trl.GRPOTrainer):
        """Times the rollout + rewards + advantages part of each step."""

        def _generate_and_score_completions(self, inputs):
            start = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            rollout_s.append(time.perf_counter() - start)
            return out

    wall: list[float] = []
    cpu: list[float] = []

    class StepClock(TrainerCallback):
        def on_train_begin(self, *_, **__):
            self.last = (time.perf_counter(), time.process_time())

        def on_step_end(self, _args, state, *_, **__):
            now = (time.perf_counter(), time.process_time())
            wall.append(now[0] - self.last[0])
            cpu.append(now[1] - self.last[1])
            self.last = now
            workload.emit("STEP", {"step": state.global_step, "wall_s": round(wall[-1], 4),
                                   "cpu_s": round(cpu[-1], 4),
                                   "rollout_s": round(rollout_s[-1], 4) if rollout_s else None})

    config = trl.GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl_grpo_"), per_device_train_batch_size=per_step,
        gradient_accumulation_steps=1, num_generations=spec["group_size"], max_completion_length=max_len,
        temperature=1.0, reward_weights=[w_acc, w_brev], multi_objective_aggregation="sum_then_normalize",
        scale_rewards="group", loss_type="dapo", beta=0.0, num_iterations=1, epsilon=0.2,
        learning_rate=spec["learning_rate"], lr_scheduler_type="linear", adam_beta1=0.9, adam_beta2=0.999,
        adam_epsilon=1e-8, weight_decay=0.0, max_grad_norm=1.0, max_steps=args.steps, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False, fp16=False, seed=0,
        dataloader_num_workers=0, disable_tqdm=True, shuffle_dataset=False)
    model = AutoModelForCausalLM.from_pretrained(args.workload, dtype=torch.float32)
    trainer = Trainer(model=model, reward_funcs=[accuracy, brevity], args=config,
                      train_dataset=Dataset.from_list(rows),
                      processing_class=PreTrainedTokenizerFast.from_pretrained(args.workload),
                      callbacks=[StepClock()])
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    moved = sum(float((p.detach() - b).square().sum()) for p, b in zip(model.parameters(), before)) ** 0.5
    workload.emit("RESULT", {
        "framework": "trl", "versions": {"trl": trl.__version__, "torch": torch.__version__,
                                         "python": sys.version.split()[0]},
        "torch_threads": torch.get_num_threads(), "gradient_checkpointing": config.gradient_checkpointing,
        "parameters": sum(p.numel() for p in model.parameters()), "param_delta_l2": moved,
        "wall": workload.step_stats(wall, args.warmup), "cpu": workload.step_stats(cpu, args.warmup),
        "rollout": workload.step_stats(rollout_s, args.warmup), "pid": os.getpid()})


if __name__ == "__main__":
    main()
