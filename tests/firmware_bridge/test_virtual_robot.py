"""The virtual robot's firmware state machine with an injected clock: no sleeping."""

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from sim_tasks import get_family

MS = 1000  # µs


# Every firmware built here is the Python reference or the C one, per test (conftest.firmware_impl).
Firmware = VirtualFirmware
pytestmark = pytest.mark.usefixtures("firmware_impl")


def fw(watchdog_ms=60):
    return Firmware(get_family("quadruped"), config=FirmwareConfig(rate_hz=50, watchdog_ms=watchdog_ms, arming_s=0.5))


def cmd(f, target, seq, rx_us=None):
    return f.handle(
        p.Frame(
            p.MsgType.COMMAND,
            seq,
            p.Command(0, np.asarray(target, np.float32), np.full(12, 35, np.float32), np.full(12, 0.6, np.float32)).pack(),
        ),
        rx_us,
    )


def states(frames):
    return [p.State.unpack(x.payload).state for x in frames if x.type == p.MsgType.STATE]


def test_handshake_reports_the_robot():
    f = fw()
    (ack,) = f.handle(p.Frame(p.MsgType.HELLO, 1, p.Hello(p.SCHEMA_HASH, 12, 50).pack()))
    info = p.HelloAck.unpack(ack.payload)
    assert info.schema_hash == p.SCHEMA_HASH and len(info.joints) == 12 and info.joints[0].name == "FR_abduction"
    assert info.watchdog_ms == 60 and info.rate_hz == 50


def test_soft_start_then_active_then_commands_move_the_robot():
    f = fw()
    f.handle(p.Frame(p.MsgType.ARM, 1))
    t, seq, seen = 0, 0, []
    target = f.default_pose.copy()
    while t < 800 * MS:
        t += 20 * MS
        seq += 1
        cmd(f, target, seq)
        seen += states(f.tick(t))
    assert seen[0] == p.FirmwareState.ARMING and seen[-1] == p.FirmwareState.ACTIVE
    bent = target.copy()
    bent[1] += 0.3  # FR hip
    for _ in range(25):
        t += 20 * MS
        seq += 1
        cmd(f, bent, seq)
        f.tick(t)
    state = f.read_state()
    assert abs(state.q[1] - bent[1]) < 0.1 and f.commands_applied > 0
    assert f.tick(t + 20 * MS)[-1].ack_seq == seq  # STATE acknowledges the last applied command


def test_watchdog_trips_latches_and_needs_disarm_to_rearm():
    f = fw(watchdog_ms=60)
    f.handle(p.Frame(p.MsgType.ARM, 1))
    cmd(f, f.default_pose, 1)
    f.tick(20 * MS)
    out = f.tick(100 * MS)  # 100 ms since the last command > 60 ms
    faults = [p.Fault.unpack(x.payload) for x in out if x.type == p.MsgType.FAULT]
    assert faults and faults[0].code == p.FaultCode.WATCHDOG and f.state == p.FirmwareState.FAULT
    cmd(f, f.default_pose, 2)  # commands do not clear a latched fault
    f.handle(p.Frame(p.MsgType.ARM, 2))  # nor does ARM
    assert states(f.tick(120 * MS)) == [p.FirmwareState.FAULT]
    f.handle(p.Frame(p.MsgType.DISARM, 3))
    f.handle(p.Frame(p.MsgType.ARM, 4))
    assert f.state == p.FirmwareState.ARMING


def test_the_watchdog_counts_from_when_a_command_arrived_not_from_the_last_tick():
    late = fw(watchdog_ms=60)  # a command that arrived at 75 ms, read by the serving loop at 75 ms
    late.handle(p.Frame(p.MsgType.ARM, 1), 0)
    late.tick(20 * MS)
    cmd(late, late.default_pose, 1, rx_us=75 * MS)
    late.tick(100 * MS)  # 25 ms since it arrived
    assert late.state == p.FirmwareState.ARMING
    stamped = fw(watchdog_ms=60)  # the same command without its arrival time counts from the 20 ms tick
    stamped.handle(p.Frame(p.MsgType.ARM, 1))
    stamped.tick(20 * MS)
    cmd(stamped, stamped.default_pose, 1)
    stamped.tick(100 * MS)
    assert stamped.state == p.FirmwareState.FAULT and stamped.fault == p.FaultCode.WATCHDOG
    old = fw(watchdog_ms=60)  # an arrival stamp older than the last tick is clamped to it: time never runs back
    old.handle(p.Frame(p.MsgType.ARM, 1))
    old.tick(20 * MS)
    cmd(old, old.default_pose, 1, rx_us=0)
    assert old.last_cmd_us == 20 * MS


def test_heartbeats_do_not_feed_the_watchdog_and_estop_latches():
    f = fw(watchdog_ms=60)
    f.handle(p.Frame(p.MsgType.ARM, 1))
    cmd(f, f.default_pose, 1)
    for t in (20, 40, 60, 80):
        f.handle(p.Frame(p.MsgType.HEARTBEAT, t))
        f.tick(t * MS)
    assert f.state == p.FirmwareState.FAULT and f.fault == p.FaultCode.WATCHDOG
    g = fw()
    g.handle(p.Frame(p.MsgType.ARM, 1))
    (fault,) = g.handle(p.Frame(p.MsgType.ESTOP, 2))
    assert p.Fault.unpack(fault.payload).code == p.FaultCode.ESTOP and g.state == p.FirmwareState.FAULT


def _active(f):
    """ARM, then the soft start fed by COMMANDs every 20 ms until ACTIVE; returns the next seq and time."""
    f.handle(p.Frame(p.MsgType.ARM, 1))
    t, seq = 0, 1
    while f.state != p.FirmwareState.ACTIVE:
        t += 20 * MS
        cmd(f, f.default_pose, seq, rx_us=t)
        f.tick(t)
        seq += 1
    return seq, t


def test_bad_commands_fault_and_targets_are_clamped_to_joint_limits():
    f = fw()
    seq, t = _active(f)
    too_far = f.default_pose.copy()
    too_far[2] = -10.0  # knee far past its limit
    cmd(f, too_far, seq, rx_us=t + MS)
    assert f.data.ctrl[2] == pytest.approx(f.lo[2], abs=1e-6)  # float32 on the wire
    (fault,) = f.handle(
        p.Frame(
            p.MsgType.COMMAND,
            seq + 1,
            p.Command(0, np.ones(5, np.float32), np.ones(5, np.float32), np.ones(5, np.float32)).pack(),
        )
    )
    assert p.Fault.unpack(fault.payload).code == p.FaultCode.BAD_COMMAND


def test_fault_damps_the_joints():
    f = fw()
    f.handle(p.Frame(p.MsgType.ESTOP, 1))
    assert f.state == p.FirmwareState.FAULT
    f.data.qvel[6:] = 3.0
    f.tick(4 * MS)
    assert np.all(np.sign(f.data.qfrc_applied[6:]) == -1)


def test_the_sensor_cache_is_exact_within_a_physics_step_and_follows_every_change():
    """1 kHz ticks on a 4 ms physics step read the same physics several times: the cached read equals a fresh one,
    and any change of the physics (a step, a pose written directly) is read anew."""
    fam = get_family("quadruped")
    fw = VirtualFirmware(fam, config=FirmwareConfig())

    def fresh() -> list[np.ndarray]:
        return list(fw._sense())

    def cached() -> list[np.ndarray]:
        s = fw.read_state()
        return [s.q, s.dq, s.tau, s.quat, s.gyro, s.accel, s.base_vel]

    fw._disable(False)
    fw.data.ctrl[:] = 0.3
    fw.step_physics(0.02, False)
    first = cached()
    fw.step_physics(0.001, False)  # a quarter of a MuJoCo step: nothing moved
    assert all(np.array_equal(a, b) for a, b in zip(first, cached(), strict=True))
    fw.step_physics(0.004, False)  # a step
    moved = cached()
    assert not np.array_equal(first[0], moved[0]) and all(np.array_equal(a, b) for a, b in zip(moved, fresh(), strict=True))
    fw.data.qpos[fw.qpos_adr[0]] += 0.1  # written directly, same physics time
    assert cached()[0][0] == pytest.approx(moved[0][0] + 0.1, abs=1e-6)
