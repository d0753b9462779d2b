"""train_model.py and driver.py explain themselves: help at once, one line for bad input, Ctrl-C says what was saved."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecgnet.config import PRECISIONS, PRESETS
from ecgnet.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]
# Runs a script as ``python SCRIPT ARGS`` would, then says whether torch was imported and the exit status.
PROBE = ("import runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
         "except SystemExit as done:\n    print('exit', done.code, 'torch' in sys.modules)\n")


def _env(tmp_path: Path, **config) -> dict:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"preset": "smoke", "threads": 1, "workers": 1, **config}))
    return {**os.environ, "ECGNET_CONFIG": str(path), "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _probe(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    env = env or {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", ["train_model.py", "driver.py"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_answers_without_importing_torch_and_names_the_environment(script, flag):
    done = _probe(script, flag)
    assert done.stdout.strip().endswith("exit 0 False"), done.stdout[-500:] + done.stderr[-2000:]
    assert f"usage: python {script} [-h]" in done.stdout
    for variable in ("ECGNET_CONFIG", "ECGNET_PRECISION", "ECGNET_DEVICE", "OMP_WAIT_POLICY"):
        assert variable in done.stdout, variable
    assert "50 epochs" in done.stdout and 'Unset means "default"' in done.stdout
    help_text = " ".join(done.stdout.split())
    assert all(name in help_text for name in PRESETS) and f"{' or '.join(PRECISIONS)};" in help_text  # made from config, never by hand


def test_passive_omp_wait_is_the_default_and_a_users_setting_wins():
    code = "import os, ecgnet; print(os.environ.get('OMP_WAIT_POLICY'))"
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    run = lambda env: subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**base, **env}, capture_output=True, text=True).stdout.strip()
    assert run({}) == "PASSIVE" and run({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE" and run({"GOMP_SPINCOUNT": "1000"}) == "None"


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path):
    trained = _probe("train_model.py", tmp_path / "no_data", tmp_path / "model")
    assert trained.stdout.strip() == "exit 2 False" and not (tmp_path / "model").exists()
    assert trained.stderr.strip() == f"train_model.py: TRAINING_DIR {tmp_path / 'no_data'}: no such directory"
    (tmp_path / "model").mkdir()
    driven = _probe("driver.py", tmp_path / "model", tmp_path / "no_input", tmp_path / "out")
    assert driven.stdout.strip() == "exit 2 False" and not (tmp_path / "out").exists()
    assert driven.stderr.strip() == f"driver.py: INPUT_DIR {tmp_path / 'no_input'}: no such directory"
    wrong = _probe("driver.py", tmp_path / "model")
    assert wrong.stdout.strip() == "exit 2 False" and "usage: python driver.py" in wrong.stderr


def test_a_failed_training_leaves_no_model_dir_it_created_and_keeps_the_users(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, 3, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))  # too few for 5 folds
    env = _env(tmp_path)
    done = subprocess.run([sys.executable, "train_model.py", str(data), str(tmp_path / "model")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "need at least" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "model").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    env["ECGNET_CONFIG"] = "no-such-preset"
    done = subprocess.run([sys.executable, "train_model.py", str(data), str(mine)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "no-such-preset" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run([sys.executable, "train_model.py", str(data), str(empty)], cwd=REPO, env=env, capture_output=True, timeout=300)
    assert empty.is_dir()  # the user's folder, even empty, stays


def _as_a_shell_starts_it() -> None:
    """In the child before exec: Ctrl-C's default action, as a shell gives it. A process that ignores SIGINT passes that
    on to its children, and Python then keeps it ignored: in whole-suite runs these tests saw the signal ignored, and
    they pass from a process that ignores it with this reset."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_when(process: subprocess.Popen, ready, timeout: float = 300) -> tuple[int, str]:
    deadline = time.time() + timeout
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


@pytest.mark.slow
def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, 40, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    model = tmp_path / "model"
    command = [sys.executable, "train_model.py", str(data), str(model)]
    env = _env(tmp_path, epochs=200, lr_milestones=[150])
    log = model / "folds" / "fold_0" / "epochs.csv"
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_as_a_shell_starts_it)
    status, stderr = _interrupt_when(process, lambda: log.is_file())
    assert status == 130 and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"train_model.py: interrupted; saved in {re.escape(str(model))}: fold 0 up to epoch \d+\. "
                        r"Run the same command again to resume from there\.", last), last
    assert (model / "folds" / "fold_0" / "state.pt").is_file()


@pytest.mark.slow
def test_ctrl_c_before_the_first_epoch_leaves_no_model_dir(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, 40, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    model = tmp_path / "model"
    process = subprocess.Popen([sys.executable, "train_model.py", str(data), str(model)], cwd=REPO, env=_env(tmp_path),
                               preexec_fn=_as_a_shell_starts_it,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    status, stderr = _interrupt_when(process, lambda: model.is_dir())
    assert status == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == ("train_model.py: interrupted before the first epoch finished; nothing was saved. "
                                               "Run the same command again to start.")
    assert not model.exists()


def test_cleanup_removes_only_empty_folders_of_a_model_dir_this_run_made(tmp_path):
    from ecgnet.entry_points import _remove_if_ours_and_empty

    made = tmp_path / "made"
    (made / "folds" / "fold_0").mkdir(parents=True)
    (made / "work" / "cache").mkdir(parents=True)
    (made / "work" / "cache" / "signals.npy").write_bytes(b"x")
    _remove_if_ours_and_empty(made, created=True)
    assert not made.exists()

    kept = tmp_path / "kept"
    (kept / "folds" / "fold_0").mkdir(parents=True)
    (kept / "bad_records.csv").write_text("file,reason\n")
    _remove_if_ours_and_empty(kept, created=True)
    assert sorted(p.name for p in kept.iterdir()) == ["bad_records.csv"]

    users = tmp_path / "users"
    (users / "folds").mkdir(parents=True)
    _remove_if_ours_and_empty(users, created=False)
    assert (users / "folds").is_dir()
