"""The output-file format: round trip, the official parsing rules, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest

from ecgnet.challenge import classes
from ecgnet.inference import outputs
from ecgnet.inference.outputs import OutputFileError, read_output, write_output

CODES = list(classes.CLASSES)
RBBB_PAIR = ("713427006", "59118001")
I_RBBB = classes.CLASS_INDEX["713427006"]


def write_text(tmp_path, text, name="A0001.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def table(codes, binaries, probabilities, name="#A0001", end="\n", trailing=""):
    lines = [name] if name else []
    lines += [",".join(codes) + trailing, ",".join(binaries) + trailing, ",".join(probabilities) + trailing]
    return end.join(lines) + end


def test_round_trip_keeps_labels_and_exact_probabilities(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.random(24) < 0.3
    scores = rng.random(24)
    path = tmp_path / "A0001.csv"
    write_output(path, "A0001", CODES, labels, scores)
    got_labels, got_scores = read_output(path)
    assert np.array_equal(got_labels, labels) and np.array_equal(got_scores, scores)
    assert path.read_text().splitlines()[0] == "#A0001"


def test_float32_scores_are_written_at_their_own_shortest_precision(tmp_path):
    scores = np.full(24, 0.1, dtype=np.float32)
    path = tmp_path / "A.csv"
    write_output(path, "A", CODES, np.zeros(24, bool), scores)
    assert path.read_text().splitlines()[3].split(",")[0] == "0.1"


def test_write_rejects_mismatched_lengths_and_bad_codes(tmp_path):
    with pytest.raises(ValueError):
        write_output(tmp_path / "A.csv", "A", CODES, np.zeros(23, bool), np.zeros(24))
    with pytest.raises(ValueError):
        write_output(tmp_path / "A.csv", "A", ["1,2"] + CODES[1:], np.zeros(24, bool), np.zeros(24))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "A.csv"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(outputs.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_output(path, "A", CODES, np.zeros(24, bool), np.zeros(24))
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.csv"]


@pytest.mark.parametrize("token", ["1", "True", "true", "T", "t", " 1 ", "t "])
def test_positive_tokens(tmp_path, token):
    binaries = ["0"] * 24
    binaries[3] = token
    labels, _ = read_output(write_text(tmp_path, table(CODES, binaries, ["0.5"] * 24)))
    assert labels[3] and labels.sum() == 1


@pytest.mark.parametrize("token", ["1.0", "TRUE", "yes", "Y", "01", "+1", "2", "", "x"])
def test_look_alike_tokens_are_negative(tmp_path, token):
    binaries = ["0"] * 24
    binaries[3] = token
    labels, _ = read_output(write_text(tmp_path, table(CODES, binaries, ["0.5"] * 24)))
    assert not labels.any()


def test_columns_in_any_order_with_unscored_codes_ignored(tmp_path):
    order = list(range(24))[::-1]
    codes = ["164865005"] + [CODES[k] for k in order]  # an unscored code first
    binaries = ["1"] + ["1" if k == 5 else "0" for k in order]
    probabilities = ["0.99"] + [f"{k / 100}" for k in order]
    labels, scores = read_output(write_text(tmp_path, table(codes, binaries, probabilities)))
    assert np.flatnonzero(labels).tolist() == [5]
    assert np.allclose(scores, np.arange(24) / 100)


@pytest.mark.parametrize(
    "first, second, expected",
    [
        (("1", "0.2"), ("0", "0.4"), (True, 0.30000000000000004)),  # OR, mean
        (("0", "nan"), ("0", "0.4"), (False, 0.4)),  # a nan member is ignored
        (("0", "nan"), ("0", "nan"), (False, 0.0)),  # all nan reads as 0
        (("0", ""), ("t", "0.4"), (True, 0.2)),  # empty counts as 0
        (("0", "abc"), ("0", "0.6"), (False, 0.3)),  # non-numeric counts as 0
    ],
)
def test_equivalent_pair_columns_are_merged(tmp_path, first, second, expected):
    codes = [c for c in CODES if c != RBBB_PAIR[0]] + list(RBBB_PAIR)
    binaries = ["0"] * 23 + [first[0], second[0]]
    probabilities = ["0.1"] * 23 + [first[1], second[1]]
    labels, scores = read_output(write_text(tmp_path, table(codes, binaries, probabilities)))
    assert labels[I_RBBB] == expected[0]
    assert scores[I_RBBB] == expected[1]


def test_single_columns_parse_numbers_like_float_and_read_nan_as_zero(tmp_path):
    probabilities = ["0.5"] * 24
    probabilities[:5] = ["nan", " 0.25 ", "", "1e-3", "inf"]
    _, scores = read_output(write_text(tmp_path, table(CODES, ["0"] * 24, probabilities)))
    assert scores[:5].tolist() == [0.0, 0.25, 0.0, 0.001, float("inf")]


def test_second_code_of_a_pair_alone_stands_for_the_class(tmp_path):
    codes = [RBBB_PAIR[1] if c == RBBB_PAIR[0] else c for c in CODES]
    binaries = ["1" if c == RBBB_PAIR[0] else "0" for c in CODES]
    labels, scores = read_output(write_text(tmp_path, table(codes, binaries, ["0.7"] * 24)))
    assert labels[I_RBBB] and scores[I_RBBB] == 0.7


def test_crlf_comments_blank_lines_and_consistent_trailing_commas_are_tolerated(tmp_path):
    binaries = ["1"] + ["0"] * 23
    text = table(CODES, binaries, ["0.25"] * 24, end="\r\n", trailing=",")
    text = text.replace("\r\n", "\r\n\r\n# a comment\r\n", 1)
    labels, scores = read_output(write_text(tmp_path, text))
    assert labels[0] and labels.sum() == 1 and np.all(scores == 0.25)


def test_a_missing_name_line_and_a_same_width_fourth_line_are_fine(tmp_path):
    text = table(CODES, ["1"] * 24, ["0.5"] * 24, name="") + ",".join(["9"] * 24) + "\n"
    labels, scores = read_output(write_text(tmp_path, text))
    assert labels.all() and np.all(scores == 0.5)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "0 data line"),
        ("#A0001\n", "0 data line"),
        (table(CODES, ["0"] * 24, ["0.5"] * 24).rsplit("\n", 2)[0] + "\n", "2 data line"),
        (table(CODES, ["0"] * 24, ["0.5"] * 23), "ragged"),
        (table(CODES, ["0"] * 25, ["0.5"] * 24), "ragged"),
        (table(CODES, ["0"] * 24, ["0.5"] * 24).rstrip("\n") + ",\n", "ragged"),  # one trailing comma
        (table(CODES, ["0"] * 24, ["0.5"] * 24) + "1,2\n", "ragged"),  # a fourth line of another width
    ],
)
def test_malformed_files_raise_a_clear_error(tmp_path, text, reason):
    path = write_text(tmp_path, text)
    with pytest.raises(OutputFileError) as info:
        read_output(path)
    assert reason in str(info.value) and str(path) in str(info.value)


def test_unreadable_files_raise_output_file_errors(tmp_path):
    with pytest.raises(OutputFileError, match="cannot read"):
        read_output(tmp_path / "missing.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(OutputFileError, match="UTF-8"):
        read_output(path)
    assert issubclass(OutputFileError, ValueError)
