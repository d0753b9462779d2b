"""`python -m ecgnet demo`: the whole product on built-in synthetic data, in minutes on a laptop.

1. generate synthetic training and test records (``ecgnet.synth``);
2. cross-validate a small 5-fold ensemble on the training records (``ecgnet.training.crossval``):
   out-of-fold scores, and the fold models form the ensemble;
3. run the driver over the test records, which no model has seen (``ecgnet.inference.predict``);
4. score those outputs with the bundled scorer (``ecgnet.scoring``);
5. render the report (``ecgnet.analysis.report``) and print a short summary.

Running it again reuses what is still valid and says so: the data when the seed and
sizes match, finished fold models when data and configuration match. The outputs of
step 3 are always written afresh.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from ecgnet.analysis.report import render_report
from ecgnet.challenge.metrics import METRIC_NAMES
from ecgnet.config import load_config
from ecgnet.fileio import atomic_write_text, read_summary, write_summary
from ecgnet.inference.predict import predict_directory
from ecgnet.scoring import score_directories
from ecgnet.synth import generate_dataset
from ecgnet.training.crossval import cross_validate, format_summary

log = logging.getLogger(__name__)

PARAMS_FILE = "demo_data.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` sub-command's arguments: working folder, record counts, seed and preset."""
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="working directory (default runs/demo)")
    parser.add_argument("--train", type=int, default=1500, help="synthetic training records (default 1500)")
    parser.add_argument("--test", type=int, default=300, help="synthetic held-out test records (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed (default 0)")
    parser.add_argument("--config", default="demo", help="training configuration (default: the 'demo' preset)")


def _ensure_data(out: Path, train: int, test: int, seed: int) -> tuple[Path, Path]:
    """Generate the data unless an identical set (same seed and sizes, complete) is already there."""
    params = {"train": train, "test": test, "seed": seed, "fs": [500], "duration": [10, 10]}
    train_dir, test_dir, params_path = out / "data" / "train", out / "data" / "test", out / "data" / PARAMS_FILE
    if params_path.is_file() and json.loads(params_path.read_text()) == params:
        counts = (len(list(train_dir.glob("*.hea"))), len(list(test_dir.glob("*.hea"))))
        if counts == (train, test):
            print(f"[1/5] reusing {train} training + {test} test synthetic records in {out / 'data'} (same seed and sizes)")
            return train_dir, test_dir
    shutil.rmtree(out / "data", ignore_errors=True)
    print(f"[1/5] generating {train} training + {test} test synthetic records (10 s, 500 Hz) in {out / 'data'}")
    # Record i depends only on (seed, i): records 0..train-1 train, the next `test` ones test; no repeats.
    generate_dataset(train_dir, train, seed=seed, fs_choices=[500], duration_range=(10, 10))
    generate_dataset(test_dir, test, seed=seed, fs_choices=[500], duration_range=(10, 10), first=train)
    atomic_write_text(params_path, json.dumps(params) + "\n")
    return train_dir, test_dir


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet demo``: synthetic data, 5-fold ensemble, driver on held-out records, scorer and report."""
    began = time.time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.config).replace(seed=args.seed)
    train_dir, test_dir = _ensure_data(out, args.train, args.test, args.seed)

    print(f"[2/5] cross-validating a {config.n_folds}-fold ensemble (config '{args.config}') in {out / 'model'}")
    summary = cross_validate(train_dir, out / "model", config)
    print(format_summary(summary, out / "model"))

    outputs = out / "test_outputs"
    shutil.rmtree(outputs, ignore_errors=True)  # the demo's own folder: always written afresh
    print(f"[3/5] predicting the {args.test} held-out test records into {outputs}")
    failures = predict_directory(out / "model", test_dir, outputs)

    print("[4/5] scoring the test outputs with the bundled scorer")
    scores = score_directories(test_dir, outputs)
    summary = read_summary(out / "model")
    summary["test"] = {"records": args.test, "failures": len(failures), **scores}
    write_summary(out / "model", summary)

    print("[5/5] rendering the report")
    report = render_report(out / "model")
    print()
    print("held-out synthetic test set: " + ", ".join(f"{name} {scores[name]:.3f}" for name in METRIC_NAMES))
    print(f"report: {report}")
    print(f"demo finished in {time.time() - began:.0f} s")
    return 1 if failures else 0
