"""What every command module shares: exit codes, the one-line usage error, the parser class, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or input; reported on one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (argparse prints the whole usage block before it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    """One JSON object on stdout with --json (human text on stderr), else the human text on stdout."""
    if getattr(args, "json", False):
        print(human, file=sys.stderr)
        print(json.dumps(payload, indent=None, sort_keys=False))
    else:
        print(human)


# argparse types that refuse a value by name before anything runs (issue 17): argparse prints "argument --X:
# invalid ... value: 'V'" on stderr and exits 2.
SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit here


def seed_value(text: str) -> int:
    """A seed: an integer in [0, 2**32 - 1]."""
    value = int(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text} is not a seed in [0, {SEED_MAX}]")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (durations, minutes, time steps)."""
    import math

    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be an integer >= 1")
    return value


def nonneg_int(text: str) -> int:
    """An integer >= 0 (latency in steps)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be an integer >= 0")
    return value


for _f, _name in ((seed_value, "seed"), (positive_float, "positive number"), (positive_int, "count"), (nonneg_int, "count")):
    _f.__name__ = _name  # argparse's message: "invalid seed value: '-1'"


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_baseline_algo_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--baseline-algo",
        choices=["sac", "ppo"],
        default="ppo",
        help="stable-baselines3 algorithm of DR and the oracle (default ppo, cached as dr_ppo.pt, oracle_ppo.pt: it beat "
        "SAC in every comparison measured, docs/commands.md; sac caches as dr.pt, oracle.pt)",
    )
    p.add_argument(
        "--baseline-preset",
        choices=["default", "zoo_cheetah"],  # robot_meta.baselines.PRESETS (not imported: --help loads no torch)
        default="default",
        help="named baseline settings: default (SB3's PPO defaults, annealed rate), zoo_cheetah (RL Zoo's tuned "
        "HalfCheetah PPO; a cache trained with other settings is retrained)",
    )
    p.add_argument(
        "--oracle-steps",
        type=int,
        metavar="N",
        help="env steps for the oracle, an upper bound that may take more than DR (default: --baseline-steps)",
    )


def check_baseline_steps(args: argparse.Namespace) -> None:
    """--baseline-steps and --oracle-steps, where given, are positive numbers of env steps."""
    for flag in ("baseline_steps", "oracle_steps"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} takes a positive number of env steps, got {value}")


def add_command_option(p: argparse.ArgumentParser, what: str) -> None:
    """`--command NAME=VALUE` (repeatable; `--target` is its old name) into `args.commands`."""
    p.add_argument("--command", "--target", dest="commands", action="append", metavar="NAME=VALUE", help=what)


def read_text(path: str) -> str:
    """The file's text; a file that cannot be read or is not UTF-8 text is a usage error naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}): give a JSON or YAML file") from None


def parse_commands(items: Sequence[str] | None) -> dict[str, float]:
    """`["target_velocity=1.5"]` -> {"target_velocity": 1.5}; a malformed item is a usage error naming it."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key] = float(value)
        except ValueError:
            raise UsageError(f"--command takes NAME=VALUE like target_velocity=1.5, got {item!r}") from None
        if out[key] != out[key] or out[key] in (float("inf"), float("-inf")):
            raise UsageError(f"--command {key}={value} must be a finite number")
    return out


def progress_bar(items: Sequence[Any], desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(items, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def add_teacher_runs_options(p: argparse.ArgumentParser, pairing: str) -> None:
    """`--dr-runs` and `--oracle-runs`: DR and the oracle from RMA runs' teachers instead of SB3's."""
    p.add_argument(
        "--dr-runs",
        nargs="+",
        metavar="RUN",
        help="DR from RMA runs trained with --set privileged=false (their teacher: the same PPO as RMA, on the "
        f"training tasks) instead of SB3's; {pairing}",
    )
    p.add_argument(
        "--oracle-runs",
        nargs="+",
        metavar="RUN",
        help="the oracle from RMA runs trained with --set task_range=evaluated (their privileged teacher over the "
        f"oracle's tasks) instead of SB3's; {pairing}",
    )


def teacher_runs(args: argparse.Namespace, role: str) -> list[Path] | None:
    """`--dr-runs` or `--oracle-runs` as paths (`eval_run.teacher_baseline` loads each and names one that is
    not a run directory, before anything is evaluated)."""
    runs = getattr(args, f"{role}_runs", None)
    return [Path(r) for r in runs] if runs else None
