"""The reference C firmware (`firmware_bridge/firmware/rmfw.c`) running the virtual robot.

The C code a robot team flashes is compiled here with the system C compiler into a shared library and driven
through ctypes: its hardware-abstraction layer (UART write, sensors, joint drives) is served by the virtual
robot's MuJoCo physics, so the frames a host exchanges with `CFirmware` come out of the C state machine, byte
for byte. `CFirmware` has the `handle(frame, rx_us)` / `tick(now_us)` face of `VirtualFirmware`, so the same
server (pty or TCP, baud pacing, fault injection) and the same tests run either.

    python -m firmware_bridge.cfirmware --build   # compile (what `make test` does first); one line either way
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge import protocol as p
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware

FIRMWARE_DIR = Path(__file__).parent / "firmware"
SOURCES = ("rmfw.c", "rmfw.h")
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fPIC", "-shared")
SANITIZE = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")
MAX_JOINTS = 24
NAME_MAX = 32


class FirmwareBuildError(RuntimeError):
    """The C firmware could not be compiled: no compiler, or the compiler's message."""


def find_compiler() -> str | None:
    """$CC when it runs, else cc, gcc or clang on PATH; None when there is none."""
    if os.environ.get("CC"):
        return os.environ["CC"] if shutil.which(os.environ["CC"]) else None
    return next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)


def build(out_dir: Path | None = None, sanitize: bool = False, extra: tuple[str, ...] = ()) -> Path:
    """Compile the firmware into a shared library (cached by the sources' and flags' hash) and return its path.

    Args:
        out_dir: where the library goes (default firmware_bridge/firmware/build, git-ignored).
        sanitize: with AddressSanitizer and UndefinedBehaviorSanitizer (for the fuzz tests).
        extra: more compiler arguments (e.g. a test harness's source file, then it is an executable).
    """
    cc = find_compiler()
    if cc is None:
        raise FirmwareBuildError("no C compiler found (cc, gcc or clang): install one (apt-get install gcc) or set CC")
    flags = (*CFLAGS, *(SANITIZE if sanitize else ()))
    if extra:
        flags = tuple(f for f in flags if f not in ("-fPIC", "-shared"))
    h = hashlib.sha256(" ".join((cc, *flags, *extra)).encode())
    for name in SOURCES:
        h.update((FIRMWARE_DIR / name).read_bytes())
    for x in extra:
        if Path(x).is_file():
            h.update(Path(x).read_bytes())
    out_dir = Path(out_dir) if out_dir is not None else FIRMWARE_DIR / "build"
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = "exe" if extra else "so"
    out = out_dir / f"rmfw-{h.hexdigest()[:12]}{'-san' if sanitize else ''}.{kind}"
    if out.exists():
        return out
    with tempfile.NamedTemporaryFile(dir=out_dir, suffix=f".{kind}", delete=False) as tmp:
        pass
    cmd = [cc, *flags, "-I", str(FIRMWARE_DIR), "-o", tmp.name, str(FIRMWARE_DIR / "rmfw.c"), *extra, "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        Path(tmp.name).unlink(missing_ok=True)
        raise FirmwareBuildError(f"compiling the C firmware failed ({' '.join(cmd)}):\n{res.stderr.strip()}")
    os.replace(tmp.name, out)  # atomic: a concurrent build never loads a half-written library
    return out


# ---- the C structs, as ctypes sees them (sizes checked against the library's own sizeof at load) ----------
F = ctypes.c_float
J = MAX_JOINTS


class Sensors(ctypes.Structure):
    _fields_ = [
        ("q", F * J),
        ("dq", F * J),
        ("tau", F * J),
        ("quat", F * 4),
        ("gyro", F * 3),
        ("accel", F * 3),
        ("base_vel", F * 3),
    ]


UART = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)
READ = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(Sensors))
APPLY = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(F), ctypes.POINTER(F), ctypes.POINTER(F)
)


class Hal(ctypes.Structure):
    _fields_ = [("uart_write", UART), ("read_sensors", READ), ("apply", APPLY), ("ctx", ctypes.c_void_p)]


class Config(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_uint8),
        ("modes", ctypes.c_uint8),
        ("rate_hz", ctypes.c_uint16),
        ("watchdog_ms", ctypes.c_uint16),
        ("arming_us", ctypes.c_uint32),
        ("names", (ctypes.c_char * (NAME_MAX + 1)) * J),
        *((name, F * J) for name in ("pos_min", "pos_max", "vel_max", "torque_max", "default_pose", "arm_kp", "arm_kd")),
        *((name, F * J) for name in ("q_scale", "dq_scale", "tau_scale", "kp_scale", "kd_scale")),
        ("gyro_scale", F),
        ("accel_scale", F),
        ("vel_scale", F),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint32)
        for name in (
            "frames", "crc_errors", "cobs_errors", "oversize", "version_errors", "flag_errors", "short_frames",
            "tx_frames", "tx_dropped", "rx_dropped", "commands_applied", "arm_requests",
        )
    ] + [("refused", ctypes.c_uint32 * 8)]  # fmt: skip


class Rmfw(ctypes.Structure):
    _fields_ = [
        ("cfg", Config),
        ("hal", Hal),
        ("stats", Stats),
        *((n, ctypes.c_uint8) for n in ("version", "state", "fault")),
        *((n, ctypes.c_uint16) for n in ("seq", "last_cmd_seq")),
        *((n, ctypes.c_uint8) for n in ("accepted_any", "overflow", "has_fault_us")),
        ("handled", ctypes.c_uint32),
        *((n, ctypes.c_uint32) for n in ("now_us", "last_cmd_us", "arm_start_us", "fault_us")),
        ("arm_from", F * J),
        ("rx_len", ctypes.c_uint32),
        ("rx", ctypes.c_uint8 * (p.MAX_BODY + p.MAX_BODY // 254 + 2)),
        ("body", ctypes.c_uint8 * p.MAX_BODY),
        ("out_body", ctypes.c_uint8 * p.MAX_BODY),
        ("out_wire", ctypes.c_uint8 * (p.MAX_BODY + p.MAX_BODY // 254 + 3)),
    ]


_LIBS: dict[str, ctypes.CDLL] = {}


def load(path: Path | None = None) -> ctypes.CDLL:
    """The compiled firmware (built first if needed), with its entry points typed."""
    path = Path(path) if path is not None else build()
    key = str(path)
    if key not in _LIBS:
        lib = ctypes.CDLL(key)
        lib.rmfw_init.argtypes = [ctypes.POINTER(Rmfw), ctypes.POINTER(Config), ctypes.POINTER(Hal)]
        lib.rmfw_rx.argtypes = [ctypes.POINTER(Rmfw), ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32]
        lib.rmfw_rx.restype = None
        lib.rmfw_tick.argtypes = [ctypes.POINTER(Rmfw), ctypes.c_uint32]
        lib.rmfw_tick.restype = None
        lib.rmfw_crc32c.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32]
        lib.rmfw_crc32c.restype = ctypes.c_uint32
        lib.rmfw_decode_body.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p]
        lib.rmfw_decode_body.restype = ctypes.c_int32
        lib.rmfw_sizeof.restype = ctypes.c_size_t
        if lib.rmfw_sizeof() != ctypes.sizeof(Rmfw):
            raise FirmwareBuildError(
                f"rmfw_t is {lib.rmfw_sizeof()} bytes in C, {ctypes.sizeof(Rmfw)} in cfirmware.Rmfw: update one"
            )
        _LIBS[key] = lib
    return _LIBS[key]


class CFirmware:
    """The C firmware around a virtual robot's physics: `handle(frame, rx_us)` and `tick(now_us)` return the frames
    the C code sent. Everything physical (the model, the payload, the recorded motion) is the `VirtualFirmware`
    it wraps (`self.robot`), whose own Python state machine is not used.

    Args:
        family, task, config: as for `VirtualFirmware`.
        library: a compiled firmware (default: built from the sources).
    """

    def __init__(
        self, family: Any, task: Any = None, config: FirmwareConfig | None = None, library: Path | None = None
    ) -> None:
        self.robot = VirtualFirmware(family, task, config or FirmwareConfig())
        self.lib = load(library)
        r = self.robot
        self._out: list[bytes] = []
        self._decoder = p.FrameDecoder()
        self._phys_us = 0
        self._damping = False
        self._hal = Hal(UART(self._uart_write), READ(self._read_sensors), APPLY(self._apply), None)  # kept: C holds them
        cfg = Config()
        ack = r.hello_ack(2)
        n = len(ack.joints)
        if n > MAX_JOINTS:
            raise ValueError(f"{family.name} has {n} joints; the reference firmware is built for at most {MAX_JOINTS}")
        cfg.n, cfg.modes, cfg.rate_hz, cfg.watchdog_ms = n, ack.modes, r.config.rate_hz, r.config.watchdog_ms
        cfg.arming_us = round(r.config.arming_s * 1e6)
        sc = ack.scales
        for i, jt in enumerate(ack.joints):
            cfg.names[i].value = jt.name.encode()
            cfg.pos_min[i], cfg.pos_max[i], cfg.vel_max[i], cfg.torque_max[i] = (
                jt.pos_min,
                jt.pos_max,
                jt.vel_max,
                jt.torque_max,
            )
            cfg.default_pose[i] = float(r.default_pose[i])
            cfg.q_scale[i], cfg.dq_scale[i], cfg.tau_scale[i], cfg.kp_scale[i], cfg.kd_scale[i] = (
                sc.q[i],
                sc.dq[i],
                sc.tau[i],
                sc.kp[i],
                sc.kd[i],
            )
        cfg.gyro_scale, cfg.accel_scale, cfg.vel_scale = sc.gyro, sc.accel, sc.vel
        self.fw = Rmfw()
        code = self.lib.rmfw_init(ctypes.byref(self.fw), ctypes.byref(cfg), ctypes.byref(self._hal))
        if code != 0:
            raise ValueError(f"the C firmware refused its configuration (rmfw_init returned {code})")

    # ---- the hardware-abstraction layer, served by the physics ------------------------------------------
    def _physics_to(self, now_us: int) -> None:
        dt = (now_us - self._phys_us) & 0xFFFFFFFF
        if dt < 0x80000000 and dt:
            self.robot.step_physics(dt * 1e-6, self._damping)
            self._phys_us = now_us
        self.robot.now_us = self._phys_us

    def _uart_write(self, ctx: Any, data: Any, n: int) -> int:
        self._out.append(ctypes.string_at(data, n))
        return 1

    def _read_sensors(self, ctx: Any, now_us: int, out: Any) -> None:
        self._physics_to(now_us)
        s = self.robot.read_state()
        o = out.contents
        n = len(s.q)
        for name in ("q", "dq", "tau"):
            ctypes.memmove(getattr(o, name), np.ascontiguousarray(getattr(s, name), np.float32).ctypes.data, 4 * n)
        for name in ("quat", "gyro", "accel", "base_vel"):
            v = np.ascontiguousarray(getattr(s, name), np.float32)
            ctypes.memmove(getattr(o, name), v.ctypes.data, 4 * v.size)

    def _apply(self, ctx: Any, now_us: int, output: int, mode: int, target: Any, kp: Any, kd: Any) -> None:
        self._physics_to(now_us)
        r = self.robot
        self._damping = output == 2
        r._disable(output != 1)
        if output == 1:
            n = r.model.nu
            t = np.ctypeslib.as_array(target, shape=(n,)).astype(np.float64)
            if r.position_servo:
                r.data.ctrl[:] = t
            else:
                gear = r.model.actuator_gear[:, 0]
                r.data.ctrl[:] = np.clip(t / gear, r.model.actuator_ctrlrange[:, 0], r.model.actuator_ctrlrange[:, 1])

    # ---- the firmware's face ------------------------------------------------------------------------------
    def _frames(self, chunks: list[bytes]) -> list[p.Frame]:
        return [f for chunk in chunks for f in self._decoder.feed(chunk)]

    def handle(self, frame: p.Frame, rx_us: int | None = None) -> list[p.Frame]:
        """Hand one host frame to the C firmware (as its bytes on the wire); returns what it sent back."""
        return self.feed(p.encode_frame(frame), self.fw.now_us if rx_us is None else rx_us)

    def feed(self, data: bytes, rx_us: int) -> list[p.Frame]:
        """Raw bytes from the link, as a UART hands them over (the C decoder frames them); the frames sent back."""
        return self._frames(self.feed_bytes(data, rx_us))

    def feed_bytes(self, data: bytes, rx_us: int) -> list[bytes]:
        """`feed`, with what the firmware sent as it wrote it to its UART: one encoded frame per item (the server's
        path: no Python decoding either way)."""
        self.lib.rmfw_rx(ctypes.byref(self.fw), data, len(data), rx_us & 0xFFFFFFFF)
        out, self._out = self._out, []
        return out

    def tick(self, now_us: int) -> list[p.Frame]:
        return self._frames(self.tick_bytes(now_us))

    def tick_bytes(self, now_us: int) -> list[bytes]:
        self.lib.rmfw_tick(ctypes.byref(self.fw), now_us & 0xFFFFFFFF)
        self._physics_to(now_us)
        self.robot.record_tick(now_us)
        out, self._out = self._out, []
        return out

    # ---- what tests and the server read -----------------------------------------------------------------
    @property
    def state(self) -> p.FirmwareState:
        return p.FirmwareState(self.fw.state)

    @property
    def fault(self) -> p.FaultCode:
        return p.FaultCode(self.fw.fault)

    @property
    def format(self) -> p.WireFormat:
        return p.WireFormat.from_ack(self.robot.hello_ack(self.fw.version))

    @property
    def record_every(self) -> int:
        """Record the motion every this many ticks (0: not), as `VirtualFirmware.record_every`."""
        return self.robot.record_every

    @record_every.setter
    def record_every(self, every: int) -> None:
        self.robot.record_every = every

    @property
    def now_us(self) -> int:
        return self.fw.now_us

    @property
    def fault_at_us(self) -> int | None:
        """The firmware clock when FAULT was last entered (None: never)."""
        return self.fw.fault_us if self.fw.has_fault_us else None

    @property
    def commands_applied(self) -> int:
        return self.fw.stats.commands_applied

    @property
    def arm_requests(self) -> int:
        return self.fw.stats.arm_requests

    @property
    def last_cmd_seq(self) -> int:
        return self.fw.last_cmd_seq

    @property
    def last_cmd_us(self) -> int:
        return self.fw.last_cmd_us

    @property
    def refused(self) -> dict[str, int]:
        return {p.FaultCode(c).name: int(self.fw.stats.refused[c]) for c in range(8) if self.fw.stats.refused[c]}

    @property
    def stats(self) -> dict[str, int]:
        return {name: int(getattr(self.fw.stats, name)) for name, _ in Stats._fields_ if name != "refused"}

    def __getattr__(self, name: str) -> Any:  # the physics and its read-outs: the wrapped virtual robot's
        if name in ("robot", "fw", "lib"):
            raise AttributeError(name)
        return getattr(self.robot, name)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--build"]:
        print("usage: python -m firmware_bridge.cfirmware --build", file=sys.stderr)
        return 2
    try:
        path = build()
        load(path)
    except FirmwareBuildError as exc:
        print(f"C firmware: {exc}", file=sys.stderr)
        return 1
    print(f"C firmware: built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
