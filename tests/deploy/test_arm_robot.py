"""The arm on the robot (issue 18): deploy over a pty to the virtual arm, its pick-up field test, and what is
refused before anything moves (a point out of reach or out of range, a pick-up heavier than allowed, a chain
that does not match the robot)."""

import json
import re
import shutil

import numpy as np
import pytest

from deploy.control import DeployConfig, Deployment
from deploy.field import FieldPlan, PlanError, run_field
from deploy.manifest import PolicyDirError
from deploy.telemetry import TelemetryLog, read_log
from firmware_bridge import protocol as p
from firmware_bridge.client import HandshakeError
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from robot_meta.robots import virtual_robots
from sim_tasks import get_family
from tests.policy_edit import write_manifest

GOAL = {"goal_x": 0.4, "goal_z": 0.1}


def arm(rate=50):
    return VirtualFirmware(get_family("planar_arm"), config=FirmwareConfig(rate_hz=rate, watchdog_ms=100, arming_s=0.3))


@pytest.mark.parametrize("kind", ["pearl", "dr"])
def test_the_arm_deploys_over_a_pty(tiny_arm_policies, tmp_path, kind):
    fw = arm()
    with VirtualRobotThread(fw) as vr:
        log = TelemetryLog(tmp_path / "arm.mcap")
        try:
            # 50 Hz with the robot's thread in this process: a loaded machine can starve it past the 3-period
            # stale guard (tested on its own in test_control.py); this test is about the arm's observation
            cfg = DeployConfig(commands=GOAL, status=False, duration_s=1.5, stale_periods=10.0)
            res = Deployment(tiny_arm_policies / kind, vr.port, cfg, log=log).run()
        finally:
            log.close()
    assert res.reason == "duration" and not res.estopped, res.events
    assert res.ticks >= 50 and fw.commands_applied >= res.ticks - 2
    ticks = read_log(tmp_path / "arm.mcap")["/tick"]
    ee = np.array([t["obs"][6:8] for t in ticks])
    err = np.array([t["tracking_error"] for t in ticks])
    np.testing.assert_allclose(err, np.linalg.norm(ee - [0.4, 0.1], axis=1), atol=1e-5)  # the reward's own error
    assert np.all(np.abs(ee) < 0.66)  # within the arm's reach: the kinematics places a real tip


@pytest.mark.parametrize(
    ("commands", "named"),
    [
        ({"goal_x": 0.6, "goal_z": 0.4}, "beyond its reach 0.650 m"),
        ({"goal_x": 0.9, "goal_z": 0.1}, "goal_x=0.9 is outside its allowed range"),
        ({"goal_x": 0.4}, "needs the command(s) ['goal_z']"),
    ],
)
def test_a_point_out_of_reach_or_range_is_refused_before_arming(tiny_arm_policies, commands, named):
    fw = arm()
    with VirtualRobotThread(fw) as vr, pytest.raises(PolicyDirError, match=re.escape(named)):
        Deployment(tiny_arm_policies / "pearl", vr.port, DeployConfig(commands=commands, status=False, duration_s=1.0))
    assert fw.arm_requests == 0


def test_a_chain_that_does_not_match_the_robot_is_refused_naming_the_joint(tiny_arm_policies, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_arm_policies / "pearl", bad)
    raw = json.loads((bad / "manifest.json").read_text())
    raw["kinematics"]["ee"]["links"][2]["joints"][0]["name"] = "wrist_roll"
    write_manifest(bad, raw)
    with pytest.raises(PolicyDirError, match="joint 'wrist_roll' of body 'gripper' is not one of the policy's joints"):
        Deployment(bad, "loop://", DeployConfig(commands=GOAL, status=False))
    raw["joints"][2]["joint"] = "wrist_roll"  # chain and joints agree, the robot does not: the handshake refuses
    write_manifest(bad, raw)
    fw = arm()
    with VirtualRobotThread(fw) as vr, pytest.raises(HandshakeError, match="joint 2 is 'wrist' on the robot but 'wrist_roll'"):
        Deployment(bad, vr.port, DeployConfig(commands=GOAL, status=False, duration_s=1.0)).run()
    assert fw.arm_requests == 0 and fw.state == p.FirmwareState.DISARMED


def test_the_pick_up_field_test(tiny_arm_policies, tmp_path):
    """The family's default plan (from the manifest) shortened: hold the point, pick up 2.2 kg, hold; report with
    the tip's error and the belief over time, the pick-up marked."""
    from deploy.manifest import PolicyManifest

    defaults = PolicyManifest.read(tiny_arm_policies / "pearl").field_plan
    assert defaults["commands"] == GOAL and defaults["payloads_kg"] == [2.2]
    plan = FieldPlan(**{**defaults, "settle_s": 0.5, "baseline_s": 1.0, "hold_s": 1.5, "smooth_s": 0.25})
    policies = {"pearl": tiny_arm_policies / "pearl", "dr": tiny_arm_policies / "dr"}
    report = run_field(policies, tmp_path / "f", plan, simulated=virtual_robots(0.0), status=False)
    (entry,) = report["comparison"]
    assert entry["payload_kg"] == 2.2 and entry["pearl"]["complete"] and entry["dr"]["complete"]
    assert (tmp_path / "f" / "latent.png").exists() and (tmp_path / "f" / "tracking_error.png").exists()
    for bad, named in (
        ({"payloads_kg": [3.5]}, re.escape("payload 3.5 kg is outside planar_arm's allowed range [0, 3] kg (pearl)")),
        ({"command_schedule": [[1.0, {"goal_x": 0.6, "goal_z": 0.4}]]}, "beyond its reach"),
    ):
        with pytest.raises((PlanError, PolicyDirError), match=named):
            run_field(policies, tmp_path / "g", FieldPlan(**{**defaults, **bad}), simulated=virtual_robots(0.0), status=False)
        assert not (tmp_path / "g").exists()  # refused before any session: no report dir, nothing armed
