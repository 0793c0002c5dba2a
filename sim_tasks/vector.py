"""Batched stepping over many tasks at once: N `TaskSim`s behind gymnasium's `VectorEnv` API.

Each sub-env may hold a different task of the same family (meta-RL collects over many tasks at once).
Stepping loops over the sims in-process: the physics is MuJoCo's C step with `nstep` substeps, and the
per-env Python work is the observation and reward of `TaskSim`, the same code the single env runs.
`robot-meta bench sim` measures what this costs against raw `mj_step` of the same model.

Autoreset is SAME_STEP: when a sub-env ends, the returned observation is already the next episode's first,
and `infos["final_obs"][i]` (with mask `infos["_final_obs"]`) holds the last observation of the one that ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from sim_tasks.family import TaskFamily
from sim_tasks.params import TaskParamError, TaskParams
from sim_tasks.registry import get_family
from sim_tasks.sim import TaskSim


class BatchedTaskEnv(VectorEnv):
    """N tasks of one family stepped together.

    Args:
        family: family name or instance.
        tasks: one task per sub-env (N = len(tasks)).
        seed: seeds the per-sub-env generators (reset noise, observation noise): sub-env i draws from child
            `first_child + i` of `SeedSequence(seed)`, so a task evaluated alone (with `first_child` = its index)
            sees exactly the starts and noise it sees in the batch.
        first_child: see `seed`.
        on_episode_end: optional callable(i) -> TaskParams | None, called when sub-env i ends an episode and
            before its autoreset; a task it returns replaces sub-env i's task for the next episode (RL²'s
            trials switch tasks this way).
        resample_commands: training envs draw new commands during episodes (`TaskSim`); evaluation keeps each
            task's own.
        autoreset_mode: gymnasium's `AutoresetMode.SAME_STEP` (the default, what the collector reads: a sub-env
            that ends is reset in the same step, its last observation in `info["final_obs"]`) or `NEXT_STEP`
            (the next step resets it and ignores its action: what gymnasium's vector wrappers such as
            `NormalizeObservation` take).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        family: str | TaskFamily,
        tasks: Sequence[TaskParams],
        seed: int = 0,
        first_child: int = 0,
        on_episode_end: Any = None,
        resample_commands: bool = False,
        autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP,
    ) -> None:
        if not tasks:
            raise TaskParamError("BatchedTaskEnv needs at least one task")
        if autoreset_mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
            raise ValueError(f"autoreset_mode {autoreset_mode!r}: SAME_STEP or NEXT_STEP")
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self._same_step = autoreset_mode == AutoresetMode.SAME_STEP
        self.family = get_family(family) if isinstance(family, str) else family
        self.sims = [TaskSim(self.family, t, resample_commands) for t in tasks]
        self.num_envs = len(self.sims)
        obs_dim, act_dim = self.family.obs_layout.dim, self.sims[0].actions.dim
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._first_child = first_child
        self.on_episode_end = on_episode_end
        self._seed(seed)
        self._obs = np.zeros((self.num_envs, obs_dim), dtype=np.float32)
        self._pending = np.zeros(self.num_envs, dtype=bool)  # NEXT_STEP: ended last step, reset on this one

    @property
    def first_child(self) -> int:
        """Index of sub-env 0's noise stream; a task evaluated alone has its own index here."""
        return self._first_child

    def _seed(self, seed: int) -> None:
        children = np.random.SeedSequence(seed).spawn(self._first_child + self.num_envs)[self._first_child :]
        self._rngs = [np.random.default_rng(c) for c in children]

    @property
    def tasks(self) -> list[TaskParams]:
        return [s.task for s in self.sims]

    def set_tasks(self, tasks: Sequence[TaskParams]) -> None:
        """Give every sub-env a new task (recompiles); call `reset` next."""
        if len(tasks) != self.num_envs:
            raise TaskParamError(f"got {len(tasks)} tasks for {self.num_envs} sub-envs")
        for sim, task in zip(self.sims, tasks, strict=True):
            sim.set_task(task)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._seed(seed)
        for i, sim in enumerate(self.sims):
            self._obs[i] = sim.reset(self._rngs[i])
        self._pending[:] = False
        return self._obs.copy(), {"task": self.task_vectors()}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs. `actions` has shape (N, action_dim)."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != self.action_space.shape:
            raise ValueError(f"actions have shape {actions.shape}, expected {self.action_space.shape}")
        if not np.isfinite(actions).all():
            bad = np.argwhere(~np.isfinite(actions)).tolist()
            raise ValueError(f"actions contain NaN or inf at (env, index) {bad}")
        # Validate, clip and map to ctrl once for the whole batch: every sim of a family has the same layout.
        actions = np.clip(actions, -1.0, 1.0)
        ctrls = self.sims[0].actions.to_ctrl(actions)
        n = self.num_envs
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        errors = np.zeros(n)
        payload = np.zeros(n)
        final_obs = np.zeros_like(self._obs)
        ended = np.zeros(n, dtype=bool)
        for i, sim in enumerate(self.sims):
            if self._pending[i]:  # NEXT_STEP: this step is the reset; the action is ignored
                self._pending[i] = False
                self._obs[i] = self._reset_one(i)
                payload[i] = sim.payload_mass
                continue
            obs, rewards[i], terminated[i], truncated[i], errors[i] = sim.advance(actions[i], ctrls[i])
            payload[i] = sim.payload_mass
            if terminated[i] or truncated[i]:
                ended[i] = True
                final_obs[i] = obs
                if self._same_step:
                    obs = self._reset_one(i)
                else:
                    self._pending[i] = True
            self._obs[i] = obs
        infos = {"tracking_error": errors, "payload_mass": payload, "final_obs": final_obs, "_final_obs": ended}
        return self._obs.copy(), rewards, terminated, truncated, infos

    def _reset_one(self, i: int) -> np.ndarray:
        """Sub-env i's next episode: its task replaced if `on_episode_end` says so, then reset."""
        if self.on_episode_end is not None:
            new_task = self.on_episode_end(i)
            if new_task is not None:
                self.sims[i].set_task(new_task)
        return self.sims[i].reset(self._rngs[i])

    def task_vectors(self) -> np.ndarray:
        """Varied-parameter vectors of the current tasks, shape (N, n_params): for oracle baselines only."""
        return np.stack([s.task_vector() for s in self.sims])
