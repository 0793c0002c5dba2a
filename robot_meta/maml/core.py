"""MAML for policies (Finn, Abbeel and Levine, ICML 2017): the inner update and the meta-objective.

Shared by the MuJoCo task families (`robot_meta.maml.maml.MAML`) and the gridworld exercise.

- Inner loop: `adapt` takes `k` policy-gradient (REINFORCE) steps on trajectories of the new task,
  theta' = theta - inner_lr * grad L_in(theta), L_in = -mean(log pi(a|s) * A), with A the whitened
  discounted return-to-go (a baseline that works for one trajectory as for many).
- Outer loop: `meta_objective` re-runs the inner updates from theta on the same pre-update data and scores
  the adapted policy on post-update trajectories with PPO's clipped surrogate (as ProMP and garage's
  MAML-PPO do; MAML-TRPO uses a trust region instead). With `first_order=False` the gradient flows through
  the inner update (second-order terms, torch's higher-order autograd); with `first_order=True` the inner
  gradients are constants (FOMAML), which drops the Hessian-vector products and is cheaper.
- Like the reference implementations, the meta-gradient leaves out the term from the pre-update sampling
  distribution (what ProMP's and DiCE's estimators add).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from robot_meta.torch_utils import RunningNorm


class TaskBatch(NamedTuple):
    """Trajectories of one task, flattened over the steps that happened (M of them).

    Attributes:
        obs: (M, obs_dim) float.
        actions: (M,) long for discrete policies, (M, act_dim) float for Gaussian ones (before clipping).
        advantages: (M,) whitened discounted return-to-go.
        logp: (M,) log-probability of the actions under the policy that sampled them.
        returns: (n_episodes,) undiscounted episode returns, for logging.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    advantages: torch.Tensor
    logp: torch.Tensor
    returns: torch.Tensor


def whitened_returns_to_go(rewards: np.ndarray, alive: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return-to-go per step, shape (T, B), whitened over the alive steps (mean 0, std 1)."""
    g = np.zeros_like(rewards, dtype=np.float64)
    acc = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        acc = rewards[t] + gamma * acc * alive[t]
        g[t] = acc
    v = g[alive]
    return (g - v.mean()) / (v.std() + 1e-8)


class MAMLPolicy(nn.Module):
    """A tanh MLP policy: Categorical over `act_dim` actions (discrete) or a Gaussian with a state-independent
    log std (continuous, actions in [-1, 1] after the env's clip). The observation normalizer is a buffer
    inside the module (exported with it) and is not adapted by the inner loop."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], discrete: bool, init_log_std: float = -0.5):
        super().__init__()
        self.obs_dim, self.act_dim, self.discrete = obs_dim, act_dim, discrete
        self.norm = RunningNorm(obs_dim)
        layers: list[nn.Module] = []
        last = obs_dim
        for h in hidden:
            layers += [nn.Linear(last, h), nn.Tanh()]
            last = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(last, act_dim)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (discrete) or the Gaussian mean (continuous), shape (N, act_dim)."""
        x = obs if self.discrete else self.norm(obs).to(obs.dtype)
        return self.head(self.body(x))


def params_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.named_parameters())


def log_prob(policy: MAMLPolicy, params: dict[str, torch.Tensor], obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    out = functional_call(policy, params, (obs,))
    if policy.discrete:
        return torch.distributions.Categorical(logits=out).log_prob(actions)
    std = params["log_std"].exp()
    return torch.distributions.Normal(out, std).log_prob(actions).sum(-1)


def inner_loss(policy: MAMLPolicy, params: dict[str, torch.Tensor], batch: TaskBatch) -> torch.Tensor:
    """REINFORCE with the whitened return-to-go as advantage."""
    return -(log_prob(policy, params, batch.obs, batch.actions) * batch.advantages).mean()


def adapt(
    policy: MAMLPolicy, params: dict[str, torch.Tensor], batch: TaskBatch, lr: float, first_order: bool
) -> dict[str, torch.Tensor]:
    """One inner step theta - lr * grad L_in(theta); differentiable in theta unless `first_order`."""
    names = list(params)
    grads = torch.autograd.grad(inner_loss(policy, params, batch), [params[k] for k in names], create_graph=not first_order)
    return {k: params[k] - lr * g for k, g in zip(names, grads, strict=True)}


def adapt_steps(
    policy: MAMLPolicy, params: dict[str, torch.Tensor], batches: list[TaskBatch], lr: float, first_order: bool
) -> dict[str, torch.Tensor]:
    for b in batches:
        params = adapt(policy, params, b, lr, first_order)
    return params


def surrogate(
    policy: MAMLPolicy, params: dict[str, torch.Tensor], batch: TaskBatch, clip: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, approx KL to the sampling policy): PPO's clipped surrogate, or the plain importance-weighted
    policy gradient with `clip=None` (what the finite-difference test differentiates)."""
    logp = log_prob(policy, params, batch.obs, batch.actions)
    ratio = (logp - batch.logp).exp()
    if clip is None:
        loss = -(ratio * batch.advantages).mean()
    else:
        loss = -torch.min(ratio * batch.advantages, ratio.clamp(1 - clip, 1 + clip) * batch.advantages).mean()
    with torch.no_grad():
        kl = ((ratio - 1) - ratio.log()).mean()
    return loss, kl


def meta_objective(
    policy: MAMLPolicy,
    theta: dict[str, torch.Tensor],
    pre: list[TaskBatch],
    post: TaskBatch,
    lr: float,
    first_order: bool,
    clip: float | None = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outer loss of one task: adapt from `theta` on the pre-update batches, score on the post-update batch."""
    adapted = adapt_steps(policy, theta, pre, lr, first_order)
    return surrogate(policy, adapted, post, clip)
