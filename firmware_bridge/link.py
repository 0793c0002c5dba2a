"""The host side of the serial link: numpy and pyserial only.

`Link(url)` opens anything `serial.serial_for_url` takes (`/dev/ttyUSB0`, `socket://127.0.0.1:5760`,
`loop://`, `rfc2217://...`, `spy://...`). A reader thread decodes frames into a latest-state slot that the
control loop reads without blocking, and queues the other messages (HELLO_ACK, FAULT). `LinkStats` counts
everything: frames, each kind of decode failure, sequence gaps, round-trip time from `ack_seq`, late ticks.
"""

from __future__ import annotations

import collections
import os
import select
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import serial

from firmware_bridge import protocol as p


class LinkError(ConnectionError):
    """The link is down or did not answer in time; the message says which and what to check."""


@dataclass
class LinkStats:
    frames_rx: int = 0
    frames_tx: int = 0
    seq_gaps: int = 0  # firmware frames lost (gaps in its sequence)
    late_ticks: int = 0  # counted by the control loop
    # robot ticks whose STATE acknowledges no COMMAND newer than the tick before: a period the host missed, as the
    # robot saw it (counted from the tick STATEs' ack_seq, so it holds for any firmware and either version)
    stale_ticks: int = 0
    # for each stale tick: (µs of firmware time since the tick before, µs between the host reading the two STATEs),
    # what tells a late robot tick from a host that did not read (`bench_bridge.missed_causes`)
    stale_context: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100_000))
    rtt_us: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100_000))
    decoder: p.DecoderStats = field(default_factory=p.DecoderStats)

    def summary(self) -> dict[str, Any]:
        rtt = np.array(self.rtt_us) if self.rtt_us else None  # none timed yet: NaN, without numpy's warning
        d = self.decoder
        return {
            "frames_rx": self.frames_rx,
            "frames_tx": self.frames_tx,
            "seq_gaps": self.seq_gaps,
            "late_ticks": self.late_ticks,
            "stale_ticks": self.stale_ticks,
            "crc_errors": d.crc_errors,
            "cobs_errors": d.cobs_errors,
            "oversize": d.oversize,
            "short": d.short,
            "version_errors": d.version_errors,
            "flag_errors": d.flag_errors,
            "rtt_p50_us": float(np.percentile(rtt, 50)) if rtt is not None else float("nan"),
            "rtt_p99_us": float(np.percentile(rtt, 99)) if rtt is not None else float("nan"),
            "rtt_samples": len(self.rtt_us),
        }


def check_latency_timer(port: str, sysfs: str = "/sys/bus/usb-serial/devices") -> int | None:
    """Linux USB-serial latency timer in ms (None when the port has none); warns above 2 ms."""
    name = os.path.basename(os.path.realpath(port))
    path = f"{sysfs}/{name}/latency_timer"
    try:
        with open(path) as f:
            ms = int(f.read().strip())
    except (OSError, ValueError):
        return None
    if ms > 2:
        warnings.warn(
            f"{port}: USB latency timer is {ms} ms (round trips of ~{ms} ms); set it to 1: echo 1 | sudo tee {path}",
            stacklevel=2,
        )
    return ms


def tight_timers(slack_ns: int = 1000) -> bool:
    """Linux: this thread's timer slack to `slack_ns` (default 50 µs), so a sleep or select that ends a control
    period wakes within microseconds, not up to 50 µs late; threads started from it inherit it. A loop at 1 kHz
    sets it (the virtual robot's server, `bench bridge`). False where there is no prctl (not Linux)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(29, ctypes.c_ulong(slack_ns), 0, 0, 0) == 0  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        return False


class TickClock:
    """The robot's control tick as the host sees it, from the tick STATEs: each carries the firmware's clock at
    its tick (`t_dev_us`), so `arrival - t_dev` is the clock offset plus that frame's delay (the robot's work, the
    wire, the OS). Its minimum over the last `window` STATEs is the earliest a STATE arrives after its tick; that
    phase is what a host locks its sends to (`next_arrival`), following a robot clock that drifts from its own.
    """

    def __init__(self, window: int = 256) -> None:
        self._offsets: collections.deque[float] = collections.deque(maxlen=window)
        self._last_raw: int | None = None
        self._t_dev = 0.0  # the newest tick's firmware time, s (unwrapped from 32 bits of µs)
        self._lock = threading.Lock()  # the link's reader thread observes, the control loop asks

    def observe(self, t_dev_us: int, arrival: float) -> None:
        with self._lock:
            if self._last_raw is not None:
                self._t_dev += ((t_dev_us - self._last_raw) & 0xFFFFFFFF) * 1e-6
            else:
                self._t_dev = t_dev_us * 1e-6
            self._last_raw = t_dev_us
            self._offsets.append(arrival - self._t_dev)

    @property
    def ready(self) -> bool:
        return len(self._offsets) >= min(16, self._offsets.maxlen)

    def next_arrival(self, after: float, period: float) -> float:
        """The first host time later than `after` at which a tick's STATE arrives at the earliest (monotonic s),
        never before the newest tick's."""
        with self._lock:
            t = self._t_dev + min(self._offsets)
        return t + max(0, np.ceil((after - t) / period + 1e-9)) * period


class Link:
    def __init__(self, url: str, baud: int = 1_000_000, timeout: float = 0.01) -> None:
        try:
            self.ser = serial.serial_for_url(url, baudrate=baud, timeout=timeout)
        except (serial.SerialException, ValueError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from None
        if url.startswith("/dev/"):
            try:
                self.ser.set_low_latency_mode(True)  # Linux: ASYNC_LOW_LATENCY on USB-serial adapters
            except (AttributeError, ValueError, OSError):
                pass
            self.latency_timer_ms = check_latency_timer(url)
        self.url = url
        posix = type(self.ser) is serial.Serial and os.name == "posix" and self.ser.timeout  # not spy:// (it logs reads)
        self._fd: int | None = self.ser.fileno() if posix else None
        self.stats = LinkStats()
        self._decoder = p.FrameDecoder(stats=self.stats.decoder)
        self._lock = threading.Lock()
        self._latest: tuple[p.Frame, p.State, float] | None = None
        self._messages: collections.deque[p.Frame] = collections.deque(maxlen=256)
        self._got = threading.Condition(self._lock)
        self._sent_at: dict[int, float] = {}
        self._last_ack = None
        self._last_rx_seq: int | None = None
        self.tick_clock = TickClock()
        self.acked: tuple[p.Frame, float] | None = None  # the newest ACK (version 2) and when it arrived
        self.seq = 0
        # the session's layout of STATE and COMMAND (version 1 until the client's handshake sets the robot's)
        self.format = p.WireFormat()
        self.error: str | None = None
        self._running = True
        self._thread = threading.Thread(target=self._reader, name=f"link-reader {url}", daemon=True)
        self._thread.start()

    # ---- reader thread -----------------------------------------------------------------------------
    def _read_some(self) -> bytes:
        """What has arrived (up to 4 KiB), waiting up to the port's timeout. A POSIX serial port or pty is read
        with one select and one read: pyserial's `read(in_waiting or 1)` takes two rounds per frame (the first
        byte, then the rest), 40-60 µs at 1 kHz on a small machine."""
        if self._fd is None:
            return self.ser.read(self.ser.in_waiting or 1)
        ready, _, _ = select.select([self._fd], [], [], self.ser.timeout)
        if not ready:
            return b""
        data = os.read(self._fd, 4096)
        if not data:
            raise serial.SerialException("device reports readiness to read but returned no data (disconnected?)")
        return data

    def _reader(self) -> None:
        while self._running:
            try:
                data = self._read_some()
            except (serial.SerialException, OSError, TypeError, ValueError) as exc:
                self.error = f"{self.url}: {exc}"
                self._running = False
                with self._got:
                    self._got.notify_all()
                return
            if not data:
                continue
            now = time.monotonic()
            for frame in self._decoder.feed(data):
                try:
                    self._dispatch(frame, now)
                except p.ProtocolError:
                    self.stats.decoder.short += 1  # a frame with a valid CRC but a payload that does not parse

    def _dispatch(self, frame: p.Frame, now: float) -> None:
        self.stats.frames_rx += 1
        if self._last_rx_seq is not None:
            gap = p.seq_delta(frame.seq, self._last_rx_seq)
            if gap > 1:
                self.stats.seq_gaps += gap - 1
        self._last_rx_seq = frame.seq
        if frame.ack_seq != self._last_ack:
            sent = self._sent_at.pop(frame.ack_seq, None)
            if sent is not None:
                self.stats.rtt_us.append((now - sent) * 1e6)
            self._last_ack = frame.ack_seq
        with self._got:
            if frame.type == p.MsgType.ACK:
                # the answer to a COMMAND (version 2): its ack_seq timed the round trip above; the controller acts
                # on the tick's STATEs, whose sensors are read at the robot's own period (a steady delay)
                self.acked = (frame, now)
            elif frame.type == p.MsgType.STATE:
                if self._latest is not None and frame.ack_seq == self._latest[0].ack_seq:
                    self.stats.stale_ticks += 1
                    before, _, read_before = self._latest
                    self.stats.stale_context.append(
                        (((frame.t_dev_us - before.t_dev_us) & 0xFFFFFFFF), (now - read_before) * 1e6)
                    )
                self.tick_clock.observe(frame.t_dev_us, now)
                self._latest = (frame, self.format.unpack_state(frame.payload), now)
            else:
                self._messages.append(frame)
            self._got.notify_all()

    # ---- API ---------------------------------------------------------------------------------------
    def send(self, mtype: int, payload: bytes = b"", version: int | None = None) -> int:
        """Send one frame in the session's version (or `version`: the handshake's HELLO); returns its seq."""
        if not self._running:
            raise LinkError(f"link to {self.url} is down: {self.error}")
        self.seq = (self.seq + 1) & 0xFFFF
        ack = self._latest[0].seq if self._latest else 0
        v = self.format.version if version is None else version
        data = p.encode_frame(p.Frame(mtype, self.seq, payload, ack_seq=ack, version=v))
        if mtype == p.MsgType.COMMAND:
            self._sent_at[self.seq] = time.monotonic()
            if len(self._sent_at) > 4096:  # never acknowledged (dropped): forget the oldest
                for k in list(self._sent_at)[:2048]:
                    del self._sent_at[k]
        try:
            self.ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"write to {self.url} failed: {exc}") from None
        self.stats.frames_tx += 1
        return self.seq

    @property
    def last_ack(self) -> int | None:
        """The `ack_seq` of the newest firmware frame: the last COMMAND the robot accepted."""
        return self._last_ack

    def send_command(self, cmd: p.Command) -> int:
        """A COMMAND in the session's layout (float32, or version 2's fixed point at the robot's scales)."""
        return self.send(p.MsgType.COMMAND, self.format.pack_command(cmd))

    def latest(self) -> tuple[p.State, float, int] | None:
        """(newest STATE, its age in s, its seq), or None before the first; never blocks."""
        with self._lock:
            if self._latest is None:
                return None
            frame, state, at = self._latest
        return state, time.monotonic() - at, frame.seq

    def stale_snapshot(self, clear: bool = False) -> tuple[int, list[tuple[int, float]]]:
        """(stale ticks so far, their `LinkStats.stale_context`), read together under the reader's lock (the
        reader thread goes on counting, so two separate reads could disagree by a tick); `clear` then empties the
        context, so that a measurement starting here counts from the returned number and keeps only its own."""
        with self._lock:
            snapshot = self.stats.stale_ticks, list(self.stats.stale_context)
            if clear:
                self.stats.stale_context.clear()
            return snapshot

    def wait_for(self, mtype: int, timeout: float) -> p.Frame:
        """The next queued message of `mtype` (HELLO_ACK, FAULT, ...), waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._got:
            while True:
                for f in list(self._messages):
                    if f.type == mtype:
                        self._messages.remove(f)
                        return f
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    raise LinkError(
                        f"no {p.MsgType(mtype).name} from {self.url} within {timeout} s"
                        + (f" (link down: {self.error})" if self.error else "; is the robot powered and the baud right?")
                    )
                self._got.wait(left)

    def wait_state(self, pred: Any, timeout: float) -> p.State:
        deadline = time.monotonic() + timeout
        with self._got:
            while True:
                if self._latest is not None and pred(self._latest[1]):
                    return self._latest[1]
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    raise LinkError(f"timed out after {timeout} s waiting for the robot's state on {self.url}")
                self._got.wait(left)

    def pending(self, mtype: int) -> list[p.Frame]:
        with self._lock:
            found = [f for f in self._messages if f.type == mtype]
            for f in found:
                self._messages.remove(f)
        return found

    @property
    def alive(self) -> bool:
        return self._running

    def close(self) -> None:
        self._running = False
        try:
            self.ser.cancel_read()
        except (AttributeError, OSError, serial.SerialException):
            pass
        self._thread.join(timeout=1.0)
        try:
            self.ser.close()
        except (OSError, serial.SerialException):
            pass
