"""Leave-one-source-out (``python -m ecgnet loso``): the small-source rule, and held-out sources that no model saw."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ecgnet.cli import main
from ecgnet.config import load_config
from ecgnet.data.cache import build_cache
from ecgnet.errors import TooFewRecordsError
from ecgnet.fileio import read_oof
from ecgnet.modeldir import load_manifest
from ecgnet.synth import generate_dataset
from ecgnet.training.loso import BY_SOURCE_DIR, group_sources
from ecgnet.training.train import inner_split, labelled_records

TINY = {"preset": "smoke", "threads": 1, "epochs": 2, "lr_milestones": [1], "seed": 3}


def sources(**counts: int) -> list[str]:
    return [name for name, n in counts.items() for _ in range(n)]


def test_large_sources_are_held_out_alone_and_small_ones_merged():
    groups = group_sources(sources(A=60, B=60, C=30, D=25), min_records=50)
    assert groups.held_out == {"A": ["A"], "B": ["B"], "merged: C+D": ["C", "D"]}
    assert groups.skipped == []
    assert [groups.fold_of(s) for s in "ABCD"] == [0, 1, 2, 2]
    assert "Merged: C+D. Skipped: none." in groups.rule()


def test_small_sources_too_small_even_together_are_skipped_and_named():
    groups = group_sources(sources(A=60, B=60, C=10, D=5), min_records=50)
    assert list(groups.held_out) == ["A", "B"] and groups.skipped == ["C", "D"]
    assert groups.fold_of("C") == -1
    assert "Skipped: C (10 records), D (5 records)." in groups.rule()


def test_a_source_is_not_held_out_when_too_little_would_be_left_to_train_on():
    with pytest.raises(TooFewRecordsError, match="two groups of at least 20"):
        group_sources(sources(A=100, B=15), min_records=20)
    with pytest.raises(TooFewRecordsError, match="A 300"):
        group_sources(sources(A=300), min_records=20)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Three synthetic sources of 20 records (three rates) and a fourth of 5, too small to hold out."""
    directory = tmp_path_factory.mktemp("sources")
    for i, profile in enumerate(("cpsc", "georgia", "ptbxl-dev")):
        generate_dataset(directory, 20, seed=20 + i, workers=1, profiles=[profile], duration_range=(10, 10))
    generate_dataset(directory, 5, seed=30, workers=1, profiles=["us400"])
    return directory


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loso")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = root / "run"
    assert main(["--quiet", "loso", str(data_dir), "--config", str(config), "--out", str(out), "--folds", "2",
                 "--min-source-records", "15"]) == 0
    return out


@pytest.mark.slow
def test_each_source_is_predicted_by_a_model_that_never_saw_it(data_dir, finished):
    out = finished / BY_SOURCE_DIR
    oof, manifest = read_oof(out), load_manifest(out)
    assert Counter(oof.sources) == {"SYNCPSC": 20, "SYNGEORGIA": 20, "SYNPTBXLDEV": 20}  # SYNUS: skipped
    assert len(manifest["folds"]) == 3
    cache = build_cache(data_dir, finished / "cache")
    usable = labelled_records(cache)
    folds = np.array([manifest["data"]["fold_assignment"][str(n)] for n in cache.names[usable]])
    config = load_config(str(finished.parent / "tiny.json")).replace(n_folds=3)
    for entry in manifest["folds"]:
        k = entry["fold"]
        held_sources = {s for s, f in zip(oof.sources, oof.folds) if f == k}
        assert len(held_sources) == 1
        fit_idx, val_idx = inner_split(cache, usable[folds != k], config, config.seed, k)
        trained_on = set(cache.sources[np.concatenate([fit_idx, val_idx])])
        assert not held_sources & trained_on, f"fold {k}: the held-out source was used in training"
        assert "SYNUS" in trained_on  # the skipped source trains every fold


@pytest.mark.slow
def test_summary_and_report_give_per_source_and_pooled_scores_beside_the_stratified_folds(finished):
    summary = json.loads((finished / "summary.json").read_text())
    assert len(summary["per_fold"]) == 2  # the ordinary stratified folds are still there
    section = summary["by_source"]
    assert [row["group"] for row in section["groups"]] == ["SYNCPSC", "SYNGEORGIA", "SYNPTBXLDEV"]
    assert all(row["records"] == 20 and 0 <= row["AUROC"] <= 1 for row in section["groups"])
    assert section["skipped"] == ["SYNUS"] and section["records"] == 60
    assert -1 <= section["pooled"]["Challenge metric"] <= 1
    assert main(["--quiet", "report", str(finished)]) == 0
    report = (finished / "report.md").read_text()
    assert "## Leave one source out" in report and "| SYNGEORGIA | 20 |" in report and "| pooled | 60 |" in report
    assert "Skipped: SYNUS (5 records)." in report
    assert "SYNTHETIC DATA" in report  # the banner knows the profiles' SYN* names


@pytest.mark.slow
def test_a_results_directory_from_another_grouping_is_refused(data_dir, finished, caplog):
    config = finished.parent / "tiny.json"
    status = main(["--quiet", "loso", str(data_dir), "--config", str(config), "--out", str(finished), "--folds", "2",
                   "--min-source-records", "3"])  # now SYNUS (5) would be held out too
    assert status == 2
    assert "held out other source groups" in caplog.text
