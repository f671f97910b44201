"""Prompt sources (tasks) with their reward sets and objectives, and a resumable batch iterator."""

from morl_jax.tasks.arithmetic import ArithmeticTask
from morl_jax.tasks.base import (CHARACTERS, Objective, Task, get_task, register_task, task_factory,
                                 task_names)
from morl_jax.tasks.iterator import PromptIterator
from morl_jax.tasks.peer_addition import PeerAdditionTask

__all__ = [
    "ArithmeticTask", "CHARACTERS", "Objective", "PeerAdditionTask", "PromptIterator", "Task",
    "get_task", "register_task", "task_factory", "task_names",
]
