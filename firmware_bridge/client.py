"""The robot client: handshake, arm with soft start, commands, disarm, e-stop, reconnect (numpy + pyserial).

The host never trusts the policy (clamps, rate limits, NaN guard belong to the control loop and the
runtime's safety filter); this class makes sure it talks to the robot it expects before anything moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware_bridge import protocol as p
from firmware_bridge.link import Link, LinkError


class HandshakeError(RuntimeError):
    """The robot is not the one expected (version, schema, joints, limits, rate); never armed."""


@dataclass(frozen=True)
class Expected:
    """What the host expects of the robot, usually from a policy manifest.

    Attributes:
        joint_names: in command order.
        position_limits: per joint (lo, hi) in rad, or None to skip the check.
        rate_hz: the control rate.
        limit_tolerance: rad; the robot's limits may differ from the manifest's by at most this.
    """

    joint_names: tuple[str, ...]
    position_limits: tuple[tuple[float, float] | None, ...] | None = None
    rate_hz: int | None = None
    limit_tolerance: float = 1e-3


def check_robot(ack: p.HelloAck, expected: Expected | None, asked: int = p.VERSION) -> None:
    """Raise `HandshakeError` naming the first mismatch (the protocol is checked even with no expectations)."""
    if ack.proto_version != asked:
        raise HandshakeError(
            f"robot answered a version {asked} HELLO with protocol version {ack.proto_version}; this host speaks "
            f"{' and '.join(map(str, p.VERSIONS))}"
        )
    want = p.SCHEMA_HASHES[ack.proto_version]
    if ack.schema_hash != want:
        raise HandshakeError(
            f"robot's message schema hash 0x{ack.schema_hash:08x} != host's 0x{want:08x} (protocol version "
            f"{ack.proto_version}): firmware and host were built from different protocol definitions"
        )
    if expected is None:
        return
    names = tuple(j.name for j in ack.joints)
    if len(names) != len(expected.joint_names):
        raise HandshakeError(f"robot has {len(names)} joints, the policy expects {len(expected.joint_names)}")
    if names != expected.joint_names:
        bad = next(i for i, (a, b) in enumerate(zip(names, expected.joint_names, strict=True)) if a != b)
        raise HandshakeError(f"joint {bad} is {names[bad]!r} on the robot but {expected.joint_names[bad]!r} in the policy")
    if expected.position_limits is not None:
        for j, lim in zip(ack.joints, expected.position_limits, strict=True):
            if lim is not None and (
                abs(j.pos_min - lim[0]) > expected.limit_tolerance or abs(j.pos_max - lim[1]) > expected.limit_tolerance
            ):
                raise HandshakeError(
                    f"joint {j.name!r} limits are [{j.pos_min:.3f}, {j.pos_max:.3f}] rad on the robot, "
                    f"[{lim[0]:.3f}, {lim[1]:.3f}] in the policy"
                )
    if expected.rate_hz is not None and ack.rate_hz != expected.rate_hz:
        raise HandshakeError(f"robot runs at {ack.rate_hz} Hz, the policy at {expected.rate_hz} Hz")


class RobotClient:
    def __init__(self, url: str, expected: Expected | None = None, baud: int = 1_000_000) -> None:
        self.url, self.expected, self.baud = url, expected, baud
        self.link: Link | None = None
        self.robot: p.HelloAck | None = None

    def connect(self, timeout: float = 2.0, versions: tuple[int, ...] = (2, 1)) -> p.HelloAck:
        """Open the link and handshake; the robot stays DISARMED. Raises HandshakeError or LinkError.

        HELLO goes out in each of `versions` in turn (newest first): a version 1 firmware drops a version 2
        frame unread, so no answer within a third of `timeout` moves on to the next. The session then speaks
        the version the robot answered (`link.format`)."""
        if self.link is not None:
            self.link.close()
        self.link = Link(self.url, self.baud)
        n = len(self.expected.joint_names) if self.expected else 0
        rate = self.expected.rate_hz if self.expected and self.expected.rate_hz else 0
        ack = None
        for i, v in enumerate(versions):
            wait = timeout if i == len(versions) - 1 else timeout / 3
            self.link.send(p.MsgType.HELLO, p.Hello(p.SCHEMA_HASHES[v], n, rate, v).pack(), version=v)
            try:
                ack = p.HelloAck.unpack(self.link.wait_for(p.MsgType.HELLO_ACK, wait).payload)
                break
            except LinkError:
                if i == len(versions) - 1 or not self.link.alive:
                    raise
        try:
            check_robot(ack, self.expected, asked=v)
        except HandshakeError:
            self.link.send(p.MsgType.DISARM, version=v)
            self.close()  # release the port: a refused robot is not kept open
            raise
        self.link.format = p.WireFormat.from_ack(ack)
        self.robot = ack
        return ack

    def arm(self, hold: p.Command, timeout: float = 5.0) -> p.State:
        """ARM, then stream `hold` (e.g. the default pose) at the robot's rate until it reports ACTIVE."""
        link = self._link()
        link.send(p.MsgType.ARM)
        period = 1.0 / max(self.robot.rate_hz if self.robot else 50, 1)
        deadline = time.monotonic() + timeout
        next_t = time.monotonic()
        while time.monotonic() < deadline:
            link.send_command(hold)  # feeds the watchdog during the soft start
            latest = link.latest()
            if latest is not None:
                state, _, _ = latest
                if state.state == p.FirmwareState.ACTIVE:
                    return state
                if state.state == p.FirmwareState.FAULT:
                    raise LinkError(f"robot faulted while arming (fault code {p.FaultCode(state.fault).name})")
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        raise LinkError(f"robot did not reach ACTIVE within {timeout} s")

    def command(self, cmd: p.Command) -> int:
        return self._link().send_command(cmd)

    def heartbeat(self) -> None:
        self._link().send(p.MsgType.HEARTBEAT)

    def estop(self) -> None:
        self._link().send(p.MsgType.ESTOP)

    def disarm(self) -> None:
        self._link().send(p.MsgType.DISARM)

    def reconnect(self, attempts: int = 5, backoff_s: float = 0.2) -> p.HelloAck:
        """After a lost link: reopen, re-handshake; the robot comes back DISARMED (it is told so)."""
        last: Exception | None = None
        for k in range(attempts):
            try:
                ack = self.connect()
                self._link().send(p.MsgType.DISARM)
                return ack
            except (LinkError, OSError) as exc:
                last = exc
                time.sleep(backoff_s * (2**k))
        raise LinkError(f"could not reconnect to {self.url} after {attempts} attempts: {last}")

    def latest(self) -> Any:
        return self._link().latest()

    def _link(self) -> Link:
        if self.link is None:
            raise LinkError("not connected: call connect() first")
        return self.link

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None


def hold_command(default_pose: np.ndarray, kp: float, kd: float) -> p.Command:
    n = len(default_pose)
    return p.Command(
        p.CommandMode.POSITION, np.asarray(default_pose, np.float32), np.full(n, kp, np.float32), np.full(n, kd, np.float32)
    )
