"""The training side: `train`, `eval`, `export`, `compare` and the MAML teaching exercise."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from deploy.metrics import interval_text
from robot_meta.cli.common import (
    EXIT_OK,
    UsageError,
    add_baseline_algo_option,
    add_json_option,
    add_teacher_runs_options,
    check_baseline_steps,
    emit,
    positive_float,
    positive_int,
    seed_value,
    teacher_runs,
)


def _check_wandb(project: str) -> None:
    """--wandb fails here, before the run dir is touched: no package, or online without credentials."""
    try:
        import wandb
    except ImportError:
        raise UsageError(
            f"--wandb {project}: the wandb package is not installed; pip install wandb, or drop --wandb"
        ) from None
    if os.environ.get("WANDB_MODE", "online") not in ("offline", "disabled", "dryrun"):
        try:
            wandb.login(verify=False)  # asks for the key on a terminal, fails at once elsewhere
        except Exception as exc:  # wandb's own UsageError and friends: say what to do instead
            raise UsageError(
                f"--wandb {project}: {exc} (or set WANDB_MODE=offline to log into RUN_DIR/wandb and `wandb sync` later)"
            ) from None


def cmd_train(args: argparse.Namespace) -> int:
    from robot_meta.torch_utils import resolve_device
    from robot_meta.train import train

    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UsageError(f"--max-minutes must be > 0, got {args.max_minutes}")
    from robot_meta.registry import algorithm_class
    from sim_tasks import get_family

    get_family(args.task)  # an unknown family fails before anything is written
    if args.wandb:
        _check_wandb(args.wandb)
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
        progress=(sys.stderr.isatty() and not args.json) or "lines",  # a log file gets a line every 30 s
        max_minutes=args.max_minutes,
        wandb_project=args.wandb,
    )
    last = summary["last"]
    ret = last.get("return_posterior", last.get("return_mean", float("nan")))
    human = (
        f"trained {args.algo} on {args.task}: {summary['iterations']} iterations, {summary['env_steps']} env steps, "
        f"{summary['updates']} updates in {summary['wall_s']} s; last training return {ret:.1f}\n"
        f"run dir: {summary['run_dir']} (robot-meta eval {summary['run_dir']})"
    )
    emit(args, summary, human)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from robot_meta.eval_run import plot_report, run_eval, run_eval_video_check, write_report

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
    check_baseline_steps(args)
    if args.video:
        try:
            run_eval_video_check(run_dirs[0])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
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
        baseline_algo=args.baseline_algo,
        oracle_steps=args.oracle_steps,
        baseline_preset=args.baseline_preset,
        video=Path(args.video) if args.video else None,
        dr_runs=teacher_runs(args, "dr"),
        oracle_runs=teacher_runs(args, "oracle"),
    )
    out_json = Path(args.out) if args.out else run_dirs[0] / "eval.json"
    out_png = Path(args.plot) if args.plot else out_json.with_suffix(".png")
    write_report(report, out_json)
    plot_report(report, out_png)
    report_files = {"json": str(out_json), "plot": str(out_png)}
    if report.get("video"):
        report_files.update(video=report["video"]["mp4"], gif=report["video"]["gif"])
    emit(
        args, {**{k: v for k, v in report.items() if k != "per_seed"}, "files": report_files}, eval_text(report, report_files)
    )
    return EXIT_OK


def eval_text(report: dict[str, Any], files: dict[str, str]) -> str:
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
            ad = o["adaptation_time_s"]
            excess = (
                f"  excess over oracle {o['excess_first']['mean']:+.3f} (first 2 s or half of what follows, x s), {o['excess_steady']['mean']:+.3f} after"
                if "excess_first" in o
                else ""
            )
            ci = ad.get("median_ci95")  # reports written before it have none
            ci_s = "" if ci is None else f" {interval_text(ci)}"
            lines.append(
                f"  {name:<12} pre {o['pre_error']['mean']:.3f}  post {o['post_error']['mean']:.3f}  peak "
                f"{o['peak_error']['mean']:.3f}  steady {o['steady_error']['mean']:.3f}  adaptation median "
                f"{ad['median']:.2f} s{ci_s} ({o['adapted']} settled){excess}"
            )
    if "belief" in report:
        b = report["belief"]["payload_r2"]
        lines.append(
            f"belief probe: payload R² {b['mean']:.2f} ± {b['std']:.2f} over seeds (linear fit from the "
            f"{report['belief']['belief_dim']}-dim belief, out of fold, on held-out tasks inside the training range)"
        )
        settle = report["belief"].get("settle_time_s")
        if settle:
            median = "never" if settle["median"] is None else f"{settle['median']:.2f} s"
            lines.append(f"  payload estimate settles within 20% after the change: median {median} ({settle['settled']} runs)")
        others = {n: v for n, v in report["belief"].get("r2_by_param", {}).items() if n != "payload_mass" and v is not None}
        if others:
            lines.append("  other hidden parameters, R²: " + ", ".join(f"{n} {v:.2f}" for n, v in others.items()))
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
        for key, what in (("return", f"return of episode {k}"), ("steady_error", "online steady error")):
            if d := s.get("vs_dr", {}).get(key):
                lines.append(
                    f"  {report['algo']} minus DR, {what}, same tasks and starts: {d['mean']:+.3f} "
                    f"(95% bootstrap {d['ci95'][0]:+.3f} .. {d['ci95'][1]:+.3f}, n={d['n']})"
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
    if files.get("video"):
        v = report["video"]
        lines.append(
            f"wrote {files['video']}" + (f" and {files['gif']}" if files.get("gif") else "") + f": {', '.join(v['methods'])} "
            f"side by side, {v['task_payload_kg']:g} kg from {v['change_time_s']:g} s"
        )
    return "\n".join(lines)


def cmd_export(args: argparse.Namespace) -> int:
    from robot_meta.export import export_baseline, export_run

    if not (Path(args.run_dir) / "config.json").exists():
        raise UsageError(f"{args.run_dir} is not a run directory (no config.json); train one with robot-meta train")
    if args.baseline_dir is not None and not args.baseline:
        raise UsageError("--baseline-dir goes with --baseline dr (the cache a baseline was trained into)")
    if args.baseline:
        cache = None if args.baseline_dir is None else Path(args.baseline_dir)
        manifest = export_baseline(Path(args.run_dir), args.baseline, Path(args.out), args.baseline_algo, cache)
    else:
        manifest = export_run(Path(args.run_dir), Path(args.out), args.adapt_task, args.adapt_episodes)
    graphs = ", ".join(g.file for g in manifest.graphs.values())
    par = manifest.parity
    human = (
        f"exported {manifest.algo} ({manifest.family}) to {args.out}: {graphs} + manifest.json\n"
        f"parity onnxruntime vs torch on {par.steps} recorded steps: "
        f"max abs diff {max(par.max_abs_diff.values()):.2e} <= {par.tolerance:g}"
    )
    emit(args, {"policy_dir": args.out, "manifest": manifest.to_dict()}, human)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from robot_meta.compare import comparison, load_reports, plot, table

    try:
        reports = load_reports([Path(p) for p in args.report])
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    c = comparison(reports)
    plot(c, Path(args.plot))
    c["files"] = {"plot": args.plot}
    emit(args, c, table(c) + f"\nfigure: {args.plot}")
    return EXIT_OK


def cmd_maml_gridworld(args: argparse.Namespace) -> int:
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
    emit(args, {k: v for k, v in report.items() if k != "curves"}, "\n".join(lines))
    return EXIT_OK


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from robot_meta.sensitivity import BaselineOptions, plot_sensitivity, run_sensitivity, table, train_replica

    if not (Path(args.run_dir) / "config.json").exists():
        raise UsageError(f"{args.run_dir} is not a run directory (no config.json); train one with robot-meta train")
    if args.seeds < 1:
        raise UsageError(f"--seeds takes a positive integer, got {args.seeds}")
    check_baseline_steps(args)
    if (args.dr_runs or args.oracle_runs) and (args.train_seeds != 1 or args.replica is not None):
        flag = "--replica" if args.replica is not None else "--train-seeds"
        raise UsageError(f"{flag} trains SB3 baselines; with --dr-runs/--oracle-runs the run pairs are the training seeds")
    opts = BaselineOptions(
        baseline_dir=Path(args.baseline_dir) if args.baseline_dir else None,
        baseline_algo=args.baseline_algo,
        baseline_steps=args.baseline_steps,
        oracle_steps=args.oracle_steps,
        baseline_preset=args.baseline_preset,
        quiet=args.json,
    )
    try:
        if args.replica is not None:
            report = train_replica(Path(args.run_dir), args.replica, opts)
        else:
            report = run_sensitivity(
                Path(args.run_dir),
                seeds=args.seeds,
                train_seeds=args.train_seeds,
                opts=opts,
                dr_runs=teacher_runs(args, "dr"),
                oracle_runs=teacher_runs(args, "oracle"),
            )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.replica is not None:
        b = report["baselines"]
        emit(
            args,
            report,
            f"training run {args.replica} of {report['family']} cached in {report['baseline_dir']}: DR seed "
            f"{b['dr']['seed']} ({b['dr']['steps']} env steps), oracle seed {b['oracle']['seed']} ({b['oracle']['steps']}); "
            f"measure with --train-seeds {args.replica + 1} or more",
        )
        return EXIT_OK
    out_json = Path(args.out) if args.out else Path(args.run_dir) / "sensitivity.json"
    out_png = Path(args.plot) if args.plot else out_json.with_suffix(".png")
    out_json.write_text(json.dumps(report, indent=1))
    plot_sensitivity(report, out_png)
    report["files"] = {"json": str(out_json), "plot": str(out_png)}
    emit(args, report, table(report) + f"\nwrote {out_json} and {out_png}")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    from robot_meta.registry import algorithm_names

    p = sub.add_parser(
        "train",
        help="meta-train a policy (PEARL, RL² or MAML) on a task family into a run dir",
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
    p.add_argument("--steps", type=positive_int, default=200_000, help="total env steps (default 200000)")
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON file of config overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument(
        "--max-minutes", type=positive_float, metavar="M", help="stop (and checkpoint) after M minutes of wall-clock time"
    )
    p.add_argument(
        "--wandb",
        metavar="PROJECT",
        help="also log to this Weights & Biases project (pip install wandb; the same names as TensorBoard, against env "
        "steps; a resume continues the same W&B run; WANDB_MODE=offline writes RUN_DIR/wandb for `wandb sync`)",
    )
    add_json_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="evaluate trained runs on held-out tasks (episodic + online), optionally against baselines",
        description="The evaluation protocol on the test split of the run's family: return of episode 1..K with "
        "context carried, and online adaptation to a mid-episode payload change (tracking error, adaptation time to "
        "the same policy's steady error on the new payload, excess over the oracle). "
        "Several RUN_DIRs (seeds) are aggregated. --baselines adds prior-only, domain-randomized and oracle "
        "stable-baselines3 policies (PPO or SAC, --baseline-algo; observations normalized), and SAC from scratch on "
        "test tasks; they are trained once and cached in RUN_DIR/baselines/.",
    )
    p.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="run directories of one algorithm and family (seeds)")
    p.add_argument("--baselines", action="store_true", help="also evaluate DR, oracle and from-scratch SAC")
    p.add_argument("--episodes", type=int, default=3, help="episodes per trial, K (default 3)")
    p.add_argument("--prior-episodes", type=int, default=1, help="leading episodes with z from the prior (PEARL's paper: 2)")
    p.add_argument("--scratch-tasks", type=int, default=3, help="test tasks for the from-scratch baseline (default 3)")
    p.add_argument("--scratch-multipliers", default="1,100", help="budgets of from-scratch SAC in adaptation budgets")
    p.add_argument(
        "--baseline-steps", type=int, help="env steps for DR and for the oracle (default 2500000 for ppo, 400000 for sac)"
    )
    p.add_argument(
        "--baseline-dir",
        metavar="DIR",
        help="one baseline cache for every RUN_DIR (default: each RUN_DIR/baselines, trained with that run's seed)",
    )
    add_baseline_algo_option(p)
    p.add_argument("--seed", type=seed_value, default=0, help="evaluation seed (env noise, z draws)")
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs of every test task with fresh start and sensor noise (seeds SEED..SEED+N-1), averaged per task "
        "(default 5: one run leaves about ±4 return of noise on the runner's 20-task mean)",
    )
    add_teacher_runs_options(p, "one per RUN_DIR in order, or one for all")
    p.add_argument("--out", metavar="FILE.json", help="report path (default RUN_DIR/eval.json)")
    p.add_argument("--plot", metavar="FILE.png", help="figure path (default next to the report)")
    p.add_argument(
        "--video",
        metavar="FILE.mp4",
        help="render the online episode of the heaviest held-out payload, every method side by side (same start, "
        "same change), as MP4 and a GIF beside it",
    )
    add_json_option(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "sensitivity",
        help="does the payload matter on the run's family? DR vs oracle steady error across payloads",
        description="Trains (or loads from the run's baseline cache, like eval --baselines) the domain-randomized "
        "policy (training range) and the oracle (true hidden parameters, training range and held-out regions), stable-baselines3 SAC "
        "or PPO (--baseline-algo), then measures each one's "
        "steady tracking error at payloads from 0 to the heaviest held-out one, under fixed commands and the family's "
        "nominal other dynamics (its declared defaults, printed with the table: the runner climbs 8 deg), over "
        "--seeds seeds. Passes when DR's error at the heaviest payload is >= 1.5x the oracle's and the "
        "oracle is nowhere worse (with --train-seeds N > 1: the 95% interval of DR k - 1.5 x oracle k above zero; "
        "seeds that disagree are inconclusive): measure this before training anything adaptive on a family.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run of the family (its seed and baseline cache are used)")
    p.add_argument("--seeds", type=int, default=2, help="episodes per payload and command, independent starts (default 2)")
    p.add_argument(
        "--baseline-steps",
        type=int,
        metavar="N",
        help="env steps for DR and for the oracle (default 2500000 for ppo, 400000 for sac)",
    )
    p.add_argument("--baseline-dir", metavar="DIR", help="baseline cache (default RUN_DIR/baselines)")
    add_baseline_algo_option(p)
    p.add_argument(
        "--train-seeds",
        type=int,
        default=1,
        metavar="N",
        help="train DR and the oracle N times (seeds RUN_SEED..RUN_SEED+N-1, cached as dr_r1.pt...; a cache trained "
        "for another family or other tasks is retrained) and report the means "
        "with 95%% intervals over training runs; the oracle counts as worse only where the interval says so (default 1)",
    )
    p.add_argument(
        "--replica",
        type=int,
        metavar="K",
        help="only train (or find cached) training run K (seed RUN_SEED+K), DR then its oracle, and measure nothing: "
        "two processes with K=0 and K=1 use two cores, then --train-seeds 2 measures both from the cache",
    )
    add_teacher_runs_options(p, "as many oracle runs as DR runs, paired in order; replaces the SB3 training")
    p.add_argument("--out", metavar="FILE.json", help="report path (default RUN_DIR/sensitivity.json)")
    p.add_argument("--plot", metavar="FILE.png", help="figure path (default next to the report)")
    add_json_option(p)
    p.set_defaults(func=cmd_sensitivity)

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
        help="export the run's cached domain-randomized baseline (RUN_DIR/baselines/dr.pt or dr_ppo.pt, from eval "
        "--baselines or sensitivity) instead of the run's policy: the non-adaptive side of a field test",
    )
    p.add_argument(
        "--baseline-algo",
        choices=["sac", "ppo"],
        help="with --baseline: which cached DR (default: the one that exists; both: say which)",
    )
    p.add_argument(
        "--baseline-dir",
        metavar="DIR",
        help="with --baseline: the cache it was trained into (eval or sensitivity --baseline-dir; default RUN_DIR/baselines)",
    )
    p.add_argument(
        "--adapt-task", type=int, metavar="I", help="MAML runs: adapt on held-out task I in simulation before exporting"
    )
    p.add_argument("--adapt-episodes", type=int, default=1, help="MAML runs: inner steps (one episode each) (default 1)")
    add_json_option(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "compare",
        help="several algorithms' eval reports (PEARL, RL², MAML) in one table and one figure",
        description="Reads eval.json files written by robot-meta eval on the same task family and prints one table "
        "(return of episode 1 and K, prior-only, online adaptation; DR/oracle/from-scratch baselines) and one figure.",
    )
    p.add_argument("report", nargs="+", metavar="EVAL.json")
    p.add_argument("--plot", default="compare.png", metavar="FILE.png", help="figure path (default compare.png)")
    add_json_option(p)
    p.set_defaults(func=cmd_compare)

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
    p.add_argument("--seed", type=seed_value, default=0)
    add_json_option(p)
    p.set_defaults(func=cmd_maml_gridworld)
