"""gymnasium envs: one `TaskSim` behind the standard API, registered under `sim_tasks/`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sim_tasks.family import TaskFamily
from sim_tasks.params import TaskParams
from sim_tasks.registry import get_family
from sim_tasks.sim import TaskSim


class TaskEnv(gym.Env):
    """A task of a family as a gymnasium env.

    The observation holds only robot-side signals (the family's `obs_layout`); `info["task"]` carries the
    varied-parameter vector for oracle baselines, never the observation.

    Args:
        family: a family name or instance.
        task: the task; the family's nominal task when None.
        payload_schedule: [(time_s, mass_kg), ...] mid-episode payload changes.
        resample_commands: draw new commands during episodes (training; `TaskSim`).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        family: str | TaskFamily,
        task: TaskParams | None = None,
        payload_schedule: list[tuple[float, float]] | None = None,
        resample_commands: bool = False,
    ) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self.sim = TaskSim(self.family, task if task is not None else self.family.default_task(), resample_commands)
        if payload_schedule:
            self.sim.schedule_payload(payload_schedule)
        obs_dim, act_dim = self.family.obs_layout.dim, self.sim.actions.dim
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)

    @property
    def task(self) -> TaskParams:
        return self.sim.task

    def set_task(self, task: TaskParams) -> None:
        """Switch task (recompiles); takes effect now, call `reset` next."""
        self.sim.set_task(task)

    def set_payload(self, mass: float, com: list[float] | None = None) -> None:
        """Change the payload in the middle of an episode (kg; com offset in m)."""
        self.sim.set_payload(mass, com)

    def schedule_payload(self, schedule: list[tuple[float, float]]) -> None:
        self.sim.schedule_payload(schedule)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "task" in options:
            self.sim.set_task(options["task"])
        obs = self.sim.reset(self.np_random)
        return obs, {"task": self.sim.task_vector(), "payload_mass": self.sim.payload_mass}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.sim.step(action)
        info["task"] = self.sim.task_vector()
        return obs, reward, terminated, truncated, info


def make_env(family: str, **kwargs: Any) -> TaskEnv:
    return TaskEnv(family, **kwargs)
