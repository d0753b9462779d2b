"""The report's header and banners: what a reader must know before any number.

Results directories are written directly with ``fileio.py`` (no training): the
header depends only on the files, not on how good the predictions are.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ecgnet import __version__
from ecgnet.analysis.report import header_lines, preset_of, render_report
from ecgnet.challenge.classes import ABBREVIATIONS, NORMAL_INDEX, NUM_CLASSES
from ecgnet.config import load_config
from ecgnet.fileio import OutOfFold, read_oof, write_oof, write_summary, write_thresholds
from ecgnet.leads import LEADS
from ecgnet.records.files import source_of
from ecgnet.synth import record_name

REAL_NAMES = [f"HR{i:05d}" for i in range(1, 21)] + [f"A{i:04d}" for i in range(1, 13)]
SYNTHETIC_NAMES = [record_name(i, 32) for i in range(32)]


def write_results(directory: Path, names: list[str], config, seed: int = 0, manifest: bool = True) -> Path:
    """A results directory as `cv` leaves it: out-of-fold predictions, thresholds, summary and (optionally) manifest."""
    rng = np.random.default_rng(seed)
    labels = rng.random((len(names), NUM_CLASSES)) < 0.15
    labels[:, NORMAL_INDEX] |= ~labels.any(axis=1)
    probabilities = np.clip(labels * 0.4 + rng.random(labels.shape) * 0.6, 0, 1)
    oof = OutOfFold(names, [source_of(n) for n in names], np.arange(len(names)) % 5, labels, probabilities, probabilities > 0.5)
    write_oof(directory, oof)
    write_thresholds(directory, {k: rng.uniform(0.2, 0.8, NUM_CLASSES) for k in range(5)})
    write_summary(directory, {"data_dir": "/data/somewhere", "records": len(names), "unreadable_records": 2,
                              "config": config.to_dict(), "ablations": {"none": 0.1, "global": 0.2, "constrained": 0.3}})
    if manifest:
        folds = []
        for k in range(2):
            log = directory / "folds" / f"fold_{k}" / "epochs.csv"
            log.parent.mkdir(parents=True)
            log.write_text("epoch,loss,inner_val_score,lr,seconds\n1,0.5,0.1,0.003,10.5\n2,0.4,0.2,0.003,11.5\n")
            folds.append({"fold": k, "log": str(log.relative_to(directory))})
        versions = {"ecgnet": "0.0.9", "python": "3.11.7", "torch": "2.13.0", "numpy": "2.4.6"}
        (directory / "manifest.json").write_text(json.dumps({"versions": versions, "folds": folds, "config": config.to_dict(),
                                                             "data": {"training_seconds": 123.4, "device": "cpu", "threads": 2}}))
    return directory


def header(directory: Path) -> str:
    return "\n".join(header_lines(directory, read_oof(directory), json.loads((directory / "summary.json").read_text())))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    """A cpu-preset results directory of real record names and its report, rendered once: (directory, report text)."""
    results = write_results(tmp_path_factory.mktemp("results"), REAL_NAMES, load_config("cpu"))
    return results, render_report(results).read_text()


def test_report_header_names_preset_code_date_run_time_and_data(rendered):
    results, text = rendered
    top = text.split("## Scores")[0]
    assert "| preset | cpu (training settings changed from it: none) |" in top
    assert "trained by ecgnet 0.0.9 (Python 3.11.7, torch 2.13.0" in top and f"report by ecgnet {__version__}" in top
    assert re.search(r"results written \d{4}-\d\d-\d\d \d\d:\d\d UTC; report rendered \d{4}-\d\d-\d\d \d\d:\d\d UTC", top)
    assert "training 123 s wall" in top and "44 s in training epochs over all folds" in top
    assert "32 labelled records in 5 folds (2 unreadable); per source: CPSC 12, PTB-XL 20" in top
    labels = read_oof(results).labels
    assert f"{int(labels.sum())} positive labels" in top
    for c in (0, NORMAL_INDEX):  # per-class counts, not only prevalence
        assert f"| {ABBREVIATIONS[c]} | {int(labels[:, c].sum())} | " in text
    assert "scores mean nothing" not in text and "SYNTHETIC" not in text


def test_report_renders_every_figure(rendered):
    results, text = rendered
    for figure in ("per_class", "roc", "pr", "confusion", "thresholds", "learning"):
        assert (results / "figures" / f"{figure}.png").stat().st_size > 5000
        assert f"figures/{figure}.png" in text
    assert "0.684" in text and "| IAVB |" in text  # the seed paper's cv score beside ours; the per-class table


@pytest.mark.parametrize("names, config, smoke, synthetic", [
    (REAL_NAMES, load_config("default"), False, None),
    (REAL_NAMES, load_config("smoke"), True, None),
    (REAL_NAMES, load_config("smoke").replace(epochs=3, threads=1), True, None),
    (SYNTHETIC_NAMES, load_config("demo"), False, "All records"),
    (SYNTHETIC_NAMES[:10] + REAL_NAMES, load_config("smoke"), True, "10 of 42 records"),
])
def test_banner_for_a_smoke_preset_or_synthetic_records_and_only_then(tmp_path, names, config, smoke, synthetic):
    text = header(write_results(tmp_path, names, config))
    assert ("**SMOKE PRESET: the scores mean nothing.**" in text) == smoke
    assert ("**SYNTHETIC DATA.**" in text) == (synthetic is not None)
    if synthetic:
        assert f"{synthetic} come from ecgnet's built-in generator" in text
    # Banners come first, before any table.
    assert not (smoke or synthetic) or text.index("> **") < text.index("| preset |")


def test_preset_is_recognised_and_its_changed_training_settings_named():
    assert preset_of(load_config("smoke").to_dict()) == ("smoke", [])
    assert preset_of(load_config("demo").replace(epochs=3, lr_milestones=(2,), threads=1).to_dict()) == ("demo", ["epochs", "lr_milestones"])


def test_one_ensemble_per_lead_set_is_reported_from_its_sets_manifests(tmp_path):
    """cv's results of one ensemble per lead set: no manifest of their own, one per set's folder (lead_sets.json)."""
    write_results(tmp_path, REAL_NAMES, load_config("default"), manifest=False)
    sets = []
    for name, leads in (("12", list(LEADS)), ("2", ["I", "II"])):
        (tmp_path / f"leads_{name}").mkdir()
        write_results(tmp_path / f"leads_{name}", REAL_NAMES, load_config("default"))
        sets.append({"leads": leads, "dir": f"leads_{name}"})
    (tmp_path / "lead_sets.json").write_text(json.dumps({"lead_sets": sets}))
    text = header(tmp_path)
    assert "trained by ecgnet 0.0.9 (Python 3.11.7, torch 2.13.0" in text and "unrecorded" not in text
    assert "training 247 s wall" in text and "(2 lead sets' ensembles)" in text and "88 s in training epochs" in text


def test_without_a_manifest_the_header_says_what_is_not_recorded(tmp_path):
    text = header(write_results(tmp_path, REAL_NAMES, load_config("default"), manifest=False))
    assert "trained by an unrecorded version (no manifest.json)" in text and "| run time | not recorded |" in text
    assert "| preset | default" in text
