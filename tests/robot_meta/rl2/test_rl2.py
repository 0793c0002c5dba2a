"""RL² mechanics on tiny budgets: GAE, memory across episodes and trials, the trial wrapper, resume, determinism."""

import dataclasses

import numpy as np
import pytest
import torch

from robot_meta.collector import CollectorState, collect
from robot_meta.rl2 import RL2, RL2Actor, RL2Config, RL2Policy, TrialSchedule, gae
from sim_tasks import BatchedTaskEnv, get_family

TINY = RL2Config(hidden=16, embed=8, episodes_per_trial=2, num_envs=2, epochs=2, minibatches=2, bptt=50, eval_every=0)


def test_gae_against_a_hand_computed_case():
    # T=3, one env, gamma=0.9, lambda=0.5, a cut after step 1 (trial end), bootstrap value 10 after step 2.
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [2.0]])
    cut = torch.tensor([[False], [True], [False]])
    adv, ret = gae(r, v, torch.tensor([10.0]), cut, gamma=0.9, lam=0.5)
    d2 = 3 + 0.9 * 10 - 2  # 10.0
    d1 = 2 + 0 - 1  # cut: no bootstrap across the trial end -> 1.0
    d0 = 1 + 0.9 * 1.0 - 0.5  # 1.4
    a2, a1 = d2, d1  # the cut stops the recursion at step 1
    a0 = d0 + 0.9 * 0.5 * a1
    assert torch.allclose(adv[:, 0], torch.tensor([a0, a1, a2]))
    assert torch.allclose(ret, adv + v)


def test_fused_and_stepped_unrolls_agree():
    torch.manual_seed(0)
    p = RL2Policy(5, 2, TINY)
    T, N = 12, 3
    args = (torch.randn(T, N, 5), torch.randn(T, N, 2), torch.randn(T, N), torch.zeros(T, N), torch.randn(N, 16))
    no_reset = torch.zeros(T, N)
    m1, _, _ = p.sequence(*args, no_reset)
    h, ms = args[4], []
    for t in range(T):
        m, _, h = p.step(args[0][t], args[1][t], args[2][t], args[3][t], h)
        ms.append(m)
    assert torch.allclose(m1, torch.stack(ms), atol=1e-6)
    reset = no_reset.clone()
    reset[5, 1] = 1.0  # a trial starts inside the sequence for env 1: its memory is zeroed there
    m2, _, _ = p.sequence(*args, reset)
    assert torch.allclose(m2[:5], m1[:5], atol=1e-6) and torch.allclose(m2[:, [0, 2]], m1[:, [0, 2]], atol=1e-6)
    assert not torch.allclose(m2[5:, 1], m1[5:, 1])


class _Env:
    num_envs = 1


def test_memory_carries_across_episodes_and_resets_across_trials():
    torch.manual_seed(0)
    p = RL2Policy(3, 1, TINY)
    sched = TrialSchedule(1, k=2)
    actor = RL2Actor(p, 1, torch.Generator().manual_seed(0), schedule=sched, deterministic=True)
    obs = np.ones((1, 3), np.float32)
    actor.reset(np.ones(1, bool))  # trial start
    for _ in range(3):
        actor.act(obs)
        actor.observe(obs, None, np.array([1.0]), obs, np.zeros(1, bool))
    h_end_of_episode = actor.h.clone()
    sched.on_episode_end(0)  # episode 1 of 2 ends: same trial
    actor.reset(np.ones(1, bool))
    assert torch.equal(actor.h, h_end_of_episode) and actor.done[0] == 1.0
    sched.on_episode_end(0)  # episode 2 of 2 ends: the trial ends
    actor.reset(np.ones(1, bool))
    assert torch.equal(actor.h, torch.zeros_like(actor.h)) and actor.done[0] == 0.0 and actor.prev_r[0] == 0.0


def test_trial_wrapper_switches_task_every_k_episodes():
    fam = get_family("planar_arm")
    tasks = list(fam.split().train[:6])
    sched = TrialSchedule(2, k=2, tasks=tasks, rng=np.random.default_rng(0))
    env = BatchedTaskEnv(fam, tasks[:2], seed=0, on_episode_end=sched.on_episode_end)
    seen = []
    state = CollectorState(env)
    state.reset(seed=0)
    for _ in range(4):  # four episodes per env
        seen.append([s.task for s in env.sims])
        collect(
            state, RL2Actor(RL2Policy(fam.obs_layout.dim, 3, TINY), 2, torch.Generator(), schedule=sched), fam.episode_steps
        )
    assert seen[0] == seen[1] and seen[2] == seen[3]  # a trial keeps its task for K = 2 episodes
    assert seen[1] != seen[2]  # and the next trial draws a new one


def make(seed=0, cfg=TINY):
    fam = get_family("planar_runner")
    split = fam.split()
    return RL2(lambda t, s: BatchedTaskEnv(fam, t, seed=s), list(split.train[:5]), cfg, seed=seed, device=torch.device("cpu"))


def flat(algo):
    return torch.cat([p.detach().flatten() for p in algo.policy.state_dict().values() if p.dtype.is_floating_point])


def test_fresh_tasks_draws_new_training_tasks_each_trial_outside_the_held_out_regions():
    fresh = dataclasses.replace(TINY, fresh_tasks=True, epochs=1)
    fam = get_family("planar_runner")
    fixed = set(fam.split().train[:5])
    seen = []
    for algo in (make(0, fresh), make(0, fresh)):
        tasks = []
        for _ in range(2):
            algo.train_iteration()
            tasks.append([sim.task for sim in algo.env.sims])
        seen.append(tasks)
    assert seen[0] == seen[1]  # same seed, same tasks
    drawn = [t for it in seen[0] for t in it]
    assert len(set(drawn)) == 4 and not set(drawn) & fixed  # new every trial (and at its end), not the fixed list
    assert all(fam.holdout_regions(t) == {} for t in drawn)  # never inside a held-out region
    default = make(0, dataclasses.replace(TINY, epochs=1))
    default.train_iteration()
    assert all(sim.task in fixed for sim in default.env.sims)  # without it: the split's fixed training tasks


def test_rl2_config_checks():
    from robot_meta.config import ConfigError, apply

    with pytest.raises(ConfigError, match="minibatches=8 must be <= num_envs=2"):
        apply(TINY, {"minibatches": 8})


def test_ppo_stops_early_when_the_policy_moves_past_target_kl():
    from dataclasses import replace

    full = make(0, replace(TINY, target_kl=0.0, epochs=4, lr=1e-2)).train_iteration()
    assert full["updates"] == 4 * 2 and full["early_stopped"] == 0.0
    early = make(0, replace(TINY, target_kl=1e-6, epochs=4, lr=1e-2)).train_iteration()
    assert 1 <= early["updates"] < 4 * 2 and early["early_stopped"] == 1.0
