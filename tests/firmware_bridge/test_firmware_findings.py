"""What an independent client found the robot side accepting or stalling on (issue 19), each pinned: the virtual
robot's firmware refuses and reports, keeps ticking when nobody reads, and bounds its work per tick."""

import os
import struct
import threading
import time

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import Endpoint, FaultSpec, VirtualRobotThread, open_pty, serve
from robot_meta.cli import main
from sim_tasks import get_family

N = 6  # the runner's joints (torque motors, gears 120, 90, 60, 90, 60, 30 N m)


# Every firmware built here is the Python reference or the C one, per test (conftest.firmware_impl).
Firmware = VirtualFirmware
pytestmark = pytest.mark.usefixtures("firmware_impl")


def firmware(arming_s: float = 0.05) -> VirtualFirmware:
    return Firmware(get_family("planar_runner"), config=FirmwareConfig(rate_hz=20, watchdog_ms=150, arming_s=arming_s))


def command(seq: int, target=None, kp=None, kd=None, mode=p.CommandMode.TORQUE, extra: bytes = b"") -> p.Frame:
    z = np.zeros(N, np.float32)
    cmd = p.Command(
        mode, z if target is None else np.asarray(target, np.float32), z if kp is None else kp, z if kd is None else kd
    )
    return p.Frame(p.MsgType.COMMAND, seq, cmd.pack() + extra)


def active(fw: VirtualFirmware) -> VirtualFirmware:
    """Armed, soft start over, one COMMAND (seq 1) accepted."""
    fw.handle(p.Frame(p.MsgType.ARM, 0))
    fw.tick(100_000)  # past the 50 ms soft start
    assert fw.state == p.FirmwareState.ACTIVE
    assert fw.handle(command(1), rx_us=100_000) == []
    return fw


def faults(frames: list[p.Frame]) -> list[p.Fault]:
    return [p.Fault.unpack(f.payload) for f in frames if f.type == p.MsgType.FAULT]


@pytest.mark.parametrize(
    "bad",
    [
        {"kp": np.full(N, np.nan, np.float32)},
        {"kd": np.full(N, np.inf, np.float32)},
        {"target": np.full(N, np.nan, np.float32)},
        {"extra": b"\x00"},
        {"extra": bytes(48)},
        {"mode": 2},
        {"mode": 255},
        {"mode": p.CommandMode.POSITION},  # the runner's motors are torque motors
    ],
)
def test_a_bad_command_latches_fault_with_a_frame_saying_why_and_ack_seq_stays_honest(bad):
    fw = active(firmware())
    out = fw.handle(command(2, **bad))
    assert [(f.code, f.detail) for f in faults(out)] == [(p.FaultCode.BAD_COMMAND, 2)]
    assert fw.state == p.FirmwareState.FAULT and fw.commands_applied == 1  # only seq 1 was applied
    assert p.State.unpack(fw.tick(200_000)[-1].payload).state == p.FirmwareState.FAULT
    assert fw.tick(250_000)[-1].ack_seq == 1  # the rejected seq 2 is not acknowledged as applied


def test_replayed_and_out_of_order_commands_are_refused_reported_and_not_latched():
    fw = active(firmware())
    assert fw.handle(command(5)) == []  # a gap (frames lost) is fine
    for seq in (5, 4, 1, 5 + 0x8000):  # a duplicate, older ones, and one half the sequence space back
        out = fw.handle(command(seq, target=np.full(N, 30.0)))
        assert [(f.code, f.detail) for f in faults(out)] == [(p.FaultCode.STALE_SEQ, seq)]
    assert fw.state == p.FirmwareState.ACTIVE and fw.commands_applied == 2 and fw.refused == {"STALE_SEQ": 4}
    assert fw.tick(200_000)[-1].ack_seq == 5  # never backwards
    assert fw.handle(command(6)) == [] and fw.commands_applied == 3  # the sequence goes on


def test_commands_while_not_armed_and_frames_of_the_wrong_length_are_reported():
    fw = firmware()
    out = fw.handle(command(7))
    assert [(f.code, f.detail) for f in faults(out)] == [(p.FaultCode.NOT_ARMED, 7)] and fw.commands_applied == 0
    for mtype, payload in ((p.MsgType.HEARTBEAT, bytes(300)), (p.MsgType.ARM, b"\x01"), (p.MsgType.HELLO, bytes(3))):
        out = fw.handle(p.Frame(mtype, 9, payload))
        assert [(f.code, f.detail) for f in faults(out)] == [(p.FaultCode.BAD_LENGTH, 9)], mtype
    assert fw.state == p.FirmwareState.DISARMED and fw.arm_requests == 0  # the padded ARM did nothing


def test_a_body_over_the_limit_is_refused_even_when_its_crc_is_right():
    for size in (1025, 1029):
        payload = bytes(size - p.HEADER.size - p.CRC_SIZE)
        body = p.HEADER.pack(p.VERSION, p.MsgType.COMMAND, 0, 1, 0, 0) + payload
        body += struct.pack("<I", p.crc32c(body))
        dec = p.FrameDecoder()
        assert dec.feed(p.cobs_encode(body) + b"\x00") == [] and dec.stats.oversize == 1, size


def test_state_reports_joint_torque_in_newton_metres():
    fw = active(firmware())
    target = np.array([60.0, 0, 0, 0, 0, 0])  # N m at the back thigh (gear 120)
    fw.handle(command(2, target=target), rx_us=100_000)
    state = p.State.unpack(fw.tick(110_000)[-1].payload)
    assert state.tau[0] == pytest.approx(60.0, rel=1e-5)


@pytest.mark.realtime
def test_a_robot_nobody_reads_keeps_ticking_and_its_watchdog_trips_on_time():
    """The host arms, sends one COMMAND and never reads: the firmware's writes fail (dropped, counted) instead
    of blocking, so it faults 150 ms (+ at most a period) after that COMMAND and stops at --duration."""
    fw = Firmware(get_family("planar_runner"), config=FirmwareConfig(rate_hz=500, watchdog_ms=150, arming_s=0.05))
    master, slave, _ = open_pty()  # 500 Hz: 3 s of STATE (300 kB) is more than a pty buffers
    stats = {}

    def run():
        stats["s"] = serve(fw, Endpoint(fd=master), 1_000_000, FaultSpec(), duration=3.0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    os.write(slave, p.encode_frame(p.Frame(p.MsgType.ARM, 1)))
    time.sleep(0.3)  # soft start done
    os.write(slave, p.encode_frame(command(2)))
    t_cmd_us = fw.now_us
    thread.join(timeout=6.0)
    os.close(slave)
    os.close(master)
    assert not thread.is_alive(), "the firmware blocked"
    s = stats["s"]
    assert fw.state == p.FirmwareState.FAULT and fw.fault == p.FaultCode.WATCHDOG
    assert s.ticks >= 1000 and s.tx_dropped > 0  # it kept ticking; what did not fit was dropped
    assert fw.fault_at_us - t_cmd_us <= 150_000 + 2_000 + 20_000  # watchdog + one period + scheduling slack


@pytest.mark.realtime
def test_a_hello_flood_does_not_starve_the_commands():
    """40 HELLOs per period beside the COMMAND: HELLOs past the per-tick budget are dropped, COMMANDs are not,
    so no false watchdog."""
    from firmware_bridge.link import Link

    fw = firmware(arming_s=0.05)
    hello = p.Hello(p.SCHEMA_HASH, N, 20).pack()
    with VirtualRobotThread(fw) as vr:
        link = Link(vr.port, baud=1_000_000)
        try:
            link.send(p.MsgType.ARM)
            t_end = time.monotonic() + 2.0
            while time.monotonic() < t_end:
                for _ in range(40):
                    link.send(p.MsgType.HELLO, hello)
                link.send(p.MsgType.COMMAND, command(0).payload)
                time.sleep(0.05)
            state = fw.state
        finally:
            link.close()
    assert state == p.FirmwareState.ACTIVE and fw.commands_applied >= 20, (state, fw.fault, fw.commands_applied)
    assert vr.stats.rx_dropped > 0  # the HELLOs past the budget


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--rate", "0"], "--rate: 0 must be an integer >= 1"),
        (["--rate", "70000"], "--rate 70000 is outside [1, 10000]"),
        (["--watchdog-ms", "70000"], "--watchdog-ms 70000 is outside [1, 65535]"),
        (["--arming-s", "-1"], "--arming-s -1.0 must be a soft start of (0, 60] s"),
        (["--arming-s", "nan"], "--arming-s nan must be"),
        (["--duration", "nan"], "--duration: nan must be a finite number > 0"),
        (["--tcp", "99999"], "--tcp 99999 is not a TCP port"),
    ],
)
def test_virtual_robot_options_are_checked_before_it_starts(capsys, flags, named):
    try:
        code = main(["virtual-robot", "--task", "planar_runner", *flags])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
