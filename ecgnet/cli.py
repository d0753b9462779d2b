"""`python -m ecgnet COMMAND ...`: one entry point for the project's own tools.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so a
command never pays for another's imports.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ecgnet.console import LOG_FORMAT, set_quiet
from ecgnet.errors import USER_ERRORS

COMMANDS = {
    "synth": ("ecgnet.synth", "write synthetic 12-lead ECG records in challenge format"),
    "demo": ("ecgnet.demo", "generate data, train a small 5-fold ensemble, predict, score, report"),
    "cv": ("ecgnet.training.crossval", "out-of-fold cross-validation on a challenge-format data directory"),
    "loso": ("ecgnet.training.loso", "cv, then leave one source out: each source held out in turn (generalisation to unseen sources)"),
    "assemble": ("ecgnet.modeldir", "write the manifest of a model directory whose folds separate runs trained"),
    "classify": ("ecgnet.inference.classify", "classify ECG files (WFDB, DICOM, GE MUSE XML, HL7 aECG), folders and globs: one row "
                 "per file, with its diagnoses and every class's probability"),
    "export": ("ecgnet.inference.export", "ONNX graphs of a model directory's fold models and preprocessing, with a JSON of their "
               "inputs, thresholds and vote, for onnxruntime and numpy"),
    "report": ("ecgnet.analysis.report", "render a Markdown/PNG report from a cv or demo results directory"),
    "review": ("ecgnet.analysis.review", "a blinded 12-lead review packet, rating sheet and separate key from cv results"),
    "agreement": ("ecgnet.analysis.agreement", "Cohen's and Fleiss' kappa of rating sheets vs each other, the labels and the model"),
    "label-issues": ("ecgnet.analysis.labelissues", "rank every training label of a cv results directory by how likely it is wrong (cleanlab)"),
    "lead-importance": ("ecgnet.analysis.leadimportance", "per class, how much each lead matters to the fold models (lead occlusion)"),
    "explain": ("ecgnet.analysis.explain", "draw one record's 12 leads shaded by where the fold models looked (Integrated Gradients)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported, to add that command's own options."""
    parser = argparse.ArgumentParser(prog="python -m ecgnet", description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        command_parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if name == command:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m ecgnet COMMAND ...``: run one sub-command; a user error is one line on stderr and exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    set_quiet(args.quiet)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format=LOG_FORMAT)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except USER_ERRORS as error:
        # Bad input, not a bug: one clear line, no traceback.
        logging.getLogger("ecgnet").error("%s", error)
        return 2
