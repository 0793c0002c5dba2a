"""End to end over a real pty (a serial device to pyserial) and TCP: the host against the virtual robot."""

import threading
import time

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.client import Expected, HandshakeError, RobotClient, hold_command
from firmware_bridge.link import Link, LinkError
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import Endpoint, FaultSpec, open_pty, serve
from sim_tasks import get_family


def start(faults="", rate=100, baud=3_000_000, duration=20.0):
    fam = get_family("quadruped")
    fw = VirtualFirmware(fam, config=FirmwareConfig(rate_hz=rate, watchdog_ms=100, arming_s=0.2))
    master, slave, path = open_pty()
    stop = threading.Event()
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault("stats", serve(fw, Endpoint(fd=master), baud, FaultSpec.parse(faults), duration, stop)),
        daemon=True,
    )
    t.start()
    return fw, path, stop, t, box, slave


def expected_of(fw):
    ack = fw.hello_ack()
    return Expected(tuple(j.name for j in ack.joints), tuple((j.pos_min, j.pos_max) for j in ack.joints), ack.rate_hz)


def test_handshake_arm_command_estop_over_a_pty():
    fw, path, stop, t, _box, _ = start()
    client = RobotClient(path, expected_of(fw), baud=3_000_000)
    try:
        ack = client.connect()
        assert len(ack.joints) == 12
        state = client.arm(hold_command(fw.default_pose, 35, 0.6), timeout=3.0)
        assert state.state == p.FirmwareState.ACTIVE
        target = fw.default_pose.copy()
        target[4] += 0.3
        for _ in range(40):
            client.command(hold_command(target, 35, 0.6))
            time.sleep(0.01)
        state, age, _ = client.latest()
        assert abs(state.q[4] - target[4]) < 0.1 and age < 0.1
        client.estop()
        client.link.wait_state(lambda s: s.state == p.FirmwareState.FAULT and s.fault == p.FaultCode.ESTOP, 1.0)
        stats = client.link.stats.summary()
        assert stats["rtt_samples"] > 10 and stats["crc_errors"] == 0 and stats["seq_gaps"] == 0
    finally:
        client.close()
        stop.set()
        t.join(2)


def test_handshake_refuses_a_different_robot():
    fw, path, stop, t, _, _ = start()
    exp = expected_of(fw)
    names = list(exp.joint_names)
    names[3] = "FL_shoulder"
    try:
        with pytest.raises(HandshakeError, match="joint 3 is 'FL_abduction' on the robot but 'FL_shoulder' in the policy"):
            RobotClient(path, Expected(tuple(names), None, exp.rate_hz)).connect()
        with pytest.raises(HandshakeError, match="robot has 12 joints, the policy expects 6"):
            RobotClient(path, Expected(exp.joint_names[:6], None, None)).connect()
        with pytest.raises(HandshakeError, match="robot runs at 100 Hz, the policy at 50 Hz"):
            RobotClient(path, Expected(exp.joint_names, None, 50)).connect()
        assert fw.state == p.FirmwareState.DISARMED
    finally:
        stop.set()
        t.join(2)


def test_faults_are_counted_and_nothing_crashes():
    _fw, path, stop, t, box, _ = start(faults="drop=0.05,corrupt=0.05,stall=0.8:0.3")
    link = Link(path, 3_000_000)
    try:
        link.send(p.MsgType.HELLO, p.Hello(p.SCHEMA_HASH, 12, 100).pack())
        time.sleep(1.5)
        s = link.stats.summary()
        assert s["frames_rx"] > 50
        assert s["seq_gaps"] > 0  # drops and corrupted frames show up as gaps
        assert s["crc_errors"] + s["cobs_errors"] + s["short"] > 0
    finally:
        link.close()
        stop.set()
        t.join(2)
    stats = box["stats"]
    assert stats.dropped > 0 and stats.corrupted > 0


def test_a_disconnect_is_reported_and_reconnect_comes_back_disarmed():
    fw, path, _stop, t, _box, _slave = start(faults="disconnect=0.5")
    client = RobotClient(path, expected_of(fw), baud=3_000_000)
    try:
        client.connect()
        t.join(3)  # the firmware side closed its end
        with pytest.raises(LinkError):
            client.link.wait_for(p.MsgType.HELLO_ACK, 0.5)
    finally:
        client.close()
    fw2, path2, stop2, t2, _, _ = start()
    client2 = RobotClient(path2, expected_of(fw2), baud=3_000_000)
    try:
        client2.reconnect()
        time.sleep(0.1)
        assert fw2.state == p.FirmwareState.DISARMED
    finally:
        client2.close()
        stop2.set()
        t2.join(2)


def test_link_works_over_loop_url():
    link = Link("loop://", 115200)
    try:
        link.send(p.MsgType.STATE, p.State(0, *(np.zeros(k, np.float32) for k in (2, 2, 2, 4, 3, 3, 3))).pack())
        deadline = time.monotonic() + 1
        while link.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        state, _, seq = link.latest()
        assert seq == 1 and len(state.q) == 2
    finally:
        link.close()


def test_payload_schedule_in_faults_changes_the_robot_over_the_pty():
    fw, path, stop, t, _, _ = start(faults="payload=0.3:4.0")
    link = Link(path, 3_000_000)
    try:
        assert fw.sim.payload_mass == 0.0
        time.sleep(0.8)
        assert fw.sim.payload_mass == 4.0
    finally:
        link.close()
        stop.set()
        t.join(2)


def test_latency_timer_check_warns_above_2_ms(tmp_path):
    from firmware_bridge.link import check_latency_timer

    (tmp_path / "ttyUSB7").mkdir()
    (tmp_path / "ttyUSB7" / "latency_timer").write_text("16\n")
    with pytest.warns(UserWarning, match="latency timer is 16 ms"):
        assert check_latency_timer("/dev/ttyUSB7", sysfs=str(tmp_path)) == 16
    (tmp_path / "ttyUSB7" / "latency_timer").write_text("1\n")
    assert check_latency_timer("/dev/ttyUSB7", sysfs=str(tmp_path)) == 1
    assert check_latency_timer("/dev/pts/3", sysfs=str(tmp_path)) is None


def test_tick_clock_places_the_robots_tick_from_its_states_by_hand():
    from firmware_bridge.link import TickClock

    clock = TickClock(window=4)
    # t_dev (µs on the firmware clock) and host arrival (s): offsets 4.9996, 4.9995, 4.9997 -> earliest 4.9995
    for t_dev, at in ((1000, 5.0006), (2000, 5.0015), (3000, 5.0027)):
        clock.observe(t_dev, at)
    assert not clock.ready  # fewer STATEs than the window's minimum
    # the newest tick (3 ms) arrives at the earliest at 5.0025; the next tick's at 5.0035, then 5.0045
    assert clock.next_arrival(5.0030, 0.001) == pytest.approx(5.0035)
    assert clock.next_arrival(5.0036, 0.001) == pytest.approx(5.0045)
    assert clock.next_arrival(4.0, 0.001) == pytest.approx(5.0025)  # never before the newest tick's
    clock.observe(4000, 5.0030)  # an early one moves the phase: offset 4.9990; the oldest offset leaves the window
    assert clock.next_arrival(5.0030, 0.001) == pytest.approx(5.0040)
    assert clock.ready
    # the firmware's 32-bit µs clock wraps: 1000 µs later is still 1000 µs later
    wrap = TickClock()
    wrap.observe(0xFFFFFC18, 10.0)
    wrap.observe(0x00000000, 10.001)
    assert wrap.next_arrival(10.0005, 0.001) == pytest.approx(10.001)


def test_stale_ticks_count_robot_periods_without_a_new_command():
    """Missed deadlines as the robot saw them: a tick STATE whose ack_seq equals the tick STATE's before it. ACKs
    time round trips and never count."""
    link = Link("loop://")
    try:
        z = np.zeros(2, np.float32)
        three = np.zeros(3, np.float32)
        body = p.State(2, z, z, z, np.zeros(4, np.float32), three, three, three).pack()
        frames = [(p.MsgType.STATE, 5), (p.MsgType.STATE, 6), (p.MsgType.STATE, 6), (p.MsgType.ACK, 7)]
        frames += [(p.MsgType.STATE, 7), (p.MsgType.STATE, 7), (p.MsgType.STATE, 8)]
        for k, (mtype, ack) in enumerate(frames):
            payload = body if mtype == p.MsgType.STATE else p.Ack(2).pack()
            link._dispatch(p.Frame(mtype, k + 1, payload, t_dev_us=1000 * k, ack_seq=ack), 1.0 + 0.001 * k)
        assert link.stats.stale_ticks == 2 and link.stats.summary()["stale_ticks"] == 2
        # each stale tick keeps the robot's and the host's spacing of the two STATEs (1 ms apart both ways here)
        assert [(r, pytest.approx(h)) for r, h in link.stats.stale_context] == [(1000, 1000.0), (1000, 1000.0)]
        assert link.stale_snapshot() == (2, list(link.stats.stale_context))  # the count and its causes together
        assert link.stale_snapshot(clear=True)[0] == 2 and link.stale_snapshot() == (2, [])  # a new measurement
        assert link.acked[0].ack_seq == 7
    finally:
        link.close()
