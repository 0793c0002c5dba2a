"""`robot-meta deploy` against the virtual robot over a pty: real MuJoCo physics, real serial device."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deploy.control import DeployConfig, Deployment
from deploy.telemetry import TelemetryLog, read_log
from firmware_bridge import protocol as p
from firmware_bridge.cfirmware import CFirmware
from firmware_bridge.client import HandshakeError
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import FaultSpec, VirtualRobotThread
from sim_tasks import get_family
from tests.policy_edit import write_manifest

# Live sessions under a 150 ms watchdog: `make test` runs them after the parallel part, one at a time.
pytestmark = pytest.mark.realtime
TARGETS = {"target_velocity": 1.5}


def firmware(cls=VirtualFirmware, rate=20):
    return cls(get_family("planar_runner"), config=FirmwareConfig(rate_hz=rate, watchdog_ms=150, arming_s=0.3))


def deploy(policy, port, log=None, **kw):
    cfg = DeployConfig(commands=TARGETS, status=False, **kw)
    return Deployment(policy, port, cfg, log=log)


@pytest.mark.parametrize("cls", [VirtualFirmware, CFirmware], ids=["python_firmware", "c_firmware"])
def test_deploy_end_to_end_over_a_pty(tiny_policies, tmp_path, cls):
    fw = firmware(cls)
    with VirtualRobotThread(fw) as vr:
        log = TelemetryLog(tmp_path / "run.mcap")
        res = deploy(tiny_policies / "pearl", vr.port, log, duration_s=2.0).run()
        log.close()
        # DISARM is the host's last frame; the robot's thread reads it at its next tick (on a loaded machine,
        # after the host has returned): give it a second before the robot is shut down.
        deadline = time.monotonic() + 1.0
        while fw.state != p.FirmwareState.DISARMED and time.monotonic() < deadline:
            time.sleep(0.01)
    assert res.reason == "duration" and not res.estopped, (res.events, res.late_ticks, res.link)
    assert 30 <= res.ticks <= 42 and fw.commands_applied >= res.ticks - 2
    assert fw.state == p.FirmwareState.DISARMED  # a normal end disarms
    assert res.link["crc_errors"] == 0 and res.link["rtt_samples"] > 20
    assert np.all(np.isfinite(res.errors)) and len(res.latents) == res.ticks
    msgs = read_log(tmp_path / "run.mcap")
    assert len(msgs["/session"]) == 1 and len(msgs["/tick"]) == res.ticks
    tick = msgs["/tick"][-1]
    assert len(tick["obs"]) == 17 and len(tick["action"]) == 6 and "z" in tick["latent"]
    assert [e["event"] for e in msgs["/event"]] == ["armed", "disarm"]


@pytest.mark.parametrize("algo", ["rl2", "rma", "dr"])
def test_every_kind_of_policy_dir_deploys(tiny_policies, algo):
    with VirtualRobotThread(firmware()) as vr:
        res = deploy(tiny_policies / algo, vr.port, duration_s=1.0).run()
    assert res.reason == "duration" and res.ticks >= 15, (res.events, res.late_ticks, res.link)


def test_a_robot_that_does_not_match_the_manifest_is_never_armed(tiny_policies, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_policies / "pearl", bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["joints"][2]["joint"] = "left_knee"
    write_manifest(bad, m)
    fw = firmware()
    with VirtualRobotThread(fw) as vr:
        with pytest.raises(HandshakeError, match="joint 2 is 'bfoot' on the robot but 'left_knee' in the policy"):
            deploy(bad, vr.port, duration_s=1.0).run()
        time.sleep(0.2)
    assert fw.state == p.FirmwareState.DISARMED and fw.commands_applied == 0
    fw = firmware(rate=50)
    with VirtualRobotThread(fw) as vr:
        with pytest.raises(HandshakeError, match="robot runs at 50 Hz, the policy at 20 Hz"):
            deploy(tiny_policies / "pearl", vr.port, duration_s=1.0).run()
    assert fw.state == p.FirmwareState.DISARMED and fw.commands_applied == 0


def _estopped(fw):
    return fw.state == p.FirmwareState.FAULT and fw.fault == p.FaultCode.ESTOP


def test_estop_when_the_body_tilts_past_the_manifest_limit(tiny_policies):
    fw = firmware()
    with VirtualRobotThread(fw) as vr:

        def tip_over(k, t):
            if k == 10:
                vr.request(lambda f: f.data.qpos.__setitem__(2, 1.7))  # rooty: 97 deg nose-down
            return None

        res = deploy(tiny_policies / "pearl", vr.port, duration_s=3.0).run(tip_over)
        time.sleep(0.1)
    assert res.reason == "tilt" and res.estopped and _estopped(fw)
    assert any(e["event"] == "tilt" and e["tilt_deg"] > 75 for e in res.events)


def test_estop_on_stale_state(tiny_policies):
    fw = firmware()
    with VirtualRobotThread(fw, faults=FaultSpec(stall_at=1.2, stall_for=1.0)) as vr:
        res = deploy(tiny_policies / "pearl", vr.port, duration_s=4.0).run()
        time.sleep(0.1)
    assert res.reason == "stale" and res.estopped and _estopped(fw)


class PoisonedFirmware(VirtualFirmware):
    """A firmware whose IMU starts reporting NaN when told to (a sensor failure)."""

    poison = False

    def read_state(self):
        s = super().read_state()
        if self.poison:
            s.gyro[:] = np.nan
        return s


def test_estop_on_nan_state_and_on_ctrl_c(tiny_policies):
    fw = firmware(PoisonedFirmware)
    with VirtualRobotThread(fw) as vr:

        def poison(k, t):
            if k == 8:
                vr.request(lambda f: setattr(f, "poison", True))

        res = deploy(tiny_policies / "pearl", vr.port, duration_s=3.0).run(poison)
        time.sleep(0.1)
    assert res.reason == "nan_state" and res.estopped and _estopped(fw)

    fw = firmware()
    with VirtualRobotThread(fw) as vr:

        def ctrl_c(k, t):
            if k == 8:
                raise KeyboardInterrupt

        res = deploy(tiny_policies / "pearl", vr.port, duration_s=3.0).run(ctrl_c)
        time.sleep(0.1)
    assert res.reason == "operator" and res.estopped and _estopped(fw)


def _deploy_process(policy, port, log) -> subprocess.Popen:
    """`robot-meta deploy` in its own process (to be killed), logging to `log`."""
    cmd = [sys.executable, "-m", "robot_meta.cli", "deploy", str(policy), "--port", port]
    cmd += ["--command", "target_velocity=1.5", "--log", str(log)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_deploy_trips_the_robot_watchdog_and_leaves_a_readable_log(tiny_policies, tmp_path):
    fw = firmware()
    log = tmp_path / "killed.mcap"
    with VirtualRobotThread(fw) as vr:
        proc = _deploy_process(tiny_policies / "pearl", vr.port, log)
        deadline = time.monotonic() + 60
        while fw.commands_applied < 60 and time.monotonic() < deadline:  # ~3 s of control
            time.sleep(0.1)
        assert fw.commands_applied >= 60, proc.stderr.read().decode() if proc.poll() is not None else "no commands"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)  # > the 150 ms watchdog
        assert fw.state == p.FirmwareState.FAULT and fw.fault == p.FaultCode.WATCHDOG
    msgs = read_log(log)
    assert len(msgs["/session"]) == 1
    assert len(msgs["/tick"]) >= 20  # everything but the last (unflushed) second
    ks = [m["k"] for m in msgs["/tick"]]
    assert ks == list(range(1, len(ks) + 1))  # complete chunks, in order, no hole


def test_a_deploy_killed_while_arming_leaves_a_log_that_says_what_was_armed(tiny_policies, tmp_path):
    """Issue 17: the session record (policy, robot, commands) is on disk before ARM is sent: a kill -9 while the
    robot arms leaves a log whose recovered form the standard reader opens, holding it."""
    from mcap.reader import make_reader

    from deploy.telemetry import recover_log

    fw = firmware()
    log = tmp_path / "arming.mcap"
    with VirtualRobotThread(fw) as vr:
        proc = _deploy_process(tiny_policies / "pearl", vr.port, log)
        deadline = time.monotonic() + 60
        while fw.arm_requests == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        assert fw.arm_requests == 1, proc.stderr.read().decode() if proc.poll() is not None else "never armed"
        os.kill(proc.pid, signal.SIGKILL)  # within the 0.3 s soft start
        proc.wait()
    recover_log(log, tmp_path / "fixed.mcap")
    with open(tmp_path / "fixed.mcap", "rb") as f:
        sessions = [json.loads(m.data) for _, c, m in make_reader(f).iter_messages() if c.topic == "/session"]
    assert len(sessions) == 1 and sessions[0]["commands"] == {"target_velocity": 1.5}


def fw_state_of(vr):
    return vr.firmware.state


def test_deploy_cli(tiny_policies, tmp_path, capsys):
    from robot_meta.cli import main

    with VirtualRobotThread(firmware()) as vr:
        base = ["deploy", str(tiny_policies / "pearl"), "--port", vr.port]
        assert main([*base, "--duration", "1"]) == 2  # no target: refused before connecting
        assert "needs the command(s) ['target_velocity']" in (err := capsys.readouterr().err)
        assert "--command target_velocity=2.25" in err
        # a command the policy lacks, or out of its range: one line naming it, nothing armed, no log written
        bad_log = tmp_path / "bad.mcap"
        for bad, msg in (
            (["--command", "target_heading=0.3"], "command 'target_heading': this policy takes no such command"),
            (["--command", "target_velocity=9"], "command target_velocity=9 is outside its allowed range [0, 4]"),
            (["--command", "target_velocity=nan"], "--command target_velocity=nan must be a finite number"),
        ):
            assert main([*base, "--duration", "1", "--command", "target_velocity=1.5", *bad, "--log", str(bad_log)]) == 2
            err = capsys.readouterr().err
            assert msg in err and len(err.strip().splitlines()) == 1, err
            assert fw_state_of(vr) == p.FirmwareState.DISARMED
        log = tmp_path / "cli.mcap"
        assert main([*base, "--duration", "1", "--target", "target_velocity=1.5", "--log", str(log), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
    assert out["reason"] == "duration" and out["ticks"] >= 15 and out["log"] == str(log)
    assert len(read_log(log)["/tick"]) == out["ticks"]
    assert (
        main(["deploy", str(tiny_policies / "pearl"), "--port", "/dev/nonexistent-tty", "--target", "target_velocity=1"]) == 1
    )
    assert "cannot open /dev/nonexistent-tty" in capsys.readouterr().err


def test_the_wire_never_carries_more_torque_than_the_robot_reported(tiny_policies, tmp_path):
    """Issue 17: a policy dir edited to scale its torques x100 (still a well-formed manifest) cannot command more
    than the robot's HELLO_ACK limits: the last clamp before the wire uses the robot's numbers, and counts."""
    policy = tmp_path / "dr"
    shutil.copytree(tiny_policies / "dr", policy)
    raw = json.loads((policy / "manifest.json").read_text())
    raw["robot"]["command"]["target_per_ctrl"] = [100 * v for v in raw["robot"]["command"]["target_per_ctrl"]]
    write_manifest(policy, raw)
    fw = firmware()
    limits = np.array([j.torque_max for j in fw.hello_ack().joints])
    with VirtualRobotThread(fw) as vr:
        log = TelemetryLog(tmp_path / "run.mcap")
        try:
            res = deploy(policy, vr.port, log=log, duration_s=1.0).run()
        finally:
            log.close()
    assert res.reason == "duration" and res.safety["wire_clamped"] > 0
    targets = np.array([m["target"] for m in read_log(tmp_path / "run.mcap")["/tick"]])
    assert np.all(np.abs(targets) <= limits + 1e-6) and np.any(np.isclose(np.abs(targets), limits))
