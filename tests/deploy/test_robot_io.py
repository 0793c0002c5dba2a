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


@pytest.mark.parametrize("name", ["planar_runner", "quadruped"])
def test_observation_from_the_robots_state_equals_the_simulators(name):
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
    with pytest.raises(PolicyDirError, match="observation slice 'ee_pos' has no robot signal"):
        ObservationBuilder(manifest_of(fam))


def test_reward_matches_the_simulated_reward_and_needs_its_target():
    fam = get_family("planar_runner")
    m = manifest_of(fam)
    with pytest.raises(PolicyDirError, match="needs the command"):
        RewardEstimator(m, Commands(m, {}))
    est = RewardEstimator(m, Commands(m, {"target_velocity": 2.0}))
    obs = np.zeros(17, np.float32)
    obs[3] = 1.25
    a = np.full(6, 0.5)
    r, err = est(obs, a)
    assert err == pytest.approx(0.75) and r == pytest.approx(-0.75 - 0.05 * 6 * 0.25)


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
