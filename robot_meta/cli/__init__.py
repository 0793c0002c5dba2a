"""`robot-meta`: the command line, and the only place that wires the packages together.

One module per command group (tasks, training, robot, bench, demo), each adding its subcommands with
`add_parsers`; this module builds the parser, loads a user's family modules (`--family-module`), runs the
command and turns typed exceptions into exit codes. Commands import what they need when they run, so that
`robot-meta --help` is instant. With `--json` a subcommand prints exactly one JSON object on stdout and sends
human text to stderr. Exit codes: 0 ok, 2 usage or input error (one line on stderr naming the bad value),
1 runtime failure (one line); a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import sys
import traceback
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
    _add_debug(parser, top=True)
    return parser


# Every known failure is a typed exception: (module, class) -> exit code. Looked up in sys.modules when one is
# raised, so that nothing is imported for it (a class whose module was never imported cannot have been raised).
USAGE_ERRORS = (  # bad arguments or input: exit 2, one line naming the value
    ("robot_meta.cli.common", "UsageError"),
    ("sim_tasks.params", "TaskParamError"),
    ("sim_tasks.params", "UnknownFamilyError"),
    ("robot_meta.config", "ConfigError"),
    ("robot_meta.train", "RunDirError"),
    ("robot_meta.checkpoint", "CheckpointError"),
    ("robot_meta.export_spec", "ExportError"),
    ("deploy.manifest", "PolicyDirError"),
    ("deploy.field", "PlanError"),
    ("deploy.runtime", "ObservationError"),
    ("firmware_bridge.client", "HandshakeError"),
    ("builtins", "FileNotFoundError"),
    ("builtins", "NotADirectoryError"),
    ("builtins", "IsADirectoryError"),
    ("builtins", "PermissionError"),
)
RUNTIME_ERRORS = (  # the run failed, not the input: exit 1, one line
    ("firmware_bridge.link", "LinkError"),
    ("sim_tasks.render", "RenderError"),
    ("firmware_bridge.cfirmware", "FirmwareBuildError"),
    ("deploy.control", "DeployError"),
    ("firmware_bridge.protocol", "ProtocolError"),
    ("builtins", "OSError"),
    ("builtins", "MemoryError"),
)


def exit_code_of(exc: BaseException) -> int | None:
    """EXIT_USAGE or EXIT_RUNTIME for a known failure, None for an unexpected one (a bug)."""
    for table, code in ((USAGE_ERRORS, EXIT_USAGE), (RUNTIME_ERRORS, EXIT_RUNTIME)):
        for module, name in table:
            cls = getattr(sys.modules.get(module), name, None)
            if cls is not None and isinstance(exc, cls):
                return code
    return None


def _add_debug(parser: argparse.ArgumentParser, top: bool) -> None:
    """--debug on the top parser and on every subcommand (so it may come anywhere on the line)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print the traceback of an error (errors are otherwise one line)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                _add_debug(child, top=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 ok, 2 bad input (one line naming it), 1 runtime failure (one line); an
    unexpected error (a bug) is one line too, exit 1, and its traceback is printed with --debug."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.family_module:
            from sim_tasks import load_family_module

            for module in args.family_module:
                load_family_module(module)
        return int(args.func(args))
    except KeyboardInterrupt:
        hint = " (the run dir keeps its newest checkpoint: continue with --resume)" if args.command == "train" else ""
        print(f"robot-meta {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        code = exit_code_of(exc)
        message = " ".join(str(exc).split()) or type(exc).__name__
        if code is None:
            hint = "" if args.debug else "; rerun with --debug for the traceback"
            print(
                f"robot-meta {args.command}: internal error: {type(exc).__name__}: {message} (a bug{hint})",
                file=sys.stderr,
            )
            return EXIT_RUNTIME
        print(f"robot-meta {args.command}: error: {message}", file=sys.stderr)
        return code
