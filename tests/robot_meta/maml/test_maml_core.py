"""MAML mechanics: the meta-gradient against finite differences, first-order semantics, the gridworld."""

import numpy as np
import pytest
import torch

from robot_meta.maml.core import MAMLPolicy, TaskBatch, adapt, meta_objective, params_of, whitened_returns_to_go
from robot_meta.maml.gridworld import GridConfig, meta_train, returns_after_steps, sample
from sim_tasks.gridworld import GridWorld


def tiny_problem(discrete: bool):
    torch.manual_seed(0)
    pol = MAMLPolicy(3, 2, (4,), discrete=discrete).double()
    g = torch.Generator().manual_seed(1)

    def batch(m):
        obs = torch.randn(m, 3, generator=g, dtype=torch.float64)
        act = torch.randint(0, 2, (m,), generator=g) if discrete else torch.randn(m, 2, generator=g, dtype=torch.float64)
        return TaskBatch(
            obs,
            act,
            torch.randn(m, generator=g, dtype=torch.float64),
            -torch.rand(m, generator=g, dtype=torch.float64),
            torch.zeros(1),
        )

    return pol, [batch(6), batch(5)], batch(7)


@pytest.mark.parametrize("discrete", [True, False])
def test_full_meta_gradient_matches_finite_differences(discrete):
    pol, pre, post = tiny_problem(discrete)
    theta = params_of(pol)
    loss, _ = meta_objective(pol, theta, pre, post, lr=0.3, first_order=False, clip=None)  # two inner steps
    grads = torch.autograd.grad(loss, list(theta.values()))
    flat = torch.cat([g.flatten() for g in grads])

    def f(vec):
        vec = vec.clone().requires_grad_(True)  # the inner step differentiates the inner loss w.r.t. it
        p, i = {}, 0
        for k, v in theta.items():
            p[k] = vec[i : i + v.numel()].view_as(v)
            i += v.numel()
        return meta_objective(pol, p, pre, post, lr=0.3, first_order=False, clip=None)[0]

    x = torch.cat([v.detach().flatten() for v in theta.values()])
    eps = 1e-6
    fd = torch.stack([(f(x + eps * e) - f(x - eps * e)).detach() / (2 * eps) for e in torch.eye(len(x), dtype=torch.float64)])
    torch.testing.assert_close(flat, fd, rtol=1e-5, atol=1e-7)
    # First-order MAML is a different (cheaper) estimator: the gradient at the adapted parameters.
    fo_loss, _ = meta_objective(pol, theta, pre, post, lr=0.3, first_order=True, clip=None)
    fo = torch.cat([g.flatten() for g in torch.autograd.grad(fo_loss, list(theta.values()))])
    assert not torch.allclose(fo, flat)
    adapted = {
        k: v.detach().requires_grad_(True)
        for k, v in adapt(pol, adapt(pol, theta, pre[0], 0.3, True), pre[1], 0.3, True).items()
    }
    direct, _ = meta_objective(pol, adapted, [], post, lr=0.3, first_order=True, clip=None)
    at_adapted = torch.cat([g.flatten() for g in torch.autograd.grad(direct, list(adapted.values()))])
    torch.testing.assert_close(fo, at_adapted)


def test_whitened_returns_to_go_stop_at_episode_ends():
    r = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    alive = np.array([[True, True], [True, False], [False, False]])
    g = whitened_returns_to_go(r, alive, gamma=1.0)
    raw = np.array([2.0, 1.0, 1.0])  # env 0: 2 then 1; env 1: 1 (then dead)
    np.testing.assert_allclose(g[alive], (raw - raw.mean()) / raw.std(), atol=1e-6)


def test_gridworld_dynamics_and_split():
    w = GridWorld()
    split = w.split()
    assert len(split.train) == 16 and len(split.test) == 8 and w.start not in split.train + split.test
    assert not set(split.train) & set(split.test)
    goal = np.array([[2, 4]])
    roll = w.rollout(lambda obs: np.full(len(obs), 1), goal, 1, rng=None)  # always east: 2 steps to the goal
    assert roll["alive"][:, 0].sum() == 2 and roll["rewards"][1, 0] == pytest.approx(1.0)
    assert roll["rewards"][0, 0] == pytest.approx(-1 / 8)


def test_gridworld_meta_training_is_deterministic_and_adapts_on_held_out_goals():
    cfg = GridConfig(iterations=3, episodes=4, meta_batch=4, eval_every=100)
    w = GridWorld()
    a, b = meta_train(w, cfg, False, seed=0), meta_train(w, cfg, False, seed=0)
    assert [r["return_post"] for r in a["curve"]] == [r["return_post"] for r in b["curve"]]
    for x, y in zip(a["policy"].parameters(), b["policy"].parameters(), strict=True):
        assert torch.equal(x, y)
    held = returns_after_steps(
        w, a["policy"], params_of(a["policy"]), np.array(w.split().test), cfg, torch.Generator().manual_seed(0)
    )
    assert held.shape == (6, 8) and np.isfinite(held).all()
    batches = sample(w, a["policy"], [params_of(a["policy"])], np.array([[0, 0]]), 3, torch.Generator().manual_seed(0), 0.9)
    assert batches[0].returns.shape == (3,) and batches[0].obs.shape[1] == 25
