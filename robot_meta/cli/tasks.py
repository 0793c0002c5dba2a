"""`robot-meta tasks`: the task families, their parameters, ranges and splits; a task file checked."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robot_meta.cli.common import EXIT_OK, add_json_option, emit, read_text


def cmd_tasks(args: argparse.Namespace) -> int:
    from sim_tasks import family_names, get_family, task_from_json

    if args.check:
        text = sys.stdin.read() if args.check == "-" else read_text(args.check)
        task = task_from_json(text)
        fam = get_family(task.family)
        regions = fam.holdout_regions(task)
        human = (
            f"valid {fam.name} task; varied parameters {fam.task_vector(task).tolist()}; held-out regions: {regions or 'none'}"
        )
        emit(args, {"valid": True, "task": task.to_dict(), "holdout_regions": regions}, human)
        return EXIT_OK
    names = [args.name] if args.name else family_names()
    described = [get_family(n).describe() for n in names]
    if args.name:
        emit(args, {"family": described[0]}, _describe_one(get_family(args.name), described[0]))
    else:
        emit(args, {"families": described}, _describe_all(described))
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
    # nominal: the default task's value (the virtual robot's, and sensitivity's other dynamics)
    lines.append("  parameters:        role     unit   nominal  allowed            train              test only")
    for p in d["params"]:
        test_only = " ".join(f"[{lo:g}, {hi:g}]" for lo, hi in p["test_only"]) or "-"
        allowed = f"[{p['allowed'][0]:g}, {p['allowed'][1]:g}]"
        train = f"[{p['train'][0]:g}, {p['train'][1]:g}]"
        lines.append(
            f"    {p['name']:<16} {p['role']:<8} {p['unit']:<6} {p['default']:<8g} {allowed:<18} {train:<18} {test_only}"
        )
    commands = [p["name"] for p in d["params"] if p["role"] == "command"]
    lines.append(
        f"  commands (observed, set by the operator at run time): {', '.join(commands)}"
        if commands
        else "  no commands: every parameter is hidden (a literature benchmark's hidden goal, or the dynamics)"
    )
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


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "tasks",
        help="list task families, their parameters, ranges and splits",
        description="List the task families, or show one: observation and action layouts, reward, "
        "parameter ranges (allowed, trained on, held out for testing) and its split.",
    )
    p.add_argument("name", nargs="?", help="a family name to show in full")
    p.add_argument("--check", metavar="FILE", help="validate a task JSON file ('-' for stdin) against its family")
    add_json_option(p)
    p.set_defaults(func=cmd_tasks)
