"""The reference C firmware (issue 19): built with the system C compiler, checked against the shared vectors,
frame for frame against the Python reference over scripted sessions with every fault path, fuzzed under
AddressSanitizer and UndefinedBehaviorSanitizer, and its watchdog timed. (The state-machine tests of
test_virtual_robot.py, test_firmware_findings.py and test_protocol_v2.py also run on it.)"""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as p
from firmware_bridge.cfirmware import FIRMWARE_DIR, CFirmware, build, load
from firmware_bridge.client import hold_command
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from sim_tasks import get_family

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())
ERRORS = {"CRC mismatch": -4, "unknown incompatible flags": -6, "protocol version 3": -5}


def test_crc_and_decoder_agree_with_the_vectors():
    lib = load()
    assert lib.rmfw_crc32c(b"123456789", 9, 0) == 0xE3069283 == VECTORS["crc32c_check"]["crc"]
    body = bytes(p.MAX_BODY)
    for vec in VECTORS["vectors"]:
        wire = bytes.fromhex(vec["wire"])[:-1]  # between delimiters
        n = lib.rmfw_decode_body(wire, len(wire), body)
        if "reject" in vec:
            assert n == ERRORS[vec["reject"]], vec["name"]
            continue
        frame = p.decode_body(wire)
        assert n == 11 + len(frame.payload) + 4, vec["name"]
        assert body[:n] == p.cobs_decode(wire), vec["name"]


def _session(cls, family: str, version: int) -> list[p.Frame]:
    """A scripted session with every path: a HELLO, a COMMAND while disarmed, a padded HEARTBEAT, ARM, the soft
    start, good COMMANDs, a replay, ESTOP, ARM while latched, DISARM, a second ARM, a COMMAND with NaN (v1) or
    the INVALID target (v2), DISARM, ARM, and the watchdog."""
    fam = get_family(family)
    fw = cls(fam, config=FirmwareConfig(rate_hz=50, watchdog_ms=100, arming_s=0.1))
    out: list[p.Frame] = []
    t = 0

    def send(mtype, seq, payload=b"", dt=0):
        nonlocal t
        t += dt
        out.extend(fw.handle(p.Frame(mtype, seq, payload, version=version), t))

    def tick(dt):
        nonlocal t
        t += dt
        out.extend(fw.tick(t))

    send(p.MsgType.HELLO, 1, p.Hello(p.SCHEMA_HASHES[version], 0, 50, version).pack())
    fmt = p.WireFormat.from_ack(p.HelloAck.unpack(out[0].payload))
    mode = p.CommandMode.POSITION if fw.position_servo else p.CommandMode.TORQUE
    hold = hold_command(fw.default_pose, 35.0, 0.6)
    hold = p.Command(mode, hold.target if mode == p.CommandMode.POSITION else np.zeros_like(hold.target), hold.kp, hold.kd)
    send(p.MsgType.COMMAND, 2, fmt.pack_command(hold))
    send(p.MsgType.HEARTBEAT, 3, b"\x00" * 5)
    send(p.MsgType.ARM, 4)
    seq = 10
    for _ in range(12):  # soft start, then active
        send(p.MsgType.COMMAND, seq, fmt.pack_command(hold), dt=7_000)
        tick(13_000)
        seq += 1
    send(p.MsgType.COMMAND, seq - 3, fmt.pack_command(hold), dt=1_000)  # a replay
    send(p.MsgType.ESTOP, 40)
    tick(20_000)
    send(p.MsgType.ARM, 41)  # ignored while latched
    send(p.MsgType.DISARM, 42)
    tick(20_000)
    send(p.MsgType.ARM, 43)
    tick(20_000)
    bad = fmt.pack_command(hold)
    if version == 1:
        bad = bad[:2] + np.float32(np.nan).tobytes() + bad[6:]
    else:
        bad = bad[:2] + np.int16(p.INVALID).tobytes() + bad[4:]
    send(p.MsgType.COMMAND, 100, bad, dt=3_000)
    send(p.MsgType.DISARM, 44)
    send(p.MsgType.ARM, 45)
    for _ in range(10):  # no COMMAND: the watchdog
        tick(20_000)
    return out


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("family", ["planar_arm", "quadruped", "planar_runner"])
def test_the_c_firmware_matches_the_python_reference_frame_for_frame(family, version):
    ref, c = _session(VirtualFirmware, family, version), _session(CFirmware, family, version)
    assert [(f.type, f.seq, f.ack_seq, f.t_dev_us, f.version, f.flags) for f in c] == [
        (f.type, f.seq, f.ack_seq, f.t_dev_us, f.version, f.flags) for f in ref
    ]
    fmt = p.WireFormat.from_ack(p.HelloAck.unpack(ref[0].payload))
    for a, b in zip(ref, c, strict=True):
        if a.type != p.MsgType.STATE:
            assert a.payload == b.payload, p.MsgType(a.type).name
            continue
        sa, sb = fmt.unpack_state(a.payload), fmt.unpack_state(b.payload)
        assert (sa.state, sa.fault) == (sb.state, sb.fault)
        for name in ("q", "dq", "tau", "quat", "gyro", "accel", "base_vel"):  # float32 targets vs float64: 1e-4
            assert np.allclose(getattr(sa, name), getattr(sb, name), atol=1e-3, equal_nan=True), name
    codes = [p.Fault.unpack(f.payload).code for f in ref if f.type == p.MsgType.FAULT]
    assert codes == [
        p.FaultCode.NOT_ARMED,
        p.FaultCode.BAD_LENGTH,
        p.FaultCode.STALE_SEQ,
        p.FaultCode.ESTOP,
        p.FaultCode.BAD_COMMAND,
        p.FaultCode.WATCHDOG,
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_decoder_and_state_machine_survive_a_fuzz_under_sanitizers(seed):
    exe = build(sanitize=True, extra=(str(FIRMWARE_DIR / "fuzz.c"),))
    res = subprocess.run([str(exe), str(seed), "4"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["corrupted"] == 60000 and out["corrupted_accepted"] == 0 and out["resync_failures"] == 0
    assert out["random_accepted"] == 0 and out["crc_errors"] > 10000 and out["oversize"] >= 200
    assert out["states"][p.FirmwareState.ACTIVE] > 0  # the fuzz reached every state


@pytest.mark.parametrize("rate_hz", [50, 1000])
def test_the_watchdog_trips_within_one_period_of_its_time(rate_hz):
    fw = CFirmware(get_family("planar_runner"), config=FirmwareConfig(rate_hz=rate_hz, watchdog_ms=150, arming_s=0.01))
    fw.handle(p.Frame(p.MsgType.ARM, 1), 0)
    period = 1_000_000 // rate_hz
    hold = p.Command(p.CommandMode.TORQUE, np.zeros(6, np.float32), np.zeros(6, np.float32), np.zeros(6, np.float32))
    t_cmd = 20_000 + period // 3  # between two ticks
    t = 0
    while t < 20_000:
        t += period
        fw.tick(t)
    fw.handle(p.Frame(p.MsgType.COMMAND, 2, hold.pack()), t_cmd)
    while fw.state != p.FirmwareState.FAULT:
        t += period
        fw.tick(t)
    late = fw.fault_at_us - t_cmd
    assert fw.fault == p.FaultCode.WATCHDOG and 150_000 < late <= 150_000 + period


def test_a_board_config_the_firmware_cannot_run_is_refused():
    import ctypes

    from firmware_bridge.cfirmware import Config, Hal, Rmfw

    lib, fw, cfg = load(), Rmfw(), Config()
    assert lib.rmfw_init(ctypes.byref(fw), ctypes.byref(cfg), ctypes.byref(Hal())) == -1  # no HAL functions


def test_without_a_compiler_auto_runs_the_python_twin_and_c_says_what_to_install(monkeypatch, capsys):
    from firmware_bridge.cfirmware import FirmwareBuildError
    from firmware_bridge.virtual_robot_server import make_firmware

    monkeypatch.setenv("CC", "/nonexistent/cc")  # as on a machine without one
    fam = get_family("planar_arm")
    assert isinstance(make_firmware(fam, firmware="auto"), VirtualFirmware)
    assert "no C compiler" in capsys.readouterr().err
    with pytest.raises(FirmwareBuildError, match="apt-get install gcc"):
        make_firmware(fam, firmware="c")
