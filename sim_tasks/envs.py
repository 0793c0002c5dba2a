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
        render_mode: "rgb_array" (gymnasium's convention: `render()` returns a frame, so `RecordVideo` and SB3's
            `VecVideoRecorder` work) or None.
        sample: with `task` None, draw a new task from this split ("train" or "test") at every reset, as
            gymnasium users expect of a task distribution; None keeps the family's nominal task. `reset(options=
            {"task": t})` fixes a task, `{"split": "test"}` draws from the test split for that reset.
        max_episode_steps: truncate after this many steps (default the family's episode); None: never (what
            `gym.make` uses, whose `TimeLimit` wrapper truncates at the registered or given `max_episode_steps`).
        camera: the model's camera to render from (default: the family's `render_camera`, else the first one;
            the mobile robots' cameras track them); width, height: the frame's size in pixels.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        family: str | TaskFamily,
        task: TaskParams | None = None,
        payload_schedule: list[tuple[float, float]] | None = None,
        resample_commands: bool = False,
        render_mode: str | None = None,
        camera: str | None = None,
        width: int = 480,
        height: int = 360,
        sample: str | None = None,
        max_episode_steps: int | str | None = "family",
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: these envs render 'rgb_array' (or None)")
        self.family = get_family(family) if isinstance(family, str) else family
        self.sim = TaskSim(self.family, task if task is not None else self.family.default_task(), resample_commands)
        if payload_schedule:
            self.sim.schedule_payload(payload_schedule)
        obs_dim, act_dim = self.family.obs_layout.dim, self.sim.actions.dim
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        if sample not in (None, "train", "test"):
            raise ValueError(f"sample={sample!r}: draw tasks from 'train' or 'test' (or None: a fixed task)")
        self.sample = sample if task is None else None
        self.max_episode_steps = self.family.episode_steps if max_episode_steps == "family" else max_episode_steps
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.family.ctrl_dt)}
        self._camera, self._size, self._renderer = camera, (width, height), None

    def render(self) -> np.ndarray | None:
        """The current frame, (height, width, 3) uint8, with render_mode="rgb_array"; None otherwise."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None or self._renderer.model is not self.sim.model:  # a new task recompiles the model
            from sim_tasks.render import FrameRenderer

            model = self.sim.model
            camera = self._camera or self.family.render_camera or (model.camera(0).name if model.ncam else -1)
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = FrameRenderer(model, camera, *self._size)
        return self._renderer.render(self.sim.data)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

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
        options = options or {}
        split = options.get("split", self.sample)
        if "task" in options:
            self.sim.set_task(options["task"])
        elif split is not None:
            tasks = self.family.split().train if split == "train" else self.family.split().test
            self.sim.set_task(tasks[int(self.np_random.integers(len(tasks)))])
        obs = self.sim.reset(self.np_random)
        return obs, {"task": self.sim.task_vector(), "payload_mass": self.sim.payload_mass}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, _, info = self.sim.step(action)  # the episode length is this env's to decide
        truncated = self.max_episode_steps is not None and self.sim.steps >= self.max_episode_steps and not terminated
        info["task"] = self.sim.task_vector()
        return obs, reward, terminated, truncated, info


def make_env(family: str, **kwargs: Any) -> TaskEnv:
    """`gym.make`'s entry point: tasks drawn from the training split at each reset unless a task is given, the
    episode length left to gymnasium's `TimeLimit` (the family's episode, or `max_episode_steps=`)."""
    kwargs.setdefault("sample", "train" if kwargs.get("task") is None else None)
    return TaskEnv(family, max_episode_steps=None, **kwargs)
