"""Belief objectives: asking an adaptive policy's belief to represent the dynamics (issue 16).

PEARL's encoder learns only through the critic's loss and RL²'s memory learns whatever PPO rewards; neither is
asked to carry the payload, and measured on the arm neither acts on it (docs/commands.md, Part 4). Two
objectives, each a weight in PEARL's and RL²'s configs (0 turns it off), each a training-only module that is
never exported:

- **task-parameter supervision** (`task_supervision`): a linear head regresses the hidden task parameters from
  the belief (PEARL's posterior mean, RL²'s hidden state). The simulator knows the parameters; the robot never
  needs them. It is DREAM's use of a task identifier at meta-training time (Liu et al., ICML 2021) and what
  RMA's adaptation module regresses (Kumar et al., RSS 2021).
- **dynamics prediction** (`dynamics_prediction`): a decoder predicts the next observation's change and the
  reward from (observation, action, belief) on transitions of the same task, so that the belief must carry
  what changes the dynamics (variBAD's decoder, Zintgraf et al., ICLR 2020; MetaCURE, Zhang et al. 2021). It
  needs no task labels, so it could train on a robot's own data too.

Targets are the oracle's inputs (`robot_meta.baselines.oracle_features`): each hidden parameter scaled so that
its training range maps to [-1, 1], so that a payload in kg and a latency in steps weigh alike in the loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from robot_meta.baselines import oracle_features


def task_targets(family: Any, vectors: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Regression targets from raw task vectors (..., n_hidden) in declared units: (..., n_hidden) float32,
    the training range of each parameter mapped to [-1, 1]."""
    return torch.as_tensor(oracle_features(family, np.asarray(vectors)), device=device)


class TaskHead(nn.Module):
    """Training-only linear read-out of the hidden task parameters from a belief.

    Shapes: belief (..., belief_dim) -> (..., n_params), in the units of `task_targets`. Linear on purpose: the
    belief must carry the parameters in a form a linear probe reads (the issue's measure is a linear fit's R²),
    not in one a deep head could untangle.
    """

    def __init__(self, belief_dim: int, n_params: int) -> None:
        super().__init__()
        self.out = nn.Linear(belief_dim, n_params)

    def forward(self, belief: torch.Tensor) -> torch.Tensor:
        return self.out(belief)

    def loss(self, belief: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error over every element; gradients reach the head and whatever made `belief`."""
        return ((self(belief) - targets) ** 2).mean()


class DynamicsDecoder(nn.Module):
    """Training-only decoder: (obs, action, belief) -> (next obs - obs, reward), observations normalized.

    Shapes: obs, next_obs (..., obs_dim) raw; action (..., act_dim); belief (..., belief_dim); reward (...).
    The observation change is predicted in the policy's normalized units (`norm`, the networks' running
    statistics), so that joint velocities in rad/s and a gravity direction weigh alike; the reward raw.
    """

    def __init__(self, obs_dim: int, act_dim: int, belief_dim: int, hidden: tuple[int, ...] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim + act_dim + belief_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, obs_dim + 1))
        self.net = nn.Sequential(*layers)

    def loss(
        self,
        norm: nn.Module,
        obs: torch.Tensor,
        action: torch.Tensor,
        belief: torch.Tensor,
        next_obs: torch.Tensor,
        reward: torch.Tensor,
    ) -> torch.Tensor:
        """Mean squared error of the predicted change and reward; gradients reach the decoder and the belief."""
        o, o2 = norm(obs), norm(next_obs)
        pred = self.net(torch.cat([o, action, belief], -1))
        target = torch.cat([o2 - o, reward[..., None]], -1)
        return ((pred - target) ** 2).mean()
