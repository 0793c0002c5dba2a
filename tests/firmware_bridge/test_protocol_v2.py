"""Protocol version 2 (issue 19): fixed-point STATE and COMMAND at scales the firmware declares, an ACK answering
each applied COMMAND at once, version 1 still understood, and what cannot be read refused by name."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.cfirmware import CFirmware
from firmware_bridge.client import HandshakeError, RobotClient, check_robot, hold_command
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from sim_tasks import get_family

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


# Every firmware built here is the Python reference or the C one, per test (conftest.firmware_impl).
Firmware = VirtualFirmware
pytestmark = pytest.mark.usefixtures("firmware_impl")


def _fw(rate_hz: int = 100) -> VirtualFirmware:
    return Firmware(get_family("quadruped"), config=FirmwareConfig(rate_hz=rate_hz, watchdog_ms=100, arming_s=0.05))


def _hello(fw: VirtualFirmware, version: int) -> p.HelloAck:
    (ack,) = fw.handle(
        p.Frame(p.MsgType.HELLO, 1, p.Hello(p.SCHEMA_HASHES[version], 12, 100, version).pack(), version=version)
    )
    assert ack.version == version  # answered in the HELLO's own version
    return p.HelloAck.unpack(ack.payload)


def _active(fw: VirtualFirmware, version: int) -> tuple[p.WireFormat, p.Command, int]:
    """Handshake in `version`, ARM, soft start fed by COMMANDs until ACTIVE; returns the format, a hold and t."""
    fmt = p.WireFormat.from_ack(_hello(fw, version))
    hold = hold_command(fw.default_pose, 35.0, 0.6)
    fw.handle(p.Frame(p.MsgType.ARM, 2, version=version), 0)
    t, seq = 0, 10
    while fw.state != p.FirmwareState.ACTIVE:
        t += 10_000
        fw.handle(p.Frame(p.MsgType.COMMAND, seq, fmt.pack_command(hold), version=version), t)
        fw.tick(t)
        seq += 1
    return fmt, hold, t


def test_fixed_point_round_trips_within_half_a_step_saturates_and_marks_a_failed_sensor():
    fw = _fw()
    fmt = p.WireFormat.from_ack(_hello(fw, 2))
    sc = fmt.scales
    assert fw.format == fmt and len(sc.q) == 12 and sc.kp[0] == pytest.approx(0.01)
    rng = np.random.default_rng(0)
    r = fw.read_state()
    u = lambda k, lim: rng.uniform(-lim, lim, k).astype(np.float32)  # noqa: E731
    s = p.State(r.state, u(12, 3), u(12, 90), u(12, 20), r.quat, u(3, 30), u(3, 100), u(3, 15))
    back = fmt.unpack_state(fmt.pack_state(s))
    for name, lsb in (("q", sc.q), ("dq", sc.dq), ("tau", sc.tau)):
        assert np.all(np.abs(getattr(back, name) - getattr(s, name)) <= 0.5 * np.asarray(lsb) + 1e-7), name
    assert (
        np.abs(back.quat - s.quat).max() <= 0.5 / 32767 + 1e-7 and np.abs(back.accel - s.accel).max() <= 0.5 * sc.accel + 1e-6
    )
    assert len(fmt.pack_state(s)) == fmt.state_bytes(12) == 3 + 2 * 49  # 101 bytes, half of version 1's 199
    # a failed sensor stays "not a number"; out-of-range values saturate instead of wrapping
    odd = p.State(
        3,
        *(np.asarray(v, np.float32) for v in ([np.nan] + [1e6] * 11, [-1e6] * 12, [np.inf] * 12)),
        s.quat,
        s.gyro,
        s.accel,
        s.base_vel,
    )
    back = fmt.unpack_state(fmt.pack_state(odd))
    assert np.isnan(back.q[0]) and back.q[1] == pytest.approx(32767 * sc.q[1], rel=1e-6)
    assert back.dq[0] == pytest.approx(-32767 * sc.dq[0], rel=1e-6) and back.tau[0] == pytest.approx(
        32767 * sc.tau[0], rel=1e-6
    )
    # COMMAND: targets within half a step, gains exact at their scale, non-finite never encoded
    c = p.Command(0, rng.uniform(-1, 1, 12).astype(np.float32), np.full(12, 35.0, np.float32), np.full(12, 0.6, np.float32))
    back = fmt.unpack_command(fmt.pack_command(c))
    assert np.abs(back.target - c.target).max() <= 0.5 * sc.q[0] + 1e-7
    assert np.allclose(back.kp, 35.0) and np.allclose(back.kd, 0.6) and len(fmt.pack_command(c)) == fmt.command_bytes(12) == 74
    with pytest.raises(p.ProtocolError, match="target holds a non-finite value"):
        fmt.pack_command(p.Command(0, np.full(12, np.nan, np.float32), c.kp, c.kd))
    with pytest.raises(p.ProtocolError, match="for 11 joints; the handshake declared 12"):
        fmt.pack_command(p.Command(0, c.target[:11], c.kp[:11], c.kd[:11]))


def test_hello_ack_v2_declares_modes_and_scales_and_bad_scales_are_refused():
    fw = _fw()
    ack = _hello(fw, 2)
    mode = p.CommandMode.POSITION if fw.position_servo else p.CommandMode.TORQUE  # the quadruped's are servos
    assert ack.proto_version == 2 and ack.schema_hash == p.SCHEMA_HASH_V2 and ack.modes == 1 << mode
    assert p.HelloAck.unpack(ack.pack()) == ack
    raw = bytearray(ack.pack())
    raw[-4:] = np.float32(-1.0).tobytes()  # the velocity scale
    with pytest.raises(p.ProtocolError, match=r"scale -1\.0 is not a positive finite number"):
        p.HelloAck.unpack(bytes(raw))
    v1 = _hello(_fw(), 1)  # the same robot answers a version 1 HELLO in version 1's layout
    assert v1.proto_version == 1 and v1.scales is None and v1.schema_hash == p.SCHEMA_HASH


def test_v2_answers_each_applied_command_with_an_ack_at_once_and_every_tick_still_reports():
    fw = _fw(rate_hz=100)  # period 10 ms
    fmt, hold, t = _active(fw, 2)
    t += 3_000  # a COMMAND 3 ms after the last tick
    out = fw.handle(p.Frame(p.MsgType.COMMAND, 500, fmt.pack_command(hold), version=2), t)
    (ack,) = [f for f in out if f.type == p.MsgType.ACK]
    assert [f.type for f in out] == [p.MsgType.ACK]  # no STATE in answer: the line keeps room for the tick's
    assert ack.version == 2 and ack.ack_seq == 500 and ack.t_dev_us == t and ack.flags == 0  # applied at arrival
    assert p.Ack.unpack(ack.payload) == p.Ack(p.FirmwareState.ACTIVE, p.FaultCode.NONE)
    assert len(p.encode_frame(ack)) == 19  # 63 µs at 3 Mbaud
    (tick,) = [f for f in fw.tick(t + 7_000) if f.type == p.MsgType.STATE]  # the tick's own: sensors as of the tick
    assert tick.t_dev_us == t + 7_000 and tick.ack_seq == 500 and tick.flags == 0
    # version 1 keeps its timing: STATE at every tick, none in answer to a COMMAND
    fw1 = _fw(rate_hz=100)
    fmt1, hold1, t1 = _active(fw1, 1)
    assert fw1.handle(p.Frame(p.MsgType.COMMAND, 500, fmt1.pack_command(hold1)), t1 + 3_000) == []
    assert [f for f in fw1.tick(t1 + 10_000) if f.type == p.MsgType.STATE]


@pytest.mark.parametrize(
    "case",
    ["v1_layout_in_a_v2_session", "invalid_target", "trailing_bytes"],
)
def test_v2_commands_that_cannot_be_read_latch_bad_command(case):
    fw = _fw()
    fmt, hold, t = _active(fw, 2)
    payload, version = fmt.pack_command(hold), 2
    if case == "v1_layout_in_a_v2_session":
        payload, version = hold.pack(), 1
    elif case == "invalid_target":
        payload = payload[:2] + np.int16(p.INVALID).tobytes() + payload[4:]
    else:
        payload += b"\x00\x00"
    out = fw.handle(p.Frame(p.MsgType.COMMAND, 900, payload, version=version), t + 1000)
    (fault,) = [f for f in out if f.type == p.MsgType.FAULT]
    assert p.Fault.unpack(fault.payload) == p.Fault(p.FaultCode.BAD_COMMAND, 900) and fw.state == p.FirmwareState.FAULT
    assert fault.ack_seq != 900  # not applied


def test_check_robot_names_the_version_and_the_schema():
    ack = _hello(_fw(), 2)
    check_robot(ack, None, asked=2)
    with pytest.raises(HandshakeError, match="answered a version 1 HELLO with protocol version 2"):
        check_robot(ack, None, asked=1)
    bad = p.HelloAck(p.SCHEMA_HASH, ack.watchdog_ms, ack.rate_hz, ack.joints, 2, ack.modes, ack.scales)
    with pytest.raises(HandshakeError, match=r"schema hash .*\(protocol version 2\)"):
        check_robot(bad, None, asked=2)


class _V1OnlyFirmware(VirtualFirmware):
    """A firmware built before version 2: its decoder drops version 2 frames unread (docs/protocol.md)."""

    def handle(self, frame, rx_us=None):
        return [] if frame.version != 1 else super().handle(frame, rx_us)


@pytest.mark.parametrize("firmware", [VirtualFirmware, CFirmware, _V1OnlyFirmware], ids=["v2_robot", "c_robot", "v1_robot"])
def test_the_client_speaks_v2_and_falls_back_to_v1_end_to_end_over_a_pty(firmware):
    fam = get_family("quadruped")
    # a watchdog far longer than the 5 ms between COMMANDs: this test is about the handshake and the frames, and it
    # runs beside other tests (not `realtime`), where a 100 ms watchdog faulted once in a fresh-clone suite
    fw = firmware(fam, config=FirmwareConfig(rate_hz=200, watchdog_ms=1000, arming_s=0.05))
    with VirtualRobotThread(fw) as vr:
        client = RobotClient(vr.port)
        ack = client.connect(timeout=1.5)
        want = 1 if firmware is _V1OnlyFirmware else 2
        assert ack.proto_version == want and client.link.format.version == want and fw.format.version == want
        hold = hold_command(fw.default_pose, 35.0, 0.6)
        client.arm(hold, timeout=3.0)
        done = threading.Event()
        for _ in range(40):
            client.command(hold)
            done.wait(0.005)
        state, _, _ = client.latest()
        assert state.state == p.FirmwareState.ACTIVE and fw.commands_applied >= 30
        if want == 2:  # each COMMAND ACKed; the controller's STATE is the tick's
            assert client.link.acked is not None and client.link.acked[0].ack_seq == client.link.last_ack
        else:
            assert client.link.acked is None  # version 1 has no ACK
        assert np.abs(state.q - fw.data.qpos[fw.qpos_adr]).max() < 0.05  # what the host reads is the robot's pose
        client.disarm()
        client.close()


def test_version_2_vectors_decode_with_their_declared_scales():
    by = {v["name"]: v for v in VECTORS["vectors"]}
    (ack_frame,) = p.FrameDecoder().feed(bytes.fromhex(by["hello_ack_v2"]["wire"]))
    fmt = p.WireFormat.from_ack(p.HelloAck.unpack(ack_frame.payload))
    assert fmt.scales.q[0] == pytest.approx(by["hello_ack_v2"]["fields"]["q_scale"], rel=1e-6)
    (cmd,) = p.FrameDecoder().feed(bytes.fromhex(by["command_12_v2"]["wire"]))
    raw = np.frombuffer(cmd.payload, "<i2", count=12, offset=2)
    assert raw.tolist() == by["command_12_v2"]["fields"]["target_raw"] and cmd.version == 2
    (st,) = p.FrameDecoder().feed(bytes.fromhex(by["state_12_v2"]["wire"]))
    assert np.allclose(fmt.unpack_state(st.payload).q, by["state_12_v2"]["fields"]["q"], atol=1e-6)
    assert len(bytes.fromhex(by["state_12_v2"]["wire"])) == 118  # on the wire, 12 joints (version 1: 216)
