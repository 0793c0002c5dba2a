"""Torch helpers shared by the algorithms: device choice, seeding, MLPs, an in-module normalizer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is refused by name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; use --device auto or cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device {name!r} is not one of auto, cpu, cuda")
    return torch.device(name)


def mlp(inp: int, hidden: tuple[int, ...], out: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = inp
    for h in hidden:
        layers += [nn.Linear(last, h), activation()]
        last = h
    layers.append(nn.Linear(last, out))
    return nn.Sequential(*layers)


class RunningNorm(nn.Module):
    """Observation normalizer kept inside the networks, so exported graphs carry it (rsl_rl's design).

    Statistics are buffers updated from collected data (`update`), never by gradients; `forward` maps x to
    clip((x - mean) / sqrt(var + eps), -clip, clip). Shapes: x (..., dim).
    """

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-4) -> None:
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch (n, dim) into the running moments (Chan et al.'s parallel algorithm)."""
        x = x.reshape(-1, self.mean.shape[0]).to(torch.float64)
        n = x.shape[0]
        if n == 0:
            return
        b_mean, b_var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = b_mean - self.mean
        self.mean += delta * n / total
        self.var = (self.var * self.count + b_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.dtype), torch.sqrt(self.var + self.eps).to(x.dtype)
        return torch.clamp((x - mean) / std, -self.clip, self.clip)


def polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, in place."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.lerp_(s, tau)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, last_value: torch.Tensor, cut: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over (T, N); `cut[t]` ends the return after step t (a trial end).

    Returns (advantages, returns), both (T, N).
    """
    t_len = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(t_len)):
        keep = 1.0 - cut[t].float()
        delta = rewards[t] + gamma * next_value * keep - values[t]
        next_adv = delta + gamma * lam * keep * next_adv
        adv[t] = next_adv
        next_value = values[t]
    return adv, adv + values


def scale_by_return_std(
    rewards: torch.Tensor, cut: torch.Tensor, gamma: float, var: float, count: float
) -> tuple[torch.Tensor, float, float]:
    """Rewards (T, N) divided by the running std of discounted returns (as SB3's VecNormalize does for rewards);
    `cut[t]` ends the return after step t. Returns (scaled rewards, the updated variance and count)."""
    ret = torch.zeros(rewards.shape[1], dtype=torch.float64, device=rewards.device)
    rets = []
    for t in range(rewards.shape[0]):
        ret = ret * gamma + rewards[t].double()
        rets.append(ret.clone())
        ret = ret * (1.0 - cut[t].double())
    rets = torch.stack(rets)
    n = rets.numel()
    b_mean, b_var = rets.mean().item(), rets.var(unbiased=False).item()
    total = count + n
    # the mean is not used for scaling; Chan's update of the variance around a zero-mean assumption is enough
    var = (var * count + (b_var + b_mean**2) * n) / total
    return rewards / float(np.sqrt(var) + 1e-8), var, total


def gaussian_log_prob(action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log density of `action` under a diagonal Gaussian (mean (..., A), log std (A,)), summed over A: (...)."""
    return (-0.5 * ((action - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped policy loss (Schulman et al. 2017) and the probability ratio it was computed from."""
    ratio = (logp - old_logp).exp()
    return -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean(), ratio
