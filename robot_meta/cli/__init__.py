"""`robot-meta`: the command line, and the only place that wires the packages together.

One module per command group (tasks, training, robot, bench, demo), each adding its subcommands with
`add_parsers`; this module builds the parser, loads a user's family modules (`--family-module`), runs the
command and turns typed exceptions into exit codes. Commands import what they need when they run, so that
`robot-meta --help` is instant. With `--json` a subcommand prints exactly one JSON object on stdout and sends
human text to stderr. Exit codes: 0 ok, 2 usage or input error (one line on stderr naming the bad value),
1 runtime failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from robot_meta.cli import bench, demo, robot, tasks, training
from robot_meta.cli.common import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, Parser, UsageError

__all__ = ["EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "UsageError", "build_parser", "main"]

COMMAND_GROUPS = (tasks, training, robot, bench, demo)


def build_parser() -> argparse.ArgumentParser:
    from robot_meta import __version__

    parser = Parser(
        prog="robot-meta",
        description="Meta-train adaptive robot policies in MuJoCo, export them, and run them on a robot.",
        epilog="Each subcommand has --help. Exit codes: 0 ok, 1 runtime failure, 2 bad arguments or input.",
    )
    parser.add_argument("--version", action="version", version=f"robot-meta {__version__}")
    parser.add_argument(
        "--family-module",
        action="append",
        metavar="MODULE",
        help="import MODULE first: a module of yours that registers task families with sim_tasks.register_family "
        "(repeatable; see docs/architecture.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def _errors(command: str) -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(usage errors: exit 2, runtime errors: exit 1) a command reports on one line, imported by class."""
    from sim_tasks.params import TaskParamError, UnknownFamilyError

    usage: tuple[type[BaseException], ...] = (UsageError, TaskParamError, UnknownFamilyError)
    runtime: tuple[type[BaseException], ...] = ()
    if command in ("train", "eval", "export", "sensitivity"):
        from robot_meta.checkpoint import CheckpointError
        from robot_meta.config import ConfigError
        from robot_meta.export_spec import ExportError
        from robot_meta.train import RunDirError

        usage += (ConfigError, RunDirError, CheckpointError, ExportError)
    if command in ("deploy", "field", "sim2sim", "demo"):
        from deploy.field import PlanError
        from deploy.manifest import PolicyDirError
        from firmware_bridge.client import HandshakeError
        from firmware_bridge.link import LinkError

        usage += (PolicyDirError, HandshakeError, PlanError)
        runtime += (LinkError,)
    return usage, runtime


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    usage_errors, runtime_errors = _errors(args.command)
    try:
        if args.family_module:
            from sim_tasks import load_family_module

            for module in args.family_module:
                load_family_module(module)
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
