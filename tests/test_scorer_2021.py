"""The 2021 scorer (evaluate_model.py): against the official 2021 results (../shared/scorer-cases-2021), rule by rule on
cases written here, and against the organisers' own evaluate_model.py run on random cases written here."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from challenge_files import write_label
from conftest import REPO, shared_path
from test_scorer_cli import matches

from ecgnet.challenge.classes import class_set
from ecgnet.errors import ScoringError
from ecgnet.scoring2021 import METRIC_NAMES, evaluate, load_directories

CASES = (
    "equivalent_codes",
    "label_tokens",
    "malformed_outputs",
    "missing_output_file",
    "no_scored_labels",
    "random_n300",
    "random_n50",
    "shuffled_class_order",
)
SCRIPT = REPO / "evaluate_model.py"
CLASSES = class_set("2021")
TOKENS = ["|".join(codes) for codes in CLASSES.members]  # the 26 classes as weights.csv spells them
CODES = [code for codes in CLASSES.members for code in codes]  # the 30 codes
AF, NSR, BBB = (CLASSES.class_index(name) for name in ("AF", "NSR", "BBB"))
LBBB = CLASSES.class_index("LBBB")  # 733534002|164909002


def run_cli(*args: object, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def read_scores(scores: Path, class_scores: Path) -> tuple[dict[str, float], dict[str, list[float]], list[str]]:
    """The two files the command writes: the five values, the per-class rows and the class names."""
    header, values = scores.read_text().splitlines()
    rows = [line.split(",") for line in class_scores.read_text().splitlines()]
    per_class = {row[0]: [float(v) for v in row[1:]] for row in rows[1:]}
    return dict(zip(header.split(","), map(float, values.split(",")), strict=True)), per_class, rows[0][1:]


# ---- the official results of ../shared/scorer-cases-2021 ------------------------------------

def test_every_shared_case_is_listed_here():
    folder = shared_path("scorer-cases-2021")
    assert sorted(p.parent.name for p in folder.glob("*/expected.json")) == sorted(CASES)


@pytest.mark.parametrize("name", CASES)
def test_the_command_gives_the_official_results(tmp_path, name):
    folder = shared_path("scorer-cases-2021", name)
    expected = json.loads((folder / "expected.json").read_text())
    scores, class_scores = tmp_path / "scores.csv", tmp_path / "class_scores.csv"
    done = run_cli(folder / "labels", folder / "outputs", scores, class_scores, cwd=tmp_path)
    assert "Traceback" not in done.stderr
    if expected["official_crashes"]:
        assert done.returncode != 0 and not scores.exists() and not class_scores.exists()
        missing = {p.stem for p in (folder / "labels").glob("*.hea")} - {p.stem for p in (folder / "outputs").glob("*.csv")}
        assert missing and all(f"{stem}.csv" in done.stderr for stem in missing), done.stderr
        return
    assert done.returncode == 0, done.stderr
    values, per_class, names = read_scores(scores, class_scores)
    assert list(values) == expected["metric_names"] == list(METRIC_NAMES)
    assert all(matches(values[m], expected["metrics"][m]) for m in METRIC_NAMES), (values, expected["metrics"])
    assert names == expected["per_class"]["classes"]
    for measure, got in per_class.items():
        assert all(matches(g, w) for g, w in zip(got, expected["per_class"][measure], strict=True)), measure
    assert done.stdout == scores.read_text()


# ---- each rule, on cases written here ----------------------------------------------------------

def output_text(columns: list[str], binaries: list[str], probabilities: list[str], first: str = "#R") -> str:
    return "\n".join((first, ",".join(columns), ",".join(binaries), ",".join(probabilities))) + "\n"


def make_dirs(tmp_path: Path, labels: dict[str, str], outputs: dict[str, str]) -> tuple[Path, Path]:
    """``labels``: record -> #Dx value (a label header each); ``outputs``: record -> output file text."""
    label_dir, output_dir = tmp_path / "labels", tmp_path / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    for name, dx in labels.items():
        write_label(label_dir, name, dx)
    for name, text in outputs.items():
        (output_dir / f"{name}.csv").write_bytes(text.encode())
    return label_dir, output_dir


def one_class(index: int, binary: str = "1", probability: str = "0.9") -> str:
    """An output naming the 26 classes (weights.csv tokens) in order: ``index`` given, the others 0 and 0.1."""
    return output_text(TOKENS, [binary if k == index else "0" for k in range(26)],
                       [probability if k == index else "0.1" for k in range(26)])


def test_binary_tokens_follow_the_2021_rule(tmp_path):
    positive = ["1", "1.0", "1.", "01", "+1", "1e0", " 1.000 ", "True", "true", "T", "t"]
    negative = ["TRUE", "yes", "Y", "2", "-1", "0.99", "1.01", "inf", "nan", "", "I", "0"]
    tokens = positive + negative
    labels, outputs = make_dirs(tmp_path, {f"R{i:02d}": "164889003" for i in range(len(tokens))},
                                {f"R{i:02d}": one_class(AF, token) for i, token in enumerate(tokens)})
    data = load_directories(labels, outputs)
    assert data.outputs[:, AF].tolist() == [True] * len(positive) + [False] * len(negative)


def test_equivalent_codes_count_for_their_class_in_labels_and_outputs(tmp_path):
    # A header code counts for the class holding it; output columns meeting one class: OR of binaries, plain mean of
    # probabilities with a non-finite or non-numeric probability read as 0.
    columns = ["164909002", "733534002|164909002", "733534002", "426783006"]
    labels, outputs = make_dirs(tmp_path, {"A": "164909002", "B": "733534002", "C": "733534002,164909002", "D": "426783006"}, {
        "A": output_text(columns, ["0", "0", "1", "1"], ["0.2", "nan", "0.7", "0.5"]),
        "B": output_text(columns, ["0", "0", "0", "1"], ["0.3", "inf", "", "0.5"]),
        "C": output_text(["164909002|733534002"], ["1"], ["0.8"]),
        "D": output_text(columns, ["0", "0", "0", "1"], ["0.3", "0.6", "0.9", "0.5"]),
    })
    data = load_directories(labels, outputs)
    assert data.labels[:3, LBBB].all() and not data.labels[3, LBBB]
    assert data.outputs[:, LBBB].tolist() == [True, False, True, False]
    assert np.allclose(data.probabilities[:, LBBB], [(0.2 + 0 + 0.7) / 3, 0.3 / 3, 0.8, 0.6], rtol=0, atol=1e-15)


def test_a_class_token_is_split_on_bars_but_not_stripped_inside(tmp_path):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003"}, {
        "A": output_text(["164889003|164890007", "426783006 | 733534002"], ["1", "1"], ["0.4", "0.6"])})
    data = load_directories(labels, outputs)
    assert data.outputs[0, AF] and data.outputs[0, CLASSES.class_index("AFL")]  # one column, two classes
    assert not data.outputs[0, NSR] and not data.outputs[0, LBBB]  # "426783006 " and " 733534002" are no codes


def test_columns_are_matched_by_code_in_any_order(tmp_path):
    order = list(range(26))
    random.Random(0).shuffle(order)
    binaries = ["1" if k in (AF, BBB) else "0" for k in range(26)]
    probabilities = [f"{k / 100}" for k in range(26)]
    labels, outputs = make_dirs(tmp_path, {"A": "164889003", "B": "164889003"}, {
        "A": output_text(TOKENS, binaries, probabilities),
        "B": output_text([TOKENS[k] for k in order], [binaries[k] for k in order], [probabilities[k] for k in order])})
    data = load_directories(labels, outputs)
    assert np.array_equal(data.outputs[0], data.outputs[1]) and np.array_equal(data.probabilities[0], data.probabilities[1])
    assert data.outputs[0, BBB] and data.probabilities[0, BBB] == BBB / 100


def test_output_lines_are_read_by_position(tmp_path):
    good = one_class(AF)
    _, classes_line, binaries, probabilities = good.splitlines()
    texts = {
        "ok": good,
        "failed": "#R\n\n\n\n",  # what the organisers' test_model.py writes when run_model raises
        "fifth": good + "junk,1,2\n",
        "no_hash": "R\n" + "\n".join((classes_line, binaries, probabilities)),  # no final line end either
        "blank_first": "\n" + "\n".join((classes_line, binaries, probabilities)) + "\n",
        "longer": output_text(TOKENS, binaries.split(",") + ["1", "1"], probabilities.split(",") + ["0.5"]),
        "spaces": output_text([f" {t} " for t in TOKENS] + [""], [f" {b}" for b in binaries.split(",")] + [""],
                              probabilities.split(",") + [""]),  # spaces around tokens, a trailing comma on each line
        "cr_only": good.replace("\n", "\r"),
        "crlf": good.replace("\n", "\r\n"),
        "moved_blank": good.replace("\n", "\n\n", 1),  # a blank line after line 1: the class line is empty
        "moved_comment": good.replace("\n", "\n#model v2\n", 1),
        "semicolons": good.replace(",", ";"),
    }
    labels, outputs = make_dirs(tmp_path, dict.fromkeys(texts, "164889003"), texts)
    data = load_directories(labels, outputs)
    scored = {name: (bool(data.outputs[i].any()), float(data.probabilities[i].sum())) for i, name in enumerate(data.records)}
    for name in ("ok", "fifth", "no_hash", "blank_first", "longer", "spaces", "cr_only", "crlf"):
        assert scored[name] == scored["ok"] == (True, pytest.approx(0.9 + 25 * 0.1)), name
    for name in ("failed", "moved_blank", "moved_comment", "semicolons"):
        assert scored[name] == (False, 0.0), name
    reported = sorted(Path(problem.path).stem for problem in data.bad_outputs)
    assert reported == ["failed", "moved_blank", "moved_comment", "semicolons"]


@pytest.mark.parametrize("dx_line, scored", [
    ("#Dx: 164889003,6374002", {AF, BBB}),
    ("#Dx:164889003", set()),  # the official rule splits on ": "
    ("#Dx: 164889003: 426783006", {AF}),  # ... and keeps what lies between the first and the second
    ("#Dx: 164889003\n#Dx: 426783006", {AF, NSR}),  # every #Dx line counts
    ("# Dx: 164889003", set()),
    ("#DX: 164889003", set()),
    ("#Dx: ", set()),
    ("#Dx: 164865005, 251173003", set()),  # unscored codes only
    ("#Dx:  6374002 ,365413008\r", {BBB, CLASSES.class_index("PRWP")}),  # 2021-only classes, spaces around codes
])
def test_label_codes_follow_the_2021_rule(tmp_path, dx_line, scored):
    label_dir, output_dir = make_dirs(tmp_path, {}, {"A": one_class(AF)})
    (label_dir / "A.hea").write_text(f"A 12 500 5000\n#Age: 50\n{dx_line}\n#Rx: Unknown\n")
    data = load_directories(label_dir, output_dir)
    assert set(np.flatnonzero(data.labels[0])) == scored


def test_records_without_scored_labels_are_scored_not_refused(tmp_path):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003", "B": "164865005", "C": ""},
                                {"A": one_class(AF), "B": one_class(AF), "C": one_class(NSR)})
    data = load_directories(labels, outputs)
    assert data.labels.sum(axis=1).tolist() == [1, 0, 0]
    values, _ = evaluate(data)
    assert values["Accuracy"] == pytest.approx(1 / 3)
    assert values["Challenge metric"] == pytest.approx(1.0, abs=1e-12)  # records without a scored label add nothing


STOPS = [
    ("three lines", "#R\n164889003\n1\n", "3 line(s); a 2021 output file needs 4"),
    ("empty", "", "0 line(s)"),
    ("short binaries", output_text(["426783006", "164889003"], ["1"], ["0.5", "0.5"]), "column 2, but line 3 (binary outputs) has only 1"),
    ("short probabilities", output_text(["426783006", "164889003"], ["1", "1"], ["0.5"]), "column 2, but line 4 (probabilities) has only 1"),
    ("not utf-8", "#R\n164889003\n1\n0.5\n".replace("0.5", "0.\udcff5"), "not UTF-8 text"),
]


@pytest.mark.parametrize("problem, text, message", STOPS, ids=[stop[0] for stop in STOPS])
def test_where_the_official_stops_the_command_fails_naming_the_file(tmp_path, problem, text, message):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003", "B": "164889003"}, {"A": one_class(AF)})
    (outputs / "B.csv").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ScoringError, match=re.escape(message)):
        load_directories(labels, outputs)
    scores = tmp_path / "scores.csv"
    done = run_cli(labels, outputs, scores)
    assert done.returncode == 1 and "B.csv" in done.stderr and message.split(";")[0] in done.stderr
    assert "Traceback" not in done.stderr and not scores.exists()


def test_a_short_line_is_harmless_when_no_scored_class_lies_past_it(tmp_path):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003"}, {"A": output_text(["164889003", "999999"], ["1"], ["0.5"])})
    data = load_directories(labels, outputs)
    assert data.outputs[0, AF] and data.probabilities[0, AF] == 0.5


@pytest.mark.parametrize("problem", ["missing output", "no labels", "no label dir", "unreadable label"])
def test_directory_problems_fail_naming_the_file(tmp_path, problem):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003", "B": "426783006"}, {"A": one_class(AF), "B": one_class(NSR)})
    if problem == "missing output":
        (outputs / "B.csv").unlink()
        message = "1 of 2 label files have no output file .*B.csv"
    elif problem == "no labels":
        for path in labels.iterdir():
            path.rename(labels / f".{path.name}")  # hidden files are not label files
        message = "no label files"
    elif problem == "no label dir":
        labels = tmp_path / "absent"
        message = "label directory .*absent"
    else:
        (labels / "B.hea").write_bytes(b"B 12 500 5000\n#Dx: 426783006 \xe9\n")
        message = "B.hea: not UTF-8 text"
    with pytest.raises(ScoringError, match=message):
        load_directories(labels, outputs)


def test_the_command_writes_full_precision_and_the_class_scores_file(tmp_path):
    labels, outputs = make_dirs(tmp_path, {"A": "164889003", "B": "426783006,6374002", "C": "733534002"}, {
        "A": one_class(AF, probability="0.7"), "B": one_class(BBB), "C": one_class(LBBB, "0", "0.123456789012")})
    scores, class_scores = tmp_path / "out" / "scores.csv", tmp_path / "out" / "class_scores.csv"
    scores.parent.mkdir()
    done = run_cli(labels, outputs, scores, class_scores)
    assert done.returncode == 0, done.stderr
    values, per_class = evaluate(load_directories(labels, outputs))
    assert scores.read_text() == done.stdout == ",".join(METRIC_NAMES) + "\n" + ",".join(repr(values[m]) for m in METRIC_NAMES) + "\n"
    written, rows, names = read_scores(scores, class_scores)
    assert names[CLASSES.class_index("LBBB")] == "164909002|733534002" and len(names) == 26
    assert list(rows) == ["AUROC", "AUPRC", "F-measure"]
    assert all(np.array_equal(rows[m], per_class[m], equal_nan=True) for m in rows)
    only_two = run_cli(labels, outputs)
    assert only_two.returncode == 0 and only_two.stdout == done.stdout


# ---- the organisers' evaluate_model.py on random cases written here -----------------------------

OFFICIAL_RUN = """
import json, sys
sys.path.insert(0, ".")
from evaluate_model import evaluate_model
r = evaluate_model(sys.argv[1], sys.argv[2])
print(json.dumps({"values": [r[1], r[2], r[5], r[6], r[8]], "per_class": [list(r[3]), list(r[4]), list(r[7])]}))
"""


def random_case(tmp_path: Path, seed: int, n: int = 40) -> tuple[Path, Path]:
    """Labels with pair spellings, 2021-only and unscored codes; outputs in every spelling, order and token the rules cover."""
    rng = random.Random(seed)
    tokens = {"binary": ["0", "1", "1.0", "01", "True", "t", "TRUE", "yes", "2", "", "nan"],
              "probability": ["nan", "inf", "", "abc", "1e0", " 0.25 "]}
    labels, outputs = {}, {}
    for i in range(n):
        codes = rng.sample(CODES, rng.randint(0, 3)) + rng.sample(["164865005", "251173003"], rng.randint(0, 1))
        labels[f"R{i:03d}"] = ",".join(codes)
        columns = rng.choice([TOKENS, CODES, ["|".join(reversed(codes)) for codes in CLASSES.members]])
        columns = rng.sample(columns, len(columns))
        binaries = [rng.choice(tokens["binary"]) if rng.random() < 0.2 else str(int(rng.random() < 0.3)) for _ in columns]
        probabilities = [rng.choice(tokens["probability"]) if rng.random() < 0.1 else f"{rng.random():.3f}" for _ in columns]
        text = output_text(columns, binaries, probabilities)
        breaks = {"failed": "#R\n\n\n\n", "moved": text.replace("\n", "\n\n", 1), "crlf": text.replace("\n", "\r\n")}
        outputs[f"R{i:03d}"] = breaks[rng.choice(list(breaks))] if rng.random() < 0.15 else text
    return make_dirs(tmp_path, labels, outputs)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_cases_score_as_the_official_scorer(tmp_path, seed):
    official = shared_path("official-harness", "2021", "evaluation")
    labels, outputs = random_case(tmp_path, seed)
    done = subprocess.run([sys.executable, "-c", OFFICIAL_RUN, labels, outputs], capture_output=True, text=True, cwd=official, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    values, per_class = evaluate(load_directories(labels, outputs))
    assert all(matches(values[m], want) for m, want in zip(METRIC_NAMES, result["values"], strict=True)), (values, result["values"])
    for measure, want in zip(("AUROC", "AUPRC", "F-measure"), result["per_class"], strict=True):
        assert all(matches(g, w) for g, w in zip(per_class[measure], want, strict=True)), measure


def test_a_random_case_with_a_short_output_file_fails_as_the_official_scorer(tmp_path):
    official = shared_path("official-harness", "2021", "evaluation")
    labels, outputs = random_case(tmp_path, 3, n=10)
    (outputs / "R005.csv").write_text("#R005\n" + ",".join(TOKENS) + "\n1,0\n")
    done = subprocess.run([sys.executable, "-c", OFFICIAL_RUN, labels, outputs], capture_output=True, text=True, cwd=official, timeout=120)
    assert done.returncode != 0 and "UnboundLocalError" in done.stderr  # the official reader's fourth line never came
    with pytest.raises(ScoringError, match=r"R005\.csv: 3 line\(s\)"):
        load_directories(labels, outputs)
