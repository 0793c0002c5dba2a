"""The virtual robot's server: the virtual firmware on a pty or TCP, paced at a baud rate, with injected faults.

The loop runs the firmware at its control rate on a deadline schedule: it reads what the host sent,
hands each frame to the firmware, ticks the physics, and writes the replies paced at `baud` (10 bits per
byte, 8N1), so wire time is real. Faults (`FaultSpec.parse("drop=0.01,corrupt=0.001,stall=2:0.3,
disconnect=5,payload=3:2.0;6:4.0")`): drop a frame, flip a byte, stop sending for a while, close the
link, change the payload at given times.
"""

from __future__ import annotations

import collections
import os
import select
import socket
import sys
import time
import tty
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge import protocol as p
from firmware_bridge.link import tight_timers
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware, default_watchdog_ms
from sim_tasks import get_family


@dataclass
class FaultSpec:
    drop: float = 0.0  # probability that an outgoing frame is dropped
    corrupt: float = 0.0  # probability that one byte of an outgoing frame is flipped
    stall_at: float | None = None  # s after start: stop sending (and ticking) ...
    stall_for: float = 0.0  # ... for this long
    disconnect_at: float | None = None  # s after start: close the link
    payload: list[tuple[float, float]] = field(default_factory=list)  # (s, kg)

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        spec = cls()
        if not text:
            return spec
        for part in text.split(","):
            key, sep, value = part.partition("=")
            try:
                if not sep:
                    raise ValueError
                if key == "drop":
                    spec.drop = float(value)
                elif key == "corrupt":
                    spec.corrupt = float(value)
                elif key == "stall":
                    at, _, dur = value.partition(":")
                    spec.stall_at, spec.stall_for = float(at), float(dur)
                elif key == "disconnect":
                    spec.disconnect_at = float(value)
                elif key == "payload":
                    spec.payload = [(float(t), float(kg)) for t, kg in (item.split(":") for item in value.split(";"))]
                else:
                    raise KeyError(key)
            except (ValueError, KeyError):
                raise ValueError(
                    f"--faults entry {part!r} is not one of drop=P, corrupt=P, stall=T:S, disconnect=T, payload=T:KG;T:KG"
                ) from None
        if not (0 <= spec.drop <= 1 and 0 <= spec.corrupt <= 1):
            raise ValueError(f"--faults probabilities must be in [0, 1], got drop={spec.drop}, corrupt={spec.corrupt}")
        return spec


MAX_FRAMES_PER_TICK = 8  # host frames other than COMMAND handled between two ticks; the rest dropped, counted
TX_RING_BYTES = 4096  # the firmware's transmit ring: a frame that does not fit is dropped (counted as tx_dropped)


@dataclass
class ServeStats:
    ticks: int = 0
    late_ticks: int = 0
    frames_out: int = 0
    dropped: int = 0
    corrupted: int = 0
    frames_in: int = 0
    tx_dropped: int = 0  # frames not sent because nobody read the link (a full transmit buffer), or sent in part
    rx_dropped: int = 0  # frames past the per-tick budget (MAX_FRAMES_PER_TICK), not handled


class Endpoint:
    """Raw fd (pty master) or socket, with `read(max)` (non-blocking after select) and `write(bytes)`."""

    def __init__(self, fd: int | None = None, sock: socket.socket | None = None) -> None:
        self.fd, self.sock = fd, sock
        # Writes never block: a firmware whose host stopped reading keeps its loop and its watchdog running
        # (as a UART DMA ring drops what does not fit), so the robot still faults on time.
        if fd is not None:
            os.set_blocking(fd, False)
        else:
            sock.setblocking(False)

    def fileno(self) -> int:
        return self.fd if self.fd is not None else self.sock.fileno()

    def read(self) -> bytes:
        try:
            return os.read(self.fd, 4096) if self.fd is not None else self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            raise ConnectionError("link closed") from None

    def write(self, data: bytes) -> bool:
        """Send a frame's bytes without blocking; False if the transmit buffer took none or only part of them
        (the rest is dropped: the receiver resynchronizes at the next 0x00)."""
        try:
            n = os.write(self.fd, data) if self.fd is not None else self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            raise ConnectionError("link closed") from None
        return n == len(data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        if self.sock is not None:
            self.sock.close()


def open_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path) of a new pty in raw mode: a real serial device to pyserial."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave, os.ttyname(slave)


def serve(
    firmware: Any,
    endpoint: Endpoint,
    baud: int,
    faults: FaultSpec,
    duration: float | None = None,
    stop: Any = None,
    rng: np.random.Generator | None = None,
    requests: Any = None,
) -> ServeStats:
    """Run the firmware on `endpoint` until `duration` s, `stop.is_set()`, a disconnect, or the host closing.

    `requests`: a `queue.Queue` of callables `f(firmware)` run in this thread between ticks: how a field
    test changes the payload of a virtual robot at a moment it chooses (the physics is never touched
    mid-step by another thread)."""
    tight_timers()  # the tick's deadline and the paced writes wake on time (this thread only)
    rng = rng or np.random.default_rng(0)
    stats = ServeStats()
    decoder = p.FrameDecoder()
    period = 1.0 / firmware.config.rate_hz
    byte_time = 10.0 / baud
    start = time.monotonic()
    next_tick = start
    wire_free = start
    changes = sorted(faults.payload)
    # The transmit ring: frames waiting for their last byte to be on the wire (due time, bytes). Sending never
    # blocks the loop (a UART's DMA sends while the firmware runs): a frame is written to the link when its last
    # byte would have arrived, and one that does not fit the ring is dropped and counted.
    ring: collections.deque[tuple[float, bytes]] = collections.deque()
    ring_bytes = 0

    # A firmware that takes the link's bytes itself (the C firmware: its own decoder, its own per-tick budget)
    # gets them unparsed and gives back encoded frames; otherwise frames are decoded here and encoded on the way out.
    raw = hasattr(firmware, "feed_bytes")

    def send(frames: list[p.Frame] | list[bytes]) -> None:
        nonlocal wire_free, ring_bytes
        for f in frames:
            stats.frames_out += 1
            if faults.drop and rng.random() < faults.drop:
                stats.dropped += 1
                continue
            data = bytearray(f if isinstance(f, bytes) else p.encode_frame(f))
            if faults.corrupt and rng.random() < faults.corrupt:
                data[int(rng.integers(0, len(data) - 1))] ^= 1 << int(rng.integers(0, 8))
                stats.corrupted += 1
            if ring_bytes + len(data) > TX_RING_BYTES:
                stats.tx_dropped += 1
                continue
            wire_free = max(time.monotonic(), wire_free) + len(data) * byte_time
            ring.append((wire_free, bytes(data)))
            ring_bytes += len(data)

    def deliver() -> None:
        nonlocal ring_bytes
        now = time.monotonic()
        while ring and ring[0][0] <= now:
            data = ring.popleft()[1]
            ring_bytes -= len(data)
            if not endpoint.write(data):
                stats.tx_dropped += 1

    handled = 0  # frames handled since the last tick
    try:
        while True:
            now = time.monotonic()
            elapsed = now - start
            if (duration is not None and elapsed >= duration) or (stop is not None and stop.is_set()):
                break
            if faults.disconnect_at is not None and elapsed >= faults.disconnect_at:
                break
            timeout = max(0.0, min(next_tick, ring[0][0] if ring else next_tick) - now)
            ready, _, _ = select.select([endpoint], [], [], timeout)
            if ready:
                data = endpoint.read()
                rx_us = int((time.monotonic() - start) * 1e6)  # when these bytes arrived, on the firmware clock
                if not data and endpoint.sock is not None:
                    break  # the host closed the TCP connection
                silent = _stalled(faults, rx_us * 1e-6)  # a stalled robot sends nothing, answers included
                if raw:
                    replies = firmware.feed_bytes(data, rx_us)
                    if not silent:
                        send(replies)
                for frame in [] if raw else decoder.feed(data):
                    stats.frames_in += 1
                    if frame.type != p.MsgType.COMMAND:  # COMMANDs always (cheap, and they feed the watchdog)
                        if handled >= MAX_FRAMES_PER_TICK:  # the rest: bounded work per tick, whatever arrives
                            stats.rx_dropped += 1
                            continue
                        handled += 1
                    replies = firmware.handle(frame, rx_us)
                    if not silent:
                        send(replies)
            deliver()
            now = time.monotonic()
            if now >= next_tick:
                stalled = _stalled(faults, now - start)
                while changes and changes[0][0] <= now - start:
                    firmware.sim.set_payload(changes.pop(0)[1])
                while requests is not None and not requests.empty():
                    requests.get_nowait()(firmware)
                if not stalled:
                    now_us = int((now - start) * 1e6)
                    send(firmware.tick_bytes(now_us) if raw else firmware.tick(now_us))
                handled = 0
                stats.ticks += 1
                if now - next_tick > period:
                    stats.late_ticks += 1
                next_tick += period
                if next_tick < now - period:  # far behind (a stall): skip, do not burst
                    next_tick = now + period
    except ConnectionError:
        pass
    if raw:  # what the firmware's own decoder and budget counted
        stats.frames_in, stats.rx_dropped = firmware.stats["frames"], firmware.stats["rx_dropped"]
    return stats


def _stalled(faults: FaultSpec, elapsed_s: float) -> bool:
    return faults.stall_at is not None and faults.stall_at <= elapsed_s < faults.stall_at + faults.stall_for


class VirtualRobotThread:
    """A virtual robot served on a new pty from a background thread: `with VirtualRobotThread(fw) as vr:` then
    connect to `vr.port`. `vr.request(f)` runs `f(firmware)` between two ticks (e.g. a payload change)."""

    def __init__(self, firmware: Any, baud: int = 1_000_000, faults: FaultSpec | None = None) -> None:
        import queue
        import threading

        self.firmware = firmware
        self.master, self.slave, self.port = open_pty()
        self._stop = threading.Event()
        self._requests: queue.Queue = queue.Queue()
        self.stats: ServeStats | None = None

        def run() -> None:
            self.stats = serve(
                firmware, Endpoint(fd=self.master), baud, faults or FaultSpec(), None, self._stop, requests=self._requests
            )

        self._thread = threading.Thread(target=run, name=f"virtual-robot {self.port}", daemon=True)
        self._thread.start()

    def request(self, fn: Any) -> None:
        self._requests.put(fn)

    def set_payload(self, kg: float) -> None:
        """Change the payload between two ticks (the physics is never touched mid-step by another thread)."""
        self.request(lambda fw: fw.sim.set_payload(kg))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> VirtualRobotThread:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


FIRMWARES = ("auto", "c", "python")


def make_firmware(family: Any, task: Any = None, config: FirmwareConfig | None = None, firmware: str = "auto") -> Any:
    """The virtual robot's firmware: "c", the reference firmware a team flashes (firmware/rmfw.c, compiled with the
    system C compiler on first use); "python", the same state machine in Python (virtual_robot.py); "auto", the C
    one when a C compiler is found, else the Python one with one line saying so.

    Raises:
        cfirmware.FirmwareBuildError: "c" without a C compiler (the message says what to install).
    """
    if firmware not in FIRMWARES:
        raise ValueError(f"firmware {firmware!r} is not one of {', '.join(FIRMWARES)}")
    if firmware in ("c", "auto"):
        from firmware_bridge.cfirmware import CFirmware, find_compiler

        if firmware == "c" or find_compiler() is not None:
            return CFirmware(family, task, config)
        print(
            "virtual robot: no C compiler (cc, gcc, clang) for the reference C firmware; running its Python twin "
            "(apt-get install gcc for the C one)",
            file=sys.stderr,
        )
    return VirtualFirmware(family, task, config or FirmwareConfig())


def start_virtual_robot(family_name: str, rate_hz: int, payload_kg: float = 0.0, firmware: str = "auto") -> VirtualRobotThread:
    """A freshly booted virtual robot of a task family's default task on a new pty, served from a thread."""

    fam = get_family(family_name)
    config = FirmwareConfig(rate_hz=rate_hz, watchdog_ms=default_watchdog_ms(rate_hz))
    fw = make_firmware(fam, fam.default_task(), config, firmware)
    fw.sim.set_payload(payload_kg)
    return VirtualRobotThread(fw)
