"""`python -m ecgnet COMMAND ...`: one entry point for the project's own tools.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so a
command never pays for another's imports.
"""
from __future__ import annotations

import argparse
import importlib
import logging

from .progress import set_quiet

COMMANDS = {
    "synth": ("ecgnet.synth", "write synthetic 12-lead ECG records in challenge format"),
    "demo": ("ecgnet.demo", "generate data, train a small 5-fold ensemble, predict, score, report"),
    "cv": ("ecgnet.crossval", "out-of-fold cross-validation on a challenge-format data directory"),
    "report": ("ecgnet.report", "render a Markdown/PNG report from a cv or demo results directory"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ecgnet", description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        command.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    module = importlib.import_module(args._module)
    # Re-parse with the command's own options now that its module is loaded.
    parser = build_parser()
    command_parser = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    module.add_arguments(command_parser)
    args = parser.parse_args(argv)
    set_quiet(args.quiet)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(module.run(args) or 0)
