"""driver.py over a directory of bad input, as the organisers run it: nothing lost, every failure said once.

One input directory mixes good synthetic records, the real edge cases of
../shared/data/cinc2020-real/edge-cases (when present) and generated faults
(``helpers.write_faults``, shared with ``test_train_robustness``). The documented behaviour:

- every readable record gets ``OUTPUT_DIR/NAME.csv`` that the scorer's parser reads;
- every unreadable one gets exactly one ERROR line naming its file and the reason
  (no traceback), an output file with empty answers (the record line, then empty
  class, label and score lines: all-negative for both scorers), and is listed in the
  summary at the end; the exit status is 1, returned only after every other output is written;
- a file already in OUTPUT_DIR with other content is replaced with a warning naming it
  (the challenge harness reruns into the same folder, so refusing would break it; the
  notice is per file and counted at the end); identical files and unrelated files
  are left alone without a word;
- outputs are atomic: no temporary files are left, and a driver killed mid-run with
  SIGKILL leaves only complete output files, which a rerun keeps as they are.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_edge_cases, good_records, write_faults
from model_dirs import random_model_dir

from ecgnet.inference.outputs import OutputFileError, read_output

REPO = Path(__file__).resolve().parents[1]


def run_driver(model: Path, inputs: Path, out: Path) -> subprocess.CompletedProcess:
    """``python driver.py MODEL INPUT OUTPUT`` as the organisers run it (progress bars on, one torch thread)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("ECGNET_QUIET", None)
    return subprocess.run([sys.executable, "driver.py", str(model), str(inputs), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def log_lines(stderr: str) -> list[str]:
    """What a terminal shows: of each line, the text after the last carriage return (progress bars redraw with \\r)."""
    return [line.rsplit("\r", 1)[-1] for line in stderr.split("\n")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """Random smoke fold models: file handling, not the answers, is what these tests check."""
    return random_model_dir(tmp_path_factory.mktemp("robust_model"))


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, model_dir):
    """One driver run over good records, every generated fault and the real edge cases, into a used OUTPUT_DIR."""
    tmp = tmp_path_factory.mktemp("robust_driver")
    inputs = tmp / "in"
    expected = {**good_records(inputs, 4, seed=1), **write_faults(inputs), **copy_edge_cases(inputs)}
    out = tmp / "out"
    out.mkdir()
    user_files = {"SYN00001.csv": "my notes on this patient\n", "notes.txt": "keep me\n", "OTHER.csv": "not a record of this run\n"}
    for name, text in user_files.items():
        (out / name).write_text(text)
    done = run_driver(model_dir, inputs, out)
    return inputs, out, expected, user_files, done


def _failed_file(inputs: Path, name: str) -> Path:
    return inputs / (f"{name}.mat" if (inputs / f"{name}.mat").exists() else f"{name}.hea")


def test_every_readable_record_gets_an_output_the_scorer_reads(bad_run):
    inputs, out, expected, user_files, done = bad_run
    readable = sorted(name for name, outcome in expected.items() if outcome is None)
    assert {"LATIN1", "TWOHOURS", "NANFEW", "FS300", "FS128"} <= set(readable)
    for name in readable:
        path = out / f"{name}.csv"
        assert path.is_file(), f"{name}: no output file\n{done.stderr[-3000:]}"
        outputs, scores = read_output(path)
        assert path.read_text().startswith(f"#{name}\n") and outputs.any(), name
        assert np.all((scores >= 0) & (scores <= 1)), name
    failed = {name for name, outcome in expected.items() if outcome is not None}
    # Exactly these files: one per record, the user's own, and no temporary file of an atomic write (``.NAME.*.tmp``).
    assert sorted(p.name for p in out.iterdir()) == sorted({f"{n}.csv" for n in readable + sorted(failed)} | set(user_files))


def test_every_unreadable_record_gets_an_output_with_empty_answers(bad_run):
    """The organisers' allow_failures convention: the scorers then count the record all-negative instead of refusing the folder."""
    inputs, out, expected, user_files, done = bad_run
    failed = sorted(name for name, outcome in expected.items() if outcome is not None)
    assert {"TRUNCATED", "NOHEADER", "GARBAGEHEA", "NANMOST"} <= set(failed)
    for name in failed:
        assert (out / f"{name}.csv").read_text() == f"#{name}\n\n\n\n", name
        with pytest.raises(OutputFileError, match="0 data line"):  # what ecgnet.scoring counts as all-negative
            read_output(out / f"{name}.csv")


def test_each_unreadable_record_gets_one_clear_line_and_is_in_the_summary(bad_run):
    inputs, out, expected, user_files, done = bad_run
    lines = log_lines(done.stderr)
    assert "Traceback" not in done.stderr and "Warning:" not in done.stderr, done.stderr[-3000:]
    failed = {name: reason for name, reason in expected.items() if reason is not None}
    for name, reason in failed.items():
        path = _failed_file(inputs, name)
        mentions = [line for line in lines if line.startswith("ERROR") and f"{path}:" in line]
        assert len(mentions) == 1, f"{name}: {mentions}"
        assert re.search(reason, mentions[0].split(f"{path}:", 1)[1]), f"{name}: {mentions[0]}"
        assert mentions[0].endswith("; answered with empty outputs (scored as all-negative)"), mentions[0]
    summary = next(i for i, line in enumerate(lines) if re.match(rf"ERROR .*: {len(failed)} of {len(expected)} record\(s\) failed:$", line))
    listed = [line.strip() for line in lines[summary + 1:summary + 1 + len(failed)]]
    assert sorted(listed) == sorted(str(_failed_file(inputs, name)) for name in failed)


def test_the_exit_status_says_records_failed_after_every_output_is_written(bad_run):
    inputs, out, expected, user_files, done = bad_run
    failed = sum(outcome is not None for outcome in expected.values())
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[-1] == f"Done, but {failed} record(s) failed (see the log above)."
    # Files sort after failures (SYN*, TWOHOURS after GARBAGE*, NANMOST, ...): the run went on to the end.
    assert (out / "TWOHOURS.csv").is_file() and (out / "SYN00004.csv").is_file()


def test_a_file_the_user_wrote_is_replaced_only_with_a_notice_and_others_are_untouched(bad_run):
    inputs, out, expected, user_files, done = bad_run
    lines = log_lines(done.stderr)
    assert [line for line in lines if "existed with other content" in line] == [
        f"WARNING ecgnet.inference.predict: {out / 'SYN00001.csv'}: existed with other content; replaced by this run's output"]
    assert any(f"1 existing output file(s) in {out} were replaced" in line for line in lines)
    assert (out / "SYN00001.csv").read_text().startswith("#SYN00001\n")
    assert (out / "notes.txt").read_text() == user_files["notes.txt"]
    assert (out / "OTHER.csv").read_text() == user_files["OTHER.csv"]


def test_a_killed_driver_leaves_only_complete_files_and_a_rerun_keeps_them(tmp_path, model_dir):
    original = tmp_path / "original"
    good_records(original, 1, seed=2)
    inputs = tmp_path / "in"
    inputs.mkdir()
    count = 400
    for i in range(count):  # hard links: 400 records on disk for the price of one
        for suffix in (".hea", ".mat"):
            os.link(original / f"SYN00001{suffix}", inputs / f"K{i:04d}{suffix}")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "ECGNET_QUIET": "1"}
    victim = subprocess.Popen([sys.executable, "driver.py", str(model_dir), str(inputs), str(out)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while victim.poll() is None and time.time() < deadline:
            if out.is_dir() and sum(1 for _ in out.glob("*.csv")) >= 20:
                break
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    written = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    assert 20 <= len(written) < count
    for name, data in written.items():
        read_output(out / name)  # complete: four lines, 24 columns each
        assert data.startswith(f"#{name[:-4]}\n".encode()) and data.endswith(b"\n") and data.count(b"\n") == 4

    done = run_driver(model_dir, inputs, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "existed with other content" not in done.stderr  # what the killed run wrote was whole and final
    assert len(list(out.glob("*.csv"))) == count
    assert all((out / name).read_bytes() == data for name, data in written.items())
    assert not [p.name for p in out.iterdir() if p.suffix != ".csv" and not p.name.startswith(".")]


def test_a_folder_without_records_is_one_line_and_exit_2(tmp_path, model_dir):
    """No ``NAME.mat`` at any depth: the driver says so and exits 2 instead of "0 of 0 classified"."""
    (tmp_path / "in" / "notes").mkdir(parents=True)
    (tmp_path / "in" / "readme.txt").write_text("no records here\n")
    done = run_driver(model_dir, tmp_path / "in", tmp_path / "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert log_lines(done.stderr.strip())[-1].startswith(f"driver.py: {tmp_path / 'in'}: no records here")
