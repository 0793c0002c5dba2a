"""`robot-meta virtual-robot` over TCP and `bench bridge`: the CLI pieces of the bridge, end to end."""

import json
import subprocess
import sys

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.bench_bridge import bench_bridge, wire_budget
from firmware_bridge.client import RobotClient


@pytest.mark.realtime
def test_virtual_robot_over_tcp_via_socket_url():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robot_meta.cli",
            "virtual-robot",
            "--task",
            "planar_runner",
            "--tcp",
            "0",
            "--rate",
            "20",
            "--duration",
            "8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        client = RobotClient(url)
        ack = client.connect(timeout=5)
        assert [j.name for j in ack.joints] == ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]
        state = client.link.wait_state(lambda s: True, 2.0)
        assert state.state == p.FirmwareState.DISARMED and len(state.q) == 6
        client.close()
    finally:
        proc.terminate()
        proc.wait(5)


def test_bad_fault_spec_is_refused():
    out = subprocess.run(
        [sys.executable, "-m", "robot_meta.cli", "virtual-robot", "--task", "quadruped", "--faults", "drop=lots"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "--faults entry 'drop=lots'" in out.stderr


@pytest.mark.realtime
@pytest.mark.parametrize("clock", ["robot", "host"])
def test_bench_bridge_reports_the_contract_keys(clock):
    r = bench_bridge(seconds=1.0, clock=clock)
    assert {"rtt_p50_us", "rtt_p99_us", "missed_deadlines", "host_late_ticks", "ticks"} <= set(r) and r["clock"] == clock
    assert r["ticks"] > 500 and r["rtt_samples"] > 100 and r["rtt_p50_us"] > 0 and r["protocol_version"] == 2
    assert r["missed_deadlines"] < r["ticks"] / 2  # most robot ticks got a new COMMAND (a loaded CI box misses some)
    assert sum(r["missed_by_cause"].values()) == r["missed_deadlines"]
    assert r["cpu_steal_pct"] is None or 0.0 <= r["cpu_steal_pct"] <= 100.0


def test_cpu_steal_is_read_from_proc_stat(tmp_path):
    from firmware_bridge.bench_bridge import cpu_times, steal_percent

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    before = cpu_times(str(stat))
    assert before == (35, 1000)
    stat.write_text("cpu  200 0 60 1500 10 0 5 225 0 0\n")
    assert steal_percent(before, cpu_times(str(stat))) == 19.0  # 190 of 1000 ticks
    assert cpu_times(str(tmp_path / "absent")) is None and steal_percent(None, before) is None
    stat.write_text("intr 1 2 3\n")
    assert cpu_times(str(stat)) is None


def test_bench_bridge_refuses_an_unknown_clock():
    with pytest.raises(ValueError, match="clock 'wall' is not one of robot, host"):
        bench_bridge(seconds=1.0, clock="wall")


def test_wire_budget_arithmetic():
    b = {(w["version"], w["baud"]): w for w in wire_budget(12)}
    assert b[1, 1_000_000]["state_bytes"] == 216 and b[1, 1_000_000]["state_us"] == 2160.0  # 10 bits per byte
    assert b[2, 3_000_000]["state_bytes"] == 118 and b[2, 3_000_000]["command_bytes"] == 91
    # a round trip (COMMAND, then ACK in version 2 or the next STATE in version 1) and the robot's line (STATE, and
    # ACK in version 2) within one 1 kHz period: version 2 from 2 Mbaud
    assert b[2, 3_000_000]["ack_bytes"] == 19 and b[2, 3_000_000]["min_round_trip_us"] == round(110 * 10 / 3, 1)
    assert b[2, 3_000_000]["robot_line_us_per_period"] == round(137 * 10 / 3, 1)
    assert not b[1, 3_000_000]["fits_1khz"] and b[2, 3_000_000]["fits_1khz"] and b[2, 2_000_000]["fits_1khz"]
    assert not b[2, 1_000_000]["fits_1khz"]


@pytest.mark.realtime
def test_bench_bridge_runs_against_a_robot_at_a_port(capsys):
    """`bench bridge --port URL`: the same loop against a robot already on a port, at the robot's own rate."""
    from firmware_bridge.cfirmware import CFirmware
    from firmware_bridge.virtual_robot import FirmwareConfig
    from firmware_bridge.virtual_robot_server import VirtualRobotThread
    from robot_meta.cli import main
    from sim_tasks import get_family

    fw = CFirmware(get_family("planar_arm"), config=FirmwareConfig(rate_hz=100, watchdog_ms=100, arming_s=0.1))
    with VirtualRobotThread(fw) as vr:
        assert main(["bench", "bridge", "--port", vr.port, "--baud", "1000000", "--seconds", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["rate_hz"] == 100 and r["joints"] == 3 and 90 <= r["ticks"] <= 101 and r["protocol_version"] == 2
    assert r["rtt_samples"] > 80 and fw.commands_applied >= 90


def test_missed_deadlines_are_told_apart_by_cause():
    """Hand-made stale ticks at 1 kHz: (µs of robot time since the tick before, µs between reading the two)."""
    from firmware_bridge.bench_bridge import describe_missed, missed_causes

    context = [
        (1000, 0),  # both STATEs in one read: the host did not read for a period
        (1002, 240),  # read 240 µs apart (< a quarter period): still one stalled host
        (300, 0),  # both: the host's stall is named first
        (280, 1050),  # the robot ticked 0.28 ms after a late tick, the host read each in time
        (1001, 998),  # robot on time, read in time: the COMMAND left late or the line held it
        (760, 500),
    ]
    got = missed_causes(context, 0.001)
    assert got == {"host_read_late": 3, "robot_tick_short": 1, "other": 2}
    assert missed_causes([], 0.001) == {"host_read_late": 0, "robot_tick_short": 0, "other": 0}
    assert missed_causes([(20000, 4000), (1000, 6000)], 0.02) == {"host_read_late": 1, "robot_tick_short": 1, "other": 0}
    assert describe_missed(got) == "host did not read 3, robot tick late 1, other 2"
