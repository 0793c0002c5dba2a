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
- Two versions share the header and the framing: version 1 sends STATE and COMMAND as float32, version 2 as
  16-bit fixed point with scales the firmware declares in its HELLO_ACK (half the bytes: a 12-joint STATE is
  118 bytes on the wire instead of 216), and answers every applied COMMAND with a STATE at once. The HELLO's
  frame version chooses the session's; `WireFormat` packs and unpacks the two messages that differ.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np

VERSION = 2  # what this host speaks first (it falls back to 1 for a firmware that answers only that)
VERSIONS = (1, 2)  # frame versions a receiver decodes; anything else is dropped and counted
HEADER = struct.Struct("<BBBHIH")  # version, type, flags, seq, t_dev_us, ack_seq: 11 bytes
CRC_SIZE = 4
MAX_BODY = 1024  # bytes, header + payload + crc: 12 joints of STATE is 216
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 2  # the longest COBS encoding of MAX_BODY, plus margin
INCOMPATIBLE_MASK = 0xF0
KNOWN_INCOMPATIBLE = 0x00  # none defined in versions 1 and 2 (nor any compatible flag)


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
    ACK = 10  # firmware -> host, version 2: answers each applied COMMAND at once (ack_seq = its seq)


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
def cobs_encode_py(data: bytes) -> bytes:
    """Consistent overhead byte stuffing (Cheshire & Baker 1999) in pure Python: output has no 0x00. Data that ends
    right after a full block of 254 non-zero bytes gets no final code byte (the `cobs` package's convention, which
    the C firmware follows too); decoders take either."""
    out = bytearray()
    block = bytearray()
    full = False  # the last block was closed for being full, not by a zero
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            full = False
        else:
            block.append(b)
            full = False
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
                full = True
    if not full:
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode_py(data: bytes) -> bytes:
    """COBS decoding in pure Python; raises ProtocolError("cobs_errors") for a zero byte or a block past the end."""
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


try:  # the `cobs` package (C extension); the pure-Python code is the fallback, tested equal
    from cobs import cobs as _cobs_c
except ImportError:  # pragma: no cover - a dependency; kept for platforms without a wheel
    _cobs_c = None


def cobs_encode(data: bytes) -> bytes:
    return _cobs_c.encode(data) if _cobs_c is not None else cobs_encode_py(data)


def cobs_decode(data: bytes) -> bytes:
    if _cobs_c is None:
        return cobs_decode_py(data)
    try:
        return _cobs_c.decode(data)
    except _cobs_c.DecodeError as exc:
        raise ProtocolError(f"COBS: {exc}", "cobs_errors") from None


# ---- frames ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    t_dev_us: int = 0
    ack_seq: int = 0
    version: int = 1  # a session's frames carry its version (`WireFormat.version`); 1 until a handshake says otherwise


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
    if version not in VERSIONS:
        raise ProtocolError(
            f"protocol version {version}, this side speaks {' and '.join(map(str, VERSIONS))}", "version_errors"
        )
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
    proto_version: int = 1

    def pack(self) -> bytes:
        return struct.pack("<BIBH", self.proto_version, self.schema_hash, self.n_joints, self.rate_hz)

    @classmethod
    def unpack(cls, p: bytes) -> Hello:
        _need(p, 8, "HELLO")
        v, h, n, r = struct.unpack("<BIBH", p)
        return cls(h, n, r, v)


@dataclass(frozen=True)
class Scales:
    """Version 2's fixed point: the physical value of one least-significant bit of each 16-bit field.

    STATE's q, dq, tau and the IMU's gyro, accel and base_vel are int16 (value = raw * scale, saturating at
    +-32767; -32768 means "not a number": a sensor that failed); the quaternion is int16 at 1/32767. COMMAND's
    target is int16 at `q` (POSITION) or `tau` (TORQUE), its gains uint16 at `kp` and `kd`.

    Attributes (per joint, in joint order): q rad, dq rad/s, tau N m, kp N m/rad, kd N m s/rad per LSB;
    gyro rad/s, accel m/s^2, vel m/s per LSB (the body's).
    """

    q: tuple[float, ...]
    dq: tuple[float, ...]
    tau: tuple[float, ...]
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    gyro: float
    accel: float
    vel: float

    def __post_init__(self) -> None:
        # float32 on the wire: both sides convert with the declared (rounded) values, never their own
        f32 = lambda x: float(np.float32(x))  # noqa: E731
        for name in ("q", "dq", "tau", "kp", "kd"):
            object.__setattr__(self, name, tuple(f32(x) for x in getattr(self, name)))
        for name in ("gyro", "accel", "vel"):
            object.__setattr__(self, name, f32(getattr(self, name)))


# Command modes a robot runs, as HELLO_ACK's `modes` bit mask (version 2).
MODE_BITS = {0: "POSITION", 1: "TORQUE"}


@dataclass(frozen=True)
class HelloAck:
    """firmware -> host: what the robot is. Version 2 adds the command modes it runs (bit k = `CommandMode` k)
    and the fixed-point scales of its STATE and COMMAND fields."""

    schema_hash: int
    watchdog_ms: int
    rate_hz: int
    joints: tuple[JointSpec, ...]
    proto_version: int = 1
    modes: int = 0b11  # version 2: which `CommandMode`s the robot runs
    scales: Scales | None = None  # version 2

    def pack(self) -> bytes:
        v2 = self.proto_version >= 2
        if v2 and (self.scales is None or len(self.scales.q) != len(self.joints)):
            raise ProtocolError("a version 2 HELLO_ACK needs the scales of every joint")
        out = struct.pack("<BIHHB", self.proto_version, self.schema_hash, self.watchdog_ms, self.rate_hz, len(self.joints))
        if v2:
            out += struct.pack("<B", self.modes)
        for i, j in enumerate(self.joints):
            name = j.name.encode()
            if len(name) > 32:
                raise ProtocolError(f"joint name {j.name!r} longer than 32 bytes")
            out += struct.pack("<B", len(name)) + name + struct.pack("<ffff", j.pos_min, j.pos_max, j.vel_max, j.torque_max)
            if v2:
                sc = self.scales
                out += struct.pack("<fffff", sc.q[i], sc.dq[i], sc.tau[i], sc.kp[i], sc.kd[i])
        if v2:
            out += struct.pack("<fff", self.scales.gyro, self.scales.accel, self.scales.vel)
        return out

    @classmethod
    def unpack(cls, p: bytes) -> HelloAck:
        """Either version's layout, told apart by its own `proto_version` byte; exact length."""
        _need(p, 10, "HELLO_ACK")
        v, h, wd, rate, n = struct.unpack_from("<BIHHB", p)
        v2 = v >= 2
        off, joints, per = 10, [], []
        modes = 0b11
        if v2:
            _need(p, 11, "HELLO_ACK")
            modes = p[10]
            off = 11
        jbytes = 16 + (20 if v2 else 0)
        for _ in range(n):
            _need(p, off + 1, "HELLO_ACK joint")
            ln = p[off]
            _need(p, off + 1 + ln + jbytes, "HELLO_ACK joint")
            name = p[off + 1 : off + 1 + ln].decode(errors="replace")
            joints.append(JointSpec(name, *struct.unpack_from("<ffff", p, off + 1 + ln)))
            if v2:
                per.append(struct.unpack_from("<fffff", p, off + 1 + ln + 16))
            off += 1 + ln + jbytes
        scales = None
        if v2:
            _need(p, off + 12, "HELLO_ACK scales")
            imu = struct.unpack_from("<fff", p, off)
            cols = list(zip(*per, strict=True)) if per else [()] * 5
            scales = Scales(*(tuple(c) for c in cols), *imu)
            bad = [x for x in (*sum(cols, ()), *imu) if not (math.isfinite(x) and x > 0)]
            if bad:
                raise ProtocolError(f"HELLO_ACK scale {bad[0]!r} is not a positive finite number")
        return cls(h, wd, rate, tuple(joints), v, modes, scales)


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


@dataclass(frozen=True)
class Ack:
    """Version 2: the firmware's answer to each COMMAND it applied, sent at once (the header's `ack_seq` is the
    COMMAND's seq, `t_dev_us` when it was applied). 19 bytes on the wire: a round trip is the COMMAND's wire time,
    the firmware's handling and 63 µs at 3 Mbaud, so it fits a 1 kHz period beside the tick's STATE."""

    state: int
    fault: int = 0

    def pack(self) -> bytes:
        return struct.pack("<BB", self.state, self.fault)

    @classmethod
    def unpack(cls, p: bytes) -> Ack:
        _need(p, 2, "ACK")
        return cls(*struct.unpack("<BB", p[:2]))


INVALID = -32768  # a version 2 int16 that is not a number (a failed sensor; never a valid COMMAND target)


def _to_fixed(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float -> int16 at `scale` per LSB, rounded and saturated at +-32767; NaN -> INVALID. One vectorized pass:
    the firmware's loop calls it for every STATE (about 10 us for a 12-joint STATE)."""
    raw = np.rint(np.asarray(x, np.float64) / scale)
    np.clip(raw, -32767, 32767, out=raw)  # inf saturates; NaN stays NaN
    raw[np.isnan(raw)] = INVALID
    return raw.astype("<i2")


def _from_fixed(raw: np.ndarray, scale: np.ndarray) -> np.ndarray:
    out = raw.astype(np.float64) * scale
    out[raw == INVALID] = np.nan
    return out.astype(np.float32)


@dataclass(frozen=True)
class WireFormat:
    """How a session's STATE and COMMAND payloads are laid out: version 1 float32, version 2 fixed point at the
    firmware's `Scales`. Chosen at the handshake (`from_ack`), used by both sides for every frame after it."""

    version: int = 1
    scales: Scales | None = None

    @classmethod
    def from_ack(cls, ack: HelloAck) -> WireFormat:
        return cls(ack.proto_version, ack.scales if ack.proto_version >= 2 else None)

    @cached_property
    def _state_scale(self) -> np.ndarray:
        """The LSB of every STATE array field in payload order (q, dq, tau, quat, gyro, accel, base_vel)."""
        sc = self.scales
        imu = [1 / 32767] * 4 + [sc.gyro] * 3 + [sc.accel] * 3 + [sc.vel] * 3
        return np.array([*sc.q, *sc.dq, *sc.tau, *imu], np.float64)

    def command_bytes(self, n: int) -> int:
        """The exact COMMAND payload length for `n` joints."""
        return 2 + (12 if self.version == 1 else 6) * n

    def state_bytes(self, n: int) -> int:
        return 3 + (4 if self.version == 1 else 2) * (3 * n + 13)

    def _joints(self, n: int, what: str) -> None:
        have = 0 if self.scales is None else len(self.scales.q)
        if have != n:
            raise ProtocolError(f"{what} for {n} joints; the handshake declared {have}")

    def pack_state(self, s: State) -> bytes:
        if self.version == 1:
            return s.pack()
        self._joints(len(s.q), "STATE")
        values = np.concatenate([s.q, s.dq, s.tau, s.quat, s.gyro, s.accel, s.base_vel])
        return struct.pack("<BBB", s.state, s.fault, len(s.q)) + _to_fixed(values, self._state_scale).tobytes()

    def unpack_state(self, p: bytes) -> State:
        if self.version == 1:
            return State.unpack(p)
        _need(p, 3, "STATE")
        st, fault, n = struct.unpack_from("<BBB", p)
        _need(p, self.state_bytes(n), "STATE")
        self._joints(n, "STATE")
        a = _from_fixed(np.frombuffer(p, dtype="<i2", count=3 * n + 13, offset=3), self._state_scale)
        cuts = np.cumsum([n, n, n, 4, 3, 3])
        q, dq, tau, quat, gyro, accel, vel = np.split(a, cuts)
        return State(st, q, dq, tau, quat, gyro, accel, vel, fault)

    def pack_command(self, c: Command) -> bytes:
        """Raises ProtocolError for a non-finite value: the host never sends one (version 2 could not say it)."""
        if self.version == 1:
            return c.pack()
        for name, v in (("target", c.target), ("kp", c.kp), ("kd", c.kd)):
            if not np.all(np.isfinite(v)):
                raise ProtocolError(f"COMMAND {name} holds a non-finite value: {np.asarray(v).tolist()}")
        n = len(c.target)
        self._joints(n, "COMMAND")
        sc = self.scales
        target = _to_fixed(c.target, np.asarray(sc.q if c.mode == CommandMode.POSITION else sc.tau))
        gains = np.rint(np.concatenate([np.asarray(c.kp, np.float64) / sc.kp, np.asarray(c.kd, np.float64) / sc.kd]))
        return struct.pack("<BB", c.mode, n) + target.tobytes() + np.clip(gains, 0, 65535).astype("<u2").tobytes()

    def unpack_command(self, p: bytes) -> Command:
        """A COMMAND payload; an INVALID target comes back as NaN (the firmware refuses it: BAD_COMMAND)."""
        if self.version == 1:
            return Command.unpack(p)
        _need(p, 2, "COMMAND")
        mode, n = struct.unpack_from("<BB", p)
        _need(p, 2 + 6 * n, "COMMAND")
        self._joints(n, "COMMAND")
        sc = self.scales
        raw = np.frombuffer(p, dtype="<i2", count=n, offset=2)
        gains = np.frombuffer(p, dtype="<u2", count=2 * n, offset=2 + 2 * n).astype(np.float64)
        target = _from_fixed(raw, np.asarray(sc.q if mode == CommandMode.POSITION else sc.tau))
        return Command(mode, target, (gains[:n] * sc.kp).astype(np.float32), (gains[n:] * sc.kd).astype(np.float32))


def _need(p: bytes, n: int, what: str) -> None:
    if len(p) < n:
        raise ProtocolError(f"{what} payload of {len(p)} bytes is shorter than {n}")


SCHEMA = (
    "robot-meta firmware_bridge v1|header <BBBHIH|crc32c|"
    "HELLO=1 <BIBH|HELLO_ACK=2 <BIHHB {<B name <ffff}|STATE=3 <BBB f32[3n+13] q dq tau quat gyro accel base_vel|"
    "COMMAND=4 <BB f32[3n] target kp kd|ARM=5|DISARM=6|ESTOP=7|HEARTBEAT=8|FAULT=9 <BH"
)
SCHEMA_HASH = crc32c(SCHEMA.encode())  # both sides compare it in the handshake; any layout change changes it
SCHEMA_V2 = (
    "robot-meta firmware_bridge v2|header <BBBHIH|crc32c|"
    "HELLO=1 <BIBH|HELLO_ACK=2 <BIHHBB {<B name <ffff <fffff q dq tau kp kd} <fff gyro accel vel|"
    "STATE=3 <BBB i16[3n+13] q dq tau quat/32767 gyro accel base_vel, -32768 NaN|"
    "COMMAND=4 <BB i16[n] target u16[n] kp u16[n] kd|ARM=5|DISARM=6|ESTOP=7|HEARTBEAT=8|FAULT=9 <BH|"
    "ACK=10 <BB after each applied COMMAND|STATE every tick"
)
SCHEMA_HASH_V2 = crc32c(SCHEMA_V2.encode())
SCHEMA_HASHES = {1: SCHEMA_HASH, 2: SCHEMA_HASH_V2}  # by protocol version
