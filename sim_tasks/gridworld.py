"""A small gridworld task family: the teaching case for gradient-based meta-RL (MAML).

The agent starts in the centre of a `size` x `size` grid and moves N/E/S/W (a move into a wall stays put).
The task is the goal cell, which the agent does not observe: it must find it from rewards. Reward per step:
-d/d_max (d: Manhattan distance to the goal after the move, d_max = 2 (size - 1)), and +1 on reaching the
goal, which ends the episode. Observation: the one-hot position (size^2 floats).

No physics, so it is not a MuJoCo `TaskFamily`; it has the same split semantics (a fixed, seeded set of
training goals and held-out goals) and a vectorized stepper in numpy, so that a MAML iteration over many
goals and trajectories costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # N, E, S, W in (row, col)


@dataclass(frozen=True)
class GridSplit:
    train: tuple[tuple[int, int], ...]
    test: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class GridWorld:
    """The family. `horizon` steps per episode (enough to reach any cell from the centre twice over)."""

    size: int = 5
    horizon: int = 10
    n_test: int = 8
    split_seed: int = 0

    @property
    def obs_dim(self) -> int:
        return self.size * self.size

    @property
    def n_actions(self) -> int:
        return 4

    @property
    def start(self) -> tuple[int, int]:
        return (self.size // 2, self.size // 2)

    def split(self) -> GridSplit:
        """Every cell but the start is a goal; `n_test` of them, drawn with `split_seed`, are held out."""
        cells = [(r, c) for r in range(self.size) for c in range(self.size) if (r, c) != self.start]
        order = np.random.default_rng(self.split_seed).permutation(len(cells))
        test = tuple(cells[i] for i in sorted(order[: self.n_test]))
        train = tuple(cells[i] for i in sorted(order[self.n_test :]))
        return GridSplit(train, test)

    def rollout(self, policy, goals: np.ndarray, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`n` episodes for each goal, all stepped together.

        Args:
            policy: callable obs (B, obs_dim) float32 -> action indices (B,) int.
            goals: (G, 2) goal cells.
            n: episodes per goal.
            rng: unused by the dynamics (deterministic); kept for a stochastic variant.

        Returns:
            obs (T, B, obs_dim), actions (T, B), rewards (T, B), alive (T, B) bool (the step happened), with
            B = G * n ordered goal-major, and the episode returns (B,).
        """
        goals = np.repeat(np.asarray(goals, dtype=int), n, axis=0)
        b = len(goals)
        pos = np.tile(np.array(self.start), (b, 1))
        alive = np.ones(b, dtype=bool)
        d_max = 2 * (self.size - 1)
        out = {k: [] for k in ("obs", "actions", "rewards", "alive")}
        for _ in range(self.horizon):
            obs = np.zeros((b, self.obs_dim), np.float32)
            obs[np.arange(b), pos[:, 0] * self.size + pos[:, 1]] = 1.0
            act = np.asarray(policy(obs), dtype=int)
            new = np.clip(pos + MOVES[act], 0, self.size - 1)
            d = np.abs(new - goals).sum(1)
            r = -d / d_max + (d == 0)
            out["obs"].append(obs)
            out["actions"].append(act)
            out["rewards"].append(np.where(alive, r, 0.0).astype(np.float32))
            out["alive"].append(alive.copy())
            pos = np.where(alive[:, None], new, pos)
            alive &= d != 0
        res = {k: np.stack(v) for k, v in out.items()}
        res["returns"] = res["rewards"].sum(0)
        return res
