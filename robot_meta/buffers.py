"""Per-task replay buffers: PEARL's RL buffer and its encoder (context) buffer are two of these."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


class TransitionBatch(NamedTuple):
    """Transitions grouped by task. Shapes: obs/next_obs (T, B, obs_dim), action (T, B, act_dim),
    reward and terminated (T, B, 1); float32. `terminated` is a true end (a fall), not a time limit."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


class MultiTaskReplayBuffer:
    """One FIFO ring buffer per task, allocated on first use.

    Args:
        n_tasks: number of tasks (indices 0..n_tasks-1).
        capacity: transitions kept per task; the oldest are overwritten.
        obs_dim, act_dim: sizes.
    """

    def __init__(self, n_tasks: int, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.n_tasks, self.capacity = n_tasks, capacity
        self.dims = {"obs": obs_dim, "action": act_dim, "reward": 1, "next_obs": obs_dim, "terminated": 1}
        self._data: list[dict[str, np.ndarray] | None] = [None] * n_tasks
        self._pos = np.zeros(n_tasks, dtype=np.int64)
        self._size = np.zeros(n_tasks, dtype=np.int64)

    def size(self, task: int) -> int:
        return int(self._size[task])

    def add(self, task: int, obs, action, reward, next_obs, terminated) -> None:
        """Append n transitions of one task; arrays have a leading dim n."""
        batch = {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs, "terminated": terminated}
        n = len(obs)
        self._reserve(task, int(self._size[task]) + n)
        store = self._data[task]
        idx = (self._pos[task] + np.arange(n)) % self.capacity
        for k, v in batch.items():
            store[k][idx] = np.asarray(v, dtype=np.float32).reshape(n, self.dims[k])
        self._pos[task] = (self._pos[task] + n) % self.capacity
        self._size[task] = min(self._size[task] + n, self.capacity)

    def _reserve(self, task: int, needed: int) -> None:
        """Grow a task's arrays by doubling up to `capacity` (a 1M-transition capacity is not allocated up front)."""
        store = self._data[task]
        have = 0 if store is None else len(store["obs"])
        if have >= min(needed, self.capacity):
            return
        new = min(self.capacity, max(needed, 2 * have, 1024))
        grown = {k: np.zeros((new, d), dtype=np.float32) for k, d in self.dims.items()}
        if store is not None:
            for k in FIELDS:
                grown[k][:have] = store[k]  # before reaching capacity the ring has not wrapped: pos == size
        self._data[task] = grown

    def clear(self, task: int) -> None:
        self._pos[task] = 0
        self._size[task] = 0

    def sample(self, tasks: list[int] | np.ndarray, batch: int, rng: np.random.Generator) -> TransitionBatch:
        """`batch` transitions per task, uniformly with replacement."""
        out = {k: [] for k in FIELDS}
        for t in tasks:
            n = self._size[t]
            if n == 0:
                raise ValueError(f"task {t} has no transitions to sample")
            idx = rng.integers(0, n, size=batch)
            for k in FIELDS:
                out[k].append(self._data[t][k][idx])
        return TransitionBatch(*(np.stack(out[k]) for k in FIELDS))

    def sample_windows(self, tasks: list[int] | np.ndarray, length: int, rng: np.random.Generator) -> TransitionBatch:
        """Per task, one window of `length` consecutive transitions (in the order they were added) starting at a
        uniform position: the kind of context the online mode sees, the last `window` steps. Shapes (T, L, ...)
        with L = min(length, the smallest task's size)."""
        sizes = [int(self._size[t]) for t in tasks]
        if min(sizes) == 0:
            raise ValueError(f"task {tasks[int(np.argmin(sizes))]} has no transitions to sample")
        length = min(length, *sizes)
        out = {k: [] for k in FIELDS}
        for t, n in zip(tasks, sizes, strict=True):
            start = int(rng.integers(0, n - length + 1))
            idx = (self._pos[t] - n + start + np.arange(length)) % self.capacity  # oldest stored is at pos - size
            for k in FIELDS:
                out[k].append(self._data[t][k][idx])
        return TransitionBatch(*(np.stack(out[k]) for k in FIELDS))

    def recent(self, task: int, n: int) -> TransitionBatch:
        """The last `n` transitions of one task, oldest first; shapes (1, n', ...) with n' <= n."""
        size = int(self._size[task])
        n = min(n, size)
        idx = (self._pos[task] - n + np.arange(n)) % self.capacity
        return TransitionBatch(*(self._data[task][k][idx][None] for k in FIELDS))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat arrays for `np.savez` (no pickle): only the filled part of each task."""
        state = {"pos": self._pos.copy(), "size": self._size.copy(), "capacity": np.array(self.capacity)}
        for t, store in enumerate(self._data):
            if store is not None and self._size[t] > 0:
                for k in FIELDS:
                    state[f"{t}/{k}"] = store[k][: self._size[t]]
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"buffer capacity in checkpoint {int(state['capacity'])} != configured {self.capacity}")
        self._pos = state["pos"].copy()
        self._size = state["size"].copy()
        self._data = [None] * self.n_tasks
        for t in range(self.n_tasks):
            if self._size[t] > 0:
                self._reserve(t, int(self._size[t]) + (1 if self._size[t] < self.capacity else 0))
                for k in FIELDS:
                    self._data[t][k][: self._size[t]] = state[f"{t}/{k}"]
