"""PEARL's networks: per-transition context encoder, product-of-Gaussians posterior, SAC actor and critics.

Rakelly et al., "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic Context Variables",
ICML 2019. Each transition c_n = (s, a, r, s') maps to a Gaussian factor N(mu_n, var_n); the posterior
over the latent task variable z is their product q(z | c_1..N) ∝ prod_n N(mu_n, var_n), whose precision
is the sum of the factors' precisions. Sums of precisions are what the runtime keeps over its window.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from robot_meta.torch_utils import RunningNorm, mlp

MIN_VAR = 1e-7  # floor on a factor's variance (oyster's clamp), so precisions stay finite
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def transition_dim(obs_dim: int, act_dim: int) -> int:
    """A context transition is [obs, action, reward, next_obs]: 2*obs_dim + act_dim + 1 floats."""
    return 2 * obs_dim + act_dim + 1


class ContextEncoder(nn.Module):
    """Maps raw transitions (..., transition_dim) to Gaussian factors: mean and variance (..., latent_dim).

    The observation normalizer is inside, so the encoder takes robot-side values as they come.
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int, hidden: tuple[int, ...], norm: RunningNorm) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.latent_dim = obs_dim, act_dim, latent_dim
        self.norm = norm
        self.net = mlp(transition_dim(obs_dim, act_dim), hidden, 2 * latent_dim)

    def forward(self, transitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o, a, r, o2 = torch.split(transitions, [self.obs_dim, self.act_dim, 1, self.obs_dim], dim=-1)
        out = self.net(torch.cat([self.norm(o), a, r, self.norm(o2)], dim=-1))
        mu, pre_var = out[..., : self.latent_dim], out[..., self.latent_dim :]
        return mu, F.softplus(pre_var).clamp_min(MIN_VAR)


def product_of_gaussians(
    mu: torch.Tensor, var: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of the factors over dim -2: mu, var (..., N, L) -> (..., L).

    var_post = 1 / sum(1/var_n), mu_post = var_post * sum(mu_n/var_n). With `mask` (..., N) only the
    factors where it is 1 count; with no factor at all the result is the prior N(0, 1).
    """
    prec = 1.0 / var
    if mask is not None:
        prec = prec * mask[..., None]
    prec_sum = prec.sum(-2)
    eta = (prec * mu).sum(-2)
    if mask is not None:
        empty = (mask.sum(-1, keepdim=True) == 0).to(mu.dtype)
        prec_sum = prec_sum + empty  # the prior's precision where there is no context
    var_post = 1.0 / prec_sum
    return var_post * eta, var_post


def kl_to_standard_normal(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag var) || N(0, I)) summed over the last dim: (..., L) -> (...)."""
    return 0.5 * (var + mu**2 - 1.0 - torch.log(var)).sum(-1)


class TanhGaussianPolicy(nn.Module):
    """pi(a | s, z): a = tanh(u), u ~ N(mean(s, z), std(s, z)); actions in (-1, 1)."""

    def __init__(self, obs_dim: int, latent_dim: int, act_dim: int, hidden: tuple[int, ...], norm: RunningNorm) -> None:
        super().__init__()
        self.norm = norm
        self.net = mlp(obs_dim + latent_dim, hidden, 2 * act_dim)
        self.act_dim = act_dim

    def _stats(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(torch.cat([self.norm(obs), z], dim=-1))
        mean, log_std = out[..., : self.act_dim], out[..., self.act_dim :]
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The deterministic action tanh(mean): what is exported and run on the robot."""
        return torch.tanh(self._stats(obs, z)[0])

    def sample(
        self, obs: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized sample and its log-probability (with the tanh correction), shapes (..., A), (...)."""
        mean, log_std = self._stats(obs, z)
        std = log_std.exp()
        # Drawn on the generator's device (the run's CPU generator) and moved: the same seed gives the same noise
        # on any device, and a CUDA run needs no CUDA generator of its own in its checkpoints.
        where = generator.device if generator is not None else mean.device
        eps = torch.randn(mean.shape, generator=generator, device=where, dtype=mean.dtype).to(mean.device)
        u = mean + std * eps
        a = torch.tanh(u)
        log_prob = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log det of tanh: sum log(1 - tanh(u)^2), written stably as 2*(log 2 - u - softplus(-2u)).
        log_prob = log_prob - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        return a, log_prob


class TwinQ(nn.Module):
    """Q1(s, a, z), Q2(s, a, z): two critics for the clipped double-Q target (Fujimoto et al. 2018)."""

    def __init__(self, obs_dim: int, latent_dim: int, act_dim: int, hidden: tuple[int, ...], norm: RunningNorm) -> None:
        super().__init__()
        self.norm = norm
        self.q1 = mlp(obs_dim + latent_dim + act_dim, hidden, 1)
        self.q2 = mlp(obs_dim + latent_dim + act_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.norm(obs), z, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)
