"""The robot side: `sim2sim` (the runtime in the simulator), `virtual-robot`, `deploy`, `field` and `log`."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from robot_meta.cli.common import (
    EXIT_OK,
    EXIT_RUNTIME,
    UsageError,
    add_command_option,
    add_json_option,
    emit,
    nonneg_int,
    parse_commands,
    positive_float,
    positive_int,
    seed_value,
)


def cmd_sim2sim(args: argparse.Namespace) -> int:
    from deploy.runtime import ObservationError, PolicyDirError
    from robot_meta.sim2sim import parse_schedule, run_sim2sim

    try:
        schedule = parse_schedule(args.payload_schedule) if args.payload_schedule else None
        out = run_sim2sim(
            Path(args.policy_dir),
            args.task,
            schedule,
            n_tasks=args.tasks,
            seed=args.seed,
            latency=args.latency,
            sim_dt=args.sim_dt,
        )
    except (PolicyDirError, ObservationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    lines = [
        f"sim2sim {out['algo']} on {out['family']} ({out['tasks']} held-out tasks, onnxruntime, no torch): "
        f"return {out['return']['mean']:.1f} ± {out['return']['std']:.1f}, tracking error {out['tracking_error']['mean']:.3f}"
    ]
    if "online" in out:
        o = out["online"]
        lines.append(
            f"payload change at {out['change_time_s']:.1f} s: error pre {o['pre_error']['mean']:.3f}, post "
            f"{o['post_error']['mean']:.3f}, peak {o['peak_error']['mean']:.3f}, steady {o['steady_error']['mean']:.3f}; "
            f"adaptation median {o['adaptation_time_s']['median']:.2f} s ({o['adapted']} settled)"
        )
    lines.append(f"safety filter: {out['safety']}")
    emit(args, out, "\n".join(lines))
    return EXIT_OK


def cmd_conformance(args: argparse.Namespace) -> int:
    from firmware_bridge.conformance import run_conformance

    if not (math.isfinite(args.seconds) and 0 < args.seconds <= 3600):
        raise UsageError(f"--seconds {args.seconds} must be in (0, 3600]")
    report = run_conformance(args.port, args.baud, args.seconds)
    lines = [f"{'PASS' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in report["checks"]]
    lines.append(
        f"{args.port}: {'conforms' if report['passed'] else 'does not conform'} to docs/protocol.md "
        f"({len(report['checks']) - len(report['failed'])} of {len(report['checks'])} checks passed)"
    )
    emit(args, report, "\n".join(lines))
    return EXIT_OK if report["passed"] else EXIT_RUNTIME


def cmd_virtual_robot(args: argparse.Namespace) -> int:
    import socket
    import threading

    from firmware_bridge.virtual_robot import FirmwareConfig, default_watchdog_ms
    from firmware_bridge.virtual_robot_server import Endpoint, FaultSpec, make_firmware, open_pty, serve
    from sim_tasks import get_family

    fam = get_family(args.task)
    if args.rate is None:
        args.rate = round(1.0 / fam.ctrl_dt)  # the rate its policies were trained at
    if args.watchdog_ms is None:
        args.watchdog_ms = default_watchdog_ms(args.rate)
    try:
        faults = FaultSpec.parse(args.faults)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # The handshake carries the rate and the watchdog as u16: check them (and the rest) before anything opens
    for flag, value, lo, hi in (
        ("--rate", args.rate, 1, 10_000),
        ("--watchdog-ms", args.watchdog_ms, 1, 65_535),
        ("--baud", args.baud, 1200, 100_000_000),
    ):
        if not lo <= value <= hi:
            raise UsageError(f"{flag} {value} is outside [{lo}, {hi}]")
    if not (math.isfinite(args.arming_s) and 0 < args.arming_s <= 60):
        raise UsageError(f"--arming-s {args.arming_s} must be a soft start of (0, 60] s")
    if args.tcp is not None and not 0 <= args.tcp <= 65_535:
        raise UsageError(f"--tcp {args.tcp} is not a TCP port (0-65535; 0 = any free port)")
    config = FirmwareConfig(rate_hz=args.rate, watchdog_ms=args.watchdog_ms, arming_s=args.arming_s)
    firmware = make_firmware(fam, None, config, args.firmware)  # built (C) before the port opens: errors come first
    stop = threading.Event()
    if args.tcp is None:
        master, slave, path = open_pty()
        print(path, flush=True)
        print(f"virtual {fam.name} robot on {path} at {args.baud} baud, {args.rate} Hz (Ctrl-C to stop)", file=sys.stderr)
        try:
            stats = serve(firmware, Endpoint(fd=master), args.baud, faults, args.duration, stop)
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            os.close(slave)
        print(
            f"served {stats.ticks} ticks ({stats.late_ticks} late), {stats.frames_out} frames out "
            f"({stats.dropped} dropped, {stats.corrupted} corrupted by --faults), {stats.frames_in} in; "
            f"{firmware.arm_requests} ARM request(s), {firmware.commands_applied} commands applied",
            file=sys.stderr,
        )
        return EXIT_OK
    server = socket.create_server(("127.0.0.1", args.tcp))
    print(f"socket://127.0.0.1:{server.getsockname()[1]}", flush=True)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while deadline is None or time.monotonic() < deadline:
            server.settimeout(1.0)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            serve(firmware, Endpoint(sock=conn), args.baud, faults, left, stop)
            firmware = make_firmware(fam, None, config, args.firmware)
            conn.close()  # a new connection gets a freshly booted (DISARMED) robot
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def cmd_play(args: argparse.Namespace) -> int:
    from robot_meta.play import play
    from robot_meta.sim2sim import parse_schedule

    target = Path(args.policy)
    if not (target / "manifest.json").exists() and not (target / "config.json").exists():
        raise UsageError(f"{target} is neither a policy dir (manifest.json) nor a run dir (config.json)")
    try:
        schedule = parse_schedule(args.payload_schedule) if args.payload_schedule else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = play(
        target,
        Path(args.video),
        commands=parse_commands(args.commands),
        schedule=schedule,
        seconds=args.seconds,
        seed=args.seed,
        gif=not args.no_gif,
    )
    emit(
        args,
        out,
        f"{out['algo']} on {out['family']}: {out['frames']} frames to {out['video']}"
        + (f" (and {out['gif']})" if out["gif"] else "")
        + f"; return {out['return']:.1f}, mean tracking error {out['mean_error']:.3f}",
    )
    return EXIT_OK


def cmd_log_recover(args: argparse.Namespace) -> int:
    from deploy.telemetry import recover_log

    src = Path(args.file)
    dst = Path(args.out) if args.out else src.with_name(src.stem + ".recovered.mcap")
    if not src.is_file():
        raise UsageError(f"{src} is not a file: give the MCAP log of a deploy or field session")
    if dst.exists() and not args.force:
        raise UsageError(f"{dst} exists: choose another --out or pass --force")
    try:
        out = recover_log(src, dst)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    topics = ", ".join(f"{t} {n}" for t, n in sorted(out["by_topic"].items())) or "no messages"
    tail = "it had ended without its footer" if out["unfinished"] else "it was complete already"
    emit(args, {**out, "out": str(dst)}, f"recovered {out['messages']} messages ({topics}; {tail}) into {dst}")
    return EXIT_OK


def _field_summary(head: str, report: dict[str, Any]) -> str:
    """What `field` and `log report` print: where the report is, its warnings (a slow link), then its verdicts."""
    from deploy.field import summary_lines

    return "\n".join([head, *[f"  {line}" for line in summary_lines(report)]])


def cmd_log_report(args: argparse.Namespace) -> int:
    from deploy.field import build_report

    logs: dict[str, Path] = {}
    for item in args.logs:
        name, sep, file = item.rpartition("=")
        path = Path(file)
        name = name if sep else path.stem.removesuffix(".recovered")
        if not path.is_file():
            raise UsageError(f"{file} is not a file: give the MCAP logs of a field session (NAME=FILE.mcap)")
        if name in logs:
            raise UsageError(f"two logs are named {name!r}: name them NAME=FILE.mcap")
        logs[name] = path
    report = build_report(Path(args.out), logs)
    emit(args, report, _field_summary(f"field report rebuilt from {len(logs)} log(s): {Path(args.out) / 'report.md'}", report))
    return EXIT_OK


def cmd_seal(args: argparse.Namespace) -> int:
    from deploy.manifest import DIGEST_FILE, seal

    sums = seal(Path(args.policy_dir))
    emit(
        args,
        {"policy_dir": args.policy_dir, "sha256": sums},
        f"sealed {args.policy_dir}: {DIGEST_FILE} lists " + ", ".join(sorted(sums)),
    )
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from deploy.control import DeployConfig, Deployment
    from deploy.telemetry import TelemetryLog

    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be > 0 s, got {args.duration}")
    cfg = DeployConfig(
        duration_s=args.duration,
        commands=parse_commands(args.commands),
        max_delta=args.max_delta,
        status=sys.stderr.isatty() and not args.json,
        baud=args.baud,
    )
    d = Deployment(Path(args.policy_dir), args.port, cfg)  # the policy dir and commands checked: nothing written yet
    log = d.log = TelemetryLog(args.log) if args.log else None
    try:
        result = d.run()
    finally:
        if log is not None:
            log.close()
    out = result.to_dict()
    if args.log:
        out["log"] = args.log
    link = result.link
    human = (
        f"deploy ended by {result.reason} after {result.active_s:.1f} s "
        f"({'e-stopped: the robot is in latched damping' if result.estopped else 'disarmed'}); "
        f"{result.ticks} ticks, {result.late_ticks} late; link rtt p50 {link.get('rtt_p50_us', float('nan')) / 1e3:.1f} ms, "
        f"{link.get('crc_errors', 0)} CRC errors, {link.get('seq_gaps', 0)} lost frames; safety {result.safety}"
        + (f"; log {args.log}" if args.log else "")
    )
    emit(args, out, human)
    return EXIT_OK if result.reason in ("duration", "stopped", "operator") else EXIT_RUNTIME


def cmd_field(args: argparse.Namespace) -> int:
    from deploy.field import FieldPlan, run_field
    from deploy.manifest import PolicyManifest

    plan = FieldPlan.load(args.plan, PolicyManifest.read(args.policy_dir).field_plan)  # the family's default test
    if args.commands:
        plan.commands.update(parse_commands(args.commands))
    policies = {args.name: Path(args.policy_dir)}
    if args.compare:
        policies[args.compare_name] = Path(args.compare)
    status = sys.stderr.isatty() and not args.json
    if args.port == "virtual":
        from robot_meta.robots import virtual_robots

        report = run_field(policies, Path(args.out), plan, simulated=virtual_robots(plan.base_payload_kg), status=status)
    else:
        report = run_field(policies, Path(args.out), plan, port=args.port, status=status)
    out = Path(args.out)
    files = f"{out / 'report.md'} (report.json, tracking_error.png, latent.png, one .mcap per policy)"
    emit(args, report, _field_summary(f"field report: {files}", report))
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "sim2sim",
        help="run an exported policy dir through the torch-free runtime in MuJoCo, with a payload schedule",
        description="The gate before hardware: the policy dir through deploy.runtime (onnxruntime, no torch) on "
        "held-out tasks of its family, with payload changes; reports return, tracking error over time and the "
        "adaptation time after a change, comparable with robot-meta eval's online numbers.",
    )
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument("--task", metavar="NAME", help="task family (default: the manifest's)")
    p.add_argument(
        "--payload-schedule", metavar="T:KG,...", help="payload changes, e.g. 0:1.0,5:3.0 (default: eval's protocol)"
    )
    p.add_argument("--tasks", type=positive_int, default=8, help="held-out tasks to run (default 8)")
    p.add_argument("--latency", type=nonneg_int, metavar="STEPS", help="action latency in control steps (extra realism)")
    p.add_argument("--sim-dt", type=positive_float, metavar="S", help="physics step finer than training (must divide ctrl_dt)")
    p.add_argument("--seed", type=seed_value, default=0)
    add_json_option(p)
    p.set_defaults(func=cmd_sim2sim)

    p = sub.add_parser(
        "conformance",
        help="check a robot's firmware against docs/protocol.md over its serial port (arms it: use a stand)",
        description="Handshake in both protocol versions, STATE at the declared rate, every refusal with its FAULT "
        "frame (COMMAND while disarmed, wrong length, replayed seq), soft start, ack_seq, the e-stop latch, malformed "
        "and unsupported COMMANDs, the watchdog's timing, and a run at the robot's rate. The robot is ARMED several "
        "times and holds the pose it reads (position servos, kp 20, kd 0.5) or gets zero torque: put it on a stand. "
        "Exit 0 when every check passes, 1 otherwise.",
        epilog="Example: robot-meta conformance --port /dev/ttyACM0 --baud 3000000 --seconds 30",
    )
    p.add_argument("--port", required=True, metavar="URL", help="serial port or pyserial URL (socket://HOST:PORT, ...)")
    p.add_argument("--baud", type=positive_int, default=1_000_000, help="baud rate (default 1000000)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the closing run at the robot's rate (default 30)")
    add_json_option(p)
    p.set_defaults(func=cmd_conformance)

    p = sub.add_parser(
        "virtual-robot",
        help="a MuJoCo-backed firmware emulator speaking the wire protocol on a pty or TCP",
        description="Runs the firmware state machine of docs/protocol.md over real MuJoCo physics of a task family's "
        "robot. Prints the pty path (or socket:// URL) on stdout, for robot-meta deploy --port. Faults: "
        "drop=P, corrupt=P, stall=T:S, disconnect=T, payload=T:KG;T:KG (comma-separated).",
    )
    p.add_argument("--task", required=True, metavar="NAME", help="task family whose robot to emulate")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a new pty (the default)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT (0 = any free port)")
    p.add_argument(
        "--baud", type=positive_int, default=1_000_000, help="bytes are paced at this rate, 10 bits each (default 1000000)"
    )
    p.add_argument(
        "--rate",
        type=positive_int,
        help="control rate in Hz, 1-10000 (default: the family's, 1/ctrl_dt, 20 Hz for the runner)",
    )
    p.add_argument(
        "--watchdog-ms", type=positive_int, help="command watchdog, 1-65535 ms (default max(100 ms, 3 control periods))"
    )
    p.add_argument("--arming-s", type=float, default=1.0, help="soft-start duration (default 1 s)")
    p.add_argument("--faults", metavar="SPEC", help="fault injection, e.g. drop=0.01,corrupt=0.001,stall=5:0.2,payload=10:3.0")
    p.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument(
        "--firmware",
        choices=("auto", "c", "python"),
        default="auto",
        help="the robot side: c, the reference C firmware (firmware_bridge/firmware/rmfw.c, built with the system C "
        "compiler on first use), python, the same state machine in Python, or auto (the default): c when a C "
        "compiler is found",
    )
    p.set_defaults(func=cmd_virtual_robot)

    p = sub.add_parser(
        "deploy",
        help="run an exported policy on a robot over the serial bridge",
        description="Handshake (the robot's joints, limits and rate must match the manifest, or nothing is armed), "
        "soft start, then the online adapter at the manifest's control period on a deadline schedule, with host-side "
        "clamps, rate limits and NaN guard. E-stop to damping on Ctrl-C, NaN, tilt beyond the manifest's limit, stale "
        "state, robot fault or a dead link. Every tick goes to the MCAP log.",
        epilog="Example: robot-meta virtual-robot --task planar_runner   (prints a pty path), then "
        "robot-meta deploy POLICY_DIR --port /dev/pts/N --target target_velocity=1.5 --duration 20 --log run.mcap",
    )
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument("--port", required=True, metavar="URL", help="/dev/ttyUSB0, socket://host:port, rfc2217://...")
    p.add_argument("--duration", type=positive_float, metavar="S", help="disarm after S seconds (default: until Ctrl-C)")
    p.add_argument("--log", metavar="FILE.mcap", help="log every tick to this MCAP file")
    add_command_option(
        p,
        "a command the policy observes or its reward tracks, e.g. target_velocity=1.5 (repeatable; refused before "
        "arming when the policy has no such command or the value is outside its range; --target is its old name)",
    )
    p.add_argument(
        "--max-delta", type=positive_float, default=1.0, help="rate limit on the normalized action per tick (default 1.0)"
    )
    p.add_argument("--baud", type=int, default=1_000_000, help="serial baud rate (default 1000000)")
    add_json_option(p)
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser(
        "field",
        help="field-test a policy with payload changes; report with plots, optionally beside a non-adaptive policy",
        description="Per payload of the plan: settle, baseline, payload change (virtual robot: by schedule; "
        "hardware: you are prompted and the change is marked when you press Enter), hold. Writes one MCAP log per "
        "policy, report.json, report.md, tracking_error.png and latent.png in --out.",
        epilog="Example: robot-meta field runs/policy --compare runs/policy_dr --port virtual --out field_report",
    )
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument(
        "--port",
        required=True,
        metavar="URL",
        help="robot port, or 'virtual': a virtual robot of the policy's family on a pty",
    )
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.add_argument(
        "--plan",
        "--protocol",
        dest="plan",
        metavar="FILE",
        help="YAML/JSON field plan over the family's default test in the manifest (runner: 2.5 m/s, payload 9 kg, 8 s + 16 s; "
        "arm: point (0.4, 0.1) m, picks up 2.2 kg, 4 s + 8 s); --protocol is its old name",
    )
    p.add_argument("--compare", metavar="POLICY_DIR", help="a second policy (e.g. the exported DR baseline) run the same way")
    p.add_argument("--name", default="adaptive", help="name of POLICY_DIR in the report (default adaptive)")
    p.add_argument("--compare-name", default="non_adaptive", help="name of --compare in the report (default non_adaptive)")
    add_command_option(p, "override a command of the plan, e.g. target_velocity=2.0 (repeatable; --target is its old name)")
    add_json_option(p)
    p.set_defaults(func=cmd_field)

    p = sub.add_parser(
        "play",
        help="watch a policy: a rendered rollout with its commands, payload and belief written as MP4 (and GIF)",
        description="The policy dir (or a run, exported first) through the torch-free runtime in the simulator, on "
        "the family's nominal task with the manifest's field-plan commands unless --command says otherwise, "
        "rendered from the family's camera (headless: EGL or OSMesa) with an overlay of time, commands, payload, "
        "tracking error and the adapter's belief (PEARL's z, RMA's extrinsics, RL²'s |h|).",
        epilog="Example: robot-meta play robot_meta/assets/planar_arm_rma --payload-schedule 1:2.2 --seconds 3 "
        "--video arm.mp4",
    )
    p.add_argument("policy", metavar="POLICY_DIR|RUN_DIR")
    p.add_argument("--video", required=True, metavar="FILE.mp4", help="the video to write (a GIF beside it too)")
    add_command_option(p, "a command for the rollout, e.g. goal_x=0.35 (repeatable)")
    p.add_argument(
        "--payload-schedule", metavar="T:KG,...", help="payload changes, e.g. 0:0,1:2.2 (t = 0: the starting payload)"
    )
    p.add_argument("--seconds", type=positive_float, help="length (default: one episode of the family)")
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument("--no-gif", action="store_true", help="write only the MP4")
    add_json_option(p)
    p.set_defaults(func=cmd_play)

    p = sub.add_parser(
        "log",
        help="telemetry logs: recover a log cut short by a kill or a crash; rebuild a field report from logs",
        description="Tools for the MCAP logs deploy and field write.",
    )
    log_sub = p.add_subparsers(dest="log_command", required=True, metavar="{recover,report}")
    p = log_sub.add_parser(
        "recover",
        help="rewrite a killed session's log into a complete MCAP file every reader opens",
        description="A deploy killed mid-session leaves a log without its summary and footer: robot-meta reads it, "
        "but the mcap library's make_reader and some viewers do not. This rewrites every complete record (schemas, "
        "channels, messages with their times) into a new, finished file; the original is only read.",
        epilog="Example: robot-meta log recover run.mcap --out run_fixed.mcap",
    )
    p.add_argument("file", metavar="FILE.mcap")
    p.add_argument("--out", metavar="OUT.mcap", help="where to write (default FILE.recovered.mcap beside it)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    add_json_option(p)
    p.set_defaults(func=cmd_log_recover)
    p = log_sub.add_parser(
        "report",
        help="rebuild a field report from session logs (recovered or not)",
        description="The report robot-meta field writes (report.json, report.md, the plots), built again from the "
        "MCAP logs of its sessions: after a kill, from the logs robot-meta log recover wrote (or from the killed "
        "logs themselves); a payload change the kill cut short is reported as incomplete.",
        epilog="Example: robot-meta log report adaptive=field/adaptive.recovered.mcap non_adaptive=field/non_adaptive.mcap "
        "--out field_rebuilt",
    )
    p.add_argument("logs", nargs="+", metavar="[NAME=]FILE.mcap", help="one session log per policy (name: the file's stem)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    add_json_option(p)
    p.set_defaults(func=cmd_log_report)

    p = sub.add_parser(
        "seal",
        help="record the digest (SHA256SUMS) of a policy dir edited by hand, after checking it",
        description="Export writes SHA256SUMS, the sha256 of manifest.json and of every graph, and the robot side "
        "refuses a policy dir whose files do not match it. After a deliberate edit of manifest.json (a gain, a "
        "limit), this checks the manifest field by field and every graph against the manifest's sha256, then "
        "writes SHA256SUMS again. `sha256sum -c SHA256SUMS` checks a policy dir on any machine.",
        epilog="Example: robot-meta seal runs/policy",
    )
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    add_json_option(p)
    p.set_defaults(func=cmd_seal)
