"""`robot-meta demo`: the whole pipeline on its embedded default (robot_meta.demo does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robot_meta.cli.common import EXIT_OK, UsageError, add_json_option, emit, seed_value


def cmd_demo(args: argparse.Namespace) -> int:
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
    emit(args, summary, summary.pop("text"))
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on its embedded default (a few minutes on 2 CPU cores)",
        description="1) the task families and their splits; 2) a pipeline check: train a small PEARL policy "
        "for --train-seconds, export it, deploy it on the virtual robot; 3) a field test of the embedded "
        "RL² runner beside the runner's domain-randomized policy on the virtual robot (MuJoCo physics behind a "
        "pty) with a payload heavier than any seen in training; 4) the arm's pick-up of a payload heavier than "
        "training, the embedded RMA beside the arm's domain-randomized policy. The embedded policies and the "
        "commands that trained them: robot_meta/assets/PROVENANCE.md. Prints where the reports are.",
    )
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--episodes", type=int, default=2, help="random-policy episodes per split and family (default 2)")
    p.add_argument("--train-seconds", type=float, default=60.0, help="pipeline-check training time (default 60; 0 skips)")
    p.add_argument(
        "--plan",
        "--protocol",
        dest="plan",
        metavar="FILE",
        help="field plan (default: the runner at 2.5 m/s, 9 kg, 8 s baseline, 16 s hold; --protocol is its old name)",
    )
    p.add_argument("--seed", type=seed_value, default=0)
    add_json_option(p)
    p.set_defaults(func=cmd_demo)
