"""`robot-meta bench`: sim, train, runtime and bridge benchmarks, each a ratio or a latency measured in one run."""

from __future__ import annotations

import argparse
from typing import Any

from firmware_bridge.bench_bridge import CLOCKS, describe_missed
from robot_meta.cli.common import (
    EXIT_OK,
    UsageError,
    add_json_option,
    emit,
    positive_float,
    positive_int,
    progress_bar,
    seed_value,
)


def cmd_bench(args: argparse.Namespace) -> int:
    from sim_tasks import family_names, get_family
    from sim_tasks.bench import bench_sim

    if args.what == "train":
        return _bench_train(args)
    if args.what == "runtime":
        return _bench_runtime(args)
    if args.what == "bridge":
        from firmware_bridge.bench_bridge import bench_bridge

        if args.task:
            raise UsageError(f"--task {args.task[0]}: bench bridge runs a 12-joint loop of no task family; drop --task")

        r = bench_bridge(
            seconds=args.seconds if args.seconds is not None else 30.0,
            baud=args.baud,
            port=args.port,
            clock=args.clock,
        )
        lines = [
            f"{r['rate_hz']} Hz, {r['joints']} joints, protocol version {r['protocol_version']}, {r['baud']} baud, "
            f"{r['seconds']:.0f} s, host clocked by the {r['clock']}: RTT p50 {r['rtt_p50_us']:.0f} µs, "
            f"p99 {r['rtt_p99_us']:.0f} µs; missed deadlines {r['missed_deadlines']}/{r['ticks']} (robot ticks with no "
            f"new COMMAND: {describe_missed(r['missed_by_cause'])}); host ticks late {r['host_late_ticks']}; seq gaps {r['seq_gaps']}"
            + ("" if r["cpu_steal_pct"] is None else f"; CPU time stolen by the hypervisor {r['cpu_steal_pct']:.2f}%")
        ]
        for w in r["wire_budget"]:
            answer = f"ACK {w['ack_bytes']} B" if w["version"] == 2 else "the next STATE"
            lines.append(
                f"  v{w['version']} wire at {w['baud'] / 1e6:.0f} Mbaud: COMMAND {w['command_bytes']} B {w['command_us']:.0f} µs, "
                f"STATE {w['state_bytes']} B {w['state_us']:.0f} µs, answered by {answer}: round trip >= "
                f"{w['min_round_trip_us']:.0f} µs, robot line {w['robot_line_us_per_period']:.0f} µs a period ("
                + ("fits" if w["fits_1khz"] else "does not fit")
                + " at 1 kHz)"
            )
        emit(args, {"bench": "bridge", **r}, "\n".join(lines))
        return EXIT_OK
    names = args.task or family_names()
    args.seconds = 3.0 if args.seconds is None else args.seconds
    for n in names:
        get_family(n)  # unknown names fail before any timing starts
    if args.seconds <= 0 or args.num_envs < 1:
        raise UsageError(f"--seconds must be > 0 and --num-envs >= 1, got {args.seconds} and {args.num_envs}")
    results = []
    for name in progress_bar(names, "bench sim"):
        results.extend(bench_sim([name], n_envs=args.num_envs, seconds=args.seconds, seed=args.seed))
    lines = [f"{'task':<18} {'env steps/s':>12} {'x substeps':>10} {'raw mj_step/s':>14} {'ratio':>6}"]
    for r in results:
        lines.append(
            f"{r['task']:<18} {r['env_steps_per_s']:>12.0f} {r['substeps']:>10} {r['raw_steps_per_s']:>14.0f} {r['ratio']:>6.2f}"
        )
    lines.append(f"ratio = env steps/s x substeps / raw mj_step/s, {args.num_envs} tasks batched, 1 thread, same process")
    emit(args, {"bench": "sim", "results": results}, "\n".join(lines))
    return EXIT_OK


def _tasks(args: argparse.Namespace, default: str) -> list[str]:
    """Each `--task` once, in the order given (`default` when none), every name checked before anything runs."""
    from sim_tasks import get_family

    tasks = list(dict.fromkeys(args.task or [default]))
    for task in tasks:
        get_family(task)
    return tasks


def _bench_runtime(args: argparse.Namespace) -> int:
    from robot_meta.bench_runtime import bench_runtime

    tasks = _tasks(args, "quadruped")
    steps = max(100, int((args.seconds or 5.0) * 1000))
    results = [r for task in tasks for r in bench_runtime(task, steps=steps, seed=args.seed)]
    lines = [f"{'task':<14} {'algo':<6} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}  one adapter step, 1 thread"]
    for r in results:
        extra = f"window {r['window']}" if r["algo"] == "pearl" else f"GRU {r['hidden']}"
        lines.append(f"{r['task']:<14} {r['algo']:<6} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['max_us']:>8.1f}  {extra}")
    lines.append("goal: p99 <= 200 µs (1 kHz control with 80% of the period to spare)")
    emit(args, {"bench": "runtime", "results": results}, "\n".join(lines))
    return EXIT_OK


def _bench_train(args: argparse.Namespace) -> int:
    import torch

    from robot_meta.bench_train import bench_pearl, bench_rl2
    from robot_meta.torch_utils import resolve_device

    tasks = _tasks(args, "planar_runner")
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
    for task in tasks:
        for dev in devices:
            results.extend(bench_pearl(task, dev, seconds=args.seconds, seed=args.seed))
            results.extend(bench_rl2(task, dev, seconds=args.seconds, seed=args.seed))
    w = max(len("config"), *(len(r["config"]) for r in results))
    lines = [f"{'task':<14} {'algo':<6} {'config':<{w}} {'device':<7} {'env steps/s':>12} {'updates/s':>10}  sizes"]
    for r in results:
        lines.append(
            f"{r['task']:<14} {r['algo']:<6} {r['config']:<{w}} {r['device']:<7} {r['env_steps_per_s']:>12.0f} "
            f"{r['updates_per_s']:>10.1f}  {r['sizes']}"
        )
    if len(devices) == 1:
        lines.append("no CUDA device: CPU only")
    emit(args, {"bench": "train", "results": results, "cuda_available": torch.cuda.is_available()}, "\n".join(lines))
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmarks: sim (env vs raw mj_step), train (PEARL/RL² throughput), runtime (adapter step latency)",
        description="Benchmarks that measure ratios inside one run, because the machines are shared. "
        "sim: batched env steps/s with a trivial policy against raw mujoco.mj_step of the "
        "same model, per family. train: PEARL's collection env steps/s and gradient updates/s at the CPU default "
        "and at oyster's reference sizes, and RL²'s collection env steps/s and PPO minibatch updates/s, on CPU "
        "and on CUDA when present, with the belief objectives' cost beside each default. runtime: p50/p99 latency of one full online "
        "adapter step (PEARL window 64, RL² GRU 256), single-threaded, over --seconds x 1000 steps. bridge: a 1 kHz "
        "12-joint control loop against the virtual robot over a pty for --seconds (default 30): round trip p50/p99 "
        "(COMMAND to the frame acknowledging it), missed deadlines (robot ticks whose STATE acknowledges no new "
        "COMMAND), and the wire-time budget at 1, 2 and 3 Mbaud.",
    )
    p.add_argument("what", choices=["sim", "train", "runtime", "bridge"], help="what to benchmark")
    p.add_argument(
        "--task",
        action="append",
        metavar="NAME",
        help="family to measure, repeatable, each in turn (default: sim all; train planar_runner; runtime quadruped)",
    )
    p.add_argument("--num-envs", type=int, default=8, help="tasks stepped together (default 8)")
    p.add_argument(
        "--seconds", type=positive_float, help="seconds per measurement (sim, train: 3; runtime: 5, x1000 steps; bridge: 30)"
    )
    p.add_argument("--device", default="auto", help="train: also measure on cuda when auto finds one (default auto)")
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument(
        "--port",
        metavar="URL",
        help="bridge: run the loop against this robot (a board on a stand; it is armed) instead of a virtual one",
    )
    p.add_argument("--baud", type=positive_int, default=3_000_000, help="bridge: baud rate (default 3000000)")
    p.add_argument(
        "--clock",
        choices=CLOCKS,
        default="robot",
        help="bridge: robot (default): the host's sends locked to the robot's tick, read from its STATEs; host: the "
        "host's own 1 kHz schedule in whatever phase it starts",
    )
    add_json_option(p)
    p.set_defaults(func=cmd_bench)
