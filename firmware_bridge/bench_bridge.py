"""`robot-meta bench bridge`: a 1 kHz control loop against the virtual robot over a pty.

The virtual robot runs in its own process (as firmware runs on its own chip); the host loop sends one
COMMAND per period on a deadline schedule (`next += period`, never sleep-after-work) and reads the latest
STATE. Reported: round trip from `ack_seq` (command sent -> STATE acknowledging it received), p50/p99;
missed deadlines (a tick that started more than one period late); and the wire-time budget of the frame
sizes at 1, 2 and 3 Mbaud (10 bits per byte). A pty does not add USB latency: on hardware, add the
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


def wire_budget(n_joints: int = 12) -> list[dict[str, Any]]:
    """Frame sizes on the wire and their time per baud rate, for both protocol versions (10 bits per byte)."""
    z = np.zeros(n_joints, np.float32)
    state = p.State(
        2, z, z, z, np.zeros(4, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    )
    cmd = p.Command(0, z, z, z)
    one = (1.0,) * n_joints
    out = []
    for version in (1, 2):
        fmt = p.WireFormat(version, p.Scales(one, one, one, one, one, 1.0, 1.0, 1.0) if version == 2 else None)
        state_b = len(p.encode_frame(p.Frame(p.MsgType.STATE, 0, fmt.pack_state(state), version=version)))
        cmd_b = len(p.encode_frame(p.Frame(p.MsgType.COMMAND, 0, fmt.pack_command(cmd), version=version)))
        for baud in (1_000_000, 2_000_000, 3_000_000):
            per_byte_us = 10 / baud * 1e6
            # a round trip (COMMAND, then the STATE answering it) must fit in the period; in version 2 the robot's
            # line also carries the tick's STATE: two STATEs a period
            robot_line = (2 if version == 2 else 1) * state_b * per_byte_us
            out.append(
                {
                    "version": version,
                    "baud": baud,
                    "command_bytes": cmd_b,
                    "state_bytes": state_b,
                    "command_us": round(cmd_b * per_byte_us, 1),
                    "state_us": round(state_b * per_byte_us, 1),
                    "min_round_trip_us": round((cmd_b + state_b) * per_byte_us, 1),
                    "robot_line_us_per_period": round(robot_line, 1),
                    "fits_1khz": (cmd_b + state_b) * per_byte_us < 1000 and robot_line < 1000,
                }
            )
    return out


def bench_bridge(
    seconds: float = 30.0, rate_hz: int = 1000, baud: int = 3_000_000, task: str = "quadruped", port: str | None = None
) -> dict[str, Any]:
    """The control loop at `rate_hz` for `seconds`: against a virtual robot of `task` in its own process (default),
    or against the robot at `port` (a board on a stand: it is armed and holds the pose it reads, or gets zero
    torque; its own rate is used)."""
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
        link = client.link
        link.stats.rtt_us.clear()
        period = 1.0 / rate_hz
        ticks = missed = 0
        lateness = []
        start = time.monotonic()
        next_t = start
        while time.monotonic() - start < seconds:
            now = time.monotonic()
            late = now - next_t
            lateness.append(late * 1e6)
            if late > period:
                missed += 1
            link.latest()  # what a controller reads each tick
            client.command(hold)
            ticks += 1
            next_t += period
            if next_t < time.monotonic() - period:
                next_t = time.monotonic()  # do not burst to catch up
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stats = link.stats.summary()
        client.disarm()
        client.close()
        lat = np.array(lateness)
        return {
            "rtt_p50_us": round(stats["rtt_p50_us"], 1),
            "rtt_p99_us": round(stats["rtt_p99_us"], 1),
            "missed_deadlines": missed,
            "ticks": ticks,
            "rate_hz": rate_hz,
            "baud": baud,
            "joints": n,
            "seconds": seconds,
            "tick_lateness_p99_us": round(float(np.percentile(lat, 99)), 1),
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
