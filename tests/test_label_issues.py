"""Label-issue ranking (`python -m ecgnet label-issues`) on out-of-fold predictions with known flips."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from ecgnet.analysis.labelissues import COLUMNS, LABEL_ISSUES_FILE, rank_label_issues, report_section
from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES
from ecgnet.cli import main
from ecgnet.fileio import OutOfFold, write_oof

N = 200
LAD = ABBREVIATIONS.index("LAD")
FLIPPED = [3, 17, 42, 90, 151]  # records whose LAD label the "annotator" got wrong


def _oof(rng: np.random.Generator) -> OutOfFold:
    truth = rng.random((N, len(CLASSES))) < 0.15
    truth[:, ABBREVIATIONS.index("NSR")] |= ~truth.any(axis=1)
    # A model that learnt the truth: probabilities near it, with noise.
    probabilities = np.clip(np.where(truth, 0.85, 0.1) + rng.normal(0, 0.08, truth.shape), 0, 1)
    given = truth.copy()
    given[FLIPPED, LAD] = ~given[FLIPPED, LAD]
    records = [f"SYN{i:05d}" for i in range(N)]
    return OutOfFold(records, ["SYN"] * N, np.arange(N) % 5, given, probabilities, probabilities > 0.5)


@pytest.fixture()
def results_dir(tmp_path):
    write_oof(tmp_path, _oof(np.random.default_rng(0)))
    return tmp_path


def test_flipped_labels_rank_first_in_their_class():
    issues = rank_label_issues(_oof(np.random.default_rng(1)))
    top = set(np.flatnonzero(issues.rank[:, LAD] <= len(FLIPPED)))
    assert top == set(FLIPPED)
    # cleanlab's verdict is conservative (it prunes its estimated noise count) but here never wrong
    flagged = set(np.flatnonzero(issues.is_issue[:, LAD]))
    assert flagged and flagged <= set(FLIPPED)
    # rank follows label quality, 1 = lowest, a permutation of 1..N within every class
    for c in range(len(CLASSES)):
        assert sorted(issues.rank[:, c]) == list(range(1, N + 1))
        assert np.all(np.diff(issues.quality[np.argsort(issues.rank[:, c]), c]) >= 0)


def test_quality_is_the_probability_of_the_given_label():
    oof = _oof(np.random.default_rng(2))
    issues = rank_label_issues(oof)
    expected = np.where(oof.labels, oof.probabilities, 1 - oof.probabilities)
    np.testing.assert_allclose(issues.quality, expected, atol=1e-9)


def test_command_writes_every_record_and_class_with_the_agreed_columns(results_dir, capsys):
    assert main(["--quiet", "label-issues", str(results_dir), "--top", "3"]) == 0
    with open(results_dir / LABEL_ISSUES_FILE, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS
    assert len(rows) == N * len(CLASSES)
    lad = [r for r in rows if r["class"] == "LAD"]
    assert {r["code"] for r in lad} == {CLASSES[LAD]}
    assert {r["record"] for r in lad if int(r["rank"]) <= len(FLIPPED)} == {f"SYN{i:05d}" for i in FLIPPED}
    assert "| record | class |" in capsys.readouterr().out


def test_a_directory_without_cv_results_is_a_clear_error(tmp_path, caplog):
    assert main(["--quiet", "label-issues", str(tmp_path)]) == 2
    assert "oof_predictions.csv" in caplog.text and "ecgnet cv" in caplog.text


def test_help_names_the_input(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["label-issues", "--help"])
    assert stop.value.code == 0
    assert "oof_predictions.csv" in capsys.readouterr().out


def test_report_section_writes_the_table_and_its_figure(results_dir):
    figures = results_dir / "figures"
    figures.mkdir()
    lines = report_section(results_dir, figures)
    assert lines[0] == "## Label issues"
    assert (figures / "label_issues.png").stat().st_size > 0
    assert (results_dir / LABEL_ISSUES_FILE).is_file()
    assert any("| LAD |" in line for line in lines)
