"""PEARL's posterior and KL against closed forms; the policy's log-probability against torch's own."""

import numpy as np
import torch

from robot_meta.pearl.networks import TanhGaussianPolicy, kl_to_standard_normal, product_of_gaussians
from robot_meta.torch_utils import RunningNorm


def test_product_of_two_gaussians_matches_the_closed_form():
    # N(1, 4) * N(3, 1): precision 1/4 + 1 = 5/4 -> var 0.8; mean 0.8 * (1/4 + 3) = 2.6
    mu = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    var = torch.tensor([[4.0], [1.0]], dtype=torch.float64)
    m, v = product_of_gaussians(mu, var)
    assert torch.allclose(v, torch.tensor([0.8], dtype=torch.float64))
    assert torch.allclose(m, torch.tensor([2.6], dtype=torch.float64))


def test_product_of_gaussians_batched_and_masked():
    rng = np.random.default_rng(0)
    mu = torch.as_tensor(rng.normal(size=(3, 7, 5)))
    var = torch.as_tensor(rng.uniform(0.1, 2.0, size=(3, 7, 5)))
    m, v = product_of_gaussians(mu, var)
    prec = (1 / var).sum(1)
    assert torch.allclose(v, 1 / prec) and torch.allclose(m, (mu / var).sum(1) / prec)
    mask = torch.zeros(3, 7, dtype=torch.float64)
    mask[0, :2] = 1.0  # env 0: first two factors; env 1 and 2: none -> the prior
    mm, vm = product_of_gaussians(mu, var, mask)
    m2, v2 = product_of_gaussians(mu[0, :2], var[0, :2])
    assert torch.allclose(mm[0], m2) and torch.allclose(vm[0], v2)
    assert torch.allclose(mm[1:], torch.zeros(2, 5, dtype=torch.float64))
    assert torch.allclose(vm[1:], torch.ones(2, 5, dtype=torch.float64))


def test_more_evidence_shrinks_the_variance():
    mu, var = torch.zeros(10, 2), torch.ones(10, 2)
    _, v_few = product_of_gaussians(mu[:2], var[:2])
    _, v_many = product_of_gaussians(mu, var)
    assert torch.all(v_many < v_few)


def test_kl_matches_torch_distributions():
    mu = torch.tensor([[0.3, -1.2, 2.0]])
    var = torch.tensor([[0.5, 1.7, 0.05]])
    ours = kl_to_standard_normal(mu, var)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, var.sqrt()), torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    ).sum(-1)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert kl_to_standard_normal(torch.zeros(1, 4), torch.ones(1, 4)).item() == 0.0


def test_tanh_gaussian_log_prob_matches_the_transformed_distribution():
    torch.manual_seed(0)
    pol = TanhGaussianPolicy(4, 2, 3, (16,), RunningNorm(4)).double()
    obs, z = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    a, logp = pol.sample(obs, z, generator=gen)
    mean, log_std = pol._stats(obs, z)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform(cache_size=1)]
    )
    assert torch.allclose(logp, dist.log_prob(a).sum(-1), atol=1e-6)
    assert torch.all(a.abs() < 1)


def test_running_norm_matches_numpy_moments():
    norm = RunningNorm(3)
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(1000, 3))
    for chunk in np.split(data, 10):
        norm.update(torch.as_tensor(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-10)
