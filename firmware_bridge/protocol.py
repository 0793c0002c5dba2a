"""The wire protocol between the robot computer and the robot's firmware: pure encode/decode, no I/O.

Written down in docs/protocol.md with test vectors (tests/firmware_bridge/vectors.json) that firmware in
C checks against. Everything is little-endian.

    on the wire:  COBS(body) 0x00
    body:         header (11 B) | payload (n B) | crc32c (4 B, over header and payload)
    header:       version u8 | type u8 | flags u8 | seq u16 | t_dev_us u32 | ack_seq u16

- COBS framing: the body never contains 0x00, so a receiver resynchronizes at the next delimiter after
  any garbage. Frames longer than `MAX_ENCODED` are dropped before decoding.
- CRC-32C (Castagnoli) over header and payload: a corrupted frame is never accepted as another one.
- flags: the low nibble holds compatible bits (unknown ones are ignored), the high nibble incompatible
  bits (a frame with an unknown one is dropped), MAVLink's rule.
- seq: per direction, 16 bits, wraps; t_dev_us: the firmware's monotonic clock (host frames send 0);
  ack_seq: in firmware frames, the seq of the last command the firmware applied (round-trip time and
  stale-command detection); in host frames, the last STATE seq the host consumed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

VERSION = 1
HEADER = struct.Struct("<BBBHIH")  # version, type, flags, seq, t_dev_us, ack_seq: 11 bytes
CRC_SIZE = 4
MAX_BODY = 1024  # bytes, header + payload + crc: 12 joints of STATE is 216
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 2  # the longest COBS encoding of MAX_BODY, plus margin
INCOMPATIBLE_MASK = 0xF0
KNOWN_INCOMPATIBLE = 0x00  # none defined in version 1


class ProtocolError(ValueError):
    """A frame or payload that does not decode; the message says which check failed, and `kind` names the
    `DecoderStats` counter it is counted under."""

    def __init__(self, message: str, kind: str = "short") -> None:
        super().__init__(message)
        self.kind = kind


class MsgType(IntEnum):
    HELLO = 1  # host -> firmware
    HELLO_ACK = 2  # firmware -> host
    STATE = 3  # firmware -> host, every control period
    COMMAND = 4  # host -> firmware, every control period; the only message that feeds the watchdog
    ARM = 5  # host -> firmware
    DISARM = 6  # host -> firmware
    ESTOP = 7  # host -> firmware: latches FAULT until DISARM then ARM
    HEARTBEAT = 8  # both ways, from inside the control loop
    FAULT = 9  # firmware -> host


class FirmwareState(IntEnum):
    DISARMED = 0  # zero torque
    ARMING = 1  # soft start: interpolating to the default pose
    ACTIVE = 2  # following COMMANDs
    FAULT = 3  # damping, latched (watchdog, e-stop, limit); re-arm needs DISARM then ARM


class FaultCode(IntEnum):
    NONE = 0
    WATCHDOG = 1  # no COMMAND within the watchdog period
    ESTOP = 2
    JOINT_LIMIT = 3
    BAD_COMMAND = 4  # wrong joint count or length, a non-finite value, a mode the robot does not run: latched
    NOT_ARMED = 5  # COMMAND while DISARMED or in FAULT: refused and reported (detail = its seq), not latched
    STALE_SEQ = 6  # COMMAND whose seq is not ahead of the last accepted one (a replay): refused, reported, not latched
    BAD_LENGTH = 7  # a frame other than COMMAND with a payload of the wrong length: ignored, reported (detail = seq)


# Payload length of each host -> firmware message with a fixed size (COMMAND: 2 + 12 n bytes for n joints).
HOST_PAYLOAD_BYTES = {1: 8, 5: 0, 6: 0, 7: 0, 8: 0}  # HELLO, ARM, DISARM, ESTOP, HEARTBEAT


class CommandMode(IntEnum):
    POSITION = 0  # target = joint position (rad), with per-joint kp, kd
    TORQUE = 1  # target = joint torque (N m); gains ignored


# ---- CRC-32C ---------------------------------------------------------------------------------------
def _crc_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c_py(data: bytes, crc: int = 0) -> int:
    """CRC-32C of `data` (init 0xFFFFFFFF, final xor, reflected) in pure Python, a table per byte: the fallback
    where the `crc32c` package is missing (about 26 us for a 212-byte frame, against 0.2 us); tested equal."""
    c = crc ^ 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


try:  # the `crc32c` package (ICRAR): hardware CRC32 instructions or slice-by-8 in C
    from crc32c import crc32c as _crc32c_c
except ImportError:  # pragma: no cover - a dependency; the robot computer may lack a wheel for its platform
    _crc32c_c = None


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of `data`, continuing from `crc`: crc32c(b"123456789") == 0xE3069283."""
    return _crc32c_c(data, crc) if _crc32c_c is not None else crc32c_py(data, crc)


# ---- COBS --------------------------------------------------------------------------------------------
def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing (Cheshire & Baker 1999): output has no 0x00."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("COBS: a zero byte inside a frame", "cobs_errors")
        end = i + code
        if end > n:
            raise ProtocolError("COBS: a block runs past the end of the frame", "cobs_errors")
        block = data[i + 1 : end]
        if 0 in block:
            raise ProtocolError("COBS: a zero byte inside a frame", "cobs_errors")
        out += block
        i = end
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)


# ---- frames ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    t_dev_us: int = 0
    ack_seq: int = 0
    version: int = VERSION


def encode_frame(frame: Frame) -> bytes:
    """COBS(header | payload | crc32c) followed by the 0x00 delimiter."""
    if not 0 <= frame.seq <= 0xFFFF or not 0 <= frame.ack_seq <= 0xFFFF or not 0 <= frame.t_dev_us <= 0xFFFFFFFF:
        raise ProtocolError(f"header field out of range: seq {frame.seq}, ack_seq {frame.ack_seq}, t_dev_us {frame.t_dev_us}")
    body = HEADER.pack(frame.version, int(frame.type), frame.flags, frame.seq, frame.t_dev_us, frame.ack_seq) + frame.payload
    body += struct.pack("<I", crc32c(body))
    if len(body) > MAX_BODY:
        raise ProtocolError(f"frame body of {len(body)} bytes exceeds the maximum {MAX_BODY}")
    return cobs_encode(body) + b"\x00"


def decode_body(encoded: bytes) -> Frame:
    """One frame's bytes between delimiters (without the 0x00) -> Frame; raises ProtocolError."""
    if len(encoded) > MAX_ENCODED:
        raise ProtocolError(f"oversize frame: {len(encoded)} encoded bytes > {MAX_ENCODED}", "oversize")
    body = cobs_decode(encoded)
    if len(body) < HEADER.size + CRC_SIZE:
        raise ProtocolError(f"short frame: {len(body)} bytes")
    if len(body) > MAX_BODY:  # the limit is on the decoded body (header + payload + CRC), the delimiter aside
        raise ProtocolError(f"frame body of {len(body)} bytes exceeds the maximum {MAX_BODY}", "oversize")
    (crc,) = struct.unpack_from("<I", body, len(body) - CRC_SIZE)
    if crc32c(body[:-CRC_SIZE]) != crc:
        raise ProtocolError("CRC mismatch", "crc_errors")
    version, mtype, flags, seq, t_dev, ack = HEADER.unpack_from(body)
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}, this side speaks {VERSION}", "version_errors")
    if flags & INCOMPATIBLE_MASK & ~KNOWN_INCOMPATIBLE:
        raise ProtocolError(f"unknown incompatible flags 0x{flags & INCOMPATIBLE_MASK:02x}", "flag_errors")
    return Frame(mtype, seq, bytes(body[HEADER.size : -CRC_SIZE]), flags, t_dev, ack, version)


@dataclass
class DecoderStats:
    frames: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    oversize: int = 0
    version_errors: int = 0
    flag_errors: int = 0
    short: int = 0
    bytes_in: int = 0


@dataclass
class FrameDecoder:
    """Stream -> frames. Feed any chunking of the byte stream; every rejected frame is counted by cause.

    Bytes are dropped once a frame grows past `MAX_ENCODED` (oversize is decided before any decoding), and
    the decoder resynchronizes at the next 0x00.
    """

    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        self.stats.bytes_in += len(data)
        start = 0
        while True:
            end = data.find(b"\x00", start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._overflow:
                if len(self._buf) + len(chunk) > MAX_ENCODED:
                    self._overflow = True
                    self._buf.clear()
                else:
                    self._buf += chunk
            if end < 0:
                return frames
            if self._overflow:
                self.stats.oversize += 1
            elif self._buf:
                try:
                    frames.append(decode_body(bytes(self._buf)))
                    self.stats.frames += 1
                except ProtocolError as exc:
                    setattr(self.stats, exc.kind, getattr(self.stats, exc.kind) + 1)
            self._buf.clear()
            self._overflow = False
            start = end + 1


def seq_delta(new: int, old: int) -> int:
    """Forward distance from `old` to `new` modulo 2^16 (1 = the next frame, >1 = frames lost)."""
    return (new - old) & 0xFFFF


# ---- payloads ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JointSpec:
    name: str
    pos_min: float  # rad
    pos_max: float  # rad
    vel_max: float  # rad/s
    torque_max: float  # N m


@dataclass(frozen=True)
class Hello:
    """host -> firmware: what the host expects."""

    schema_hash: int
    n_joints: int
    rate_hz: int
    proto_version: int = VERSION

    def pack(self) -> bytes:
        return struct.pack("<BIBH", self.proto_version, self.schema_hash, self.n_joints, self.rate_hz)

    @classmethod
    def unpack(cls, p: bytes) -> Hello:
        _need(p, 8, "HELLO")
        v, h, n, r = struct.unpack("<BIBH", p)
        return cls(h, n, r, v)


@dataclass(frozen=True)
class HelloAck:
    """firmware -> host: what the robot is."""

    schema_hash: int
    watchdog_ms: int
    rate_hz: int
    joints: tuple[JointSpec, ...]
    proto_version: int = VERSION

    def pack(self) -> bytes:
        out = struct.pack("<BIHHB", self.proto_version, self.schema_hash, self.watchdog_ms, self.rate_hz, len(self.joints))
        for j in self.joints:
            name = j.name.encode()
            if len(name) > 32:
                raise ProtocolError(f"joint name {j.name!r} longer than 32 bytes")
            out += struct.pack("<B", len(name)) + name + struct.pack("<ffff", j.pos_min, j.pos_max, j.vel_max, j.torque_max)
        return out

    @classmethod
    def unpack(cls, p: bytes) -> HelloAck:
        _need(p, 10, "HELLO_ACK")
        v, h, wd, rate, n = struct.unpack_from("<BIHHB", p)
        off, joints = 10, []
        for _ in range(n):
            _need(p, off + 1, "HELLO_ACK joint")
            ln = p[off]
            _need(p, off + 1 + ln + 16, "HELLO_ACK joint")
            name = p[off + 1 : off + 1 + ln].decode(errors="replace")
            joints.append(JointSpec(name, *struct.unpack_from("<ffff", p, off + 1 + ln)))
            off += 1 + ln + 16
        return cls(h, wd, rate, tuple(joints), v)


@dataclass(frozen=True)
class State:
    """firmware -> host, every control period. Arrays are float32; IMU quaternion is (w, x, y, z)."""

    state: int
    q: np.ndarray  # (n,) rad
    dq: np.ndarray  # (n,) rad/s
    tau: np.ndarray  # (n,) N m, measured or estimated from current
    quat: np.ndarray  # (4,) body orientation
    gyro: np.ndarray  # (3,) rad/s, body frame
    accel: np.ndarray  # (3,) m/s^2, body frame
    base_vel: np.ndarray  # (3,) m/s, body frame, the robot's velocity estimate
    fault: int = FaultCode.NONE

    def pack(self) -> bytes:
        n = len(self.q)
        head = struct.pack("<BBB", self.state, self.fault, n)
        arrays = np.concatenate([self.q, self.dq, self.tau, self.quat, self.gyro, self.accel, self.base_vel]).astype("<f4")
        return head + arrays.tobytes()

    @classmethod
    def unpack(cls, p: bytes) -> State:
        _need(p, 3, "STATE")
        st, fault, n = struct.unpack_from("<BBB", p)
        _need(p, 3 + 4 * (3 * n + 13), "STATE")
        a = np.frombuffer(p, dtype="<f4", count=3 * n + 13, offset=3).astype(np.float32)
        return cls(
            st,
            a[:n],
            a[n : 2 * n],
            a[2 * n : 3 * n],
            a[3 * n : 3 * n + 4],
            a[3 * n + 4 : 3 * n + 7],
            a[3 * n + 7 : 3 * n + 10],
            a[3 * n + 10 : 3 * n + 13],
            fault,
        )


@dataclass(frozen=True)
class Command:
    """host -> firmware, every control period: per-joint targets and gains (POSITION) or torques (TORQUE)."""

    mode: int
    target: np.ndarray  # (n,)
    kp: np.ndarray  # (n,) N m/rad
    kd: np.ndarray  # (n,) N m s/rad

    def pack(self) -> bytes:
        n = len(self.target)
        return struct.pack("<BB", self.mode, n) + np.concatenate([self.target, self.kp, self.kd]).astype("<f4").tobytes()

    @classmethod
    def unpack(cls, p: bytes) -> Command:
        _need(p, 2, "COMMAND")
        mode, n = struct.unpack_from("<BB", p)
        _need(p, 2 + 12 * n, "COMMAND")
        a = np.frombuffer(p, dtype="<f4", count=3 * n, offset=2).astype(np.float32)
        return cls(mode, a[:n], a[n : 2 * n], a[2 * n :])


@dataclass(frozen=True)
class Fault:
    code: int
    detail: int = 0

    def pack(self) -> bytes:
        return struct.pack("<BH", self.code, self.detail)

    @classmethod
    def unpack(cls, p: bytes) -> Fault:
        _need(p, 3, "FAULT")
        return cls(*struct.unpack("<BH", p[:3]))


def _need(p: bytes, n: int, what: str) -> None:
    if len(p) < n:
        raise ProtocolError(f"{what} payload of {len(p)} bytes is shorter than {n}")


SCHEMA = (
    "robot-meta firmware_bridge v1|header <BBBHIH|crc32c|"
    "HELLO=1 <BIBH|HELLO_ACK=2 <BIHHB {<B name <ffff}|STATE=3 <BBB f32[3n+13] q dq tau quat gyro accel base_vel|"
    "COMMAND=4 <BB f32[3n] target kp kd|ARM=5|DISARM=6|ESTOP=7|HEARTBEAT=8|FAULT=9 <BH"
)
SCHEMA_HASH = crc32c(SCHEMA.encode())  # both sides compare it in the handshake; any layout change changes it
