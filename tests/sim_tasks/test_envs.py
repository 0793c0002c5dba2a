"""gymnasium envs: API conformance, determinism, payload changes, bad input."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sim_tasks
from sim_tasks import TaskEnv, TaskParamError, TaskSim, get_family


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_sb3_check_env(env_id):
    sb3_check_env(gym.make(env_id).unwrapped, warn=True)


def test_every_family_is_registered():
    assert len(sim_tasks.ENV_IDS) == len(sim_tasks.family_names()) >= 4
    assert all(i.startswith("sim_tasks/") for i in sim_tasks.ENV_IDS)


@pytest.mark.parametrize("name", sim_tasks.family_names())
def test_observation_holds_no_task_parameters_but_info_does(name):
    fam = get_family(name)
    task = fam.split().train[0]
    env = TaskEnv(name, task)
    obs, info = env.reset(seed=0)
    assert obs.shape == (fam.obs_layout.dim,) and obs.dtype == np.float32
    np.testing.assert_array_equal(info["task"], fam.task_vector(task))
    _, _, _, _, info = env.step(env.action_space.sample())
    assert set(info) >= {"task", "tracking_error", "time", "payload_mass"}


def _rollout(env, seed, n=30):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [obs]
    for _ in range(n):
        obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        out.append(obs)
    return np.array(out)


@pytest.mark.parametrize("name", sim_tasks.family_names())
def test_same_seed_same_trajectory_different_seed_different(name):
    task = get_family(name).split().train[1]
    a, b = _rollout(TaskEnv(name, task), 5), _rollout(TaskEnv(name, task), 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _rollout(TaskEnv(name, task), 6))


@pytest.mark.parametrize("name", ["planar_runner", "quadruped", "planar_arm"])
def test_payload_changed_mid_episode_equals_payload_built_in(name):
    """The online-adaptation case: set_payload on the compiled model must be the physics MjSpec builds."""
    fam = get_family(name)
    nominal = fam.default_task()
    heavy = nominal.replace(payload_mass=fam.spec_of("payload_mass").train[1], payload_com_x=0.02)
    built, changed = TaskSim(fam, heavy), TaskSim(fam, nominal)
    built.reset(np.random.default_rng(1))
    changed.reset(np.random.default_rng(1))
    changed.set_payload(heavy.payload_mass, [0.02, 0.0, 0.0])
    rng = np.random.default_rng(0)
    for _ in range(50):
        action = rng.uniform(-1, 1, built.actions.dim)
        oa, ra, *_ = built.step(action)
        ob, rb, *_ = changed.step(action)
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb


def test_payload_matters():
    fam = get_family("planar_arm")
    light = _rollout(TaskEnv(fam, fam.default_task()), 0)
    heavy = _rollout(TaskEnv(fam, fam.default_task().replace(payload_mass=1.5)), 0)
    assert np.abs(light - heavy).max() > 0.05


def test_payload_schedule_applies_at_its_time_and_resets_with_the_episode():
    fam = get_family("planar_runner")
    env = TaskEnv(fam, fam.default_task(), payload_schedule=[(0.5, 4.0)])
    env.reset(seed=0)
    masses = [env.step(np.zeros(6))[4]["payload_mass"] for _ in range(20)]
    change_step = round(0.5 / fam.ctrl_dt)  # the change applies before the step that starts at t = 0.5 s
    assert masses[change_step - 1] == 0.0 and masses[change_step] == 4.0
    assert env.step(np.zeros(6))[4]["task"][0] == pytest.approx(4.0)
    _, info = env.reset(seed=0)
    assert info["payload_mass"] == 0.0


def test_set_payload_out_of_range_is_refused_and_state_is_kept():
    fam = get_family("quadruped")
    env = TaskEnv(fam)
    env.reset(seed=0)
    with pytest.raises(TaskParamError, match=r"payload_mass=50.0 kg is outside its allowed range \[0.0, 12.0\]"):
        env.set_payload(50.0)
    assert env.sim.payload_mass == 0.0
    with pytest.raises(TaskParamError, match=r"payload schedule time -1\.0"):
        env.schedule_payload([(-1.0, 1.0)])


def test_bad_task_leaves_the_env_as_it_was():
    fam = get_family("planar_runner")
    env = TaskEnv(fam)
    before = env.task
    with pytest.raises(TaskParamError):
        env.set_task(before.replace(friction=-1.0))
    assert env.task == before
    env.reset(seed=0)
    env.step(np.zeros(6))


def test_bad_actions_are_refused_with_the_reason():
    env = TaskEnv("planar_runner")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expects \(6,\)"):
        env.step(np.zeros(5))
    with pytest.raises(ValueError, match=r"NaN or inf at indices \[2\]"):
        env.step(np.array([0, 0, np.nan, 0, 0, 0]))


def test_action_latency_delays_the_applied_control():
    fam = get_family("planar_runner")
    env = TaskEnv(fam, fam.default_task().replace(action_latency=2))
    env.reset(seed=0)
    applied = []
    for k in range(4):
        env.step(np.full(6, 0.1 * (k + 1)))
        applied.append(env.sim.data.ctrl[0])
    np.testing.assert_allclose(applied, [0.0, 0.0, 0.1, 0.2])


def test_observation_noise_scales_with_the_task():
    fam = get_family("planar_runner")
    quiet = _rollout(TaskEnv(fam, fam.default_task()), 0, n=1)
    noisy = _rollout(TaskEnv(fam, fam.default_task().replace(obs_noise=2.0)), 0, n=1)
    diff = noisy[0] - quiet[0]
    joint_pos = fam.obs_layout.index("joint_pos")
    assert 0.002 < np.abs(diff[joint_pos]).mean() < 0.1  # nominal 0.01 rad x 2


def test_quadruped_stands_on_rough_ground_at_rest():
    fam = get_family("quadruped")
    env = TaskEnv(fam, fam.default_task().replace(roughness=0.05, terrain_seed=1))
    env.reset(seed=0)
    for _ in range(150):  # 3 s
        _, _, terminated, _, _ = env.step(np.zeros(12))
        assert not terminated
    assert 0.2 < env.sim.data.qpos[2] < 0.45


def test_importing_sim_tasks_does_not_import_torch():
    code = "import sys, sim_tasks; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
