"""The scorer against the official 2020 results (../shared/scorer-cases) and its command line."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from challenge_files import write_label
from conftest import REPO, shared_path

from ecgnet.challenge import classes, metrics
from ecgnet.inference.outputs import write_output
from ecgnet.scoring import ScoringError, load_directories, score_directories

CASES = (
    "all_labels_normal",
    "equivalent_pairs",
    "label_tokens",
    "malformed_outputs",
    "perfect_outputs",
    "random_n300",
    "shuffled_class_order",
)
SCRIPT = REPO / "evaluate_12ECG_score.py"
HEADER_LINE = "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric"


def matches(got: float, want: float | str) -> bool:
    """Whether a reproduced value equals the official one (a float, or its repr as stored) to 1e-9; NaN matches only NaN."""
    want_value = float(want)
    return math.isnan(got) if math.isnan(want_value) else abs(got - want_value) <= 1e-9


def case(name: str) -> tuple[Path, dict]:
    folder = shared_path("scorer-cases", name)
    return folder, json.loads((folder / "expected.json").read_text())


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("name", CASES)
def test_every_case_matches_the_official_values(name):
    folder, expected = case(name)
    data = load_directories(folder / "labels", folder / "outputs")
    assert len(data.records) == expected["n_label_files"]
    values = metrics.compute_all(data.labels, data.outputs, data.probabilities)
    for metric in metrics.METRIC_NAMES:
        assert matches(values[metric], expected["metrics"][metric]), (metric, values[metric], expected["metrics"][metric])

    per_class = expected["per_class"]
    assert per_class["classes"] == list(classes.CLASSES)
    _, _, auroc, auprc = metrics.auroc_auprc(data.labels, data.probabilities)
    _, f1 = metrics.f_measure(data.labels, data.outputs)
    for key, got in (("AUROC", auroc), ("AUPRC", auprc), ("F-measure", f1)):
        assert all(matches(g, w) for g, w in zip(got, per_class[key], strict=True)), key


def test_malformed_outputs_are_reported_and_counted():
    folder, _ = case("malformed_outputs")
    data = load_directories(folder / "labels", folder / "outputs")
    bad = {Path(problem.path).stem for problem in data.bad_outputs}
    assert len(bad) == 7  # two-line, ragged (three), empty, name-only (two) files
    rows = [data.records.index(name) for name in bad]
    assert not data.outputs[rows].any() and not data.probabilities[rows].any()


@pytest.mark.parametrize("name", ["random_n300", "malformed_outputs", "all_labels_normal"])
def test_cli_writes_the_scores_file_at_full_precision(tmp_path, name):
    folder, expected = case(name)
    scores = tmp_path / "scores.csv"
    result = run_cli(folder / "labels", folder / "outputs", scores)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    header, values = scores.read_text().splitlines()
    assert header == HEADER_LINE
    for metric, text in zip(metrics.METRIC_NAMES, values.split(","), strict=True):
        assert matches(float(text), expected["metrics"][metric])
    assert result.stdout.splitlines() == [header, values]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == (7 if name == "malformed_outputs" else 0)


def test_missing_output_file_fails_naming_the_record_and_writes_no_scores(tmp_path):
    folder, expected = case("missing_output_file")
    assert expected["official_crashes"]
    scores = tmp_path / "scores.csv"
    result = run_cli(folder / "labels", folder / "outputs", scores)
    assert result.returncode != 0
    assert not scores.exists()
    missing = {p.stem for p in (folder / "labels").glob("*.hea")} - {p.stem for p in (folder / "outputs").glob("*.csv")}
    assert all(name in result.stderr for name in missing) and "Traceback" not in result.stderr


# ---- without ../shared: small directories written here -----------------------------------

def make_case(tmp_path: Path, n: int = 12, seed: int = 0) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels_dir, outputs_dir = tmp_path / "labels", tmp_path / "outputs"
    labels_dir.mkdir()
    outputs_dir.mkdir()
    truth = np.zeros((n, classes.NUM_CLASSES), dtype=bool)
    for i in range(n):
        picks = rng.choice(classes.NUM_CLASSES, size=rng.integers(1, 3), replace=False)
        truth[i, picks] = True
        dx = ",".join(classes.CLASSES[k] for k in picks)
        write_label(labels_dir, f"R{i:03d}", dx, age="50", sex="Male")
        scores = np.clip(truth[i] * 0.6 + rng.random(classes.NUM_CLASSES) * 0.5, 0, 1)
        write_output(outputs_dir / f"R{i:03d}.csv", f"R{i:03d}", classes.CLASSES, scores >= 0.5, scores)
    return labels_dir, outputs_dir, truth


def test_score_directories_reads_labels_from_dx_lines(tmp_path):
    labels_dir, outputs_dir, truth = make_case(tmp_path)
    data = load_directories(labels_dir, outputs_dir)
    assert np.array_equal(data.labels, truth)
    values = score_directories(labels_dir, outputs_dir)
    assert values == metrics.compute_all(data.labels, data.outputs, data.probabilities)


def test_cli_prints_and_writes_repr_values(tmp_path):
    labels_dir, outputs_dir, _ = make_case(tmp_path)
    scores = tmp_path / "out" / "scores.csv"
    scores.parent.mkdir()
    result = run_cli(labels_dir, outputs_dir, scores)
    assert result.returncode == 0, result.stderr
    expected = score_directories(labels_dir, outputs_dir)
    assert scores.read_text() == HEADER_LINE + "\n" + ",".join(repr(expected[m]) for m in metrics.METRIC_NAMES) + "\n"


def test_missing_outputs_are_listed_first_few_and_counted(tmp_path):
    labels_dir, outputs_dir, _ = make_case(tmp_path, n=9)
    for path in sorted(outputs_dir.iterdir())[:8]:
        path.unlink()
    with pytest.raises(ScoringError, match=r"8 of 9 label files .*R000\.csv.* and 3 more"):
        load_directories(labels_dir, outputs_dir)


@pytest.mark.parametrize("problem", ["no_headers", "no_output_dir", "no_label_dir"])
def test_cli_directory_errors_are_clear_and_non_zero(tmp_path, problem):
    labels_dir, outputs_dir, _ = make_case(tmp_path, n=2)
    if problem == "no_headers":
        for path in labels_dir.iterdir():
            path.unlink()
        write_label(labels_dir, ".hidden", "426783006")
        message = "no label files"
    elif problem == "no_output_dir":
        outputs_dir = tmp_path / "absent"
        message = "output directory"
    else:
        labels_dir = tmp_path / "absent"
        message = "label directory"
    scores = tmp_path / "scores.csv"
    result = run_cli(labels_dir, outputs_dir, scores)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr and not scores.exists()


# The official scorer reads files in text mode (universal newlines), so CR-only,
# LF and CRLF label headers all give their #Dx. The official values of shared/hunt-cases/scorer-cr-line-ends.
CR_CASE_LABELS = {"C1": "164889003", "C2": "426783006", "C3": "270492004", "C4": "164889003"}  # AF, SNR, IAVB, AF
CR_CASE_OFFICIAL = {"AUROC": 0.861, "AUPRC": 0.750, "Accuracy": 0.750, "F-measure": 0.778, "Fbeta-measure": 0.796,
                    "Gbeta-measure": 0.611, "Challenge metric": 0.653}


def _cr_case(tmp_path: Path, newlines: dict[str, str]) -> tuple[Path, Path]:
    """The hunt case rebuilt: four label headers with the given line ends; the outputs miss only C4's AF."""
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    predicted = {"C1": "164889003", "C2": "426783006", "C3": "270492004", "C4": "426783006"}
    for name, code in CR_CASE_LABELS.items():
        write_label(labels, name, code, age="50", sex="Male", date=None, comments=(), newline=newlines[name])
        positive = np.array([c == predicted[name] for c in classes.CLASSES])
        write_output(outputs / f"{name}.csv", name, classes.CLASSES, positive, np.where(positive, 0.9, 0.1))
    return labels, outputs


@pytest.mark.parametrize("ends", ["\r", "\r\n", "\n"])
def test_label_files_with_every_line_end_score_as_the_official_scorer(tmp_path, ends):
    labels, outputs = _cr_case(tmp_path, {"C1": ends, "C2": "\n", "C3": ends, "C4": "\n"})
    values = score_directories(labels, outputs)
    assert {name: round(values[name], 3) for name in metrics.METRIC_NAMES} == CR_CASE_OFFICIAL


def test_output_files_with_cr_only_line_ends_are_read(tmp_path):
    labels, outputs = _cr_case(tmp_path, dict.fromkeys(CR_CASE_LABELS, "\n"))
    for path in outputs.glob("*.csv"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    values = score_directories(labels, outputs)
    assert {name: round(values[name], 3) for name in metrics.METRIC_NAMES} == CR_CASE_OFFICIAL


def test_the_shared_cr_line_end_case_gives_the_official_values():
    folder = shared_path("hunt-cases", "scorer-cr-line-ends")
    values = score_directories(folder / "labels", folder / "outputs")
    assert {name: round(values[name], 3) for name in metrics.METRIC_NAMES} == CR_CASE_OFFICIAL
    done = run_cli(folder / "labels", folder / "outputs")
    assert done.returncode == 0, done.stderr
    names, values = done.stdout.strip().splitlines()[-2:]
    assert dict(zip(names.split(","), (round(float(v), 3) for v in values.split(",")))) == CR_CASE_OFFICIAL
