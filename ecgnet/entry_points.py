"""The bodies of ``train_model.py``, ``driver.py`` and ``test_model.py``: arguments, folder checks, Ctrl-C and exit statuses.

``test_model.py`` is the 2021 challenge's name for the driver (the same arguments: model,
data and output folders): both run one command, ``driver_main``. ``train_model.py
--challenge 2021`` trains what the 2021 contract's ``team_code.training_code`` trains.

The arguments are parsed and the folders checked before anything heavy is imported,
so ``--help`` and a mistyped path answer at once (importing torch takes seconds to
tens of seconds on a busy machine). Bad input is one line and exit status 2; Ctrl-C
is one line saying what was saved and how to go on, and exit status 130. A failed
training run leaves no empty ``MODEL_DIR`` it created, and never deletes a folder
the user already had or anything in it. The organisers' own scripts call
``team_code`` directly and do not pass through here. Nothing in the package imports
this module.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from ecgnet.challenge.classes import CLASS_SETS, DEFAULT_CLASS_SET
from ecgnet.config import ENV_VAR, PRECISIONS, PRESETS, load_config
from ecgnet.console import LOG_FORMAT
from ecgnet.errors import USER_ERRORS
from ecgnet.fileio import CACHE_ENV_VAR, EPOCH_LOG, FOLD_RESULT, FOLDS_DIR, FOLDS_PLAN, LEAD_SET_DIR, WORK_DIR
from ecgnet.records.files import find_records

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


def _environment_help() -> str:
    """The help's epilog: the environment variables, with the presets and precisions ``config`` defines."""
    default = PRESETS["default"]
    presets = ", ".join(name for name in PRESETS if name != "default")
    return f"""\
environment:
  {ENV_VAR}     training configuration (train_model.py): a preset ({presets};
                    see the README), or a JSON file of overrides such as
                    {{"preset": "default", "epochs": 30}}. Unset means "default": the
                    seed's full network (SE-ResNet-18), {default.epochs} epochs, batch {default.batch_size};
                    hours on a GPU, days on a CPU. driver.py ignores it: the model
                    directory records its configuration.
  ECGNET_PRECISION  CPU inference precision (driver.py), {" or ".join(PRECISIONS)}; unset: the model
                    directory's ({default.cpu_precision}). Training is fp32 on a CPU, mixed on CUDA.
  ECGNET_DEVICE     cpu or cuda; unset: CUDA when a GPU is available, else the CPU.
  {CACHE_ENV_VAR}  train_model.py's record cache, kept in that folder so that later
                    trainings on the same data reuse it; unset: MODEL_DIR/work, removed
                    when training ends.
  ECGNET_QUIET      1: no progress display (as --quiet of python -m ecgnet).
  OMP_WAIT_POLICY   unset: ecgnet sets PASSIVE, so idle torch threads sleep instead of
                    spinning (a shared machine stays usable); ACTIVE restores spinning.
"""


def _parser(prog: str, description: str, folders: list[tuple[str, str]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python {prog}", description=description, epilog=_environment_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, help_text in folders:
        parser.add_argument(name.lower(), metavar=name, type=Path, help=help_text)
    return parser


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 2


def _fold_progress(model_dir: Path) -> list[str]:
    """What a training run saved in ``model_dir``: a phrase per finished or started fold (of each lead set's model
    directory too, ``leads_12/``..., where the model is one ensemble per lead set)."""
    saved = []
    for root in [model_dir, *sorted(model_dir.glob(LEAD_SET_DIR.format("*")))]:
        named = f"{root.name} " if root != model_dir else ""
        for fold_dir in sorted((root / FOLDS_DIR).glob("fold_*"), key=lambda p: int(p.name.split("_")[1])):
            if (fold_dir / FOLD_RESULT).is_file():
                saved.append(f"{named}{fold_dir.name.replace('_', ' ')} finished")
            elif (fold_dir / EPOCH_LOG).is_file():
                epochs = len((fold_dir / EPOCH_LOG).read_text().splitlines()) - 1  # minus the header line
                saved.append(f"{named}{fold_dir.name.replace('_', ' ')} up to epoch {epochs}")
    return saved


def _remove_if_ours_and_empty(model_dir: Path, created: bool) -> None:
    """Undo a run that saved no fold: its record cache, then the folder, if this run made the folder."""
    if not created or _fold_progress(model_dir):
        return
    shutil.rmtree(model_dir / WORK_DIR, ignore_errors=True)  # the run's own record cache, rebuilt on the next run
    (model_dir / FOLDS_DIR / FOLDS_PLAN).unlink(missing_ok=True)  # the run's plan: written again by the next run
    for folder, _, _ in os.walk(model_dir, topdown=False):
        try:
            os.rmdir(folder)  # empty folders only: a file such as bad_records.csv, which says why, stays
        except OSError:
            pass


def train_main(argv: list[str]) -> int:
    """``python train_model.py [--challenge 2021] TRAINING_DIR MODEL_DIR``; returns the exit status."""
    prog = "train_model.py"
    parser = _parser(prog, "Train the 5-fold ensemble (team_code.train_12ECG_classifier) and write MODEL_DIR.",
                     [("TRAINING_DIR", "folder of NAME.hea + NAME.mat records with #Dx labels"),
                      ("MODEL_DIR", "folder for the model (created if missing); a rerun resumes what it holds")])
    parser.add_argument("--challenge", choices=CLASS_SETS, default=DEFAULT_CLASS_SET,
                        help="2021: the 2021 challenge's 26 classes and five lead sets (team_code.training_code); default 2020")
    args = parser.parse_args(argv)
    data_dir, model_dir = args.training_dir, args.model_dir
    if not data_dir.is_dir():
        return _fail(prog, f"TRAINING_DIR {data_dir}: no such directory")
    if model_dir.exists() and not model_dir.is_dir():
        return _fail(prog, f"MODEL_DIR {model_dir}: exists and is not a directory")
    try:  # a bad $ECGNET_CONFIG or a folder without records answers before torch is imported
        load_config()
        find_records(data_dir)
    except USER_ERRORS as error:
        return _fail(prog, str(error))
    created = not model_dir.exists()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    print("Running training code...")
    try:
        from ecgnet.training.train import train_from_environment  # the heavy import, now that the arguments are good

        model_dir.mkdir(parents=True, exist_ok=True)
        train_from_environment(data_dir, model_dir, challenge=args.challenge)
    except KeyboardInterrupt:
        saved = _fold_progress(model_dir)
        _remove_if_ours_and_empty(model_dir, created)
        what = (f"interrupted; saved in {model_dir}: {', '.join(saved)}. Run the same command again to resume from there."
                if saved else "interrupted before the first epoch finished; nothing was saved. Run the same command again to start.")
        print(f"\n{prog}: {what}", file=sys.stderr)
        return INTERRUPTED
    except BaseException as error:
        _remove_if_ours_and_empty(model_dir, created)
        if isinstance(error, USER_ERRORS):
            return _fail(prog, str(error))
        raise  # a bug: the traceback is what a report needs
    print("Done.")
    return 0


def driver_main(argv: list[str], prog: str = "driver.py") -> int:
    """``python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR`` (``prog``: or 2021's ``test_model.py``); returns the exit status."""
    parser = _parser(prog, "Classify every INPUT_DIR/NAME.mat into OUTPUT_DIR/NAME.csv with the ensemble in MODEL_DIR "
                           "(a 2021 model: records of any of its lead sets).",
                   [("MODEL_DIR", "a model directory written by train_model.py (or python -m ecgnet cv / demo)"),
                    ("INPUT_DIR", "folder of NAME.hea + NAME.mat records"),
                    ("OUTPUT_DIR", "folder for the NAME.csv outputs (created if missing)")])
    parser.add_argument("--skip-existing", action="store_true",
                      help="leave out records whose output file already holds answers (to finish a stopped run); "
                           "under torchrun --nproc_per_node=N, each process classifies every N-th record")
    args = parser.parse_args(argv)
    if not args.model_dir.is_dir():
        return _fail(prog, f"MODEL_DIR {args.model_dir}: no such model directory")
    if not args.input_dir.is_dir():
        return _fail(prog, f"INPUT_DIR {args.input_dir}: no such directory")
    try:
        find_records(args.input_dir)  # a folder without records answers before torch is imported
    except USER_ERRORS as error:
        return _fail(prog, str(error))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        from ecgnet.inference.predict import main  # the heavy import, now that the arguments are good

        return main(str(args.model_dir), str(args.input_dir), str(args.output_dir), skip_existing=args.skip_existing)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; every output file already in {args.output_dir} is whole (written atomically). "
              "Run the same command again to classify every record.", file=sys.stderr)
        return INTERRUPTED
    except USER_ERRORS as error:
        return _fail(prog, str(error))
