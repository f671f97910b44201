"""Prompt sources (tasks) with their reward sets and objectives, and a resumable batch iterator.

Built in: the arithmetic benchmark, the peer workload, and tasks from real data with configured rewards --
`files` (your own jsonl / json / parquet), `gsm8k` and `math` (TFDS builders over downloaded files),
`reasoning_gym` (any reasoning-gym dataset) and `toolcall` (ToolRL).
"""

from morl_jax.tasks.arithmetic import ArithmeticTask
from morl_jax.tasks.base import (CHARACTERS, Objective, Task, get_task, register_task, task_factory,
                                 task_names)
from morl_jax.tasks.dataset import DatasetTask, FilesTask
from morl_jax.tasks.iterator import PromptIterator
from morl_jax.tasks.math_tasks import Gsm8kTask, MathTask
from morl_jax.tasks.peer_addition import PeerAdditionTask
from morl_jax.tasks.reasoning_gym_task import ReasoningGymTask
from morl_jax.tasks.toolcall import ToolCallTask

__all__ = [
    "ArithmeticTask", "CHARACTERS", "DatasetTask", "FilesTask", "Gsm8kTask", "MathTask", "Objective",
    "PeerAdditionTask", "PromptIterator", "ReasoningGymTask", "Task", "ToolCallTask", "get_task", "register_task",
    "task_factory", "task_names",
]
