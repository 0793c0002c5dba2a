"""`robot-meta bench bridge`: a 1 kHz control loop against the virtual robot over a pty.

The virtual robot runs in its own process (as firmware runs on its own chip); the host loop (`control_loop`) sends
one COMMAND per robot period, locked to the robot's tick (default) or on its own deadline schedule, and reads the
latest STATE. Reported: round trip from `ack_seq` (COMMAND sent -> the frame acknowledging it received: ACK in
version 2, the next STATE in version 1), p50/p99; missed deadlines (robot ticks whose STATE acknowledges no newer
COMMAND than the tick before) and host ticks that started more than a period late; and the wire-time budget of
the frame sizes at 1, 2 and 3 Mbaud (10 bits per byte). A pty does not add USB latency: on hardware, add the
adapter's (an FTDI latency timer of 1 ms at best). The emulator paces what it sends (STATE at the baud
rate); the host's writes into the pty are not paced, so the measured round trip holds one wire time, not two.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np

from firmware_bridge import protocol as p
from firmware_bridge.client import RobotClient, hold_command
from firmware_bridge.link import Link, tight_timers


def wire_budget(n_joints: int = 12) -> list[dict[str, Any]]:
    """Frame sizes on the wire and their time per baud rate, for both protocol versions (10 bits per byte).

    A round trip is the COMMAND and the frame acknowledging it: in version 1 the next tick's STATE, in version 2
    the ACK sent at once. The robot's line carries one STATE a period, and in version 2 one ACK as well."""
    z = np.zeros(n_joints, np.float32)
    state = p.State(
        2, z, z, z, np.zeros(4, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    )
    cmd = p.Command(0, z, z, z)
    one = (1.0,) * n_joints
    ack_b = len(p.encode_frame(p.Frame(p.MsgType.ACK, 0, p.Ack(2).pack(), version=2)))
    out = []
    for version in (1, 2):
        fmt = p.WireFormat(version, p.Scales(one, one, one, one, one, 1.0, 1.0, 1.0) if version == 2 else None)
        state_b = len(p.encode_frame(p.Frame(p.MsgType.STATE, 0, fmt.pack_state(state), version=version)))
        cmd_b = len(p.encode_frame(p.Frame(p.MsgType.COMMAND, 0, fmt.pack_command(cmd), version=version)))
        answer_b = ack_b if version == 2 else state_b
        for baud in (1_000_000, 2_000_000, 3_000_000):
            per_byte_us = 10 / baud * 1e6
            robot_line = (state_b + (ack_b if version == 2 else 0)) * per_byte_us
            out.append(
                {
                    "version": version,
                    "baud": baud,
                    "command_bytes": cmd_b,
                    "state_bytes": state_b,
                    "ack_bytes": ack_b if version == 2 else None,
                    "command_us": round(cmd_b * per_byte_us, 1),
                    "state_us": round(state_b * per_byte_us, 1),
                    "min_round_trip_us": round((cmd_b + answer_b) * per_byte_us, 1),
                    "robot_line_us_per_period": round(robot_line, 1),
                    "fits_1khz": (cmd_b + answer_b) * per_byte_us < 1000 and robot_line < 1000,
                }
            )
    return out


CLOCKS = ("robot", "host")  # what clocks a host loop at the robot's rate (control_loop)


def check_clock(clock: str) -> None:
    """Raises ValueError naming a clock that is not one of CLOCKS."""
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r} is not one of {', '.join(CLOCKS)}")


def cpu_times(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(steal, total) CPU time of the whole machine in clock ticks, from Linux's /proc/stat; None elsewhere.

    Steal is time the hypervisor ran something else while this virtual machine had work: a host stalled so is
    late for every tick in the stall, which no scheduling inside the machine can prevent."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return values[7], sum(values)


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Percent of all CPU time between two `cpu_times` readings that the hypervisor stole."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 2)


# why a robot tick got no new COMMAND (`missed_causes`), and how `bench bridge` and `conformance` word it
MISSED_CAUSES = {"host_read_late": "host did not read", "robot_tick_short": "robot tick late", "other": "other"}


def missed_causes(context: Any, period: float) -> dict[str, int]:
    """Why robot ticks got no new COMMAND, from `LinkStats.stale_context` ((µs of firmware time since the tick
    before, µs between the host reading the two STATEs) per stale tick) and the robot's period in s.

    - host_read_late: the stale tick's STATE was read within a quarter period of the one before (one read got
      both), so the host did not read for about a period: its process was not running (a stall of the host OS or,
      in a virtual machine, the hypervisor), and its answer to the tick before left late.
    - robot_tick_short: the robot's tick came less than 3/4 of a period after the one before (its timer caught up
      after a late tick), leaving a host answer less than a period to arrive: the robot's lateness, not the link's.
    - other: neither; the host read in time and the robot kept its period, so the host sent late or the line held
      the COMMAND past the tick.
    A tick that is both is counted as host_read_late. The counts add up to the stale ticks in `context`.
    """
    out = dict.fromkeys(MISSED_CAUSES, 0)
    for robot_us, read_us in context:
        if read_us < 0.25 * period * 1e6:
            out["host_read_late"] += 1
        elif robot_us < 0.75 * period * 1e6:
            out["robot_tick_short"] += 1
        else:
            out["other"] += 1
    return out


def describe_missed(by_cause: dict[str, int]) -> str:
    """`missed_causes` in words, as `bench bridge` and `conformance` print them."""
    return ", ".join(f"{MISSED_CAUSES[k]} {v}" for k, v in by_cause.items())


def control_loop(link: Link, hold: p.Command, seconds: float, rate_hz: int, clock: str = "robot") -> dict[str, Any]:
    """Send `hold` once a robot period for `seconds` on an armed link, as a controller at the robot's rate does.

    `clock`: "robot", each COMMAND leaves when the tick's STATE arrives at the earliest (`Link.tick_clock`), acting
    on the newest STATE there is; "host", the host's own deadline schedule (`next += period`, never
    sleep-after-work), in whatever phase it starts. Returns ticks (COMMANDs sent), missed_deadlines (robot ticks
    whose STATE acknowledges no newer COMMAND than the tick before) and missed_by_cause (`missed_causes`),
    host_late_ticks (host ticks that started more than a period late), tick_lateness_p99_us, cpu_steal_pct (the
    machine's CPU time taken by a hypervisor during the loop, None off Linux) and clock; the round trips are in
    `link.stats`, cleared at the start.
    """
    check_clock(clock)
    period = 1.0 / rate_hz
    while not link.tick_clock.ready:  # a few tick STATEs place the robot's tick (armed: commands flow)
        link.send_command(hold)
        time.sleep(period)
    link.stats.rtt_us.clear()
    stale0, _ = link.stale_snapshot(clear=True)
    late0 = link.stats.late_ticks
    ticks = 0
    lateness = []  # µs: each host tick's start after its due time
    cpu0 = cpu_times()
    start = time.monotonic()
    due = link.tick_clock.next_arrival(start, period) if clock == "robot" else start
    while time.monotonic() - start < seconds:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        late = time.monotonic() - due
        lateness.append(late * 1e6)
        if late > period:
            link.stats.late_ticks += 1  # as deploy's loop counts them
        link.latest()  # what a controller reads each tick
        link.send_command(hold)
        ticks += 1
        if clock == "robot":  # the next tick's STATE, at the earliest (the lock follows the robot's clock)
            due = link.tick_clock.next_arrival(due + period / 2, period)
        else:
            due += period
        if due < time.monotonic() - period:
            due = time.monotonic()  # far behind: do not burst to catch up
    stale, context = link.stale_snapshot()  # the ticks that follow go on counting (no COMMAND comes now)
    return {
        "ticks": ticks,
        "missed_deadlines": stale - stale0,
        "missed_by_cause": missed_causes(context, period),
        "host_late_ticks": link.stats.late_ticks - late0,
        "tick_lateness_p99_us": round(float(np.percentile(lateness, 99)), 1) if lateness else float("nan"),
        "cpu_steal_pct": steal_percent(cpu0, cpu_times()),
        "clock": clock,
    }


def bench_bridge(
    seconds: float = 30.0,
    rate_hz: int = 1000,
    baud: int = 3_000_000,
    task: str = "quadruped",
    port: str | None = None,
    clock: str = "robot",
) -> dict[str, Any]:
    """The control loop at `rate_hz` for `seconds`: against a virtual robot of `task` in its own process (default),
    or against the robot at `port` (a board on a stand: it is armed and holds the pose it reads, or gets zero
    torque; its own rate is used).

    `clock`: "robot" (default), the host's sends are locked to the robot's tick (`Link.tick_clock`): each COMMAND
    leaves when the tick's STATE arrives at the earliest, acting on the newest STATE there is, so it reaches the
    robot after that STATE left the line and well before the next tick (docs/protocol.md "Timing"); "host", the
    host keeps its own deadline schedule at the robot's rate, in whatever phase it started (a COMMAND that lands
    while the tick's STATE is on the wire, or as the next tick starts, waits for them). The loop is `control_loop`.
    """
    check_clock(clock)
    proc = None
    if port is None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "robot_meta.cli",
                "virtual-robot",
                "--task",
                task,
                "--pty",
                "--rate",
                str(rate_hz),
                "--baud",
                str(baud),
                "--watchdog-ms",
                "50",
                "--duration",
                str(seconds + 10),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    try:
        if proc is not None:
            path = proc.stdout.readline().strip()
            if not path.startswith("/dev/"):
                raise RuntimeError(f"virtual robot did not start (printed {path!r})")
        else:
            path = port
        tight_timers()  # before the link's reader thread starts: it inherits the slack
        client = RobotClient(path, baud=baud)
        ack = client.connect(timeout=5.0)
        n, version = len(ack.joints), ack.proto_version
        rate_hz = ack.rate_hz
        state = client.link.wait_state(lambda s: True, 5.0)
        if ack.modes & 1:  # position servos: hold the measured pose
            hold = hold_command(np.nan_to_num(np.asarray(state.q, np.float32)), 35.0, 0.6)
        else:
            z = np.zeros(n, np.float32)
            hold = p.Command(p.CommandMode.TORQUE, z, z, z)
        client.arm(hold, timeout=5.0)
        loop = control_loop(client.link, hold, seconds, rate_hz, clock)
        stats = client.link.stats.summary()
        client.disarm()
        client.close()
        return {
            "rtt_p50_us": round(stats["rtt_p50_us"], 1),
            "rtt_p99_us": round(stats["rtt_p99_us"], 1),
            **loop,
            "rate_hz": rate_hz,
            "baud": baud,
            "joints": n,
            "seconds": seconds,
            "rtt_samples": stats["rtt_samples"],
            "seq_gaps": stats["seq_gaps"],
            "crc_errors": stats["crc_errors"],
            "protocol_version": version,
            "wire_budget": wire_budget(n),
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
