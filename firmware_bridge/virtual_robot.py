"""A virtual robot: the firmware state machine of docs/protocol.md over real MuJoCo physics of a sim_tasks robot.

`VirtualFirmware` is the firmware, with no I/O and an injected clock (`tick(now_us)`), so that watchdog and
state-machine tests never sleep. It speaks frames: `handle(frame, rx_us)` takes a decoded host frame and the
time it arrived and returns the frames to send back; `tick` advances the physics to `now_us` and returns the
STATE (and any FAULT) to send. `firmware_bridge.virtual_robot_server` serves it on a pty or TCP, with baud pacing and fault injection.

Both protocol versions: a session speaks the version of the HELLO that opened it (version 1 until one arrives),
and in version 2 every applied COMMAND is answered at once with an ACK (the physics advanced to the COMMAND's
arrival first, the COMMAND applied from then on), besides the STATE every tick sends.

Physics: the task family's model. POSITION commands drive position actuators (ctrl = target, clamped to
the joint range); TORQUE commands drive motors (ctrl = target / gear). DISARMED disables actuation; FAULT
disables actuation and applies joint damping (`DAMPING` N m s/rad); ARMING moves the targets from the
measured pose to the default pose over `arming_s` (soft start).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# sim_tasks first: importing it picks MuJoCo's headless OpenGL backend (MUJOCO_GL), which MuJoCo reads once
# when it is first imported (a field report renders the session afterwards)
from sim_tasks import TaskSim

# isort: split
import mujoco
import numpy as np

from firmware_bridge import protocol as p

DAMPING = 2.0  # N m s/rad, joint damping in FAULT


@dataclass
class FirmwareConfig:
    rate_hz: int = 50
    watchdog_ms: int = 100  # no COMMAND for this long in ARMING/ACTIVE -> FAULT(WATCHDOG)
    arming_s: float = 1.0  # soft-start duration


def default_watchdog_ms(rate_hz: int) -> int:
    """At least 100 ms and 3 control periods: a host that misses one tick is not faulted for it."""
    return max(100, -(-3000 // rate_hz))


@dataclass
class VirtualFirmware:
    """The firmware emulator for one robot of a task family (any task: payload, terrain...)."""

    family: Any
    task: Any = None
    config: FirmwareConfig = field(default_factory=FirmwareConfig)

    def __post_init__(self) -> None:

        self.sim = TaskSim(self.family, self.task or self.family.default_task())
        self.sim.reset(np.random.default_rng(0))
        m = self.sim.model
        self.model, self.data = m, self.sim.data
        self.joint_ids = [int(m.actuator_trnid[i, 0]) for i in range(m.nu)]
        self.qpos_adr = np.array([m.jnt_qposadr[j] for j in self.joint_ids])
        self.dof_adr = np.array([m.jnt_dofadr[j] for j in self.joint_ids])
        # The body the IMU and the velocity estimator sit on: the first body after the world when it moves on
        # joints of its own that no motor drives (a floating or planar base), else the world itself (a fixed-base
        # arm: its base reads upright and still, as an IMU bolted to the pedestal would).
        first = [j for j in range(m.njnt) if m.jnt_bodyid[j] == 1]
        self.root = 1 if any(j not in self.joint_ids for j in first) else 0
        self.position_servo = bool(np.all(m.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE))
        self.default_pose = (
            self.sim.actions.to_ctrl(np.zeros(m.nu)) if self.position_servo else self.data.qpos[self.qpos_adr].copy()
        )
        self.lo = np.array([m.jnt_range[j][0] for j in self.joint_ids])
        self.hi = np.array([m.jnt_range[j][1] for j in self.joint_ids])
        self.state = p.FirmwareState.DISARMED
        self.fault = p.FaultCode.NONE
        self.seq = 0
        self.last_cmd_seq = 0
        self.last_cmd_us: int | None = None
        self.now_us = 0
        self._arm_start_us = 0
        self._arm_from = self.data.qpos[self.qpos_adr].copy()
        self._acc = 0.0
        self.commands_applied = 0
        self.arm_requests = 0  # ARM frames received (what a test of 'nothing was armed' counts)
        self.fault_at_us: int | None = None  # firmware clock when FAULT was last entered
        # (t_us, qpos, payload kg) every `record_every` ticks when > 0: a session's motion, rendered afterwards
        self.record_every = 0
        self.trajectory: list[tuple[int, np.ndarray, float]] = []
        self._ticks = 0
        self.refused: dict[str, int] = {}  # frames refused without a latch, by FaultCode name
        self._accepted_any = False  # no COMMAND accepted since the last ARM: the first seq is taken as it comes
        self.format = p.WireFormat()  # version 1 until a HELLO says otherwise
        self._sensor_key: tuple | None = None
        self._sensors: tuple[np.ndarray, ...] = ()
        self._disable(True)

    # ---- physics helpers ---------------------------------------------------------------------------
    def _disable(self, off: bool) -> None:
        if off:
            self.model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_ACTUATION)
        else:
            self.model.opt.disableflags &= ~int(mujoco.mjtDisableBit.mjDSBL_ACTUATION)

    def _frame(self, mtype: int, payload: bytes = b"", version: int | None = None) -> p.Frame:
        self.seq = (self.seq + 1) & 0xFFFF
        v = self.format.version if version is None else version
        return p.Frame(mtype, self.seq, payload, t_dev_us=self.now_us & 0xFFFFFFFF, ack_seq=self.last_cmd_seq, version=v)

    def _enter_fault(self, code: int, detail: int = 0) -> list[p.Frame]:
        """Latch FAULT (damping) and say why in a FAULT frame (`detail`: the offending COMMAND's seq, if any)."""
        self.state, self.fault = p.FirmwareState.FAULT, code
        self.fault_at_us = self.now_us
        self._disable(True)
        return [self._frame(p.MsgType.FAULT, p.Fault(code, detail & 0xFFFF).pack())]

    def scales(self) -> p.Scales:
        """Version 2's fixed point for this robot: each field's range over 32767 steps (saturating past it).
        Positions to +-pi (or the joint's limit, if wider): 96 urad steps; velocities to +-100 rad/s; torques to
        the motor's peak; gains to 655 N m/rad and 65.5 N m s/rad; body rates to 35 rad/s, specific force to 16 g,
        velocity to 20 m/s."""
        n = self.model.nu
        ack = self.hello_ack(1)
        q = tuple(max(np.pi, abs(j.pos_min), abs(j.pos_max)) / 32767 for j in ack.joints)
        tau = tuple(max(j.torque_max, 1e-3) / 32767 for j in ack.joints)
        return p.Scales(q, (100 / 32767,) * n, tau, (0.01,) * n, (0.001,) * n, 35 / 32767, 16 * 9.81 / 32767, 20 / 32767)

    def hello_ack(self, version: int = 1) -> p.HelloAck:
        m = self.model
        joints = tuple(
            p.JointSpec(
                m.joint(j).name,
                float(self.lo[i]),
                float(self.hi[i]),
                30.0,
                float(abs(m.actuator_forcerange[i][1])) if m.actuator_forcelimited[i] else float(m.actuator_gear[i][0]),
            )
            for i, j in enumerate(self.joint_ids)
        )
        mode = p.CommandMode.POSITION if self.position_servo else p.CommandMode.TORQUE
        return p.HelloAck(
            p.SCHEMA_HASHES[version],
            self.config.watchdog_ms,
            self.config.rate_hz,
            joints,
            version,
            modes=1 << int(mode),
            scales=self.scales() if version >= 2 else None,
        )

    # ---- host frames ---------------------------------------------------------------------------------
    def handle(self, frame: p.Frame, rx_us: int | None = None) -> list[p.Frame]:
        """Act on one host frame.

        Args:
            frame: a decoded host frame.
            rx_us: when its last byte arrived, on the firmware clock (µs); defaults to the last tick. The
                watchdog counts from here, as a UART interrupt on a real board stamps a command when it
                arrives: stamping it with the last tick instead would make a command that arrived on time, but
                was read late by a busy serving thread, look up to one period older than it is.
        """
        t = frame.type
        rx = self.now_us if rx_us is None else max(rx_us, self.now_us)
        want = p.HOST_PAYLOAD_BYTES.get(t)
        if want is not None and len(frame.payload) != want:
            return self._report(p.FaultCode.BAD_LENGTH, frame.seq)  # ignored: a truncated or padded frame
        if t == p.MsgType.HELLO:
            # answered in the HELLO's own version, so an older host reads the reply (and refuses by name what it
            # cannot run); the session switches version only while DISARMED, never under a running host
            ack = self.hello_ack(frame.version)
            if self.state == p.FirmwareState.DISARMED:
                self.format = p.WireFormat.from_ack(ack)
            return [self._frame(p.MsgType.HELLO_ACK, ack.pack(), version=frame.version)]
        if t == p.MsgType.ESTOP:
            return self._enter_fault(p.FaultCode.ESTOP)
        if t == p.MsgType.DISARM:
            self.state, self.fault = p.FirmwareState.DISARMED, p.FaultCode.NONE
            self._disable(True)
            return []
        if t == p.MsgType.ARM:
            self.arm_requests += 1
            if self.state == p.FirmwareState.DISARMED:
                self.state = p.FirmwareState.ARMING
                self._arm_start_us = self.now_us
                self._arm_from = self.data.qpos[self.qpos_adr].copy()
                self.last_cmd_us = rx  # the watchdog starts now
                self._accepted_any = False  # a new session: any first seq is accepted
                # hold the measured pose (servos) or no torque (motors) from the ARM on, not what the last session
                # left in the drives
                self.data.ctrl[:] = self._arm_from if self.position_servo else 0.0
                self._disable(False)
            return []  # ARM in FAULT is ignored: leaving FAULT takes DISARM first
        if t == p.MsgType.COMMAND:
            return self._command(frame, rx)
        return []  # HEARTBEAT and anything else: nothing to do (and it does not feed the watchdog)

    def _command(self, frame: p.Frame, rx: int) -> list[p.Frame]:
        """A COMMAND: refused and reported unless armed and in sequence; a malformed one latches FAULT."""
        if self.state not in (p.FirmwareState.ARMING, p.FirmwareState.ACTIVE):
            return self._report(p.FaultCode.NOT_ARMED, frame.seq)
        nu = self.model.nu
        if frame.version != self.format.version:  # another version's layout would be misread: refused, latched
            return self._enter_fault(p.FaultCode.BAD_COMMAND, frame.seq)
        try:
            cmd = self.format.unpack_command(frame.payload)
        except p.ProtocolError:
            return self._enter_fault(p.FaultCode.BAD_COMMAND, frame.seq)
        if len(frame.payload) != self.format.command_bytes(nu) or len(cmd.target) != nu:
            return self._enter_fault(p.FaultCode.BAD_COMMAND, frame.seq)  # wrong joint count, or bytes after it
        if not all(np.all(np.isfinite(v)) for v in (cmd.target, cmd.kp, cmd.kd)):
            return self._enter_fault(p.FaultCode.BAD_COMMAND, frame.seq)
        wanted = p.CommandMode.POSITION if self.position_servo else p.CommandMode.TORQUE
        if cmd.mode != wanted:
            return self._enter_fault(p.FaultCode.BAD_COMMAND, frame.seq)  # a mode this robot does not run
        if self._accepted_any and not 0 < p.seq_delta(frame.seq, self.last_cmd_seq) < 0x8000:
            return self._report(p.FaultCode.STALE_SEQ, frame.seq)  # a replay or an older frame: not applied
        self._accepted_any = True
        self.last_cmd_us = rx
        self.last_cmd_seq = frame.seq  # ack_seq: the last COMMAND accepted (fed the watchdog; applied if ACTIVE)
        if self.state == p.FirmwareState.ACTIVE:
            if self.format.version >= 2:  # the physics up to this COMMAND's arrival, applied at once, then ACK
                out = self._advance(rx)
                self._apply(cmd)
                self.commands_applied += 1
                return [*out, self._frame(p.MsgType.ACK, p.Ack(int(self.state), int(self.fault)).pack())]
            self._apply(cmd)
            self.commands_applied += 1
        return []

    def _report(self, code: int, seq: int) -> list[p.Frame]:
        """A FAULT frame for a refused frame, without entering FAULT (STATE's state says whether it latched)."""
        self.refused[p.FaultCode(code).name] = self.refused.get(p.FaultCode(code).name, 0) + 1
        return [self._frame(p.MsgType.FAULT, p.Fault(code, seq & 0xFFFF).pack())]

    def _apply(self, cmd: p.Command) -> None:
        if self.position_servo:
            self.data.ctrl[:] = np.clip(cmd.target, self.lo, self.hi)  # the firmware's own joint-limit clamp
        else:
            gear = self.model.actuator_gear[:, 0]
            self.data.ctrl[:] = np.clip(
                cmd.target / gear, self.model.actuator_ctrlrange[:, 0], self.model.actuator_ctrlrange[:, 1]
            )

    # ---- time ----------------------------------------------------------------------------------------
    def tick(self, now_us: int) -> list[p.Frame]:
        """Advance physics to `now_us`, run the watchdog and soft start, and return STATE (+ FAULT)."""
        out = self._advance(now_us)
        out.append(self._state_frame())  # the sensors as of the tick; version 2 also ACKs each COMMAND
        self.record_tick(now_us)
        return out

    def record_tick(self, now_us: int) -> None:
        """Count a tick; every `record_every`-th keeps (t_us, joint positions, payload kg) for the session's video."""
        self._ticks += 1
        if self.record_every and self._ticks % self.record_every == 0:
            self.trajectory.append((now_us, self.data.qpos.copy(), float(self.sim.payload_mass)))

    def _state_frame(self) -> p.Frame:
        return self._frame(p.MsgType.STATE, self.format.pack_state(self.read_state()))

    def _advance(self, now_us: int) -> list[p.Frame]:
        """The physics to `now_us` (never backwards) under the drives as they were, then the watchdog and the soft
        start at `now_us` (what they decide acts from now on); returns any FAULT frame."""
        out: list[p.Frame] = []
        now_us = max(now_us, self.now_us)
        dt = max(0, now_us - self.now_us) * 1e-6
        self.now_us = now_us
        self.step_physics(dt, damping=self.state == p.FirmwareState.FAULT)
        if self.state in (p.FirmwareState.ARMING, p.FirmwareState.ACTIVE) and self.last_cmd_us is not None:
            if now_us - self.last_cmd_us > self.config.watchdog_ms * 1000:
                out += self._enter_fault(p.FaultCode.WATCHDOG)
        if self.state == p.FirmwareState.ARMING:
            arming_us = round(self.config.arming_s * 1e6)  # whole microseconds, as the C firmware counts
            frac = min(1.0, (now_us - self._arm_start_us) / arming_us) if arming_us else 1.0
            target = self._arm_from + frac * (self.default_pose - self._arm_from)
            if self.position_servo:
                self.data.ctrl[:] = target
            if frac >= 1.0:
                self.state = p.FirmwareState.ACTIVE
        return out

    def step_physics(self, dt: float, damping: bool) -> None:
        """The robot's physics `dt` seconds on (whole MuJoCo steps; the rest carried to the next call), with
        joint damping (`DAMPING`) when the drives are in FAULT."""
        self.data.qfrc_applied[:] = 0.0
        if damping:
            self.data.qfrc_applied[self.dof_adr] = -DAMPING * self.data.qvel[self.dof_adr]
        self._acc += dt
        sim_dt = self.model.opt.timestep
        n = int(self._acc / sim_dt + 1e-9)
        if n:
            mujoco.mj_step(self.model, self.data, nstep=n)
            self._acc -= n * sim_dt

    def read_state(self) -> p.State:
        """What the sensors read now. The physics moves in whole MuJoCo steps (4 ms on the quadruped), so a robot
        ticking at 1 kHz reads the same physics several ticks running: those reads come from a cache keyed by the
        physics' time and state, which keeps a 1 kHz tick short."""
        d = self.data
        key = (d.time, d.qpos.tobytes(), d.qvel.tobytes(), d.actuator_force.tobytes())
        if key != self._sensor_key:
            self._sensor_key, self._sensors = key, self._sense()
        return p.State(int(self.state), *self._sensors, int(self.fault))

    def _sense(self) -> tuple[np.ndarray, ...]:
        d, m = self.data, self.model
        torso = self.root
        rot = d.xmat[torso].reshape(3, 3)
        vel6 = np.zeros(6)
        # (angular, linear) in world axes at the body's centre of mass; MuJoCo's local option would use the
        # principal-inertia frame (ximat), not the body frame an IMU is bolted to.
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_BODY, torso, vel6, 0)
        (wx, wy, wz), (rx, ry, rz) = vel6[:3], d.xpos[torso] - d.xipos[torso]
        # v at the body frame's origin = v at the centre of mass + omega x r (written out: np.cross is slow)
        v_origin = vel6[3:] + np.array((wy * rz - wz * ry, wz * rx - wx * rz, wx * ry - wy * rx))
        body = rot.T @ np.stack([vel6[:3], v_origin, -m.opt.gravity], axis=1)  # body frame, as the IMU reports
        f32 = np.float32
        return (
            d.qpos[self.qpos_adr].astype(f32),
            d.qvel[self.dof_adr].astype(f32),
            (d.actuator_force * m.actuator_gear[:, 0]).astype(f32),  # joint torque, N m (the gear applied)
            d.xquat[torso].astype(f32),
            body[:, 0].astype(f32),
            body[:, 2].astype(f32),
            body[:, 1].astype(f32),
        )
