"""`robot-meta conformance` (issue 19): every check passes against the virtual robot on either firmware, and a
firmware that breaks the protocol fails the checks that say where."""

import json

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.cfirmware import CFirmware
from firmware_bridge.conformance import run_conformance
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from robot_meta.cli import main
from sim_tasks import get_family

CONFIG = FirmwareConfig(rate_hz=50, watchdog_ms=100, arming_s=0.1)


@pytest.mark.realtime
@pytest.mark.parametrize("cls", [CFirmware, VirtualFirmware], ids=["c", "python"])
def test_the_virtual_robot_conforms_on_either_firmware(cls, capsys):
    with VirtualRobotThread(cls(get_family("planar_runner"), config=CONFIG)) as vr:
        assert main(["conformance", "--port", vr.port, "--seconds", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in report["checks"]]
    assert report["passed"] and report["failed"] == [] and len(names) == 15, report["checks"]
    assert {
        "watchdog_on_time_heartbeats_do_not_feed_it",
        "replay_refused",
        "estop_latches_until_disarm",
        "run_at_rate",
    } <= set(names)
    assert report["robot"]["modes"] == ["TORQUE"] and report["robot"]["protocol_version"] == 2


class _SilentRefusals(VirtualFirmware):
    """A firmware that drops a COMMAND while disarmed without saying so, answers ESTOP without latching, and
    answers an applied COMMAND only in its next tick's STATE (version 1's way), with no ACK frame."""

    def handle(self, frame, rx_us=None):
        if frame.type == p.MsgType.COMMAND and self.state == p.FirmwareState.DISARMED:
            return []
        if frame.type == p.MsgType.ESTOP:
            return []
        return [f for f in super().handle(frame, rx_us) if f.type != p.MsgType.ACK]


def test_a_firmware_that_breaks_the_protocol_fails_where_it_does(capsys):
    with VirtualRobotThread(_SilentRefusals(get_family("planar_runner"), config=CONFIG)) as vr:
        report = run_conformance(vr.port, seconds=0.5)
        assert main(["conformance", "--port", vr.port, "--seconds", "0.5"]) == 1
    assert set(report["failed"]) >= {
        "command_while_disarmed_refused",
        "estop_latches_until_disarm",
        "command_acknowledged_within_a_period",
    }, report["failed"]
    ack = next(c for c in report["checks"] if c["name"] == "command_acknowledged_within_a_period")
    assert "the fastest of 3" in ack["detail"] and "no ACK frame answered it" in ack["detail"]
    assert "replay_refused" not in report["failed"] and "handshake_v2" not in report["failed"]
    assert "does not conform" in capsys.readouterr().out


def test_nothing_at_the_port_is_one_failed_check_not_a_traceback(tmp_path):
    report = run_conformance("socket://127.0.0.1:9", seconds=0.5)  # port 9 (discard): refused
    assert not report["passed"] and report["failed"] == ["link"] and report["robot"] is None
