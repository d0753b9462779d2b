"""Every script in bench/ and experiments/ runs at its smallest size, so that none rots unseen.

Each script runs once, with its ``--smoke`` option or its smallest sizes; ``ablation.py`` trains
dozens of models, so only its ``table`` command runs (on an empty folder). Their numbers mean
nothing; what is checked is that each script finishes and prints its table.

The runs share one start-up: a runner process imports torch, scipy and ecgnet once (about 3 s
of CPU, which eighteen fresh interpreters would pay eighteen times on a 2-core machine), then
runs each script in a fork of itself as ``python SCRIPT ARGS`` would (``__main__``, its own
``sys.argv`` and ``sys.path[0]``, its own exit status), two at a time; each script's test reads
its result. What a script starts itself (driver.py, a fresh process per measurement) starts
as usual.
"""
from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgnet.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("bench", "experiments")
SCRIPTS = sorted(f"{folder}/{path.name}" for folder in FOLDERS for path in (REPO / folder).glob("*.py")
                 if "__main__" in path.read_text(encoding="utf-8"))
# The smallest run of each script; {records}: 12 synthetic 10-s records, {review}: a review packet's key and
# sheet, {out}: an empty folder of the script's own.
RUNS = {
    "bench/bench_archive.py": ["--smoke"],
    "bench/bench_driver_memory.py": ["--smoke", "--threads", "1"],
    "bench/bench_inference.py": ["--smoke", "--threads", "1"],
    "bench/bench_loader.py": ["--smoke", "--data", "{records}"],
    "bench/bench_model.py": ["--smoke", "--threads", "1"],
    "bench/bench_onnx.py": ["--smoke"],
    "bench/bench_records.py": ["--smoke", "--source", "{records}"],
    "bench/bench_resample.py": ["--smoke"],
    "bench/bench_review.py": ["--smoke"],
    "bench/bench_scale.py": ["--smoke", "--work", "{out}"],
    "bench/bench_scorer.py": ["--records", "200", "--search-records", "100"],
    "bench/bench_synth.py": ["--n", "4", "--workers", "1"],
    "bench/bench_threads.py": ["--smoke"],
    "bench/bench_train_gpu.py": ["--device", "cpu", "--config", "smoke", "--steps", "1"],
    "bench/gpu_check.py": ["--device", "cpu", "--records", "16", "--test", "2", "--epochs", "1", "--folds", "2"],
    "experiments/ablation.py": ["table", "--out", "{out}"],
    "experiments/attribution_checks.py": ["--smoke"],
    "experiments/label_issues.py": ["--smoke", "--out", "{out}"],
    "experiments/lead_sets.py": ["--smoke", "--lead-dropout", "0.5", "--out", "{out}"],
    "experiments/simulate_ratings.py": ["{review}", "{out}"],
    "experiments/synth_baseline.py": ["--train", "30", "--test", "20", "--jobs", "1"],
    "experiments/synth_defects.py": ["--n", "1", "--real"],
    "experiments/trace_paths.py": ["--smoke", "--work", "{out}"],
}
REPO_NAME = {str(REPO / s): s for s in RUNS}
# Started first, longest first (as measured), so that the two lanes end together.
SLOWEST = ("bench/gpu_check.py", "bench/bench_scale.py", "bench/bench_threads.py", "bench/bench_records.py", "bench/bench_driver_memory.py",
           "bench/bench_model.py", "experiments/trace_paths.py", "bench/bench_inference.py", "experiments/label_issues.py",
           "experiments/attribution_checks.py")
# What a finished run prints: a Markdown table, or for the two below their own last words.
PRINTS = {"experiments/ablation.py": "replaces the adopted recipe", "experiments/simulate_ratings.py": "rater_2.csv",
          "experiments/trace_paths.py": "inference: driver.py"}


def _review_dir(folder: Path) -> Path:
    """The two files of a review packet that simulate_ratings.py reads: the key and the blank rating sheet."""
    for sub, name, rows in (("key", "key.csv", [{"case": "1", "label": "1"}, {"case": "2", "label": "0"}]),
                            ("packet", "rating_sheet.csv", [{"case": "1", "present": "", "comment": ""},
                                                            {"case": "2", "present": "", "comment": ""}])):
        (folder / sub).mkdir(parents=True)
        with open(folder / sub / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return folder


# Imports once, then forks per script (two alive at a time); prints {script: [exit status, seconds]}.
_RUNNER = r"""
import json, os, runpy, sys, time, traceback
import numpy, scipy.signal, torch  # noqa: F401  what (nearly) every script loads, loaded once
import ecgnet.data.cache, ecgnet.inference.ensemble, ecgnet.synth, ecgnet.training.train  # noqa: F401

def child(script, arguments, log):
    with open(log + ".out", "w") as out, open(log + ".err", "w") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.argv, sys.path[0] = [script, *arguments], os.path.dirname(script)
        try:
            runpy.run_path(script, run_name="__main__")
            return 0
        except SystemExit as stop:
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
            return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()

jobs, running, done = json.loads(sys.argv[1]), {}, {}
while jobs or running:
    while jobs and len(running) < 2:
        script, arguments, log = jobs.pop(0)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(child(script, arguments, log))
        running[pid] = (script, time.perf_counter())
    pid, status = os.wait()
    if pid in running:
        script, began = running.pop(pid)
        done[script] = [os.waitstatus_to_exitcode(status), time.perf_counter() - began]
print(json.dumps(done))
"""


def _arguments(script: str, scratch: Path, records: Path, review: Path) -> list[str]:
    out = scratch / script.replace("/", "-")
    return [a.format(records=records, review=review, out=out) for a in RUNS[script]]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[int, float, str, str]]:
    """Every script's smallest run: script -> (exit status, seconds, stdout, stderr)."""
    scratch = tmp_path_factory.mktemp("bench-scripts")
    records = scratch / "records"
    generate_dataset(records, 12, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    review = _review_dir(scratch / "review")
    order = sorted(RUNS, key=lambda s: SLOWEST.index(s) if s in SLOWEST else len(SLOWEST))
    logs = {s: scratch / s.replace("/", "-") for s in RUNS}
    jobs = [(str(REPO / s), _arguments(s, scratch, records, review), str(logs[s])) for s in order]
    env = {**os.environ, "ECGNET_QUIET": "1", "OMP_NUM_THREADS": "1"}  # two runs at a time on two cores
    runner = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(jobs)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert runner.returncode == 0, runner.stderr[-3000:]
    found = {}
    for path, (code, seconds) in json.loads(runner.stdout.splitlines()[-1]).items():
        log = logs[REPO_NAME[path]]
        found[REPO_NAME[path]] = (code, seconds, Path(f"{log}.out").read_text(), Path(f"{log}.err").read_text())
    return found


def test_every_script_has_a_smallest_run():
    assert sorted(RUNS) == SCRIPTS, "add the new script's smallest run to RUNS (or remove the old one)"


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_names_its_own_path_and_imports_nothing_from_tests(script):
    text = (REPO / script).read_text(encoding="utf-8")
    assert script in ast.get_docstring(ast.parse(text)), f"{script}: its usage line names another path"
    assert '"tests"' not in text and "tests/" not in text.split('"""', 2)[2], f"{script}: imports from tests/"


@pytest.mark.parametrize("script", sorted(RUNS))
def test_script_runs_at_its_smallest_size(script, results):
    assert script in results, f"{script}: the runner did not report it"
    code, seconds, out, err = results[script]
    assert code == 0, f"{script} {' '.join(RUNS[script])}: exit {code} after {seconds:.0f} s\n{err[-3000:]}"
    assert PRINTS.get(script, "|---") in out, f"{script}: no table in its output:\n{out[-2000:]}"
