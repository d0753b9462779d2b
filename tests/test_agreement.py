"""Rater agreement: Cohen's kappa on the seed paper's numbers, Fleiss' kappa on a worked example, bad sheets named."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from ecgnet import cli
from ecgnet.analysis.agreement import cohen, fleiss_kappa, kappa_from_tables, read_key, read_ratings
from ecgnet.analysis.review import KEY_COLUMNS
from ecgnet.errors import AnalysisError

# 100 misclassified LAD cases as (training label, clinician 1, clinician 2, count): each kappa of the seed paper
# (Zhao et al. 2022: clinicians vs label -0.057 and -0.159, between them 0.92) at its printed precision. An exhaustive
# search found no 2x2x2 table of 100 cases that gives all three; one "unsure" of clinician 2, excluded pairwise, does.
PAPER_CELLS = [
    (1, "yes", "yes", 4), (1, "yes", "no", 3), (1, "no", "no", 9),
    (0, "yes", "yes", 45), (0, "yes", "no", 1), (0, "no", "no", 37), (0, "no", "unsure", 1),
]


def closed_form_kappa(yy: int, yn: int, ny: int, nn: int) -> float:
    """Cohen (1960) by hand: (p_o - p_e) / (1 - p_e) from the 2x2 counts."""
    n = yy + yn + ny + nn
    observed = (yy + nn) / n
    expected = ((yy + yn) * (yy + ny) + (ny + nn) * (yn + nn)) / n**2
    return (observed - expected) / (1 - expected)


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def paper(tmp_path) -> Path:
    """A review folder (key/key.csv) and two clinicians' sheets holding PAPER_CELLS in a shuffled case order."""
    cases = [cell[:3] for cell in PAPER_CELLS for _ in range(cell[3])]
    order = np.random.default_rng(7).permutation(len(cases))
    cases = [cases[i] for i in order]
    (tmp_path / "key").mkdir()
    write_csv(tmp_path / "key" / "key.csv", [list(KEY_COLUMNS)] + [
        [k, f"REC{k:03d}", "SYN", k % 5, "LAD", "39732003", label, 1 - label, 0.5] for k, (label, _, _) in enumerate(cases, 1)])
    for rater in (1, 2):
        write_csv(tmp_path / f"clinician{rater}.csv", [["case", "class", "present", "comment"]] +
                  [[k, "LAD", answers[rater], ""] for k, answers in enumerate(cases, 1)])
    return tmp_path


def run_agreement(folder: Path, *extra: str) -> dict:
    sheets = sorted(str(p) for p in folder.glob("clinician*.csv"))
    assert cli.main(["--quiet", "agreement", str(folder), *sheets, "--bootstrap", "400", *extra]) == 0
    return json.loads((folder / "agreement.json").read_text())


def test_the_papers_kappas_come_out_of_sheets_with_the_papers_marginals(paper):
    result = run_agreement(paper)
    by_pair = {(c["a"], c["b"]): c for c in result["comparisons"]}
    expected = {
        ("clinician1", "label"): (100, (7, 46, 9, 38), -0.057, 3),
        ("clinician2", "label"): (99, (4, 45, 12, 38), -0.159, 3),
        ("clinician1", "clinician2"): (99, (49, 4, 0, 46), 0.92, 2),
    }
    for pair, (cases, cells, paper_kappa, digits) in expected.items():
        c = by_pair[pair]
        assert c["cases"] == cases and sum(c["table"], []) == list(cells)
        assert c["kappa"] == pytest.approx(closed_form_kappa(*cells), abs=1e-12)
        assert round(c["kappa"], digits) == paper_kappa
        assert c["ci95"][0] < c["kappa"] < c["ci95"][1]
    # The model says the opposite of the label on every misclassified case: kappa vs the model is minus that vs the label.
    assert by_pair[("clinician1", "model")]["kappa"] == pytest.approx(-by_pair[("clinician1", "label")]["kappa"], abs=0.02)
    assert result["raters"]["clinician2"] == {"yes": 49, "no": 50, "unsure or blank": 1}
    assert result["fleiss"] is None
    table = (paper / "agreement.md").read_text()
    assert "| clinician1 vs label | 100 | -0.057 |" in table and "| clinician1 vs clinician2 | 99 | 0.919 |" in table


def test_the_bootstrap_is_seeded(paper, tmp_path):
    first = run_agreement(paper, "--seed", "3")
    assert run_agreement(paper, "--seed", "3") == first
    assert run_agreement(paper, "--seed", "4")["comparisons"][0]["ci95"] != first["comparisons"][0]["ci95"]


def test_the_vectorised_kappa_is_sklearns():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
        if len(set(a)) == len(set(b)) == 1 and a[0] == b[0]:
            continue
        tables = np.array([[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
                           [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]])
        assert kappa_from_tables(tables) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert np.isnan(kappa_from_tables([[5, 0], [0, 0]]))  # both constant and equal: undefined, not 1 or 0


def test_an_undefined_kappa_is_reported_as_such():
    result = cohen(np.ones(6, dtype=int), np.ones(6, dtype=int), 50, np.random.default_rng(0))
    assert result["kappa"] is None and result["undefined_resamples"] == 50 and result["observed_agreement"] == 1.0


def test_fleiss_kappa_on_a_worked_example_and_its_limits():
    # The worked example of the Wikipedia article "Fleiss' kappa": 10 subjects, 14 raters, 5 categories, kappa 0.210.
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert round(fleiss_kappa(counts), 3) == 0.210
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == 1.0
    # With two raters Fleiss' kappa is Scott's pi: (p_o - p_e) / (1 - p_e), p_e from the pooled marginals.
    pairs = np.array([[1, 1], [1, 0], [0, 0], [0, 0], [1, 1], [0, 1], [0, 0]])
    observed = np.mean(pairs[:, 0] == pairs[:, 1])
    pooled = pairs.mean()
    scott = (observed - (pooled**2 + (1 - pooled) ** 2)) / (1 - (pooled**2 + (1 - pooled) ** 2))
    yes = pairs.sum(axis=1)
    assert fleiss_kappa(np.stack([yes, 2 - yes], axis=1)) == pytest.approx(scott, abs=1e-12)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 0], [1, 0]])


def test_three_raters_get_fleiss_kappa(paper):
    sheet = (paper / "clinician1.csv").read_text()
    (paper / "clinician3.csv").write_text(sheet)
    result = run_agreement(paper)
    assert len(result["comparisons"]) == 3 + 3 * 2
    fleiss = result["fleiss"]
    assert fleiss["raters"] == 3 and fleiss["cases"] == 99  # the case clinician 2 was unsure of is left out
    assert 0.9 < fleiss["kappa"] < 1 and fleiss["ci95"][0] <= fleiss["kappa"] <= fleiss["ci95"][1]
    assert "Fleiss' kappa, 3 raters, 99 cases" in (paper / "agreement.md").read_text()


@pytest.mark.parametrize("line, message", [
    ("1,LAD,maybe,", r"clinician1.csv: line 2: present must be yes, no, unsure or blank, got 'maybe'"),
    ("101,LAD,yes,", r"cases \[101\] are not in the key"),
    ("1,AF,yes,", r"line 2: the sheet rates AF, the key LAD"),
    ("x,LAD,yes,", r"line 2: case 'x' is not a whole number"),
])
def test_a_bad_rating_sheet_is_named_with_its_line(paper, line, message):
    path = paper / "clinician1.csv"
    path.write_text("case,class,present,comment\n" + line + "\n")
    with pytest.raises(AnalysisError, match=message):
        read_ratings(path, read_key(paper))


def test_bad_inputs_on_the_command_line_exit_2_with_one_line(paper, caplog):
    write_csv(paper / "clinician1.csv", [["case", "class", "present"], [1, "LAD", "yes"], [1, "LAD", "no"]])
    assert cli.main(["agreement", str(paper), str(paper / "clinician1.csv")]) == 2
    assert "line 3: case 1 is rated twice" in caplog.text
    assert cli.main(["agreement", str(paper / "absent"), str(paper / "clinician2.csv")]) == 2
    assert "no review key here" in caplog.text
    assert cli.main(["agreement", str(paper), str(paper / "clinician2.csv"), str(paper / "clinician2.csv")]) == 2
    assert "given twice" in caplog.text
    write_csv(paper / "key" / "key.csv", [["case", "record"], [1, "REC001"]])
    assert cli.main(["agreement", str(paper), str(paper / "clinician2.csv")]) == 2
    assert "not a review key" in caplog.text


def test_the_key_is_found_from_its_file_its_folder_or_the_review_folder(paper):
    assert read_key(paper).path == read_key(paper / "key").path == read_key(paper / "key" / "key.csv").path


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["agreement", "--help"])
    assert exit_.value.code == 0 and "--bootstrap" in capsys.readouterr().out
