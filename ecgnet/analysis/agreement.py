"""`python -m ecgnet agreement KEY RATINGS.csv [RATINGS2.csv ...]`: rater agreement on a blinded review.

Reads the key that ``python -m ecgnet review`` kept apart and one filled rating sheet per
rater (``case, class, present, comment``; ``present`` is yes, no or unsure), then gives
Cohen's kappa (Cohen 1960; ``sklearn.metrics.cohen_kappa_score``) with its 2x2 table for
every pair of raters, every rater against the training label and every rater against the
model's thresholded output, as in the seed paper's label-quality study (Zhao et al.,
Physiol. Meas. 2022: two clinicians vs the labels -0.057 and -0.159, vs each other 0.92),
and Fleiss' kappa (Fleiss 1971) when there are three raters or more.

"unsure" and blank answers are counted per rater and excluded pairwise: a case enters a
comparison only when both sides say yes or no (the label and the model always do). Fleiss'
kappa uses the cases that every rater answered yes or no. The 95 % intervals are percentile
bootstrap intervals over cases (seeded): resampling n cases with replacement is the same as
drawing the 2x2 table from a multinomial with the observed cell frequencies, which is how
they are drawn. Resamples where kappa is undefined (both sides constant and equal, p_e = 1)
are left out and counted. Writes ``agreement.md`` and ``agreement.json``.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from ecgnet.analysis.review import KEY_COLUMNS, KEY_DIR, KEY_FILE, RATINGS
from ecgnet.challenge.classes import description
from ecgnet.console import progress
from ecgnet.errors import AnalysisError
from ecgnet.fileio import atomic_write_text

log = logging.getLogger(__name__)

ANSWERS = {"yes": 1, "no": 0, "unsure": -1, "": -1}  # -1: not a yes/no answer, excluded pairwise
MD_FILE, JSON_FILE = "agreement.md", "agreement.json"


@dataclass
class Key:
    """The review key: per case (1..N) the training label and the model output for the class, 0 or 1."""

    path: Path
    class_name: str
    code: str
    cases: np.ndarray  # (N,) int, ascending
    label: np.ndarray  # (N,) int 0/1
    output: np.ndarray  # (N,) int 0/1


def _key_file(path: Path) -> Path:
    for candidate in (path, path / KEY_FILE, path / KEY_DIR / KEY_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no review key here (expected {KEY_DIR}/{KEY_FILE} written by `python -m ecgnet review`)")


def read_key(path: str | Path) -> Key:
    """The key from ``key.csv``, its folder, or the review's ``--out`` folder."""
    path = _key_file(Path(path))
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in KEY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnalysisError(f"{path}: not a review key, columns {missing} are missing")
        rows = list(reader)
    if not rows:
        raise AnalysisError(f"{path}: the key holds no cases")
    try:
        rows.sort(key=lambda r: int(r["case"]))
        cases, label, output = (np.array([int(r[c]) for r in rows]) for c in ("case", "label", "output"))
    except ValueError as error:
        raise AnalysisError(f"{path}: a case, label or output that is not a whole number ({error})") from error
    if len(set(cases.tolist())) != len(cases) or not set(np.concatenate([label, output]).tolist()) <= {0, 1}:
        raise AnalysisError(f"{path}: case numbers repeat, or a label/output is not 0 or 1")
    return Key(path, rows[0]["class"], rows[0]["code"], cases, label, output)


def read_ratings(path: str | Path, key: Key) -> np.ndarray:
    """One rater's answers in key order: 1 yes, 0 no, -1 unsure or blank. Errors name the file and line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"case", "present"} <= set(reader.fieldnames or []):
            raise AnalysisError(f"{path}: a rating sheet needs the columns case and present, found {reader.fieldnames}")
        answers: dict[int, int] = {}
        for line, row in enumerate(reader, start=2):
            answers.update(_answer(path, line, row, key, answers))
    position = set(key.cases.tolist())
    unknown = sorted(set(answers) - position)
    if unknown:
        raise AnalysisError(f"{path}: cases {unknown[:5]} are not in the key {key.path}: a sheet from another review?")
    unrated = len(position - set(answers))
    if unrated:
        log.warning("%s: %d case(s) of the key have no row; counted as blank", path, unrated)
    return np.array([answers.get(int(case), -1) for case in key.cases])


def _answer(path: Path, line: int, row: dict, key: Key, seen: dict[int, int]) -> dict[int, int]:
    where = f"{path}: line {line}"
    try:
        case = int(row["case"])
    except (TypeError, ValueError):
        raise AnalysisError(f"{where}: case {row['case']!r} is not a whole number") from None
    if case in seen:
        raise AnalysisError(f"{where}: case {case} is rated twice")
    named = (row.get("class") or "").strip()
    if named and named not in (key.class_name, key.code):
        raise AnalysisError(f"{where}: the sheet rates {named}, the key {key.class_name}: a sheet from another review?")
    value = (row["present"] or "").strip().lower()
    if value not in ANSWERS:
        raise AnalysisError(f"{where}: present must be {', '.join(RATINGS)} or blank, got {row['present']!r}")
    return {case: ANSWERS[value]}


def table_2x2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts [[a yes & b yes, a yes & b no], [a no & b yes, a no & b no]] over the cases both answered."""
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    return np.array([[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
                     [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]])


def kappa_from_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa (p_o - p_e) / (1 - p_e) of 2x2 count tables of shape (..., 2, 2); NaN where p_e = 1.

    Cohen, "A coefficient of agreement for nominal scales", Educ. Psychol. Meas. 20:37-46 (1960).
    Vectorised for the bootstrap; equal to ``sklearn.metrics.cohen_kappa_score`` on the same cases.
    """
    tables = np.asarray(tables, dtype=np.float64)
    n = tables.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = (tables[..., 0, 0] + tables[..., 1, 1]) / n
        expected = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / n**2
        return np.where(expected < 1, (observed - expected) / (1 - expected), np.nan)


def _estimate(kappa: float, draws: np.ndarray) -> dict:
    """The point estimate (None when undefined) and the percentile 95 % interval of the defined bootstrap draws."""
    defined = draws[np.isfinite(draws)]
    interval = [float(v) for v in np.percentile(defined, [2.5, 97.5])] if len(defined) else [None, None]
    return {"kappa": None if np.isnan(kappa) else float(kappa), "ci95": interval, "undefined_resamples": int(len(draws) - len(defined))}


def cohen(a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator) -> dict:
    """Cohen's kappa of two answer vectors (1 yes, 0 no, -1 excluded), its 2x2 table and bootstrap 95 % interval."""
    both = (a >= 0) & (b >= 0)
    table = table_2x2(a, b)
    n = int(both.sum())
    result = {"cases": n, "excluded": int(len(a) - n), "table": table.tolist(), "kappa": None, "ci95": [None, None],
              "observed_agreement": float(np.trace(table) / n) if n else None, "undefined_resamples": 0}
    if n == 0:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa: reported as None below, not as a warning
        kappa = float(cohen_kappa_score(a[both], b[both], labels=[0, 1], replace_undefined_by=np.nan))
    draws = kappa_from_tables(rng.multinomial(n, table.ravel() / n, size=resamples).reshape(-1, 2, 2))
    return {**result, **_estimate(kappa, draws)}


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (N subjects, k categories) table of how many raters chose each category.

    Every subject must have the same number of raters n >= 2. Fleiss, "Measuring nominal scale
    agreement among many raters", Psychol. Bull. 76(5):378-382 (1971): P_i = (sum_j n_ij^2 - n) /
    (n (n - 1)), p_j = sum_i n_ij / (N n), kappa = (mean P_i - sum_j p_j^2) / (1 - sum_j p_j^2).
    NaN when every rating falls in one category.
    """
    return float(_fleiss(np.asarray(counts, dtype=np.float64)[None])[0])


def _fleiss(counts: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of a stack of (N, k) tables, shape (B, N, k) -> (B,)."""
    raters = counts.sum(axis=-1)
    if counts.shape[-2] == 0 or np.any(raters != raters.flat[0]) or raters.flat[0] < 2:
        raise ValueError("Fleiss' kappa needs at least one subject and the same number (>= 2) of raters for every subject")
    n = raters.flat[0]
    agreement = ((counts**2).sum(axis=-1) - n) / (n * (n - 1))
    shares = counts.sum(axis=-2) / (counts.shape[-2] * n)
    expected = (shares**2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected < 1, (agreement.mean(axis=-1) - expected) / (1 - expected), np.nan)


def fleiss(answers: np.ndarray, resamples: int, rng: np.random.Generator) -> dict:
    """Fleiss' kappa of (raters, cases) answers over the cases every rater answered yes or no, with a bootstrap 95 % interval."""
    complete = np.all(answers >= 0, axis=0)
    yes = answers[:, complete].sum(axis=0)
    counts = np.stack([yes, len(answers) - yes], axis=1)
    result = {"raters": len(answers), "cases": int(complete.sum()), "kappa": None, "ci95": [None, None], "undefined_resamples": 0}
    if not complete.any():
        return result
    draws = _fleiss(counts[rng.integers(0, len(counts), size=(resamples, len(counts)))])
    return {**result, **_estimate(fleiss_kappa(counts), draws)}


def _tally(answers: np.ndarray) -> dict[str, int]:
    return {"yes": int(np.sum(answers == 1)), "no": int(np.sum(answers == 0)), "unsure or blank": int(np.sum(answers < 0))}


def agreement(key: Key, raters: dict[str, np.ndarray], resamples: int = 2000, seed: int = 0) -> dict:
    """Every comparison (rater pairs, each rater vs the label and vs the model) and Fleiss' kappa for >= 3 raters, as JSON-ready data."""
    if not raters:
        raise ValueError("at least one rating sheet is needed")
    rng = np.random.default_rng(seed)
    pairs = [(a, b, raters[a], raters[b]) for a, b in itertools.combinations(raters, 2)]
    for name, answers in raters.items():
        pairs += [(name, "label", answers, key.label), (name, "model", answers, key.output)]
    comparisons = [{"a": a, "b": b, **cohen(x, y, resamples, rng)}
                   for a, b, x, y in progress(pairs, desc="kappa with bootstrap", unit="comparison")]
    return {
        "key": str(key.path), "class": key.class_name, "code": key.code, "cases": int(len(key.cases)),
        "raters": {name: _tally(answers) for name, answers in raters.items()},
        "unsure": "unsure and blank answers are excluded pairwise (a case counts only where both sides say yes or no); "
                  "Fleiss' kappa uses the cases every rater answered yes or no",
        "bootstrap": {"resamples": resamples, "seed": seed, "interval": "percentile, 95 %, cases resampled with replacement"},
        "comparisons": comparisons,
        "fleiss": fleiss(np.stack(list(raters.values())), resamples, rng) if len(raters) >= 3 else None,
    }


def _number(value: float | None, digits: int = 3) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """The paper-style table: one row per comparison (cases, kappa, 95 % interval, observed agreement), then the 2x2 tables."""
    lines = [f"# Agreement on {description(result['code'])} ({result['class']}): {result['cases']} cases, "
             f"{len(result['raters'])} rater(s)", "",
             "| rater | yes | no | unsure or blank |", "|---|---|---|---|"]
    lines += [f"| {name} | {t['yes']} | {t['no']} | {t['unsure or blank']} |" for name, t in result["raters"].items()]
    lines += ["", "| comparison | cases | Cohen's kappa | 95 % CI | observed agreement |", "|---|---|---|---|---|"]
    for c in result["comparisons"]:
        agree = "-" if c["observed_agreement"] is None else f"{c['observed_agreement']:.0%}"
        lines.append(f"| {c['a']} vs {c['b']} | {c['cases']} | {_number(c['kappa'])} | "
                     f"{_number(c['ci95'][0])} to {_number(c['ci95'][1])} | {agree} |")
    if result["fleiss"] is not None:
        f = result["fleiss"]
        lines += ["", f"Fleiss' kappa, {f['raters']} raters, {f['cases']} cases: {_number(f['kappa'])} "
                      f"(95 % CI {_number(f['ci95'][0])} to {_number(f['ci95'][1])})"]
    lines += ["", f"Unsure: {result['unsure']}. Intervals: {result['bootstrap']['interval']}, "
                  f"{result['bootstrap']['resamples']} resamples, seed {result['bootstrap']['seed']}.", "", "## 2x2 tables", ""]
    for c in result["comparisons"]:
        (yy, yn), (ny, nn) = c["table"]
        lines += [f"| {c['a']} \\ {c['b']} | {c['b']} yes | {c['b']} no |", "|---|---|---|",
                  f"| {c['a']} yes | {yy} | {yn} |", f"| {c['a']} no | {ny} | {nn} |", ""]
    return "\n".join(lines)


def rater_names(paths: list[Path]) -> list[str]:
    """Each sheet's file stem, or folder/stem where stems repeat (the path where those do too); the same file twice is refused."""
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise AnalysisError(f"the same rating sheet is given twice: {[str(p) for p in paths]}")
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``agreement`` sub-command's arguments: the key, one rating sheet per rater, output and bootstrap settings."""
    parser.add_argument("key", type=Path, help="the review key: key.csv, its folder, or the review's --out folder")
    parser.add_argument("ratings", type=Path, nargs="+", help="one filled rating sheet per rater (the file name names the rater)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for {MD_FILE} and {JSON_FILE} (default: the review folder that holds {KEY_DIR}/)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95 %% intervals (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet agreement``: kappa tables for the sheets against each other, the label and the model; exit 0."""
    if args.bootstrap < 1:
        raise AnalysisError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    key = read_key(args.key)
    sheets = {name: read_ratings(path, key) for name, path in zip(rater_names(args.ratings), args.ratings)}
    result = agreement(key, sheets, resamples=args.bootstrap, seed=args.seed)
    out = args.out or (key.path.parent.parent if key.path.parent.name == KEY_DIR else key.path.parent)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(result)
    atomic_write_text(out / MD_FILE, text + "\n")
    atomic_write_text(out / JSON_FILE, json.dumps(result, indent=2) + "\n")
    print(text)
    print(f"written: {out / MD_FILE}, {out / JSON_FILE}")
    return 0
