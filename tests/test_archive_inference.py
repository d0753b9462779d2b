"""The driver over an archive: a share of the records per torchrun process, one summary of failures, and resuming."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgnet.inference.outputs import read_output
from ecgnet.inference.predict import predict_directory
from helpers import write_records
from model_dirs import random_model_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A random model directory, and 6 records of which one is unreadable and one name is found twice."""
    root = tmp_path_factory.mktemp("archive")
    (root / "model").mkdir()
    model = random_model_dir(root / "model")
    data = write_records(root / "data", 5)
    (data / "A0003.mat").write_bytes(b"not a MAT file")
    copy = data / "copy"
    copy.mkdir()
    for suffix in (".hea", ".mat"):
        (copy / f"A0005{suffix}").write_bytes((data / f"A0005{suffix}").read_bytes())
    (data / "B0001.hea").write_text((data / "A0001.hea").read_text().replace("A0001", "B0001"))
    (data / "B0001.mat").write_bytes((data / "A0001.mat").read_bytes())
    return model, data


def _driver(*args: str, processes: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*launcher, "driver.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_two_torchrun_processes_write_what_one_process_writes(archive, tmp_path):
    model, data = archive
    assert len(predict_directory(model, data, tmp_path / "one")) == 2  # one process: the unreadable record and the clash
    two = _driver(str(model), str(data), str(tmp_path / "two"), processes=2)
    assert two.returncode == 1, two.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "two").iterdir()) == ["A0001.csv", "A0002.csv", "A0003.csv", "A0004.csv",
                                                                           "A0005.csv", "B0001.csv"]
    for name in files:
        text_one, text_two = ((tmp_path / run / name).read_text() for run in ("one", "two"))
        if name in ("A0003.csv", "A0005.csv"):
            assert text_one == text_two  # empty answers
            continue
        (labels_one, scores_one), (labels_two, scores_two) = read_output(tmp_path / "one" / name), read_output(tmp_path / "two" / name)
        # The records share their forward passes with different neighbours: equal labels, scores to float tolerance.
        assert np.array_equal(labels_one, labels_two) and np.allclose(scores_one, scores_two, atol=1e-6), name
    summaries = [line for line in two.stderr.splitlines() if "record(s) failed" in line]
    assert len(summaries) == 1 and "2 of 6 record(s) failed" in summaries[0]  # process 0 alone logs it, once
    failed = two.stderr.split(summaries[0], 1)[1]
    assert "A0003.mat" in failed and str(data / "A0005.hea") in failed and str(data / "copy" / "A0005.hea") in failed


def test_skip_existing_classifies_only_what_is_left(archive, tmp_path):
    model, data = archive
    out = tmp_path / "out"
    assert len(predict_directory(model, data, out)) == 2
    kept = (out / "A0002.csv").stat().st_mtime_ns
    (out / "A0004.csv").unlink()  # a stopped run: one output missing
    (out / "B0001.csv").write_text("#B0001\n")  # and one that is not a whole output file
    failures = predict_directory(model, data, out, skip_existing=True)
    assert (out / "A0002.csv").stat().st_mtime_ns == kept  # a finished record is not classified again
    assert read_output(out / "A0004.csv")[0].size == read_output(out / "B0001.csv")[0].size == 24
    assert len(failures) == 2  # failed records are tried again, so they are listed again
