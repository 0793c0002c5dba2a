"""`robot-meta conformance --port URL`: does a robot's firmware speak docs/protocol.md? Run it against your board
(on a stand, nothing within reach: it arms the robot, holds the pose it reads, and trips every fault path).

Each check sends what the protocol defines and watches what comes back, in order: the handshake in version 2 and
in version 1, STATE while disarmed at the declared rate, every refusal with its FAULT frame and `detail` (a
COMMAND while disarmed, a wrong payload length, a replayed seq), the soft start, `ack_seq`, the ACK
answering a COMMAND (version 2), the e-stop latch (ARM ignored until DISARM), a malformed COMMAND and a mode the robot does
not run (latched BAD_COMMAND), the watchdog's timing, and a closing run at the robot's rate with round-trip
statistics. The same checks pass against the virtual robot (`robot-meta virtual-robot`, C or Python firmware).
"""

from __future__ import annotations

import struct
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from firmware_bridge import protocol as p
from firmware_bridge.bench_bridge import control_loop, describe_missed
from firmware_bridge.client import HandshakeError, RobotClient
from firmware_bridge.link import Link, LinkError

ACK_TRIES = 3  # COMMANDs sent to time the answer; the fastest is judged


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


class Conformance:
    """The checks against one robot; `run()` returns the report. Each check leaves the robot DISARMED or ACTIVE as
    the next one expects."""

    def __init__(
        self, url: str, baud: int = 1_000_000, seconds: float = 30.0, timeout: float = 2.0, link_ms: float = 10.0
    ) -> None:
        """`link_ms`: what the timing checks allow for the link and the host (USB adapters, a loaded host)."""
        self.url, self.baud, self.seconds, self.timeout, self.link_ms = url, baud, seconds, timeout, link_ms
        self.checks: list[Check] = []
        self.client = RobotClient(url, baud=baud)
        self.link: Link | None = None
        self.ack: p.HelloAck | None = None

    # ---- helpers ------------------------------------------------------------------------------------------
    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    @property
    def period(self) -> float:
        return 1.0 / self.ack.rate_hz

    def state(self) -> p.State:
        latest = self.link.latest()
        if latest is None:
            raise LinkError(f"no STATE from {self.url}")
        return latest[0]

    def state_soon(self, state: int) -> p.State:
        """The first STATE in `state` within the timeout, else the newest one (the check then says what it was)."""
        try:
            return self.link.wait_state(lambda s: s.state == state, self.timeout)
        except LinkError:
            return self.state()

    def fault_frames(self, wait: float) -> list[p.Fault]:
        """FAULT frames that arrived, waiting up to `wait` s for the first."""
        deadline = time.monotonic() + wait
        found = self.link.pending(p.MsgType.FAULT)
        while not found and time.monotonic() < deadline:
            time.sleep(0.002)
            found = self.link.pending(p.MsgType.FAULT)
        return [p.Fault.unpack(f.payload) for f in found]

    def mode(self) -> int:
        return p.CommandMode.POSITION if self.ack.modes & 1 else p.CommandMode.TORQUE

    def hold(self) -> p.Command:
        """Hold the measured pose (position servos, moderate gains) or apply no torque (torque motors)."""
        n = len(self.ack.joints)
        q = np.asarray(self.state().q, np.float32)
        if self.mode() == p.CommandMode.POSITION:
            return p.Command(
                p.CommandMode.POSITION, np.nan_to_num(q), np.full(n, 20.0, np.float32), np.full(n, 0.5, np.float32)
            )
        z = np.zeros(n, np.float32)
        return p.Command(p.CommandMode.TORQUE, z, z, z)

    def arm(self) -> bool:
        """DISARM, ARM, and the soft start fed at the robot's rate until ACTIVE."""
        self.link.send(p.MsgType.DISARM)
        time.sleep(3 * self.period)
        hold = self.hold()
        try:
            self.client.arm(hold, timeout=10.0)
        except LinkError:
            return False
        self.link.pending(p.MsgType.FAULT)
        return True

    def raw(self, mtype: int, seq: int, payload: bytes) -> None:
        """A frame with a chosen seq (a replay), outside the link's own count."""
        self.link.ser.write(p.encode_frame(p.Frame(mtype, seq, payload, version=self.link.format.version)))

    # ---- the checks ---------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        try:
            self._run()
        except (LinkError, HandshakeError) as exc:
            self.check("link", False, str(exc))
        finally:
            if self.client.link is not None:
                try:
                    self.client.disarm()
                except LinkError:
                    pass
                self.client.close()
        failed = [c.name for c in self.checks if not c.passed]
        return {
            "url": self.url,
            "passed": not failed,
            "failed": failed,
            "checks": [asdict(c) for c in self.checks],
            "robot": None
            if self.ack is None
            else {
                "protocol_version": self.ack.proto_version,
                "joints": [j.name for j in self.ack.joints],
                "rate_hz": self.ack.rate_hz,
                "watchdog_ms": self.ack.watchdog_ms,
                "modes": [name for bit, name in p.MODE_BITS.items() if self.ack.modes >> bit & 1],
            },
        }

    def _run(self) -> None:
        ack = self.client.connect(timeout=self.timeout, versions=(2,))  # HandshakeError/LinkError: failed below
        self.link, self.ack = self.client.link, ack
        self.check(
            "handshake_v2",
            ack.proto_version == 2 and ack.schema_hash == p.SCHEMA_HASH_V2 and ack.modes & 3,
            f"HELLO_ACK version {ack.proto_version}, schema 0x{ack.schema_hash:08x}, {len(ack.joints)} joints, "
            f"{ack.rate_hz} Hz, watchdog {ack.watchdog_ms} ms, modes 0b{ack.modes:02b}",
        )
        # version 1 still answered, in version 1's layout; then back to version 2 (both while DISARMED)
        self.link.send(p.MsgType.HELLO, p.Hello(p.SCHEMA_HASH, 0, 0, 1).pack(), version=1)
        try:
            v1 = p.HelloAck.unpack(self.link.wait_for(p.MsgType.HELLO_ACK, self.timeout).payload)
            self.check(
                "hello_v1_answered_in_v1",
                v1.proto_version == 1 and v1.schema_hash == p.SCHEMA_HASH,
                f"version {v1.proto_version}",
            )
        except (LinkError, p.ProtocolError) as exc:
            self.check("hello_v1_answered_in_v1", False, str(exc))
        self.link.send(p.MsgType.HELLO, p.Hello(p.SCHEMA_HASH_V2, 0, 0, 2).pack(), version=2)
        self.link.wait_for(p.MsgType.HELLO_ACK, self.timeout)
        self.link.format = p.WireFormat.from_ack(ack)

        # STATE while disarmed, at the declared rate
        self.link.wait_state(lambda s: True, self.timeout)
        first, t0 = self.link.stats.frames_rx, time.monotonic()
        time.sleep(1.0)
        rate = (self.link.stats.frames_rx - first) / (time.monotonic() - t0)
        st = self.state()
        self.check(
            "state_at_rate_while_disarmed",
            st.state == p.FirmwareState.DISARMED and abs(rate - ack.rate_hz) <= 0.1 * ack.rate_hz,
            f"{rate:.0f} frames/s for {ack.rate_hz} Hz, state {p.FirmwareState(st.state).name}",
        )

        # refusals that do not latch
        n = len(ack.joints)
        hold = self.hold()
        seq = self.link.send_command(hold)
        got = self.fault_frames(self.timeout)
        self.check(
            "command_while_disarmed_refused",
            got == [p.Fault(p.FaultCode.NOT_ARMED, seq)] and self.state().state == p.FirmwareState.DISARMED,
            f"FAULT frames {[(p.FaultCode(f.code).name, f.detail) for f in got]} for seq {seq}",
        )
        seq = self.link.send(p.MsgType.HEARTBEAT, b"\x00" * 5)
        got = self.fault_frames(self.timeout)
        self.check(
            "wrong_length_refused",
            got == [p.Fault(p.FaultCode.BAD_LENGTH, seq)] and self.state().state == p.FirmwareState.DISARMED,
            f"HEARTBEAT with 5 payload bytes: {[(p.FaultCode(f.code).name, f.detail) for f in got]}",
        )

        # soft start, ack_seq, the answer to a COMMAND, a replay
        armed = self.arm()
        self.check("arm_soft_start_active", armed, "ACTIVE after ARM and the soft start" if armed else "never ACTIVE")
        if not armed:
            return
        hold = self.hold()
        v2 = self.link.format.version >= 2
        bound = self.period + self.link_ms / 1e3
        tries = []  # (seq, seconds until ack_seq named it, an ACK frame answered it)
        # Up to ACK_TRIES COMMANDs, the fastest judged: a host stall (a loaded machine, a hypervisor) delays one
        # answer, a firmware that answers late delays every one.
        while len(tries) < ACK_TRIES and not (tries and tries[-1][1] <= bound and (tries[-1][2] or not v2)):
            t0 = time.monotonic()
            seq = self.link.send_command(hold)
            while self.link.last_ack != seq and time.monotonic() - t0 < self.timeout:
                time.sleep(0.0002)
            acked = self.link.acked is not None and self.link.acked[0].ack_seq == seq
            tries.append((seq, time.monotonic() - t0 if self.link.last_ack == seq else float("inf"), acked))
        seq, last_wait, _ = tries[-1]  # the replay below repeats the seq before the last COMMAND
        _, waited, acked = min(tries, key=lambda t: t[1])
        self.check(
            "ack_seq_is_the_last_command",
            all(w < float("inf") for _, w, _ in tries),
            f"ack_seq {self.link.last_ack} for COMMAND {seq}, {last_wait * 1e3:.1f} ms after it was sent",
        )
        self.check(
            "command_acknowledged_within_a_period",
            waited <= bound and (acked or not v2),
            f"{waited * 1e3:.2f} ms, the fastest of {len(tries)} (a period is {self.period * 1e3:.1f} ms; version 2 "
            "ACKs at once)" + ("" if acked or not v2 else "; no ACK frame answered it"),
        )
        self.raw(p.MsgType.COMMAND, (seq - 1) & 0xFFFF, self.link.format.pack_command(hold))
        got = self.fault_frames(self.timeout)
        time.sleep(2 * self.period)
        self.check(
            "replay_refused",
            got == [p.Fault(p.FaultCode.STALE_SEQ, (seq - 1) & 0xFFFF)]
            and self.state().state == p.FirmwareState.ACTIVE
            and self.link.last_ack == seq,
            f"{[(p.FaultCode(f.code).name, f.detail) for f in got]}, ack_seq {self.link.last_ack}",
        )

        # the e-stop latch
        self.link.send(p.MsgType.ESTOP)
        got = self.fault_frames(self.timeout)
        st = self.state_soon(p.FirmwareState.FAULT)
        self.link.send(p.MsgType.ARM)
        time.sleep(5 * self.period)  # an ARM while latched must change nothing
        st = self.state() if st.state == p.FirmwareState.FAULT else st
        self.check(
            "estop_latches_until_disarm",
            [f.code for f in got] == [p.FaultCode.ESTOP]
            and st.state == p.FirmwareState.FAULT
            and st.fault == p.FaultCode.ESTOP,
            f"FAULT {[(p.FaultCode(f.code).name, f.detail) for f in got]}; after ARM: {p.FirmwareState(st.state).name}",
        )
        self.link.send(p.MsgType.DISARM)
        st = self.link.wait_state(lambda s: s.state == p.FirmwareState.DISARMED, self.timeout)
        self.check("disarm_clears_the_latch", st.fault == p.FaultCode.NONE, f"fault {p.FaultCode(st.fault).name}")

        # commands that latch BAD_COMMAND
        for name, payload in (
            (
                "wrong_joint_count_latches",
                struct.pack("<BB", self.mode(), n - 1) + bytes((12 if self.link.format.version == 1 else 6) * (n - 1)),
            ),
            ("unsupported_mode_latches", self._other_mode(hold)),
        ):
            if payload is None:
                self.check(name, True, "the robot runs both modes: nothing to refuse")
                continue
            if not self.arm():
                self.check(name, False, "could not arm")
                continue
            seq = self.link.send(p.MsgType.COMMAND, payload)
            got = self.fault_frames(self.timeout)
            st = self.state_soon(p.FirmwareState.FAULT)
            self.check(
                name,
                got == [p.Fault(p.FaultCode.BAD_COMMAND, seq)] and st.state == p.FirmwareState.FAULT,
                f"{[(p.FaultCode(f.code).name, f.detail) for f in got]}, state {p.FirmwareState(st.state).name}",
            )

        # the watchdog: from the last COMMAND to the FAULT frame, within a period (+ the link's delay) of its time
        if self.arm():
            hold = self.hold()
            for _ in range(5):
                self.link.send_command(hold)
                time.sleep(self.period)
            t_last = time.monotonic()
            self.link.send_command(hold)
            got, t_fault = [], None
            deadline = t_last + ack.watchdog_ms / 1000 + 1.0
            next_beat = t_last + self.period
            while not got and time.monotonic() < deadline:
                got = [p.Fault.unpack(f.payload) for f in self.link.pending(p.MsgType.FAULT)]
                t_fault = time.monotonic()
                if t_fault >= next_beat:  # HEARTBEATs meanwhile: only a COMMAND may feed the watchdog
                    self.link.send(p.MsgType.HEARTBEAT)
                    next_beat += self.period
                time.sleep(0.0005)
            late_ms = None if t_fault is None else (t_fault - t_last) * 1e3
            ok = [f.code for f in got] == [p.FaultCode.WATCHDOG] and late_ms is not None
            ok = ok and ack.watchdog_ms <= late_ms <= ack.watchdog_ms + self.period * 1e3 + self.link_ms
            self.check(
                "watchdog_on_time_heartbeats_do_not_feed_it",
                ok,
                f"FAULT {[(p.FaultCode(f.code).name) for f in got]} {late_ms:.1f} ms after the last COMMAND "
                f"(watchdog {ack.watchdog_ms} ms, period {self.period * 1e3:.1f} ms, {self.link_ms:g} ms allowed for the link)"
                if late_ms is not None
                else "no FAULT frame",
            )

        # a run at the robot's rate
        if not self.arm():
            self.check("run_at_rate", False, "could not arm")
            return
        hold = self.hold()
        gaps0 = self.link.stats.seq_gaps
        loop = control_loop(self.link, hold, self.seconds, ack.rate_hz)  # the loop `bench bridge` times
        ticks, missed = loop["ticks"], loop["missed_deadlines"]
        stats = self.link.stats.summary()
        faults = self.link.pending(p.MsgType.FAULT)
        st = self.state()
        self.check(
            "run_at_rate",
            not faults and st.state == p.FirmwareState.ACTIVE and stats["rtt_samples"] > 0.9 * ticks,
            f"{ticks} COMMANDs in {self.seconds:g} s at {ack.rate_hz} Hz: RTT p50 {stats['rtt_p50_us']:.0f} us, p99 "
            f"{stats['rtt_p99_us']:.0f} us, {missed} missed deadlines ({describe_missed(loop['missed_by_cause'])}), "
            f"{self.link.stats.seq_gaps - gaps0} STATE seq gaps, "
            f"{len(faults)} FAULT frames"
            + ("" if loop["cpu_steal_pct"] is None else f", {loop['cpu_steal_pct']:.2f}% of the host's CPU time stolen"),
        )
        self.run_stats = {**stats, **loop}

    def _other_mode(self, hold: p.Command) -> bytes | None:
        if self.ack.modes & 3 == 3:
            return None
        other = p.CommandMode.TORQUE if self.mode() == p.CommandMode.POSITION else p.CommandMode.POSITION
        n = len(hold.target)
        z = np.zeros(n, np.float32)
        return self.link.format.pack_command(p.Command(other, z, z, z))


def run_conformance(url: str, baud: int = 1_000_000, seconds: float = 30.0) -> dict[str, Any]:
    return Conformance(url, baud, seconds).run()
