"""The step loop, the same for every family: action -> latency -> ctrl -> physics -> obs, reward.

`TaskSim` holds one compiled model and its state. The gymnasium env wraps one; the batched stepper
(`sim_tasks.vector`) holds many. Observations are produced here and only here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import mujoco
import numpy as np

from sim_tasks import model_edit
from sim_tasks.family import TaskFamily
from sim_tasks.params import TaskParamError, TaskParams


class TaskSim:
    """One task's physics and the shared step loop.

    Args:
        family: the task family.
        task: the task (validated; the model is compiled for it).
        resample_commands: draw new commands from their training ranges every `family.command_resample_s`
            of an episode (training envs: the policy learns to follow a changing command, as legged_gym
            resamples its velocity commands); every episode starts with the task's own commands.
    """

    def __init__(self, family: TaskFamily, task: TaskParams, resample_commands: bool = False) -> None:
        self.family = family
        self.resample_commands = resample_commands and bool(family.command_params)
        self.rng = np.random.default_rng(0)
        self._schedule: list[tuple[float, float]] = []
        self.set_task(task)

    # ---- model stage -----------------------------------------------------------------------------
    def set_task(self, task: TaskParams) -> None:
        """Switch to `task`, recompiling the model (model-stage parameters may differ)."""
        task = self.family.validate(task)
        model = self.family.build_model(task)  # raises before anything is replaced
        self.task = self._task0 = task
        self._vector: np.ndarray | None = None  # task_vector(), cached until the task or the payload changes
        self.model = model
        self.data = mujoco.MjData(model)
        self._scratch = mujoco.MjData(model)
        self.actions = self.family.action_layout(model)
        self._noise_std = self.family.obs_layout.noise_std() * task.obs_noise
        self._noisy = bool(task.obs_noise > 0)
        self._noise_block = np.zeros((0, self.family.obs_layout.dim))
        self._noise_at = 0
        self._payload = (task.payload_mass, np.array([task.payload_com_x, task.payload_com_y, task.payload_com_z]))
        self._queue: deque[np.ndarray] = deque(maxlen=task.action_latency + 1)
        self.steps = 0

    # ---- payload changes (mid-episode) -----------------------------------------------------------
    def set_payload(self, mass: float, com: Sequence[float] | None = None) -> None:
        """Change the payload now, without recompiling (the online-adaptation test case).

        Args:
            mass: kg, must be inside the family's allowed payload range.
            com: (x, y, z) offset from the mount in m; unchanged when None.
        """
        if self.family.payload_parent is None:
            raise TaskParamError(f"family {self.family.name!r} has no payload")
        self.family.spec_of("payload_mass").check(mass)
        com_arr = self._payload[1] if com is None else np.asarray(com, dtype=float)
        if com_arr.shape != (3,):
            raise TaskParamError(f"payload com must have 3 entries (x, y, z in m), got {list(com_arr)}")
        model_edit.set_payload(self.model, self._scratch, np.array(self.family.payload_mount), mass, com_arr)
        self._payload = (float(mass), com_arr)
        self._vector = None

    def schedule_payload(self, schedule: Sequence[tuple[float, float]]) -> None:
        """Payload changes at episode times: [(time_s, mass_kg), ...]; kept across resets, cleared by `[]`."""
        for t, mass in schedule:
            if t < 0:
                raise TaskParamError(f"payload schedule time {t} s is negative")
            self.family.spec_of("payload_mass").check(mass)
        self._schedule = sorted((float(t), float(m)) for t, m in schedule)

    @property
    def payload_mass(self) -> float:
        return self._payload[0]

    def current_task(self) -> TaskParams:
        """The task as it is now (payload changes included)."""
        if self.family.payload_parent is None:
            return self.task
        m, c = self._payload
        now = {"payload_mass": m, "payload_com_x": float(c[0]), "payload_com_y": float(c[1]), "payload_com_z": float(c[2])}
        return self.task.replace(**{k: v for k, v in now.items() if k in self.task})  # the knobs the family varies

    # ---- episode stage ---------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """Start an episode; returns the first observation, shape (obs_dim,), float32."""
        if rng is not None:
            self.rng = rng
        self._noise_block = self._noise_block[:0]
        self._noise_at = 0
        if self.task is not self._task0:  # commands resampled in the last episode: back to the task's own
            self.task = self._task0
            self._vector = None
        m0 = self.task.payload_mass
        c0 = np.array([self.task.payload_com_x, self.task.payload_com_y, self.task.payload_com_z])
        if self.family.payload_parent is not None and (self._payload[0] != m0 or not np.array_equal(self._payload[1], c0)):
            self.set_payload(m0, c0)
        mujoco.mj_resetData(self.model, self.data)
        self.family.reset_state(self.model, self.data, self.task, self.rng)
        mujoco.mj_forward(self.model, self.data)
        self._queue.clear()
        rest = self.actions.to_ctrl(np.zeros(self.actions.dim))
        for _ in range(self._queue.maxlen or 1):
            self._queue.append(rest)
        self._next_change = 0
        self.steps = 0
        return self._observe().astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step of `ctrl_dt` s.

        Args:
            action: shape (action_dim,), in [-1, 1] (clipped).

        Returns:
            obs (obs_dim,) float32, reward, terminated, truncated, info with `tracking_error`, `time` (s),
            `payload_mass` (kg) and `task` (the varied-parameter vector, for oracles only).
        """
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (self.actions.dim,):
            raise ValueError(f"action has shape {action.shape}, family {self.family.name!r} expects ({self.actions.dim},)")
        if not np.isfinite(action).all():
            raise ValueError(f"action contains NaN or inf at indices {np.flatnonzero(~np.isfinite(action)).tolist()}")
        action = np.clip(action, -1.0, 1.0)
        obs, reward, terminated, truncated, info = self.step_checked(action, self.actions.to_ctrl(action))
        return obs.astype(np.float32), reward, terminated, truncated, info

    def step_checked(self, action: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """`step` for callers that validated and clipped `action` and mapped it to `ctrl`."""
        obs, reward, terminated, truncated, error = self.advance(action, ctrl)
        info = {"tracking_error": error, "time": self.steps * self.family.ctrl_dt, "payload_mass": self._payload[0]}
        return obs, reward, terminated, truncated, info

    def advance(self, action: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, float, bool, bool, float]:
        """The step loop proper: (obs float64, reward, terminated, truncated, tracking error). No checks."""
        fam = self.family
        if self._next_change < len(self._schedule):
            time_s = self.steps * fam.ctrl_dt
            while self._next_change < len(self._schedule) and self._schedule[self._next_change][0] <= time_s + 1e-9:
                self.set_payload(self._schedule[self._next_change][1])
                self._next_change += 1
        if self.task.action_latency:
            self._queue.append(ctrl)
            ctrl = self._queue[0]
        self.data.ctrl[:] = ctrl
        before = fam.before_step(self.data)
        mujoco.mj_step(self.model, self.data, nstep=fam.substeps)
        self.steps += 1
        reward, error = fam.reward(self.model, self.data, action, self.task, before)
        terminated = fam.terminated(self.model, self.data)
        truncated = self.steps >= fam.episode_steps and not terminated
        if self.resample_commands and self.steps % self._resample_every == 0 and not (terminated or truncated):
            # after this step's reward, before the observation that carries the new command
            self.task = self.task.replace(**fam.sample_commands(self.rng))
            self._vector = None
        return self._observe(), reward, terminated, truncated, error

    @property
    def _resample_every(self) -> int:
        return max(1, round(self.family.command_resample_s / self.family.ctrl_dt))

    def task_vector(self) -> np.ndarray:
        """The hidden parameters now (payload changes included), (n_hidden,) float32; the collector reads it at
        every step, so it is rebuilt only when the task or the payload changed."""
        if self._vector is None:
            self._vector = self.family.task_vector(self.current_task())
        return self._vector.copy()

    def _observe(self) -> np.ndarray:
        """The observation with sensor noise, float64 (callers cast to float32 where they store it)."""
        obs = self.family.observation(self.model, self.data, self.task)
        if self._noisy:
            if self._noise_at == len(self._noise_block):
                # Drawn in blocks: one generator call per 256 steps instead of one per step.
                self._noise_block = self.rng.standard_normal((256, obs.shape[0])) * self._noise_std
                self._noise_at = 0
            obs += self._noise_block[self._noise_at]
            self._noise_at += 1
        return obs
