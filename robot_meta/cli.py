"""`robot-meta`: the command line, and the only place that wires the packages together.

Every subcommand imports what it needs lazily, so `robot-meta --help` is instant. With `--json` a
subcommand prints exactly one JSON object on stdout and sends human text to stderr. Exit codes: 0 ok,
2 usage or input error (one line on stderr naming the bad value), 1 runtime failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input; reported on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse prints the whole usage block before it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    """One JSON object on stdout with --json (human text on stderr), else the human text on stdout."""
    if getattr(args, "json", False):
        print(human, file=sys.stderr)
        print(json.dumps(payload, indent=None, sort_keys=False))
    else:
        print(human)


# ---- tasks ---------------------------------------------------------------------------------------
def _cmd_tasks(args: argparse.Namespace) -> int:
    from sim_tasks import family_names, get_family, task_from_json

    if args.check:
        text = sys.stdin.read() if args.check == "-" else _read_text(args.check)
        task = task_from_json(text)
        fam = get_family(task.family)
        regions = fam.holdout_regions(task)
        human = (
            f"valid {fam.name} task; varied parameters {fam.task_vector(task).tolist()}; held-out regions: {regions or 'none'}"
        )
        _emit(args, {"valid": True, "task": task.to_dict(), "holdout_regions": regions}, human)
        return EXIT_OK
    names = [args.name] if args.name else family_names()
    described = [get_family(n).describe() for n in names]
    if args.name:
        _emit(args, {"family": described[0]}, _describe_one(get_family(args.name), described[0]))
    else:
        _emit(args, {"families": described}, _describe_all(described))
    return EXIT_OK


def _describe_all(described: list[dict[str, Any]]) -> str:
    lines = [f"{'family':<18} {'gymnasium id':<36} {'obs':>4} {'act':>4} {'ctrl_dt':>8} {'train':>6} {'test':>5}  varies"]
    for d in described:
        varies = ", ".join(p["name"] for p in d["params"])
        lines.append(
            f"{d['name']:<18} {d['env_id']:<36} {d['obs_dim']:>4} {len(d['action']['names']):>4} "
            f"{d['ctrl_dt']:>7.3f}s {d['split']['n_train']:>6} {d['split']['n_test']:>5}  {varies}"
        )
    lines.append("\n'robot-meta tasks NAME' shows one family's layouts, ranges and held-out regions.")
    return "\n".join(lines)


def _describe_one(fam: Any, d: dict[str, Any]) -> str:
    lines = [
        f"{d['name']}: {d['summary']}",
        f"  gymnasium id {d['env_id']}; sim_dt {d['sim_dt']} s, ctrl_dt {d['ctrl_dt']} s, "
        f"{d['episode_steps']} steps per episode",
    ]
    lines.append(f"  observation ({d['obs_dim']}):")
    for s in d["observation"]:
        lines.append(
            f"    [{s['start']:>2}:{s['start'] + s['size']:<2}] {s['name']:<16} {s['unit']:<16} from {s['source']}, noise std {s['noise']}"
        )
    a = d["action"]
    lines.append(f"  action ({len(a['names'])}) in [-1, 1] -> ctrl = offset + scale*a, unit {a['unit']}:")
    lines.append("    " + ", ".join(a["names"]))
    lines.append(f"  reward: {d['reward']}")
    lines.append("  parameters:                 allowed            train              test only")
    for p in d["params"]:
        test_only = " ".join(f"[{lo:g}, {hi:g}]" for lo, hi in p["test_only"]) or "-"
        allowed = f"[{p['allowed'][0]:g}, {p['allowed'][1]:g}]"
        train = f"[{p['train'][0]:g}, {p['train'][1]:g}]"
        lines.append(f"    {p['name']:<16} {p['unit']:<6} {allowed:<18} {train:<18} {test_only}")
    split = fam.split()
    counts: dict[str, int] = {}
    for t in split.test:
        for k, v in fam.holdout_regions(t).items():
            counts[f"{k} ({v})"] = counts.get(f"{k} ({v})", 0) + 1
    lines.append(
        f"  split (seed {split.seed}): {len(split.train)} train tasks, {len(split.test)} held-out test tasks"
        + (": " + ", ".join(f"{n} in {k}" for k, n in sorted(counts.items())) if counts else "")
    )
    return "\n".join(lines)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


# ---- train ---------------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    from robot_meta.torch_utils import resolve_device
    from robot_meta.train import train

    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UsageError(f"--max-minutes must be > 0, got {args.max_minutes}")
    from robot_meta.registry import algorithm_class
    from sim_tasks import get_family

    get_family(args.task)  # an unknown family fails before anything is written
    cpu_only = algorithm_class(args.algo).cpu_only
    try:
        device = resolve_device("cpu" if cpu_only and args.device == "auto" else args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    summary = train(
        args.algo,
        args.task,
        Path(args.out),
        args.steps,
        args.seed,
        device,
        args.config,
        tuple(args.set or ()),
        args.resume,
        progress=not args.json and sys.stderr.isatty(),
        max_minutes=args.max_minutes,
    )
    last = summary["last"]
    ret = last.get("return_posterior", last.get("return_mean", float("nan")))
    human = (
        f"trained {args.algo} on {args.task}: {summary['iterations']} iterations, {summary['env_steps']} env steps, "
        f"{summary['updates']} updates in {summary['wall_s']} s; last training return {ret:.1f}\n"
        f"run dir: {summary['run_dir']} (robot-meta eval {summary['run_dir']})"
    )
    _emit(args, summary, human)
    return EXIT_OK


# ---- eval ----------------------------------------------------------------------------------------
def _cmd_eval(args: argparse.Namespace) -> int:
    from robot_meta.eval_run import plot_report, run_eval, write_report

    if args.episodes < 1 or not 0 <= args.prior_episodes < args.episodes:
        raise UsageError(
            f"need --episodes >= 1 and 0 <= --prior-episodes < --episodes, got {args.episodes} and {args.prior_episodes}"
        )
    run_dirs = [Path(p) for p in args.run_dir]
    for p in run_dirs:
        if not (p / "config.json").exists():
            raise UsageError(f"{p} is not a run directory (no config.json); train one with robot-meta train")
    if args.repeats < 1:
        raise UsageError(f"--repeats takes a positive integer, got {args.repeats}")
    mults = tuple(int(x) for x in args.scratch_multipliers.split(","))
    if len(mults) != 2 or min(mults) < 1:
        raise UsageError(f"--scratch-multipliers takes two positive integers like 1,100, got {args.scratch_multipliers!r}")
    report = run_eval(
        run_dirs,
        args.baselines,
        episodes=args.episodes,
        prior_episodes=args.prior_episodes,
        scratch_tasks=args.scratch_tasks,
        baseline_steps=args.baseline_steps,
        quiet=args.json,
        eval_seed=args.seed,
        scratch_multipliers=mults,
        baseline_dir=Path(args.baseline_dir) if args.baseline_dir else None,
        repeats=args.repeats,
    )
    out_json = Path(args.out) if args.out else run_dirs[0] / "eval.json"
    out_png = Path(args.plot) if args.plot else out_json.with_suffix(".png")
    write_report(report, out_json)
    plot_report(report, out_png)
    report_files = {"json": str(out_json), "plot": str(out_png)}
    _emit(
        args, {**{k: v for k, v in report.items() if k != "per_seed"}, "files": report_files}, _eval_text(report, report_files)
    )
    return EXIT_OK


def _eval_text(report: dict[str, Any], files: dict[str, str]) -> str:
    k = report["episodes"]
    lines = [
        f"{report['algo']} on {report['task']}: {report['n_test_tasks']} held-out tasks x seeds {report['seeds']}",
        f"{'method':<14} {'episode 1..' + str(k) + ' (mean)':<30} {'last: mean ± std':>20} {'payload>train':>14}",
    ]
    for name, e in report["episodic"].items():
        by_ep = " ".join(f"{v:8.1f}" for v in e["by_episode"]["mean"])
        last = e["last_episode"]
        ext = e.get("payload_extrapolation")
        lines.append(
            f"{name:<14} {by_ep:<30} {last['mean']:>10.1f} ± {last['std']:<7.1f} {ext['mean'] if ext else float('nan'):>14.1f}"
        )
    if report.get("online"):
        lines.append(f"online: payload change at {report['online_change_time_s']:.1f} s")
        for name, o in report["online"].items():
            rec = o["recovery_time_s"]
            lines.append(
                f"  {name:<12} pre {o['pre_error']['mean']:.3f}  post {o['post_error']['mean']:.3f}  peak "
                f"{o['peak_error']['mean']:.3f}  recovery median {rec['median']:.2f} s ({o['recovered']} recovered)"
            )
    # The rise and the gain over prior-only need no baselines: printed whenever the report has them.
    adapted = report["episodic"].get(report["algo"], {})
    for key, label in (
        ("rise", f"in-context rise, episode {k} - episode 1 in the same task"),
        ("vs_prior_only", f"episode {k} with the adapted context minus prior-only, same task and starts"),
    ):
        if paired := adapted.get(key):
            lines.append(f"{label}: {paired['mean']:+.1f} ± {paired['se']:.1f} (s.e., n={paired['n']})")
    if "summary" in report:
        s = report["summary"]
        gap = s["gap_closed"]
        ci = s.get("gap_closed_ci95")
        lines.append(
            f"adapted {s['adapted']:.1f} vs DR {s['dr']:.1f} vs oracle {s['oracle']:.1f}: gap closed "
            + (f"{gap:.2f}" if gap is not None else "undefined")
            + (f" (95% bootstrap over tasks x seeds: {ci[0]:.2f} .. {ci[1]:.2f})" if ci else "")
        )
        for region in ("payload_extrapolation", "payload_interpolation"):
            if region in s:
                r = s[region]
                g = f"{r['gap_closed']:.2f}" if r["gap_closed"] is not None else "undefined"
                lines.append(
                    f"  {region.replace('_', ' ')}: adapted {r['adapted']:.1f} vs DR {r['dr']:.1f} vs oracle "
                    f"{r['oracle']:.1f}: gap closed {g}"
                )
        if "warning" in s:
            lines.append(f"warning: {s['warning']}")
    lines.append(f"wrote {files['json']} and {files['plot']}")
    return "\n".join(lines)


# ---- export --------------------------------------------------------------------------------------
def _cmd_export(args: argparse.Namespace) -> int:
    from robot_meta.export import export_baseline, export_run

    if not (Path(args.run_dir) / "config.json").exists():
        raise UsageError(f"{args.run_dir} is not a run directory (no config.json); train one with robot-meta train")
    if args.baseline:
        manifest = export_baseline(Path(args.run_dir), args.baseline, Path(args.out))
    else:
        manifest = export_run(Path(args.run_dir), Path(args.out), args.adapt_task, args.adapt_episodes)
    graphs = ", ".join(g.file for g in manifest.graphs.values())
    par = manifest.parity
    human = (
        f"exported {manifest.algo} ({manifest.family}) to {args.out}: {graphs} + manifest.json\n"
        f"parity onnxruntime vs torch on {par.steps} recorded steps: "
        f"max abs diff {max(par.max_abs_diff.values()):.2e} <= {par.tolerance:g}"
    )
    _emit(args, {"policy_dir": args.out, "manifest": manifest.to_dict()}, human)
    return EXIT_OK


# ---- sim2sim -------------------------------------------------------------------------------------
def _cmd_sim2sim(args: argparse.Namespace) -> int:
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
            f"{o['post_error']['mean']:.3f}, peak {o['peak_error']['mean']:.3f}; recovery median "
            f"{o['recovery_time_s']['median']:.2f} s ({o['recovered']} recovered)"
        )
    lines.append(f"safety filter: {out['safety']}")
    _emit(args, out, "\n".join(lines))
    return EXIT_OK


# ---- virtual robot -------------------------------------------------------------------------------
def _cmd_virtual_robot(args: argparse.Namespace) -> int:
    import socket
    import threading

    from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware, default_watchdog_ms
    from firmware_bridge.virtual_robot_server import Endpoint, FaultSpec, open_pty, serve
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
    if args.rate < 1 or args.baud < 1200 or args.watchdog_ms < 1:
        raise UsageError(
            f"need --rate >= 1, --baud >= 1200 and --watchdog-ms >= 1, got {args.rate}, {args.baud}, {args.watchdog_ms}"
        )
    config = FirmwareConfig(rate_hz=args.rate, watchdog_ms=args.watchdog_ms, arming_s=args.arming_s)
    stop = threading.Event()
    if args.tcp is None:
        master, slave, path = open_pty()
        print(path, flush=True)
        print(f"virtual {fam.name} robot on {path} at {args.baud} baud, {args.rate} Hz (Ctrl-C to stop)", file=sys.stderr)
        try:
            stats = serve(VirtualFirmware(fam, config=config), Endpoint(fd=master), args.baud, faults, args.duration, stop)
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            os.close(slave)
        print(
            f"served {stats.ticks} ticks ({stats.late_ticks} late), {stats.frames_out} frames out "
            f"({stats.dropped} dropped, {stats.corrupted} corrupted by --faults), {stats.frames_in} in",
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
            serve(VirtualFirmware(fam, config=config), Endpoint(sock=conn), args.baud, faults, left, stop)
            conn.close()  # a new connection gets a freshly booted (DISARMED) robot
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


# ---- bench ---------------------------------------------------------------------------------------
def _cmd_bench(args: argparse.Namespace) -> int:
    from sim_tasks import family_names, get_family
    from sim_tasks.bench import bench_sim

    if args.what == "train":
        return _bench_train(args)
    if args.what == "runtime":
        return _bench_runtime(args)
    if args.what == "bridge":
        from firmware_bridge.bench_bridge import bench_bridge

        r = bench_bridge(seconds=args.seconds if args.seconds is not None else 30.0)
        lines = [
            f"1 kHz, {r['joints']} joints, pty, {r['baud']} baud, {r['seconds']:.0f} s: RTT p50 {r['rtt_p50_us']:.0f} µs, "
            f"p99 {r['rtt_p99_us']:.0f} µs; missed deadlines {r['missed_deadlines']}/{r['ticks']}; seq gaps {r['seq_gaps']}"
        ]
        for w in r["wire_budget"]:
            lines.append(
                f"  wire at {w['baud'] / 1e6:.0f} Mbaud: COMMAND {w['command_bytes']} B {w['command_us']:.0f} µs + STATE "
                f"{w['state_bytes']} B {w['state_us']:.0f} µs (full duplex: "
                + ("each fits a 1 kHz period" if w["fits_1khz"] else "does not fit a 1 kHz period")
                + f"; round trip >= {w['min_round_trip_us']:.0f} µs)"
            )
        _emit(args, {"bench": "bridge", **r}, "\n".join(lines))
        return EXIT_OK
    names = args.task or family_names()
    args.seconds = 3.0 if args.seconds is None else args.seconds
    for n in names:
        get_family(n)  # unknown names fail before any timing starts
    if args.seconds <= 0 or args.num_envs < 1:
        raise UsageError(f"--seconds must be > 0 and --num-envs >= 1, got {args.seconds} and {args.num_envs}")
    results = []
    for name in _progress(names, "bench sim"):
        results.extend(bench_sim([name], n_envs=args.num_envs, seconds=args.seconds, seed=args.seed))
    lines = [f"{'task':<18} {'env steps/s':>12} {'x substeps':>10} {'raw mj_step/s':>14} {'ratio':>6}"]
    for r in results:
        lines.append(
            f"{r['task']:<18} {r['env_steps_per_s']:>12.0f} {r['substeps']:>10} {r['raw_steps_per_s']:>14.0f} {r['ratio']:>6.2f}"
        )
    lines.append(f"ratio = env steps/s x substeps / raw mj_step/s, {args.num_envs} tasks batched, 1 thread, same process")
    _emit(args, {"bench": "sim", "results": results}, "\n".join(lines))
    return EXIT_OK


def _bench_runtime(args: argparse.Namespace) -> int:
    from robot_meta.bench_runtime import bench_runtime
    from sim_tasks import get_family

    task = (args.task or ["quadruped"])[0]
    get_family(task)
    results = bench_runtime(task, steps=max(100, int((args.seconds or 5.0) * 1000)), seed=args.seed)
    lines = [f"{'algo':<6} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}  one adapter step on {task}, 1 thread"]
    for r in results:
        extra = f"window {r['window']}" if r["algo"] == "pearl" else f"GRU {r['hidden']}"
        lines.append(f"{r['algo']:<6} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['max_us']:>8.1f}  {extra}")
    lines.append("goal: p99 <= 200 µs (1 kHz control with 80% of the period to spare)")
    _emit(args, {"bench": "runtime", "results": results}, "\n".join(lines))
    return EXIT_OK


def _bench_train(args: argparse.Namespace) -> int:
    import torch

    from robot_meta.bench_train import bench_pearl, bench_rl2
    from robot_meta.torch_utils import resolve_device
    from sim_tasks import get_family

    task = (args.task or ["planar_runner"])[0]
    get_family(task)
    args.seconds = 3.0 if args.seconds is None else args.seconds
    if args.seconds <= 0:
        raise UsageError(f"--seconds must be > 0, got {args.seconds}")
    devices = [torch.device("cpu")]
    try:
        if resolve_device(args.device).type == "cuda":
            devices.append(torch.device("cuda"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    results = []
    for dev in devices:
        results.extend(bench_pearl(task, dev, seconds=args.seconds, seed=args.seed))
        results.extend(bench_rl2(task, dev, seconds=args.seconds, seed=args.seed))
    lines = [f"{'algo':<6} {'config':<12} {'device':<7} {'env steps/s':>12} {'updates/s':>10}  sizes"]
    for r in results:
        lines.append(
            f"{r['algo']:<6} {r['config']:<12} {r['device']:<7} {r['env_steps_per_s']:>12.0f} {r['updates_per_s']:>10.1f}  {r['sizes']}"
        )
    if len(devices) == 1:
        lines.append("no CUDA device: CPU only")
    _emit(args, {"bench": "train", "results": results, "cuda_available": torch.cuda.is_available()}, "\n".join(lines))
    return EXIT_OK


# ---- demo ----------------------------------------------------------------------------------------
def _parse_targets(items: Sequence[str]) -> dict[str, float]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key] = float(value)
        except ValueError:
            raise UsageError(f"--target takes NAME=VALUE like target_velocity=1.5, got {item!r}") from None
    return out


def _cmd_deploy(args: argparse.Namespace) -> int:
    from deploy.control import DeployConfig, Deployment
    from deploy.telemetry import TelemetryLog

    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be > 0 s, got {args.duration}")
    cfg = DeployConfig(
        duration_s=args.duration,
        targets=_parse_targets(args.target),
        max_delta=args.max_delta,
        status=sys.stderr.isatty() and not args.json,
        baud=args.baud,
    )
    log = TelemetryLog(args.log) if args.log else None
    try:
        d = Deployment(Path(args.policy_dir), args.port, cfg, log=log)
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
    _emit(args, out, human)
    return EXIT_OK if result.reason in ("duration", "stopped", "operator") else EXIT_RUNTIME


def _cmd_field(args: argparse.Namespace) -> int:
    from deploy.field import FieldPlan, run_field

    plan = FieldPlan.load(args.plan)
    if args.target:
        plan.targets.update(_parse_targets(args.target))
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
    human = "\n".join(
        [f"field report: {out / 'report.md'} (report.json, tracking_error.png, latent.png, one .mcap per policy)"]
        + [f"  {v}" for v in report["verdicts"]]
    )
    _emit(args, report, human)
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from robot_meta.compare import comparison, load_reports, plot, table

    try:
        reports = load_reports([Path(p) for p in args.report])
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    c = comparison(reports)
    plot(c, Path(args.plot))
    c["files"] = {"plot": args.plot}
    _emit(args, c, table(c) + f"\nfigure: {args.plot}")
    return EXIT_OK


def _cmd_maml_gridworld(args: argparse.Namespace) -> int:
    from robot_meta.maml.gridworld import GridConfig, run_exercise

    if args.iterations < 1:
        raise UsageError(f"--iterations must be >= 1, got {args.iterations}")
    import torch

    torch.set_num_threads(1)
    report = run_exercise(
        Path(args.out),
        GridConfig(iterations=args.iterations),
        seed=args.seed,
        progress=None if args.json else (lambda m: print(f"[gridworld] {m}", file=sys.stderr)),
    )
    r = report["returns_after_inner_steps"]
    lines = ["mean return on the 8 held-out goals after k inner policy-gradient steps (± std over goals):"]
    lines.append(f"{'':<10}" + "".join(f"{'k=' + k:>16}" for k in r["maml"]))
    for name, row in r.items():
        lines.append(f"{name:<10}" + "".join(f"{v['mean']:>9.2f} ± {v['std']:<4.2f}" for v in row.values()))
    lines.append(
        f"meta-training wall time: second-order {report['train_s']['maml']} s, first-order {report['train_s']['fomaml']} s"
    )
    lines.append(f"wrote {Path(args.out) / 'gridworld.json'} and {Path(args.out) / 'gridworld.png'}")
    _emit(args, {k: v for k, v in report.items() if k != "curves"}, "\n".join(lines))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from robot_meta.demo import run_demo

    if args.train_seconds < 0:
        raise UsageError(f"--train-seconds must be >= 0, got {args.train_seconds}")
    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    summary = run_demo(
        Path(args.out),
        episodes=args.episodes,
        seed=args.seed,
        progress=not args.json,
        train_seconds=args.train_seconds,
        plan=args.plan,
    )
    _emit(args, summary, summary.pop("text"))
    return EXIT_OK


def _progress(items: Sequence[Any], desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(items, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


# ---- wiring --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from robot_meta.registry import algorithm_names

    parser = _Parser(
        prog="robot-meta",
        description="Meta-train adaptive robot policies in MuJoCo, export them, and run them on a robot.",
        epilog="Each subcommand has --help. Exit codes: 0 ok, 1 runtime failure, 2 bad arguments or input.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "tasks",
        help="list task families, their parameters, ranges and splits",
        description="List the task families, or show one: observation and action layouts, reward, "
        "parameter ranges (allowed, trained on, held out for testing) and its split.",
    )
    p.add_argument("name", nargs="?", help="a family name to show in full")
    p.add_argument("--check", metavar="FILE", help="validate a task JSON file ('-' for stdin) against its family")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        "train",
        help="meta-train a policy (PEARL or RL²) on a task family into a run dir",
        description="Meta-train on the training split of a task family. Writes config.json (resolved), "
        "metrics.jsonl, TensorBoard events and checkpoints into --out; --resume continues "
        "a killed run from its newest checkpoint.",
    )
    p.add_argument(
        "--algo",
        required=True,
        choices=algorithm_names(),
        help="meta-RL algorithm (maml: gradient-based, see docs/maml.md)",
    )
    p.add_argument("--task", required=True, metavar="NAME", help="task family (robot-meta tasks lists them)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new unless --resume)")
    p.add_argument("--steps", type=int, default=200_000, help="total env steps (default 200000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON file of config overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--max-minutes", type=float, metavar="M", help="stop (and checkpoint) after M minutes of wall-clock time")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "eval",
        help="evaluate trained runs on held-out tasks (episodic + online), optionally against baselines",
        description="The evaluation protocol on the test split of the run's family: return of episode 1..K with "
        "context carried, and online adaptation to a mid-episode payload change (tracking error, recovery time). "
        "Several RUN_DIRs (seeds) are aggregated. --baselines adds prior-only, domain-randomized and oracle SAC, "
        "and SAC from scratch on test tasks; they are trained once and cached in RUN_DIR/baselines/.",
    )
    p.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="run directories of one algorithm and family (seeds)")
    p.add_argument("--baselines", action="store_true", help="also evaluate DR, oracle and from-scratch SAC")
    p.add_argument("--episodes", type=int, default=3, help="episodes per trial, K (default 3)")
    p.add_argument("--prior-episodes", type=int, default=1, help="leading episodes with z from the prior (PEARL's paper: 2)")
    p.add_argument("--scratch-tasks", type=int, default=3, help="test tasks for the from-scratch baseline (default 3)")
    p.add_argument("--scratch-multipliers", default="1,100", help="budgets of from-scratch SAC in adaptation budgets")
    p.add_argument("--baseline-steps", type=int, help="env steps for DR and oracle SAC (default 400000)")
    p.add_argument(
        "--baseline-dir",
        metavar="DIR",
        help="one baseline cache for every RUN_DIR (default: each RUN_DIR/baselines, trained with that run's seed)",
    )
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (env noise, z draws)")
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs of every test task with fresh start and sensor noise (seeds SEED..SEED+N-1), averaged per task "
        "(default 5: one run leaves about ±4 return of noise on the runner's 20-task mean)",
    )
    p.add_argument("--out", metavar="FILE.json", help="report path (default RUN_DIR/eval.json)")
    p.add_argument("--plot", metavar="FILE.png", help="figure path (default next to the report)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "export",
        help="export a trained run to a policy dir (ONNX graphs + manifest.json), parity-checked",
        description="Writes the ONNX graphs (PEARL: encoder + policy; RL²: one recurrent step) with the normalizers "
        "inside, and manifest.json (layouts, action scaling, ctrl_dt, joints, adaptation spec, trained ranges, "
        "version). Before it reports success it checks onnxruntime against torch on a recorded rollout with "
        "episode resets and a mid-episode payload change.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="POLICY_DIR", help="the policy dir to create (must not exist)")
    p.add_argument(
        "--baseline",
        choices=["dr"],
        help="export the run's cached domain-randomized SAC baseline (RUN_DIR/baselines/dr.pt, from eval --baselines) "
        "instead of the run's policy: the non-adaptive side of a field test",
    )
    p.add_argument(
        "--adapt-task", type=int, metavar="I", help="MAML runs: adapt on held-out task I in simulation before exporting"
    )
    p.add_argument("--adapt-episodes", type=int, default=1, help="MAML runs: inner steps (one episode each) (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "sim2sim",
        help="run an exported policy dir through the torch-free runtime in MuJoCo, with a payload schedule",
        description="The gate before hardware: the policy dir through deploy.runtime (onnxruntime, no torch) on "
        "held-out tasks of its family, with payload changes; reports return, tracking error over time and the "
        "recovery after a change, comparable with robot-meta eval's online numbers.",
    )
    p.add_argument("policy_dir", metavar="POLICY_DIR")
    p.add_argument("--task", metavar="NAME", help="task family (default: the manifest's)")
    p.add_argument(
        "--payload-schedule", metavar="T:KG,...", help="payload changes, e.g. 0:1.0,5:3.0 (default: eval's protocol)"
    )
    p.add_argument("--tasks", type=int, default=8, help="held-out tasks to run (default 8)")
    p.add_argument("--latency", type=int, metavar="STEPS", help="action latency in control steps (extra realism)")
    p.add_argument("--sim-dt", type=float, metavar="S", help="physics step finer than training (must divide ctrl_dt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_sim2sim)

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
    p.add_argument("--baud", type=int, default=1_000_000, help="bytes are paced at this rate, 10 bits each (default 1000000)")
    p.add_argument("--rate", type=int, help="control rate in Hz (default: the family's, 1/ctrl_dt, 20 Hz for the runner)")
    p.add_argument("--watchdog-ms", type=int, help="command watchdog (default max(100 ms, 3 control periods))")
    p.add_argument("--arming-s", type=float, default=1.0, help="soft-start duration (default 1 s)")
    p.add_argument("--faults", metavar="SPEC", help="fault injection, e.g. drop=0.01,corrupt=0.001,stall=5:0.2,payload=10:3.0")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.set_defaults(func=_cmd_virtual_robot)

    p = sub.add_parser(
        "bench",
        help="benchmarks: sim (env vs raw mj_step), train (PEARL/RL² throughput), runtime (adapter step latency)",
        description="Benchmarks that measure ratios inside one run, because the machines are shared. "
        "sim: batched env steps/s with a trivial policy against raw mujoco.mj_step of the "
        "same model, per family. train: PEARL's collection env steps/s and gradient updates/s at the CPU default "
        "and at oyster's reference sizes, and RL²'s collection env steps/s and PPO minibatch updates/s, on CPU "
        "and on CUDA when present (--task picks the family). runtime: p50/p99 latency of one full online "
        "adapter step (PEARL window 64, RL² GRU 256), single-threaded, over --seconds x 1000 steps. bridge: a 1 kHz "
        "12-joint control loop against the virtual robot over a pty for --seconds (default 30): round trip p50/p99 "
        "and missed deadlines, and the wire-time budget at 1, 2 and 3 Mbaud.",
    )
    p.add_argument("what", choices=["sim", "train", "runtime", "bridge"], help="what to benchmark")
    p.add_argument("--task", action="append", metavar="NAME", help="family to include (repeatable; default all)")
    p.add_argument("--num-envs", type=int, default=8, help="tasks stepped together (default 8)")
    p.add_argument(
        "--seconds", type=float, help="seconds per measurement (sim, train: 3; runtime: 5, x1000 steps; bridge: 30)"
    )
    p.add_argument("--device", default="auto", help="train: also measure on cuda when auto finds one (default auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "compare",
        help="several algorithms' eval reports (PEARL, RL², MAML) in one table and one figure",
        description="Reads eval.json files written by robot-meta eval on the same task family and prints one table "
        "(return of episode 1 and K, prior-only, online recovery; DR/oracle/from-scratch baselines) and one figure.",
    )
    p.add_argument("report", nargs="+", metavar="EVAL.json")
    p.add_argument("--plot", default="compare.png", metavar="FILE.png", help="figure path (default compare.png)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "maml-gridworld",
        help="the MAML teaching exercise: 5x5 gridworld goals, MAML vs first-order vs from scratch",
        description="Meta-trains second-order and first-order MAML on 16 training goals of a 5x5 gridworld, then "
        "on the 8 held-out goals reports the return after 0, 1, 3 and 5 inner policy-gradient steps beside a freshly "
        "initialized policy given the same steps (training from scratch); plots return vs outer iterations and vs "
        "inner steps and reports the meta-training wall time of each.",
    )
    p.add_argument("--out", default="gridworld_out", help="output directory (default gridworld_out)")
    p.add_argument("--iterations", type=int, default=150, help="outer iterations (default 150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_maml_gridworld)

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
    p.add_argument("--duration", type=float, metavar="S", help="disarm after S seconds (default: until Ctrl-C)")
    p.add_argument("--log", metavar="FILE.mcap", help="log every tick to this MCAP file")
    p.add_argument(
        "--target",
        action="append",
        metavar="NAME=VALUE",
        help="operator-set task value the reward needs (target_velocity=1.5)",
    )
    p.add_argument("--max-delta", type=float, default=1.0, help="rate limit on the normalized action per tick (default 1.0)")
    p.add_argument("--baud", type=int, default=1_000_000, help="serial baud rate (default 1000000)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_deploy)

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
        help="YAML/JSON field plan (default: 1.5 m/s, payload 9 kg, 8 s + 16 s; --protocol is its old name)",
    )
    p.add_argument("--compare", metavar="POLICY_DIR", help="a second policy (e.g. the exported DR baseline) run the same way")
    p.add_argument("--name", default="adaptive", help="name of POLICY_DIR in the report (default adaptive)")
    p.add_argument("--compare-name", default="non_adaptive", help="name of --compare in the report (default non_adaptive)")
    p.add_argument("--target", action="append", metavar="NAME=VALUE", help="override the plan's targets")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_field)

    p = sub.add_parser(
        "demo",
        help="the whole pipeline on its embedded default (a few minutes on 2 CPU cores)",
        description="1) the task families and their splits; 2) a pipeline check: train a small PEARL policy "
        "for --train-seconds, export it, deploy it on the virtual robot; 3) a field test of the embedded "
        "60-minute PEARL policy beside the domain-randomized baseline on the virtual robot (MuJoCo physics "
        "behind a pty) with a payload heavier than any seen in training. Prints where the report is.",
    )
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--episodes", type=int, default=2, help="random-policy episodes per split and family (default 2)")
    p.add_argument("--train-seconds", type=float, default=60.0, help="pipeline-check training time (default 60; 0 skips)")
    p.add_argument(
        "--plan",
        "--protocol",
        dest="plan",
        metavar="FILE",
        help="field plan (default: 1.5 m/s, 9 kg, 8 s baseline, 16 s hold; --protocol is its old name)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_cmd_demo)
    return parser


def _version() -> str:
    from robot_meta import __version__

    return f"robot-meta {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from sim_tasks.params import TaskParamError, UnknownFamilyError

    usage_errors: tuple[type[BaseException], ...] = (UsageError, TaskParamError, UnknownFamilyError)
    if args.command in ("train", "eval", "export"):
        from robot_meta.checkpoint import CheckpointError
        from robot_meta.config import ConfigError
        from robot_meta.train import RunDirError

        usage_errors += (ConfigError, RunDirError, CheckpointError)
    if args.command == "export":
        from robot_meta.export_spec import ExportError

        usage_errors += (ExportError,)
    if args.command in ("deploy", "field", "sim2sim"):
        from deploy.field import PlanError
        from deploy.runtime import PolicyDirError
        from firmware_bridge.client import HandshakeError

        usage_errors += (PolicyDirError, HandshakeError, PlanError)
    runtime_errors: tuple[type[BaseException], ...] = ()
    if args.command in ("deploy", "field", "conformance"):
        from firmware_bridge.link import LinkError

        runtime_errors = (LinkError,)
    try:
        return int(args.func(args))
    except usage_errors as exc:
        print(f"robot-meta {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except runtime_errors as exc:
        print(f"robot-meta {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        hint = " (the run dir keeps its newest checkpoint: continue with --resume)" if args.command == "train" else ""
        print(f"robot-meta {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
