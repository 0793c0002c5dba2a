"""`robot-meta deploy`: the control loop on the robot computer (onnxruntime + pyserial + mcap, no torch).

Handshake and check the robot against the manifest (joint count, names, limits, control rate) before
arming; soft start (the firmware's ARMING ramp, fed with the hold command); then, at the manifest's
ctrl_dt on a deadline schedule (the next tick is due one period after the previous deadline, never one
period after the compute ended, so there is no drift; an overrun is counted and, when a whole period is
lost, skipped rather than burst):

    STATE -> observation (robot_io) -> reward of the previous action -> adapter.act -> safety filter
          -> COMMAND (clamped to the actuator range)

It e-stops to damping on Ctrl-C, a non-finite state or action, a tilt beyond the manifest's limit, a
state older than `stale_periods` control periods, a robot FAULT or a dead link, and says why. Every tick
goes to the MCAP log (deploy/telemetry.py). A live status line shows rate, jitter, link quality and the
latent summary.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploy.manifest import PolicyManifest
from deploy.robot_io import CommandMapper, Commands, ObservationBuilder, RewardEstimator, tilt_deg
from deploy.runtime import PolicyDirError, SafetyFilter, load_adapter, read_manifest
from deploy.telemetry import TelemetryLog
from firmware_bridge import protocol as p
from firmware_bridge.client import Expected, RobotClient
from firmware_bridge.link import LinkError


class DeployError(RuntimeError):
    """The deployment stopped for a reason the operator must act on (the message says which)."""


@dataclass
class DeployConfig:
    """Settings of one deployment.

    Attributes:
        duration_s: stop (disarm) after this long in ACTIVE; None runs until Ctrl-C.
        commands: what the operator sets, e.g. {"target_velocity": 1.5} (m/s): every command the policy
            observes or its reward tracks, each inside its allowed range (checked before arming).
        max_delta: rate limit on the normalized action per tick (2.0 = none).
        stale_periods: e-stop when the newest STATE is older than this many control periods.
        max_tilt_deg: e-stop beyond this tilt from upright; None takes the manifest's `robot.safety`.
        status: print the live status line (stderr).
        baud: serial baud rate for device paths (URLs like socket:// ignore it).
        arm_timeout_s: the soft start must reach ACTIVE within this.
    """

    duration_s: float | None = None
    commands: dict[str, float] = field(default_factory=dict)
    max_delta: float = 1.0
    stale_periods: float = 3.0
    max_tilt_deg: float | None = None
    status: bool = True
    baud: int = 1_000_000
    arm_timeout_s: float = 5.0


@dataclass
class DeployResult:
    reason: str  # "duration", "operator", "stale", "nan_state", "nan_action", "nan_target", "tilt", "robot_fault", "link_down", "stopped"
    estopped: bool
    ticks: int
    late_ticks: int
    active_s: float
    link: dict[str, Any]
    safety: dict[str, int]
    errors: list[float]  # tracking error per tick (empty when the manifest defines no robot-side reward)
    times: list[float]  # s since ACTIVE, per tick
    latents: list[list[float]]  # the adapter's latent summary per tick (PEARL z mean), may be empty
    events: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("errors", "times", "latents")}


def _expected(manifest: PolicyManifest) -> Any:

    return Expected(
        joint_names=tuple(j.joint for j in manifest.joints),
        position_limits=tuple(j.position_limits for j in manifest.joints),
        rate_hz=manifest.robot.rate_hz,
    )


@dataclass
class _Loop:
    """The control loop's running record: what it measured, its schedule, and the events it logged."""

    log: TelemetryLog | None = None
    reason: str = "stopped"
    estopped: bool = False
    ticks: int = 0
    late: int = 0
    t_active: float = 0.0  # monotonic time of ACTIVE, s
    t_end: float = 0.0  # s since ACTIVE when the loop ended
    next_t: float = 0.0  # monotonic deadline of the next tick, s
    last_status: float = 0.0
    last_link: float = 0.0
    prev_action: np.ndarray | None = None
    jitter: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    errors: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    latents: list[list[float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, kind: str, t: float, **kv: Any) -> None:
        e = {"event": kind, "t": t, **kv}
        self.events.append(e)
        if self.log:
            self.log.write("/event", e)


class Deployment:
    """One policy on one robot. `run()` blocks until the duration, a stop condition, or `stop()`."""

    def __init__(self, policy_dir: str | Path, port: str, config: DeployConfig | None = None, log: TelemetryLog | None = None):
        self.cfg = config or DeployConfig()
        manifest = read_manifest(Path(policy_dir))
        if manifest.robot is None:
            raise PolicyDirError(f"{policy_dir}: the manifest has no robot section; re-export it with robot-meta export")
        safety = SafetyFilter(manifest.action.dim, max_delta=self.cfg.max_delta)
        self.adapter = load_adapter(policy_dir, safety=safety, manifest=manifest)
        self.manifest = manifest
        robot = manifest.robot
        self.kind = self.manifest.kind
        self.commands = Commands(self.manifest, self.cfg.commands)  # refused by name before anything is armed
        self.obs = ObservationBuilder(self.manifest, self.commands)
        self._obs_slices = [(sl.name, sl.start, sl.start + sl.size) for sl in self.manifest.observation]  # for the log
        self.mapper = CommandMapper.from_manifest(self.manifest)
        spec = robot.reward
        if spec is None and self.kind != "none":
            raise PolicyDirError(
                f"{policy_dir}: an adaptive policy needs a robot-side reward and the manifest defines none "
                f"(family {self.manifest.family!r})"
            )
        self.reward = RewardEstimator(self.manifest, self.commands) if spec is not None else None
        self.period = self.manifest.ctrl_dt
        self.max_tilt = self.cfg.max_tilt_deg or robot.safety.max_tilt_deg
        self.port = port
        self.log = log
        self._stop_reason: str | None = None

    def set_command(self, name: str, value: float) -> None:
        """Change a command while running (a field plan's schedule); refused by name like the first ones."""
        self.commands.set(name, value)

    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to stop at its next tick (thread-safe: a flag)."""
        self._stop_reason = reason

    # ------------------------------------------------------------------------------------------------
    def run(self, on_tick: Callable[[int, float], dict[str, Any] | None] | None = None) -> DeployResult:
        """Handshake, soft start, control loop. `on_tick(k, t)` runs before each tick's STATE is read and may
        return an event (logged, e.g. a payload change); field sessions drive their plan with it."""

        client = RobotClient(self.port, _expected(self.manifest), baud=self.cfg.baud)
        ack = client.connect()  # HandshakeError before anything is armed
        loop = _Loop(log=self.log)
        self.wire = WireGuard.from_ack(ack, self.mapper.mode)  # the robot's own limits, not the policy dir's
        self._log_session(ack)
        hold = self._hold_command()
        loop.t_active = time.monotonic()
        try:
            client.arm(hold, timeout=self.cfg.arm_timeout_s)
            loop.t_active = time.monotonic()
            loop.event("armed", 0.0)
            self.adapter.reset()
            loop.next_t = time.monotonic()
            while (reason := self._tick(client, loop, hold.mode, on_tick)) is None:
                pass
            loop.reason = reason
        except KeyboardInterrupt:
            loop.reason = "operator"
        except LinkError as exc:
            loop.reason = "link_down"
            loop.event("link_error", time.monotonic() - loop.t_active, message=str(exc))
        finally:
            stats = self._shut_down(client, loop)
        s = self.adapter.safety
        return DeployResult(
            reason=loop.reason,
            estopped=loop.estopped,
            ticks=loop.ticks,
            late_ticks=loop.late,
            active_s=loop.t_end,
            link=stats,
            safety={
                "nonfinite": s.nonfinite_count,
                "clamped": s.clamped_count,
                "rate_limited": s.rate_limited_count,
                "wire_clamped": self.wire.clamped if self.wire is not None else 0,
            },
            errors=loop.errors,
            times=loop.times,
            latents=loop.latents,
            events=loop.events,
        )

    def _log_session(self, ack: Any) -> None:
        """What the log needs to be read without the policy dir: the policy, the robot, the layouts."""
        if not self.log:
            return
        self.log.write(
            "/session",
            {
                "policy": {k: getattr(self.manifest, k) for k in ("algo", "family", "git_sha", "trained", "ctrl_dt")},
                "adaptation": self.kind,
                "robot": {"joints": [j.name for j in ack.joints], "rate_hz": ack.rate_hz, "watchdog_ms": ack.watchdog_ms},
                "commands": dict(self.commands.values),
                "port": self.port,
                "observation": [dataclasses.asdict(sl) for sl in self.manifest.observation],
                "tracking_error_floor": self.manifest.tracking_error_floor,
                "action": list(self.manifest.action.names),
            },
        )
        self.log.flush()  # before ARM: a kill while arming leaves a log that says what was being armed

    wire: WireGuard | None = None

    def _hold_command(self) -> Any:
        """The COMMAND held during soft start: zero torque, or the default pose with the servo gains."""

        mode = p.CommandMode.TORQUE if self.mapper.mode == "torque" else p.CommandMode.POSITION
        return p.Command(mode, self.mapper.hold_target, self.mapper.kp, self.mapper.kd)

    def _tick(
        self, client: Any, loop: _Loop, mode: Any, on_tick: Callable[[int, float], dict[str, Any] | None] | None
    ) -> str | None:
        """One control period on the deadline schedule; returns why the loop must stop, or None to go on."""

        period, link = self.period, client.link
        now = time.monotonic()
        if loop.next_t > now:
            time.sleep(loop.next_t - now)
        t_tick = time.monotonic()
        t = t_tick - loop.t_active
        loop.jitter.append(t_tick - loop.next_t)
        if self._stop_reason:
            return self._stop_reason
        if self.cfg.duration_s is not None and t >= self.cfg.duration_s:
            return "duration"
        if on_tick is not None:
            e = on_tick(loop.ticks, t)
            if e:
                loop.event(e.pop("event"), t, **e)
        if not link.alive:
            return "link_down"
        latest = client.latest()
        if latest is None or latest[1] > self.cfg.stale_periods * period:
            return "stale"
        state, age, seq = latest
        if state.state == p.FirmwareState.FAULT:
            loop.event("robot_fault", t, fault=p.FaultCode(state.fault).name)
            return "robot_fault"
        values = np.concatenate([state.q, state.dq, state.quat, state.gyro, state.base_vel])
        if not np.all(np.isfinite(values)):
            return "nan_state"
        tilt = tilt_deg(state.quat)
        if tilt > self.max_tilt:
            loop.event("tilt", t, tilt_deg=tilt, limit_deg=self.max_tilt)
            return "tilt"
        t0 = time.perf_counter()
        obs = self.obs(state)
        r, err = self.reward(obs, loop.prev_action, state) if self.reward else (0.0, float("nan"))
        nonfinite_before = self.adapter.safety.nonfinite_count
        action = self.adapter.act(obs, r)
        if self.adapter.safety.nonfinite_count != nonfinite_before:
            return "nan_action"
        target = self.mapper.targets(self.adapter.to_ctrl(action))
        if not np.all(np.isfinite(target)):  # after scaling: nothing non-finite reaches the wire
            return "nan_target"
        target = self.wire(target)
        client.command(p.Command(mode, target, self.mapper.kp, self.mapper.kd))
        compute_us = (time.perf_counter() - t0) * 1e6
        loop.prev_action = action
        summary = self.adapter.summary()
        readout = self.manifest.belief_readout
        if readout is not None:  # what the belief says about the payload, for the log and the field report
            summary[f"{readout.param}_estimate"] = readout.estimate(self.adapter.belief().tolist())
        loop.ticks += 1
        loop.errors.append(err)
        loop.times.append(t)
        if "z" in summary:
            loop.latents.append(summary["z"])
        if self.log:
            self.log.write(
                "/tick",
                {
                    "k": loop.ticks,
                    "t": t,
                    "obs": obs,
                    "obs_named": {name: obs[a:b] for name, a, b in self._obs_slices},
                    "action": action,
                    "target": target,
                    "reward": r,
                    "tracking_error": err,
                    "latent": summary,
                    "state_age_ms": age * 1e3,
                    "state_seq": seq,
                    "tilt_deg": tilt,
                    "jitter_ms": (t_tick - loop.next_t) * 1e3,
                    "compute_us": compute_us,
                },
            )
            now_ns = time.time_ns()
            w, x, y, z = (float(v) for v in state.quat)
            self.log.write(
                "/pose",
                {
                    "timestamp": {"sec": now_ns // 1_000_000_000, "nsec": now_ns % 1_000_000_000},
                    "frame_id": "world",
                    "pose": {"position": {"x": 0.0, "y": 0.0, "z": 0.0}, "orientation": {"x": x, "y": y, "z": z, "w": w}},
                },
                t_ns=now_ns,
            )
        log_due = self.log is not None and t - loop.last_link >= 1.0
        status_due = self.cfg.status and t - loop.last_status >= 0.5
        if log_due or status_due:  # percentiles over the RTT history: at most once a tick, only when due
            link_summary = link.stats.summary()
            if log_due:
                self.log.write("/link", {"t": t, **link_summary})
                loop.last_link = t
            if status_due:
                self._status(t, loop.ticks, loop.jitter, link_summary, err, summary)
                loop.last_status = t
        loop.next_t += period
        now = time.monotonic()
        if now > loop.next_t:  # this tick ran past the next deadline
            loop.late += 1
            link.stats.late_ticks += 1
            if now > loop.next_t + period:  # a whole period lost: skip it, never burst to catch up
                loop.next_t = now
        return None

    def _shut_down(self, client: Any, loop: _Loop) -> dict[str, Any]:
        """Disarm after a planned stop, e-stop (latched damping) after any other; returns the link statistics."""

        loop.t_end = time.monotonic() - loop.t_active
        stats = client.link.stats.summary() if client.link else {}
        try:
            if loop.reason in ("duration", "stopped"):
                client.disarm()
            else:
                client.estop()
                loop.estopped = True
        except (LinkError, OSError):
            loop.estopped = loop.reason != "duration"
        loop.event("estop" if loop.estopped else "disarm", loop.t_end, reason=loop.reason)
        if self.log:
            self.log.write("/link", {"t": loop.t_end, **stats})
        if self.cfg.status:
            print(file=sys.stderr)
        client.close()
        return stats

    def _status(self, t: float, ticks: int, jitter: deque, link: dict[str, Any], err: float, summary: dict) -> None:
        rate = ticks / t if t > 0 else 0.0
        j = np.array(jitter) * 1e3
        z = summary.get("z")
        lat = (
            f"z [{' '.join(f'{v:+.2f}' for v in z)}]" if z else (f"|h| {summary['h_norm']:.2f}" if "h_norm" in summary else "")
        )
        rtt = link.get("rtt_p50_us", float("nan"))
        bad = link.get("crc_errors", 0) + link.get("cobs_errors", 0)
        line = (
            f"\r[deploy] t {t:6.1f} s | {rate:5.1f} Hz | jitter p99 {np.percentile(j, 99):5.2f} ms | late {link.get('late_ticks', 0)}"
            f" | rtt {rtt / 1e3 if math.isfinite(rtt) else float('nan'):.1f} ms | bad frames {bad} gaps {link.get('seq_gaps', 0)}"
            f" | err {err:.2f} | {lat}"
        )
        print(line, end="", file=sys.stderr, flush=True)


@dataclass
class WireGuard:
    """The last clamp before the wire, in physical units, with the limits the robot itself reported in HELLO_ACK
    (torque mode: |target| <= torque_max per joint, N m; position mode: pos_min <= target <= pos_max, rad). A
    policy dir, however it was edited, cannot command more than the robot says it takes. `clamped` counts ticks
    where it had to act (a policy that trips it is asking for more than the robot's limits)."""

    low: np.ndarray
    high: np.ndarray
    clamped: int = 0

    @classmethod
    def from_ack(cls, ack: Any, mode: str) -> WireGuard:
        if mode == "torque":
            high = np.array([j.torque_max for j in ack.joints], np.float32)
            return cls(-high, high)
        return cls(
            np.array([j.pos_min for j in ack.joints], np.float32), np.array([j.pos_max for j in ack.joints], np.float32)
        )

    def __call__(self, target: np.ndarray) -> np.ndarray:
        out = np.clip(target, self.low, self.high).astype(np.float32)
        if not np.array_equal(out, target):
            self.clamped += 1
        return out
