"""train_model.py over a training directory full of bad input, as the organisers run it.

The faults of ``helpers.write_faults`` (the driver's bad input too) and the real edge cases sit
beside good records. Documented behaviour: each unreadable record is skipped (never
fatal) and listed with its reason in ``MODEL_DIR/bad_records.csv`` and in the log, the
repairable ones (NaN samples, odd sampling rates, a 2-hour recording,
non-UTF-8 header text) are trained on, and training refuses with a clear message, and
writes no model, when too few labelled records remain for the folds.

Training finds records by their headers, so a ``.mat`` without a ``.hea`` is not a
training record (it has no labels): it is ignored, not reported.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_edge_cases, good_records, write_faults

REPO = Path(__file__).resolve().parents[1]
MINIMUM = 25  # smoke preset: 5 folds x 5 inner splits


def _training_dir(directory: Path, good: int) -> dict[str, str | None]:
    """``good`` synthetic records plus every fault and edge case: {name: None if readable, else its error regex}."""
    # NOHEADER (a .mat without its header) is listed as unreadable, as the driver lists it: both see the same records.
    return {**good_records(directory, good, seed=0), **write_faults(directory), **copy_edge_cases(directory)}


def _train(data: Path, model: Path, tmp: Path) -> subprocess.CompletedProcess:
    config = tmp / "smoke.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "workers": 1, "epochs": 1, "lr_milestones": []}))
    # As the organisers run it: not quiet, so the log shows its INFO lines (the list of repairs among them).
    env = {**os.environ, "ECGNET_CONFIG": str(config), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("ECGNET_QUIET", None)
    return subprocess.run([sys.executable, "train_model.py", str(data), str(model)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_bad_training_records_are_skipped_listed_and_the_model_trains(tmp_path):
    expected = _training_dir(tmp_path / "data", 30)
    done = _train(tmp_path / "data", tmp_path / "model", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

    failed = {name: reason for name, reason in expected.items() if reason is not None}
    listed = tmp_path / "model" / "bad_records.csv"
    with open(listed, newline="") as handle:
        rows = {Path(row["file"]).stem: (Path(row["file"]), row["reason"]) for row in csv.DictReader(handle)}
    assert sorted(rows) == sorted(failed)
    for name, (path, reason) in rows.items():
        assert path.parent == tmp_path / "data" and re.search(failed[name], reason), (name, reason)
    assert f"{len(failed)} unreadable record(s) skipped; listed with their reasons in {listed}" in done.stderr

    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    readable = [name for name, reason in expected.items() if reason is None]
    assert manifest["data"]["records"] == len(readable) and manifest["data"]["unreadable_records"] == len(failed)
    trained_on = set(manifest["data"]["fold_assignment"])
    assert {"LATIN1", "TWOHOURS", "NANFEW", "FS300", "FS128"} <= trained_on
    assert not trained_on & set(failed)
    assert len(manifest["folds"]) == 5 and not (tmp_path / "model" / "work").exists()
    # The repair warnings outlive the working cache, in MODEL_DIR, and the log names that copy.
    notes = tmp_path / "model" / "warnings.csv"
    with open(notes, newline="") as handle:
        repaired = {row["name"]: row["warning"] for row in csv.DictReader(handle)}
    assert "NaN/infinite" in repaired["NANFEW"] and f"listed in {notes}" in done.stderr


@pytest.mark.slow
def test_too_few_usable_records_is_refused_with_a_clear_message_and_no_model(tmp_path):
    expected = _training_dir(tmp_path / "data", 4)
    done = _train(tmp_path / "data", tmp_path / "model", tmp_path)
    assert done.returncode != 0
    failed = sum(reason is not None for reason in expected.values())
    readable = len(expected) - failed
    last = done.stderr.strip().splitlines()[-1]
    match = re.search(rf"{re.escape(str(tmp_path / 'data'))}: (\d+) readable records with a scored class "
                      rf"\({readable} readable, {failed} unreadable\); 5 folds with 5 inner splits need at least {MINIMUM}$", last)
    assert match and int(match[1]) < MINIMUM, last
    assert not (tmp_path / "model" / "manifest.json").exists()
    assert not list((tmp_path / "model").glob("fold_*.pt"))
    assert (tmp_path / "model" / "bad_records.csv").is_file()


def test_a_training_folder_without_records_says_so_and_exits_2(tmp_path):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "notes.txt").write_text("no records here")
    done = _train(tmp_path / "data", tmp_path / "model", tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'data'}: no records here" in done.stderr
