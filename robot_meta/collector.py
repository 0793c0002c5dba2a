"""The one collector: steps a batched env with an actor and returns what happened, step by step.

Training (PEARL, RL²), evaluation, baselines and benchmarks all collect through `collect`, so episode
boundaries, final observations and the actor's view of its own experience are handled once. An actor
sees every transition it caused (`observe`), which is where PEARL updates its context and RL² its
hidden state.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np


class Actor(Protocol):
    """What the collector drives. N = number of sub-envs."""

    def reset(self, mask: np.ndarray) -> None:
        """Episodes start in the sub-envs where `mask` (N,) is True."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions (N, act_dim) in [-1, 1] for observations (N, obs_dim)."""

    def observe(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> None:
        """The transitions just made; `next_obs` is the true next observation (the final one at an episode end)."""


class ActorWrapper:
    """An actor around another that forwards everything; subclasses override what they watch or record."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def reset(self, mask: np.ndarray) -> None:
        self.actor.reset(mask)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.actor.act(obs)

    def observe(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> None:
        self.actor.observe(obs, action, reward, next_obs, done)


class Rollout(NamedTuple):
    """Steps of N sub-envs, shapes (T, N, ...); float32 except the flags.

    `episode_start[t, i]` is True when step t of env i is the first of an episode.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_start: np.ndarray
    tracking_error: np.ndarray
    payload_mass: np.ndarray
    task_vector: np.ndarray  # (T, N, n_hidden) the hidden parameters in effect at each step, declared units

    def episode_returns(self) -> list[list[float]]:
        """Per env, the returns of the episodes that finished inside the rollout, in order."""
        t_len, n = self.reward.shape
        out: list[list[float]] = [[] for _ in range(n)]
        acc = np.zeros(n)
        for t in range(t_len):
            acc[self.episode_start[t]] = 0.0
            acc += self.reward[t]
            done = self.terminated[t] | self.truncated[t]
            for i in np.flatnonzero(done):
                out[i].append(float(acc[i]))
        return out


class CollectorState:
    """Where each sub-env is between calls: its current observation and whether an episode is starting."""

    def __init__(self, env) -> None:
        self.env = env
        self.obs: np.ndarray | None = None
        self.starting = np.ones(env.num_envs, dtype=bool)

    def reset(self, seed: int | None = None) -> None:
        self.obs, _ = self.env.reset(seed=seed)
        self.starting[:] = True


def collect(state: CollectorState, actor: Actor, n_steps: int) -> Rollout:
    """Step every sub-env `n_steps` times with `actor`; episodes continue across calls.

    Args:
        state: the env and its current observations (call `state.reset()` first, or after `set_tasks`).
        actor: the policy and whatever it adapts (context, hidden state).
        n_steps: steps per sub-env.

    Returns:
        A `Rollout` of shape (n_steps, N, ...).
    """
    env = state.env
    if state.obs is None:
        state.reset()
    n = env.num_envs
    obs_dim = env.single_observation_space.shape[0]
    act_dim = env.single_action_space.shape[0]
    buf = {
        "obs": np.zeros((n_steps, n, obs_dim), np.float32),
        "action": np.zeros((n_steps, n, act_dim), np.float32),
        "reward": np.zeros((n_steps, n), np.float32),
        "next_obs": np.zeros((n_steps, n, obs_dim), np.float32),
        "terminated": np.zeros((n_steps, n), bool),
        "truncated": np.zeros((n_steps, n), bool),
        "episode_start": np.zeros((n_steps, n), bool),
        "tracking_error": np.zeros((n_steps, n), np.float32),
        "payload_mass": np.zeros((n_steps, n), np.float32),
        "task_vector": np.zeros((n_steps, n, len(env.family.hidden_params)), np.float32),
    }
    obs = state.obs
    for t in range(n_steps):
        if state.starting.any():
            actor.reset(state.starting.copy())
        action = np.asarray(actor.act(obs), dtype=np.float32)
        buf["task_vector"][t] = env.task_vectors()  # before the step: the task the step runs under
        next_obs, reward, terminated, truncated, info = env.step(action)
        done = terminated | truncated
        true_next = np.where(info["_final_obs"][:, None], info["final_obs"], next_obs)
        actor.observe(obs, action, reward, true_next, done)
        buf["obs"][t], buf["action"][t], buf["reward"][t], buf["next_obs"][t] = obs, action, reward, true_next
        buf["terminated"][t], buf["truncated"][t], buf["episode_start"][t] = terminated, truncated, state.starting
        buf["tracking_error"][t], buf["payload_mass"][t] = info["tracking_error"], info["payload_mass"]
        state.starting = done.copy()
        obs = next_obs
    state.obs = obs
    return Rollout(**buf)
