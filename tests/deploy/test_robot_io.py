"""The robot-side contract: observation from STATE equals the simulator's, reward and command mapping."""

import json

import mujoco
import numpy as np
import pytest

from deploy.manifest import PolicyManifest
from deploy.robot_io import CommandMapper, Commands, ObservationBuilder, RewardEstimator, tilt_deg
from deploy.runtime import PolicyDirError
from firmware_bridge import protocol as p
from firmware_bridge.virtual_robot import VirtualFirmware
from robot_meta.export import build_manifest
from sim_tasks import get_family


def manifest_of(family):
    """A manifest of the family built by export's own function (no graphs: robot_io does not read them)."""
    raw = build_manifest({"kind": "none", "note": "robot_io test"}, {"algo": "test"}, {}, family, {})
    return PolicyManifest.from_dict(json.loads(json.dumps(raw)))


@pytest.mark.parametrize("name", ["planar_runner", "quadruped", "planar_arm"])
def test_observation_from_the_robots_state_equals_the_simulators(name):
    """Through the wire format (float32); the arm's gripper tip by forward kinematics of the manifest's chain."""
    fam = get_family(name)
    fw = VirtualFirmware(fam)
    rng = np.random.default_rng(0)
    fw.data.qvel[:] = rng.normal(size=fw.model.nv)  # a body spinning and moving in every direction
    fw.data.qpos[3:7] = [0.96, 0.1, 0.2, 0.15] if name == "quadruped" else fw.data.qpos[3:7]
    mujoco.mj_forward(fw.model, fw.data)
    state = p.State.unpack(fw.read_state().pack())  # through the wire format (float32)
    m = manifest_of(fam)
    commands = Commands(m, {c.name: getattr(fw.sim.task, c.name) for c in m.commands})
    got = ObservationBuilder(m, commands)(state)
    want = fam.observation(fw.model, fw.data, fw.sim.task)  # the read-outs and the commands
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_a_family_without_robot_signals_is_refused_by_slice_name():
    fam = get_family("planar_arm")
    raw = json.loads(json.dumps(build_manifest({"kind": "none", "note": "t"}, {"algo": "test"}, {}, fam, {})))
    del raw["robot"]["observation"]["ee_pos"]  # as an arm exported before forward kinematics
    with pytest.raises(PolicyDirError, match="observation slice 'ee_pos' has no robot signal"):
        ObservationBuilder(
            PolicyManifest.from_dict(raw), Commands(PolicyManifest.from_dict(raw), {"goal_x": 0.4, "goal_z": 0.1})
        )


def test_the_arms_reward_on_the_robot_equals_the_simulated_one():
    """position_tracking: -|ee - goal| - 0.01 |a|^2 - 0.001 |qvel|^2 from the observation and the commands."""
    fam = get_family("planar_arm")
    task = fam.default_task().replace(obs_noise=0.0)
    fw = VirtualFirmware(fam, task=task)
    rng = np.random.default_rng(1)
    m = manifest_of(fam)
    commands = Commands(m, {"goal_x": task.goal_x, "goal_z": task.goal_z})
    est, build = RewardEstimator(m, commands), ObservationBuilder(m, commands)
    for _ in range(20):
        fw.data.qpos[fw.qpos_adr] = rng.uniform(-2, 2, size=3)
        fw.data.qvel[fw.dof_adr] = rng.normal(size=3)
        mujoco.mj_forward(fw.model, fw.data)
        a = rng.uniform(-1, 1, size=3)
        want_r, want_err = fam.reward(fw.model, fw.data, a, task, None)
        r, err = est(build(p.State.unpack(fw.read_state().pack())), a)
        assert r == pytest.approx(want_r, abs=1e-5) and err == pytest.approx(want_err, abs=1e-5)
    with pytest.raises(PolicyDirError, match="needs the command"):
        Commands(m, {"goal_x": 0.4})


def test_the_runners_reward_on_the_robot_equals_the_simulated_one():
    """velocity_tracking with the gait penalties: -|v - target| - 0.05 |a|^2 - 0.4 vz^2 - 0.01 pitch rate^2, the
    last two from STATE's velocity (world z) and gyro (body y), through the wire format."""
    fam = get_family("planar_runner")
    task = fam.default_task().replace(obs_noise=0.0, target_velocity=2.0)
    fw = VirtualFirmware(fam, task=task)
    m = manifest_of(fam)
    with pytest.raises(PolicyDirError, match="needs the command"):
        RewardEstimator(m, Commands(m, {}))
    est = RewardEstimator(m, Commands(m, {"target_velocity": 2.0}))
    build = ObservationBuilder(m, Commands(m, {"target_velocity": 2.0}))
    rng = np.random.default_rng(2)
    penalties = []
    for _ in range(20):
        fw.data.qpos[2] = rng.uniform(-0.5, 0.5)  # pitched: the gyro's pitch axis turns with the torso
        fw.data.qvel[:] = rng.normal(size=fw.model.nv)
        mujoco.mj_forward(fw.model, fw.data)
        a = rng.uniform(-1, 1, size=6)
        want_r, want_err = fam.reward(fw.model, fw.data, a, task, None)
        state = p.State.unpack(fw.read_state().pack())
        r, err = est(build(state), a, state)
        assert r == pytest.approx(want_r, abs=1e-5) and err == pytest.approx(want_err, abs=1e-5)
        penalties.append(-want_r - want_err - 0.05 * float(a @ a))
    assert min(penalties) > 0.0  # the gait terms were there to match
    with pytest.raises(ValueError, match="pass the STATE"):
        est(build(state), a)


def test_a_signal_cost_the_robot_cannot_give_is_refused_by_name():
    fam = get_family("planar_runner")
    raw = json.loads(json.dumps(build_manifest({"kind": "none", "note": "t"}, {"algo": "test"}, {}, fam, {})))
    commands = {"target_velocity": 2.0}
    for term, match in [
        ({"signal": "odometry", "index": [0], "weight": 1.0}, "unknown robot signal 'odometry'"),
        ({"signal": "gyro", "index": [3], "weight": 1.0}, r"'gyro' index \[3\] is past its 3 entries"),
        ({"signal": "joint_vel", "index": [6], "weight": 1.0}, r"'joint_vel' index \[6\] is past its 6 entries"),
    ]:
        raw["robot"]["reward"]["signal_cost"] = [term]
        m = PolicyManifest.from_dict(raw)
        with pytest.raises(PolicyDirError, match=match):
            RewardEstimator(m, Commands(m, commands))
    for weight, match in [
        (float("nan"), r"signal_cost\[0\].weight=nan must be a finite number"),
        (-1.0, "weight=-1.0 must be in"),
    ]:
        raw["robot"]["reward"]["signal_cost"] = [{"signal": "gyro", "index": [1], "weight": weight}]
        with pytest.raises(PolicyDirError, match=match):
            PolicyManifest.from_dict(raw)


def test_command_mapping_uses_the_gear_for_torque_and_the_pose_for_position():
    runner = CommandMapper.from_manifest(manifest_of(get_family("planar_runner")))
    assert runner.mode == "torque" and np.allclose(runner.hold_target, 0.0)
    np.testing.assert_allclose(runner.targets(np.ones(6)), [120, 90, 60, 90, 60, 30])  # N m, the cheetah gears
    quad = CommandMapper.from_manifest(manifest_of(get_family("quadruped")))
    assert quad.mode == "position" and np.allclose(quad.target_per_ctrl, 1.0) and quad.kp.min() > 0
    np.testing.assert_allclose(quad.hold_target[:3], [0.0, 0.8, -1.5])


def test_tilt():
    assert tilt_deg(np.array([1.0, 0, 0, 0])) == pytest.approx(0.0)
    half = np.array([np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0])  # 90 deg about y
    assert tilt_deg(half) == pytest.approx(90.0)
