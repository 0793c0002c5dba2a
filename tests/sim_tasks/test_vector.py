"""Batched stepping: same numbers as the single-task loop, SAME_STEP autoreset, determinism."""

import numpy as np
import pytest

from sim_tasks import BatchedTaskEnv, TaskParamError, TaskSim, get_family


def test_batched_equals_single_sims_with_the_same_generators():
    fam = get_family("planar_runner")
    tasks = list(fam.split().train[:3])
    env = BatchedTaskEnv(fam, tasks, seed=11)
    children = np.random.SeedSequence(11).spawn(3)
    singles = [TaskSim(fam, t) for t in tasks]
    obs_b, info = env.reset(seed=11)
    obs_s = np.stack([s.reset(np.random.default_rng(c)) for s, c in zip(singles, children, strict=True)])
    np.testing.assert_array_equal(obs_b, obs_s)
    np.testing.assert_array_equal(info["task"], np.stack([fam.task_vector(t) for t in tasks]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.uniform(-1.2, 1.2, size=(3, 6))  # out of range on purpose: both paths clip
        obs_b, rew_b, *_ = env.step(actions)
        for i, s in enumerate(singles):
            o, r, *_ = s.step(actions[i])
            np.testing.assert_array_equal(obs_b[i], o)
            assert rew_b[i] == r


def test_same_step_autoreset_returns_the_final_observation():
    fam = get_family("planar_arm")
    env = BatchedTaskEnv(fam, list(fam.split().train[:2]), seed=0)
    env.reset()
    for k in range(fam.episode_steps):
        obs, _, terminated, truncated, info = env.step(np.zeros((2, 3)))
        if k < fam.episode_steps - 1:
            assert not info["_final_obs"].any()
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all()
    assert not np.array_equal(info["final_obs"], obs)  # obs is already the next episode's first
    assert all(s.steps == 0 for s in env.sims)


def test_batched_env_determinism():
    fam = get_family("quadruped")
    tasks = list(fam.split().train[:2])

    def run(seed):
        env = BatchedTaskEnv(fam, tasks, seed=seed)
        env.reset()
        rng = np.random.default_rng(0)
        return np.stack([env.step(rng.uniform(-1, 1, (2, 12)))[0] for _ in range(10)])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_bad_batch_input():
    fam = get_family("planar_runner")
    env = BatchedTaskEnv(fam, list(fam.split().train[:2]))
    env.reset()
    with pytest.raises(ValueError, match=r"expected \(2, 6\)"):
        env.step(np.zeros((3, 6)))
    with pytest.raises(ValueError, match=r"\(env, index\) \[\[1, 0\]\]"):
        env.step(np.array([[0.0] * 6, [np.inf] + [0.0] * 5]))
    with pytest.raises(TaskParamError, match="got 1 tasks for 2 sub-envs"):
        env.set_tasks([fam.default_task()])
    with pytest.raises(TaskParamError, match="at least one task"):
        BatchedTaskEnv(fam, [])


def test_task_vectors_follow_a_payload_change_and_a_new_task():
    """The collector reads the task vector at every step; the sims cache it, so it must follow what changes it."""
    fam = get_family("planar_arm")
    tasks = list(fam.split().train[:2])
    env = BatchedTaskEnv(fam, tasks, seed=0)
    env.reset(seed=0)
    j = [p.name for p in fam.hidden_params].index("payload_mass")
    before = env.task_vectors()
    env.sims[0].schedule_payload([(2 * fam.ctrl_dt, 2.0)])
    for _ in range(4):
        env.step(np.zeros((2, env.single_action_space.shape[0]), np.float32))
    after = env.task_vectors()
    assert after[0, j] == 2.0 and after[1, j] == before[1, j]
    env.set_tasks(tasks[::-1])
    np.testing.assert_array_equal(env.task_vectors(), np.stack([fam.task_vector(t) for t in tasks[::-1]]))
