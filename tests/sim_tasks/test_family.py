"""Task families: splits (deterministic, disjoint, held-out regions) and model-stage edits."""

import mujoco
import numpy as np
import pytest

from sim_tasks import family_names, get_family
from sim_tasks.model_edit import GRAVITY, heightfield, slope_gravity


@pytest.mark.parametrize("name", family_names())
def test_split_same_seed_same_tasks_different_seed_different(name):
    fam = get_family(name)
    assert fam.split(seed=3) == fam.split(seed=3)
    assert fam.split(seed=3).train != fam.split(seed=4).train


@pytest.mark.parametrize("name", family_names())
def test_split_is_disjoint_and_in_range(name):
    fam = get_family(name)
    split = fam.split()
    assert len(split.train) == fam.n_train and len(split.test) == fam.n_test
    assert not set(split.train) & set(split.test)
    for task in split.train + split.test:
        fam.validate(task)


@pytest.mark.parametrize("name", [n for n in family_names() if n != "half_cheetah_vel"])
def test_training_avoids_held_out_regions_and_every_test_task_is_in_one(name):
    fam = get_family(name)
    split = fam.split()
    assert all(not fam.holdout_regions(t) for t in split.train)
    assert all(fam.holdout_regions(t) for t in split.test)


@pytest.mark.parametrize("name", ["planar_runner", "quadruped", "planar_arm"])
def test_test_split_has_payloads_heavier_than_any_training_task(name):
    fam = get_family(name)
    split = fam.split()
    heaviest_train = max(t.payload_mass for t in split.train)
    assert any(t.payload_mass > heaviest_train for t in split.test)
    assert any(fam.holdout_regions(t).get("payload_mass") == "interpolation" for t in fam.split(n_test=60).test)


def test_half_cheetah_vel_reproduces_oysters_tasks():
    # oyster: np.random.seed(1337); np.random.uniform(0.0, 3.0, size=(130,)); train = first 100, eval = last 30.
    expected = np.random.RandomState(1337).uniform(0.0, 3.0, size=130)
    split = get_family("half_cheetah_vel").split()
    got = [t.target_velocity for t in split.train + split.test]
    np.testing.assert_array_equal(got, expected)
    assert len(split.train) == 100 and len(split.test) == 30


def test_model_stage_edits_reach_the_compiled_model():
    fam = get_family("planar_runner")
    task = fam.default_task().replace(payload_mass=5.0, payload_com_x=0.1, slope=10.0, friction=0.7, motor_strength=1.2)
    model = fam.build_model(task)
    nominal = fam.build_model(fam.default_task())
    pid = model.body("payload").id
    assert model.body_mass[pid] == pytest.approx(5.0)
    assert model.body_pos[pid][0] == pytest.approx(0.1)
    np.testing.assert_allclose(model.opt.gravity, slope_gravity(10.0))
    assert np.linalg.norm(model.opt.gravity) == pytest.approx(GRAVITY)
    assert model.geom_friction[model.geom("ground").id][0] == pytest.approx(0.7)
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], 1.2 * nominal.actuator_gainprm[:, 0])
    # The robot's own mass is unchanged by the payload (dm_control's settotalmass must not rescale it).
    assert model.body_mass.sum() - model.body_mass[pid] == pytest.approx(nominal.body_mass.sum() - nominal.body_mass[pid])


def test_quadruped_terrain_is_a_heightfield_fixed_by_the_task():
    fam = get_family("quadruped")
    task = fam.default_task().replace(roughness=0.05, terrain_seed=7)
    a, b = fam.build_model(task), fam.build_model(task)
    assert a.geom_type[a.geom("ground").id] == mujoco.mjtGeom.mjGEOM_HFIELD
    np.testing.assert_array_equal(a.hfield_data, b.hfield_data)
    assert a.hfield_size[0][2] == pytest.approx(0.05)
    other = fam.build_model(task.replace(terrain_seed=8))
    assert not np.array_equal(a.hfield_data, other.hfield_data)
    flat = fam.build_model(fam.default_task())
    assert np.all(flat.hfield_data == 0)


def test_heightfield_is_a_pure_function_of_the_generator():
    h1 = heightfield(np.random.default_rng(1), 20, 30)
    h2 = heightfield(np.random.default_rng(1), 20, 30)
    assert h1.shape == (20, 30) and h1.min() == 0.0 and h1.max() == 1.0
    np.testing.assert_array_equal(h1, h2)


@pytest.mark.parametrize("name", family_names())
def test_describe_is_complete(name):
    d = get_family(name).describe()
    assert d["obs_dim"] == sum(s["size"] for s in d["observation"])
    assert len(d["action"]["names"]) == len(d["action"]["scale"])
    assert d["ctrl_dt"] > 0 and d["sim_dt"] > 0 and d["reward"]


def test_sparse_arm_rewards_only_inside_the_goal_radius_and_hides_the_goal():
    from sim_tasks.envs import TaskEnv
    from sim_tasks.families.planar_arm_sparse import GOAL_RADIUS, GOAL_X

    fam = get_family("planar_arm_sparse")
    model = fam.build_model(fam.default_task())
    data = mujoco.MjData(model)
    data.qpos[:] = [0.6, -1.8, 1.0]  # rad: tip at about (0.44, -0.08) m
    mujoco.mj_forward(model, data)
    ee = fam._ee(model, data)
    at_goal_z = ee[1]
    still = np.zeros(3)
    # The line x = GOAL_X passes within the radius of the tip only if the tip is near it; place the goal so.
    dx = ee[0] - GOAL_X
    assert abs(dx) < GOAL_RADIUS, "pose chosen so the tip is near the goal line"
    on = fam.default_task().replace(goal_z=round(float(at_goal_z), 3))
    reward, error = fam.reward(model, data, still, on, None)
    assert error == pytest.approx(np.hypot(dx, at_goal_z - on.goal_z))
    assert reward == pytest.approx(1.0 - error / GOAL_RADIUS)
    off = fam.default_task().replace(goal_z=round(float(at_goal_z) + 0.3, 3))
    reward, error = fam.reward(model, data, still, off, None)
    assert error > GOAL_RADIUS and reward == 0.0
    # Two goals, same starts and actions: identical observations (the goal is only in the reward).
    obs = []
    for task in (on, off):
        env = TaskEnv(fam, task)
        o, _ = env.reset(seed=2)
        obs.append([o] + [env.step(np.full(3, 0.3))[0] for _ in range(10)])
    np.testing.assert_array_equal(obs[0], obs[1])


@pytest.mark.parametrize("name", ["planar_runner", "quadruped", "planar_arm"])
def test_commands_are_observed_and_resampled_only_in_training_envs(name):
    """A robot family's commands are its last observation slices; a training env draws new ones every
    `command_resample_s` (inside their training ranges), an evaluation env keeps the task's own, and every
    episode starts with the task's own."""
    from sim_tasks import BatchedTaskEnv

    fam = get_family(name)
    commands = fam.command_params
    assert commands and [s.name for s in fam.obs_layout.slices[-len(commands) :]] == [p.name for p in commands]
    assert all(s.source == "command" and s.noise == 0.0 for s in fam.obs_layout.slices[-len(commands) :])
    tasks = list(fam.split().train[:3])
    own = np.array([[getattr(t, p.name) for p in commands] for t in tasks])
    steps = 2 * round(fam.command_resample_s / fam.ctrl_dt) + 1
    seen = {}
    for resample in (False, True):
        env = BatchedTaskEnv(fam, tasks, seed=0, resample_commands=resample)
        obs, _ = env.reset(seed=0)
        np.testing.assert_allclose(obs[:, -len(commands) :], own, rtol=1e-6)
        cmds = []
        for _ in range(steps):
            obs, *_ = env.step(np.zeros(env.action_space.shape))
            cmds.append(obs[:, -len(commands) :].copy())
        seen[resample] = np.array(cmds)
    assert np.allclose(seen[False], own[None], rtol=1e-6)  # evaluation: the task's own command throughout
    changed = ~np.isclose(seen[True], own[None], rtol=1e-6)
    assert changed.any()
    for j, p in enumerate(commands):
        lo, hi = p.train
        assert np.all((seen[True][..., j] >= lo - 1e-6) & (seen[True][..., j] <= hi + 1e-6))


def test_literature_benchmarks_keep_their_goals_hidden():
    for name in ("half_cheetah_vel", "planar_arm_sparse"):
        fam = get_family(name)
        assert not fam.command_params and not any(s.source == "command" for s in fam.obs_layout.slices)
