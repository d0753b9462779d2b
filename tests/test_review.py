"""The blinded review packet: what the raters see carries nothing but case numbers; the key lives apart."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from challenge_files import sine_counts, write_pair
from PIL import Image

from ecgnet import cli
from ecgnet.analysis.review import (
    DRAW_FILE,
    KEY_FILE,
    LABEL_ISSUES_COLUMNS,
    PACKET_FILE,
    SHEET_FILE,
    candidates,
    load_results,
    strip_png_metadata,
    write_review,
)
from ecgnet.challenge.classes import DEFAULT, ClassSet, class_set
from ecgnet.errors import AnalysisError
from ecgnet.fileio import OutOfFold, write_oof, write_summary
from ecgnet.synth import generate_dataset

LAD = DEFAULT.class_index("LAD")
N_RECORDS = 12
# Rows 0-2 false negatives, rows 3-4 false positives for LAD; the rest correct.
FALSE_NEGATIVES, FALSE_POSITIVES = (0, 1, 2), (3, 4)


def fake_cv_results(out: Path, data: Path, classes: ClassSet = DEFAULT, reviewed: str = "LAD") -> OutOfFold:
    """A cv results directory of ``classes`` over real (synthetic) records with chosen labels and outputs (``reviewed``'s
    errors in the rows named above): no training."""
    names = sorted(p.stem for p in data.glob("*.hea"))
    rng = np.random.default_rng(5)
    labels = np.zeros((len(names), classes.num_classes), dtype=bool)
    labels[:, classes.normal_index] = True
    c = classes.class_index(reviewed)
    labels[list(FALSE_NEGATIVES) + [5, 6], c] = True
    outputs = labels.copy()
    outputs[list(FALSE_NEGATIVES), c] = False
    outputs[list(FALSE_POSITIVES), c] = True
    probabilities = np.round(rng.uniform(0.01, 0.99, labels.shape), 6)
    oof = OutOfFold(names, ["SYN"] * len(names), np.arange(len(names)) % 5, labels, probabilities, outputs, classes)
    out.mkdir(parents=True, exist_ok=True)
    write_oof(out, oof)
    write_summary(out, {"data_dir": str(data.resolve()), "config": {"gain_policy": "auto"}})
    return oof


@pytest.fixture(scope="module")
def cv(tmp_path_factory) -> tuple[Path, OutOfFold]:
    data = tmp_path_factory.mktemp("reviewdata")
    generate_dataset(data, N_RECORDS, seed=4, workers=1, fs_choices=[500], duration_range=(10, 10))
    out = tmp_path_factory.mktemp("cvresults")
    return out, fake_cv_results(out, data)


@pytest.fixture(scope="module")
def packet(cv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review") / "lad"
    assert cli.main(["--quiet", "review", str(cv[0]), "--class", "LAD", "--n", "4", "--out", str(out), "--seed", "1"]) == 0
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_the_packet_shows_case_numbers_only_with_every_image_embedded(packet, cv):
    _, oof = cv
    assert sorted(p.name for p in (packet / "packet").iterdir()) == sorted([PACKET_FILE, SHEET_FILE])
    page = (packet / "packet" / PACKET_FILE).read_text()
    images = embedded_pngs(page)
    assert len(images) == 4 and page.count("<img") == 4
    assert all(Image.open(io.BytesIO(png)).size[0] > 1000 for png in images)
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)
    assert re.findall(r'src="(?!data:image/png;base64,)', text) == []  # nothing fetched from elsewhere
    assert [int(k) for k in re.findall(r"<h2>Case (\d+)</h2>", text)] == [1, 2, 3, 4]
    for name in oof.records:
        assert name not in text
    assert "SYN" not in text and "fold" not in text.lower()
    for p in oof.probabilities[:, LAD]:
        assert f"{p:.2f}" not in text
    assert not re.search(r"\b(false|true) (positive|negative)|misclassif|prediction|probabilit", text, re.IGNORECASE)


def test_the_images_carry_no_metadata(packet):
    for png in embedded_pngs((packet / "packet" / PACKET_FILE).read_text()):
        chunks, at = [], 8
        while at < len(png):
            length = int.from_bytes(png[at:at + 4], "big")
            chunks.append(png[at + 4:at + 8].decode("ascii"))
            at += 12 + length
        assert set(chunks) <= {"IHDR", "PLTE", "IDAT", "IEND"}, chunks
        assert b"Matplotlib" not in png and b"SYN" not in png


def test_strip_png_metadata_drops_text_chunks_and_keeps_the_picture(tmp_path):
    image = Image.new("RGB", (8, 4), (200, 10, 10))
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", "SYN00001 LAD positive")
    image.save(tmp_path / "a.png", pnginfo=info)
    raw = (tmp_path / "a.png").read_bytes()
    assert b"SYN00001" in raw
    clean = strip_png_metadata(raw)
    assert b"SYN00001" not in clean
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(clean))), np.asarray(image))
    with pytest.raises(ValueError, match="not a PNG"):
        strip_png_metadata(b"GIF89a")


def test_the_key_holds_misclassified_records_of_both_kinds_and_the_sheet_is_blank(packet, cv):
    _, oof = cv
    key = read_csv(packet / "key" / KEY_FILE)
    assert [int(r["case"]) for r in key] == [1, 2, 3, 4]
    rows = [oof.records.index(r["record"]) for r in key]
    assert set(rows) <= set(FALSE_NEGATIVES + FALSE_POSITIVES)
    for r, row in zip(key, rows):
        assert (int(r["label"]), int(r["output"])) == (int(oof.labels[row, LAD]), int(oof.outputs[row, LAD]))
        assert float(r["probability"]) == oof.probabilities[row, LAD]
        assert r["class"] == "LAD" and r["code"] == "39732003"
    sheet = read_csv(packet / "packet" / SHEET_FILE)
    assert list(sheet[0]) == ["case", "class", "present", "comment"]
    assert [(s["case"], s["class"], s["present"], s["comment"]) for s in sheet] == [(str(k), "LAD", "", "") for k in range(1, 5)]


@pytest.mark.parametrize("name", ["LAD", "BBB"])
def test_a_2021_run_is_reviewed_in_its_own_classes(cv, tmp_path, name):
    """2021 results order their 26 classes otherwise (LAD is column 8, not 2020's 7) and add BBB and PRWP."""
    results_dir = tmp_path / "cv21"
    oof = fake_cv_results(results_dir, Path(json.loads((cv[0] / "summary.json").read_text())["data_dir"]), class_set("2021"), name)
    c = oof.classes.class_index(name)
    assert cli.main(["--quiet", "review", str(results_dir), "--class", name, "--n", "3", "--out", str(tmp_path / "r")]) == 0
    key = read_csv(tmp_path / "r" / "key" / KEY_FILE)
    assert {r["class"] for r in key} == {name} and {r["code"] for r in key} == {oof.classes.codes[c]}
    for r in key:
        row = oof.records.index(r["record"])
        assert row in FALSE_NEGATIVES + FALSE_POSITIVES and float(r["probability"]) == oof.probabilities[row, c]


def test_a_class_the_run_does_not_score_is_an_error_naming_the_run(cv, tmp_path, caplog):
    assert cli.main(["review", str(cv[0]), "--class", "BBB", "--out", str(tmp_path / "r")]) == 2
    assert str(cv[0]) in caplog.text and "not a scored class of the 2020 challenge" in caplog.text
    assert not (tmp_path / "r").exists()


def test_the_draw_is_seeded_and_takes_false_positives_and_negatives_together(cv):
    results = load_results(cv[0])
    draw = lambda seed: list(candidates(results, LAD, "misclassified", np.random.default_rng(seed)))  # noqa: E731
    assert draw(3) == draw(3)
    assert sorted(draw(3)) == sorted(FALSE_NEGATIVES + FALSE_POSITIVES)
    assert len({tuple(draw(seed)) for seed in range(6)}) > 1
    assert sorted(candidates(results, LAD, "random", np.random.default_rng(0))) == list(range(N_RECORDS))


def test_an_existing_packet_is_kept_unless_forced(packet, cv):
    sheet = packet / "packet" / SHEET_FILE
    filled = sheet.read_text().replace(",LAD,,", ",LAD,yes,", 1)
    sheet.write_text(filled)
    with pytest.raises(AnalysisError, match="refusing to overwrite"):
        write_review(load_results(cv[0]), LAD, 2, packet, seed=1)
    assert sheet.read_text() == filled
    assert cli.main(["--quiet", "review", str(cv[0]), "--class", "LAD", "--n", "4", "--out", str(packet)]) == 2
    assert sheet.read_text() == filled


def test_forced_rewrite_and_an_unreadable_record_replaced_by_the_next(cv, tmp_path):
    results_dir, oof = cv
    results = load_results(results_dir)
    first = list(candidates(results, LAD, "misclassified", np.random.default_rng(9)))[0]
    mat = results.data_dir / f"{oof.records[first]}.mat"
    original = mat.read_bytes()
    try:
        mat.write_bytes(b"not a MATLAB file")
        write_review(results, LAD, 1, tmp_path, seed=9)
        write_review(results, LAD, 1, tmp_path, seed=9, force=True)
    finally:
        mat.write_bytes(original)
    draw = json.loads((tmp_path / "key" / DRAW_FILE).read_text())
    assert draw["cases"] == 1 and [s["record"] for s in draw["skipped"]] == [oof.records[first]]
    assert read_csv(tmp_path / "key" / KEY_FILE)[0]["record"] != oof.records[first]
    assert not list(tmp_path.glob(".review-*"))  # no staging folder left behind


def test_no_readable_candidate_is_an_error_not_an_empty_packet(cv, tmp_path):
    results_dir, oof = cv
    results = load_results(results_dir)
    mats = [results.data_dir / f"{oof.records[row]}.mat" for row in FALSE_NEGATIVES + FALSE_POSITIVES]
    originals = [mat.read_bytes() for mat in mats]
    try:
        for mat in mats:
            mat.write_bytes(b"")
        with pytest.raises(AnalysisError, match="none of the 5 misclassified records for LAD could be read"):
            write_review(results, LAD, 3, tmp_path)
    finally:
        for mat, original in zip(mats, originals):
            mat.write_bytes(original)
    assert not (tmp_path / "packet").exists() and not list(tmp_path.glob(".review-*"))


def test_label_issue_cases_are_the_top_ranked_of_the_class(cv, tmp_path):
    results_dir, oof = cv
    results = load_results(results_dir)
    with pytest.raises(AnalysisError, match="label-issues"):
        candidates(results, LAD, "label-issues", np.random.default_rng(0))
    ranked = [oof.records[i] for i in (7, 2, 9)]
    rows = [list(LABEL_ISSUES_COLUMNS)] + [[name, "LAD", "39732003", 0, 0.5, 0.1, rank] for rank, name in enumerate(ranked, start=1)]
    rows.append([oof.records[0], "AF", "164889003", 1, 0.5, 0.0, 1])
    path = results_dir / "label_issues.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows[:1] + rows[:0:-1])  # written out of rank order
    try:
        assert [oof.records[i] for i in candidates(results, LAD, "label-issues", np.random.default_rng(0))] == ranked
        path.write_text("record,class\nSYN00001,LAD\n")
        with pytest.raises(AnalysisError, match="columns .* missing"):
            candidates(results, LAD, "label-issues", np.random.default_rng(0))
    finally:
        path.unlink()


def test_a_directory_that_is_not_a_cv_result_is_named(tmp_path, caplog):
    assert cli.main(["review", str(tmp_path), "--class", "LAD", "--out", str(tmp_path / "r")]) == 2
    assert "not a cv results directory" in caplog.text and "oof_predictions.csv" in caplog.text
    assert cli.main(["review", str(tmp_path / "absent"), "--class", "LAD", "--out", str(tmp_path / "r")]) == 2
    with pytest.raises(SystemExit):
        cli.main(["review", str(tmp_path), "--class", "NOPE", "--out", str(tmp_path / "r")])
    write_pair(tmp_path, "A0001", sine_counts())
    with pytest.raises(AnalysisError, match="it holds records: cross-validate them first"):
        load_results(tmp_path)


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["review", "--help"])
    assert exit_.value.code == 0 and "--kind" in capsys.readouterr().out


def test_records_that_moved_are_found_with_data(cv, tmp_path):
    results_dir, oof = cv
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("oof_predictions.csv", "summary.json"):
        (moved / name).write_bytes((results_dir / name).read_bytes())
    summary = json.loads((moved / "summary.json").read_text())
    data = Path(summary["data_dir"])
    (moved / "summary.json").write_text(json.dumps({**summary, "data_dir": str(tmp_path / "gone")}))
    with pytest.raises(AnalysisError, match="not a directory now.*--data"):
        load_results(moved)
    assert load_results(moved, data).data_dir == data
    (moved / "summary.json").write_text("{}")
    with pytest.raises(AnalysisError, match="names no data_dir"):
        load_results(moved)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs the chromium browser (apt-get install chromium)")
def test_a_browser_draws_the_embedded_ecgs(packet, tmp_path):
    """What a rater sees: headless Chromium renders the page with the ECG paper and the traces."""
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1400,1400", f"--screenshot={shot}", (packet / "packet" / PACKET_FILE).as_uri()],
                   check=True, capture_output=True, timeout=180)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    grid = (red > 200) & (green < 200) & (blue < 200)  # the pink/red millimetre grid
    trace = (red < 80) & (green < 80) & (blue < 80)  # black traces, text and calibration pulses
    assert grid.mean() > 0.05 and trace.mean() > 0.005
    assert grid[700:].mean() > 0.05  # the first image fills the page below the instructions, not just a header
