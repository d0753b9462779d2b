"""What the benchmarks (bench/) and experiments (experiments/) share: the machine header, timers, Markdown
tables, peak memory, and model directories of random weights.

A script in either folder puts the repository on ``sys.path`` and imports from here::

    REPO = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(REPO))
    from bench.common import machine, print_table  # noqa: E402

torch (and the parts of ecgnet that load it) is imported inside the functions that need it, not
at the top: the scorer, resampling and synthetic-data benches never load it, and the suite's
test (tests/test_bench_scripts.py) would pay its seconds of start-up once per script.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECGNET_SHARED", REPO.parent / "shared")) / "data"
SMOKE_HELP = "the smallest run that goes through every step (the suite's check; its numbers mean nothing)"


# ---- the machine ---------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine(threads: int | None = None) -> str:
    """One line for the top of a result: CPU model, CPUs visible, torch threads, load average (1 / 5 / 15 min),
    this process's peak RSS, and the versions of python, numpy and, when loaded, torch."""
    load = os.getloadavg()
    torch = sys.modules.get("torch")
    versions = f"python {platform.python_version()}, numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
    threads_text = f", {threads} threads" if threads else ""
    return (f"{cpu_model()}, {os.cpu_count()} CPUs visible{threads_text}; load average {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} (1 / 5 / 15 min); peak RSS of this process {peak_rss_mib():,.0f} MiB; {versions}")


def add_smoke(parser: argparse.ArgumentParser) -> None:
    """Add ``--smoke`` (the smallest run) to a script's parser."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


# ---- timers --------------------------------------------------------------------------------

def times(function: Callable, *args, repeat: int = 1) -> tuple[list[float], object]:
    """(wall seconds of each of ``repeat`` calls of ``function(*args)``, the last call's result)."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        seconds.append(time.perf_counter() - start)
    return seconds, result


def best_time(function: Callable, *args, repeat: int = 1) -> tuple[float, object]:
    """(best wall seconds over ``repeat`` calls, the last call's result): the best, as the others mostly measure the load."""
    seconds, result = times(function, *args, repeat=repeat)
    return min(seconds, default=math.inf), result


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the fastest of ``repeats`` fp32 ``size`` x ``size`` matrix products (one untimed first)."""
    import torch  # see the module docstring

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best, _ = best_time(torch.mm, a, b, repeat=repeats)
    return 2 * size**3 / best / 1e9


def training_rate(config, device, batch: int = 32, steps: int = 4) -> float:
    """Training samples/s of ``steps`` optimiser steps of ``config``'s network on random (batch, 12, window)
    inputs after one warm-up step (fp32; fp16 autocast with a gradient scaler on CUDA)."""
    import torch  # see the module docstring

    from ecgnet.network.model import SEResNet

    model = SEResNet(config.network).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x, demographics = torch.randn(batch, 12, config.window, device=device), torch.zeros(batch, 5, device=device)
    y = (torch.rand(batch, 24, device=device) < 0.1).float()
    use_amp = device.type == "cuda"
    scaler, loss_fn = torch.amp.GradScaler("cuda", enabled=use_amp), torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(model(x, demographics).float(), y)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def run(count: int) -> None:  # one host sync per run, not per step, as training runs
        for _ in range(count):
            step()
        if use_amp:
            torch.cuda.synchronize()

    run(1)
    seconds, _ = best_time(run, steps)
    return steps * batch / seconds


# ---- tables --------------------------------------------------------------------------------

def table_row(cells: Iterable) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table_lines(header: Sequence[str], rows: Iterable[Sequence], align: str | None = None) -> list[str]:
    """A Markdown table: ``align`` has one letter per column, ``l`` (left) or ``r`` (right); the default is the
    first column left, the others right. Short rows are padded with empty cells."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = [table_row(header), "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
    lines += [table_row([*row, *[""] * (len(header) - len(row))]) for row in rows]
    return lines


def print_table(header: Sequence[str], rows: Iterable[Sequence], align: str | None = None) -> None:
    """Print ``table_lines(header, rows, align)``."""
    print("\n".join(table_lines(header, rows, align)), flush=True)


# ---- memory of other processes -------------------------------------------------------------

def _rss_kib(pid: int, field: str = "VmRSS", table: str = "status") -> int:
    """``field`` of ``/proc/PID/TABLE`` in KiB (0 once the process is gone): ``VmRSS`` of ``status``, or ``Pss_Anon`` of
    ``smaps_rollup``, the process's own memory (file pages such as a memory-mapped cache's left out) with the pages it
    shares with a forked parent or child counted in shares, so that a tree's sum counts each page once."""
    try:
        with open(f"/proc/{pid}/{table}") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of ``pid`` so far, in clock ticks (``/proc/PID/stat``); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # the command name, in brackets, may hold spaces
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


class PeakMemory:
    """Samples the RSS of this process tree in a thread (Linux ``/proc``): ``tree`` and ``main`` peaks in MiB,
    ``anonymous``, the tree's peak ``Pss_Anon`` (what the processes hold themselves, memory maps left out, each page
    once), and ``cpu``, the CPU seconds the tree spent meanwhile (what a loaded machine does not inflate as it does
    wall time)."""

    def __init__(self, interval: float = 0.01):
        self.interval, self.tree, self.main, self.anonymous = interval, 0.0, 0.0, 0.0
        self._ticks: dict[int, list[int]] = {}  # pid -> [CPU ticks when first seen (0: started meanwhile), latest]
        self._sampling = 0.0  # CPU seconds of the sampling thread itself, not counted in ``cpu``
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu(self) -> float:
        """CPU seconds (user + system) of the tree while sampled; a process that ended between two samples loses its last interval."""
        return max(0.0, sum(last - first for first, last in self._ticks.values()) / os.sysconf("SC_CLK_TCK") - self._sampling)

    def _sample(self, me: int, first: bool) -> None:
        pids = _descendants(me)
        self.tree = max(self.tree, sum(_rss_kib(p) for p in pids) / 1024)
        self.main = max(self.main, _rss_kib(me) / 1024)
        self.anonymous = max(self.anonymous, sum(_rss_kib(p, "Pss_Anon", "smaps_rollup") for p in pids) / 1024)
        for pid in pids:
            ticks = _cpu_ticks(pid)
            if ticks is not None:
                self._ticks.setdefault(pid, [ticks if first else 0, ticks])[1] = ticks

    def _run(self) -> None:
        began, me = time.thread_time(), os.getpid()
        self._sample(me, first=True)
        while not self._stop.wait(self.interval):
            self._sample(me, first=False)
        self._sample(me, first=False)
        self._sampling = time.thread_time() - began

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def driver_peak_rss(model_dir: Path, data: Path, out: Path, threads: int, precision: str = "bf16") -> tuple[float, float]:
    """(peak RSS MiB, wall seconds) of one fresh ``driver.py`` process, measured by ``/usr/bin/time``."""
    env = {**os.environ, "ECGNET_QUIET": "1", "ECGNET_PRECISION": precision, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    # /usr/bin/time measures its own small child: a forked copy of this (large) process would
    # carry this process's high-water mark into the child's ru_maxrss.
    done = subprocess.run(["/usr/bin/time", "-f", "PEAK_RSS_KIB %M", sys.executable, "driver.py", str(model_dir), str(data), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")]
    if done.returncode != 0 or not peak:
        raise RuntimeError(f"driver.py failed on {data}:\n{done.stderr[-2000:]}")
    return int(peak[0].split()[1]) / 1024, seconds


# ---- model directories and record folders ---------------------------------------------------

def random_model_dir(path: Path, config, folds: int = 5, data: dict | None = None) -> Path:
    """A valid model directory of ``folds`` randomly initialised ``config`` networks (fold k seeded with k,
    thresholds 0.5): speed and memory do not depend on the weights. ``data`` is the manifest's record of the
    training data (what cv checks: fingerprint, fold_assignment)."""
    import torch  # see the module docstring

    from ecgnet.modeldir import build_manifest, save_weights, weights_name, write_manifest
    from ecgnet.network.model import SEResNet

    path.mkdir(parents=True, exist_ok=True)
    entries = []
    for k in range(folds):
        torch.manual_seed(k)
        digest = save_weights(path / weights_name(k), SEResNet(config.network).state_dict())
        entries.append({"fold": k, "weights": weights_name(k), "sha256": digest, "thresholds": [0.5] * 24})
    write_manifest(path, build_manifest(config, entries, data or {"fingerprint": "random weights"}, seed=0))
    return path


def replicate(source: Path, target: Path, count: int) -> Path:
    """``count`` records named R00001... in ``target``, cycling through the records in ``source``."""
    target.mkdir(parents=True, exist_ok=True)
    headers = sorted(source.glob("*.hea"))
    for i in range(count):
        header = headers[i % len(headers)]
        name = f"R{i + 1:05d}"
        lines = header.read_text().splitlines()
        old = lines[0].split()[0].removesuffix(".mat")
        text = "\n".join(line.replace(f"{old}.mat", f"{name}.mat") for line in [lines[0].replace(old, name, 1), *lines[1:]])
        (target / f"{name}.hea").write_text(text + "\n")
        shutil.copyfile(header.with_suffix(".mat"), target / f"{name}.mat")
    return target
