"""Full size rehearsed: every stage from records to review, timed on a synthetic stand-in of a release at growing N.

    .venv/bin/python bench/bench_scale.py [--sizes 2000 10000 full] [--release 2020|2021] [--stages STAGE ...]
                                          [--work runs/bench-scale] [--loader-workers 0 1 2] [--loader-windows 3000]
                                          [--epoch-steps 0] [--importance-records 100] [--review-cases 20] [--smoke]

The stand-in has the release's shape (``RELEASES``): its sources' record counts, scaled to N
keeping the proportions (every source keeps at least one record, so INCART's 30-minute records
at 257 Hz and PTB's records of up to 2 minutes at 1000 Hz stay in, and they are what makes the
cache and the loader hard); one sub-folder per source as the release came; the record names of
each source (``A0001``, ``HR00001``, ``JS00001``...); the generator's source profiles
(``ecgnet/synth/profiles.py``: mains, noise, recorder; Georgia's gains off by up to 15 %) at
the release's rates and lengths. ``full`` is the release itself: 43,101 records for 2020,
88,253 for 2021 (which adds Chapman-Shaoxing and Ningbo). A test folder of the same mix, scaled
from 16,630 records at full size, is what the driver classifies. ``ecgnet.synth.generate_record``
writes both with one process per core; the data are kept under ``--work`` and reused by later
runs of the same release and size (delete the folder after a change to the generator); the
generation is not a stage of the table.

Each stage runs in a fresh Python process of its own (``--child``), after its inputs are made
(untimed; any a stage needs and the run has not made yet, e.g. the cache for ``--stages folds``,
is made first), and is measured there: wall seconds of the stage's work alone (modules imported
beforehand) and the CPU seconds that the process and the processes it starts spent on it, the
peak RSS of those processes (sampled every 20 ms: ``common.PeakMemory``) with in brackets its
anonymous part (``Pss_Anon``: what the processes hold themselves, a page shared after a fork
counted once; RSS also counts the pages of the memory-mapped cache they read, and the pages
forked processes share, once per process), and the MB written under the run's folder. Both
memory figures include the process's imports (torch among them) and the stage's inputs: the
anonymous MB held before the work is its floor.

The stages (``STAGES``): finding the records; the cache build; the folds (5 outer, and each
fold's inner split); the ``default`` recipe's inputs prepared (what ``loader.EpochLoader`` does
first: the band-pass over every whole record, ``cache.prepare_inputs``); the training loader
with that recipe (``bench_loader.loader_rate``: windows/s at each ``--loader-workers`` count,
and windows per CPU-second with 0 workers, which the load does not change); one epoch of the
``smoke`` network with the adopted levers over fold 0's fit split (``bench_loader.epoch_seconds``,
0 loader workers; ``--epoch-steps K``: K batches timed, their seconds scaled to the epoch and
said so); inner-split scoring (fold 0's inner validation records, read from the raw cache and
filtered as they are read); the threshold search on them; cv's bookkeeping
(``crossval.cross_validate`` after training, with random probabilities of the right shape in
place of the fold models' predictions: per-fold thresholds and scores, the pooled out-of-fold
CSV, the summary); ``driver.py`` on the test folder; both scorers; and the analysis commands on
that results folder (``lead-importance`` on a seeded ``--importance-records`` subset, ``review``
of ``--review-cases`` cases), each first as cv leaves them (the records where ``summary.json``
says: the release's sub-folders) and then with ``--data`` naming a flat folder of links to the
same records. Stages that need a model use random weights (``common.random_model_dir``): speed
does not depend on them.

It prints one table: per size, seconds (CPU seconds), MB RSS (anonymous) and MB disk of each
stage; then the growth exponent between the two largest sizes, log(c2 / c1) / log(N2 / N1), of
the CPU time (on a shared machine the wall time mostly measures the load) and of the
anonymous memory the stage adds over its floor, and a flag where the CPU time grows faster than
N log N within noise (exponent above 1.2), where the added memory grows with N (exponent
above 0.5 and over 50 MB at the largest size: the stage holds the records in memory), or where
a loader rate falls (exponent below -0.2). With no size at full scale it adds the seconds
each stage would take at the release's size: its wall seconds at the largest size extrapolated
with its exponent (a lower bound where start-up costs dominate the smaller size) and, in
brackets, linearly. Then the cache's MB per record by source, measured, times the release's
records: the cache at full size, extrapolated. ``--smoke`` (the suite's check): 60 records with
the long ones cut to 12 s, every stage in this process.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import PeakMemory, add_smoke, machine, print_table, random_model_dir  # noqa: E402
from ecgnet.synth.profiles import PROFILES, Profile  # noqa: E402

TEST_RECORDS = 16_630  # the driver's test folder at full size
FLAG_TIME, FLAG_MEMORY, FLAG_MEMORY_MB, FLAG_RATE = 1.2, 0.5, 50.0, -0.2
SMOKE_SIZE, SMOKE_LONGEST_S = 60, 12.0
TEN_SECONDS = Profile("ten-seconds", "TEN", fs=(500.0,), duration_s=(10.0, 10.0), mains_hz=50.0)  # PTB-XL, Chapman, Ningbo


@dataclass(frozen=True)
class Source:
    """One database of a release: its name, its sub-folder, its record names, its size and its kind of records."""

    name: str
    folder: str
    prefix: str  # record names: prefix + number (sources that share a prefix continue its numbering)
    digits: int
    records: int  # in the full release
    profile: Profile  # the generator's profile at the release's rate and length


SOURCES_2020 = (
    Source("CPSC", "cpsc_2018", "A", 4, 6877, PROFILES["cpsc"]),
    Source("CPSC-Extra", "cpsc_2018_extra", "Q", 4, 3453, PROFILES["cpsc"]),
    Source("INCART", "st_petersburg_incart", "I", 4, 74, replace(PROFILES["incart"], duration_s=(1800.0, 1800.0))),
    Source("PTB", "ptb", "S", 4, 516, replace(PROFILES["ptb"], duration_s=(32.0, 120.0))),
    Source("PTB-XL", "ptb-xl", "HR", 5, 21837, TEN_SECONDS),
    Source("Georgia", "georgia", "E", 5, 10344, PROFILES["georgia"]),
)
RELEASES = {
    "2020": SOURCES_2020,
    "2021": (*SOURCES_2020, Source("Chapman-Shaoxing", "chapman_shaoxing", "JS", 5, 10247, TEN_SECONDS),
             Source("Ningbo", "ningbo", "JS", 5, 34905, TEN_SECONDS)),
}


# ---- the stand-in --------------------------------------------------------------------------

def scaled_counts(sources: tuple[Source, ...], n: int) -> list[int]:
    """Records per source for ``n`` in all: the release's proportions, largest remainders, at least one each."""
    total = sum(s.records for s in sources)
    if n >= total:
        return [s.records for s in sources]
    exact = [n * s.records / total for s in sources]
    counts = [max(1, int(x)) for x in exact]
    by_remainder = sorted(range(len(sources)), key=lambda i: int(exact[i]) - exact[i])
    for i in by_remainder[:max(0, n - sum(counts))]:
        counts[i] += 1
    return counts


def _write_records(folder: Path, items: list[tuple[int, str]], seed: int, profile: Profile) -> None:
    """Worker task: records ``(index, name)`` of ``profile`` into ``folder``."""
    from ecgnet.synth import generate_record, write_record

    for index, name in items:
        signal, fs, age, sex, codes = generate_record(index, seed, profile=profile)
        write_record(folder, name, signal, fs, age, sex, codes)


def write_stand_in(root: Path, sources: tuple[Source, ...], counts: list[int], after: list[int], flat: bool, seed: int,
                   workers: int) -> None:
    """``counts`` records per source under ``root`` (one sub-folder each unless ``flat``), numbered after ``after``."""
    from joblib import Parallel, delayed

    tasks = []
    for k, (source, count, first) in enumerate(zip(sources, counts, after)):
        names = [(i, f"{source.prefix}{first + i + 1:0{source.digits}d}") for i in range(count)]
        folder = root if flat else root / source.folder
        tasks += [delayed(_write_records)(folder, names[i:i + 50], seed + k, source.profile) for i in range(0, count, 50)]
    Parallel(n_jobs=workers)(tasks)


def numbering(sources: tuple[Source, ...], counts: list[int], start: dict[str, int] | None = None) -> list[int]:
    """The number each source's records start after: sources sharing a prefix (Chapman, Ningbo: JS) continue it."""
    taken = dict(start or {})
    after = []
    for source, count in zip(sources, counts):
        after.append(taken.get(source.prefix, 0))
        taken[source.prefix] = after[-1] + count
    return after


def stand_in(work: Path, release: str, n: int, smoke: bool, workers: int) -> tuple[Path, Path, dict]:
    """(training folder, test folder, their description): written once per release and size, reused after."""
    sources = RELEASES[release]
    if smoke:
        sources = tuple(replace(s, profile=replace(s.profile, duration_s=tuple(min(d, SMOKE_LONGEST_S) for d in s.profile.duration_s)))
                        for s in sources)
    total = sum(s.records for s in sources)
    train_counts = scaled_counts(sources, n)
    test_counts = scaled_counts(sources, max(len(sources), round(TEST_RECORDS * min(n, total) / total)))
    spec = {"release": release, "smoke": smoke, "train": dict(zip([s.name for s in sources], train_counts)),
            "test": dict(zip([s.name for s in sources], test_counts)), "seed": 0}
    folder = work / f"{release}-{sum(train_counts)}{'-smoke' if smoke else ''}"
    train, test, marker = folder / "data" / "train", folder / "data" / "test", folder / "data" / "stand-in.json"
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return train, test, {**spec, "generated_s": None}
    shutil.rmtree(folder / "data", ignore_errors=True)
    began = time.perf_counter()
    after = numbering(sources, train_counts)
    write_stand_in(train, sources, train_counts, after, flat=False, seed=0, workers=workers)
    test_after = numbering(sources, test_counts, {s.prefix: a + c for s, a, c in zip(sources, after, train_counts)})
    write_stand_in(test, sources, test_counts, test_after, flat=True, seed=100, workers=workers)
    marker.write_text(json.dumps(spec, indent=1))
    return train, test, {**spec, "generated_s": time.perf_counter() - began}


# ---- what the stages share -----------------------------------------------------------------

@dataclass
class Context:
    """Where one size's run reads and writes, and the stage settings (JSON for the child processes)."""

    train: str
    test: str
    run: str
    smoke: bool
    workers: int  # processes for the cache build
    loader_workers: list[int]
    loader_windows: int
    epoch_steps: int
    importance_records: int
    review_cases: int

    def path(self, name: str) -> Path:
        """A file or folder of the run."""
        return Path(self.run) / name


def config():
    """The ``smoke`` network with the adopted levers: every stage that needs a configuration uses it."""
    from ecgnet.config import ADOPTED_LEVERS, PRESETS

    return PRESETS["smoke"].replace(**ADOPTED_LEVERS)


def cache_of(ctx: Context):
    """The run's record cache (built when the run has none yet)."""
    from ecgnet.data.cache import build_cache

    return build_cache(ctx.train, ctx.path("cache"), workers=ctx.workers)


def make_splits(ctx: Context, cache) -> dict[str, np.ndarray]:
    """The labelled records, their outer folds, and fold 0's fit and inner-validation records (cache rows)."""
    from ecgnet.data.folds import make_folds
    from ecgnet.training.train import inner_split, labelled_records

    settings = config()
    usable = labelled_records(cache)
    folds = make_folds([str(x) for x in cache.names[usable]], cache.labels[usable], settings.n_folds, settings.seed)
    inner = [inner_split(cache, usable[folds != k], settings, settings.seed, k) for k in range(settings.n_folds)]
    return {"usable": usable, "folds": folds, "fit": inner[0][0], "val": inner[0][1]}


def splits_of(ctx: Context, cache) -> dict[str, np.ndarray]:
    """What ``make_splits`` gives, as the ``folds`` stage saved it (made now when it has not run)."""
    path = ctx.path("folds.npz")
    if not path.is_file():
        np.savez(path, **make_splits(ctx, cache))
    with np.load(path) as saved:
        return dict(saved)


def results_of(ctx: Context, cache) -> Path:
    """The run's results folder: a model directory of random weights whose manifest records these folds."""
    path = ctx.path("results")
    if not (path / "manifest.json").is_file():
        splits = splits_of(ctx, cache)
        assignment = dict(zip((str(x) for x in cache.names[splits["usable"]]), map(int, splits["folds"])))
        random_model_dir(path, config(), data={"fingerprint": cache.fingerprint, "fold_assignment": assignment})
    return path


def cv_results_of(ctx: Context) -> Path:
    """The results folder with cv's files in it (the ``bookkeeping`` stage's work, done now when it has not run)."""
    path = ctx.path("results")
    if not (path / "summary.json").is_file():
        stage_bookkeeping(ctx)()
    return path


def outputs_of(ctx: Context) -> Path:
    """The driver's output folder (the ``driver`` stage's work, done now when it has not run)."""
    path = ctx.path("outputs")
    if not path.is_dir():
        stage_driver(ctx)()
    return path


def flat_links(ctx: Context) -> Path:
    """A flat folder of links to every training record's files (what ``--data`` can name)."""
    path = ctx.path("flat")
    if not path.is_dir():
        path.mkdir()
        for file in Path(ctx.train).rglob("*"):
            if file.is_file():
                (path / file.name).symlink_to(file.resolve())
    return path


def _checked(status: int, what: str) -> dict:
    """A command's work done: nothing to add to its row, or a ``RuntimeError`` for its exit status."""
    if status:
        raise RuntimeError(f"{what} exited with status {status}")
    return {}


def command(argv: list[str]) -> Callable[[], dict]:
    """The work of ``python -m ecgnet ARGV`` (its module imported now, outside the timing)."""
    from ecgnet.cli import COMMANDS, main

    importlib.import_module(COMMANDS[argv[0]][0])
    return lambda: _checked(main(["--quiet", *argv]), f"python -m ecgnet {argv[0]}")


def scorer(name: str, argv: list[str]) -> Callable[[], dict]:
    """The work of ``python NAME.py ARGV`` for a scorer at the repository's root (its ``main``)."""
    entry = importlib.import_module(name).main
    return lambda: _checked(entry(argv), f"{name}.py")


# ---- the stages: each makes its inputs, then returns its work (timed) --------------------

def stage_find(ctx: Context) -> Callable[[], dict]:
    from ecgnet.records.files import find_records

    return lambda: {"note": f"{len(find_records(ctx.train).records)} records"}


def stage_cache(ctx: Context) -> Callable[[], dict]:
    shutil.rmtree(ctx.path("cache"), ignore_errors=True)
    return lambda: {"note": f"{len(cache_of(ctx))} records, {ctx.workers} worker process(es)"}


def stage_folds(ctx: Context) -> Callable[[], dict]:
    importlib.import_module("iterstrat.ml_stratifiers")  # make_folds imports it (and scikit-learn) on first use
    cache = cache_of(ctx)
    ctx.path("folds.npz").unlink(missing_ok=True)

    def work() -> dict:
        splits = splits_of(ctx, cache)
        return {"note": f"{len(splits['usable'])} labelled records; 5 outer and 5 inner splits"}
    return work


def default_recipe(ctx: Context):
    """The `default` preset's input recipe at its window, its inputs prepared by ``ctx.workers`` processes."""
    from bench.bench_loader import recipes
    from ecgnet.config import Config

    return recipes(Config().window)["default"].replace(workers=ctx.workers)


def stage_prepare(ctx: Context) -> Callable[[], dict]:
    from ecgnet.data.loader import EpochLoader

    cache, recipe = cache_of(ctx), default_recipe(ctx)
    for prepared in ctx.path("cache").glob("*/inputs-*.f32"):  # made again: this is the stage
        prepared.unlink()

    def work() -> dict:
        feed = EpochLoader(cache, recipe.window, 0, pin_memory=False, config=recipe)
        return {"note": f"{'prepared' if feed.prepared else 'NOT prepared (each window filtered as it is cut)'}, "
                        f"{ctx.workers} worker process(es)"}
    return work


def stage_loader(ctx: Context) -> Callable[[], dict]:
    import torch

    from bench.bench_loader import loader_rate

    from ecgnet.data.loader import EpochLoader

    cache, recipe = cache_of(ctx), default_recipe(ctx)
    EpochLoader(cache, recipe.window, 0, pin_memory=False, config=recipe)  # the inputs prepared, when the stage above did not run
    torch.set_num_threads(1)  # as bench_loader: each process that cuts windows uses one core

    def work() -> dict:
        # loader_rate: (windows/s, CPU seconds per window of this thread, seconds to the first batch)
        measured = {w: loader_rate(cache, recipe, w, ctx.loader_windows, recipe.batch_size, recipe.window) for w in ctx.loader_workers}
        rates = {f"loader, {w} worker(s): windows/s": found[0] for w, found in measured.items()}
        rates |= {"loader, 0 workers: windows per CPU-second": 1 / measured[0][1]} if 0 in measured else {}
        return {"rates": rates, "note": f"window {recipe.window}, batch {recipe.batch_size}, {ctx.loader_windows:,} windows per count"}
    return work


def stage_epoch(ctx: Context) -> Callable[[], dict]:
    from bench.bench_loader import epoch_seconds
    from ecgnet.device import set_threads

    cache, settings = cache_of(ctx), config().replace(workers=ctx.workers)
    fit = splits_of(ctx, cache)["fit"]
    records = fit[:ctx.epoch_steps * settings.batch_size] if ctx.epoch_steps else fit
    set_threads(0)

    def work() -> dict:
        waiting = epoch_seconds(cache, settings, records)[1]
        scale = len(fit) / len(records)
        steps = f"{len(records)} of them, timed and extrapolated" if scale > 1 else "all"
        return {"scale": scale, "note": f"{len(fit)} windows ({steps}), batch {settings.batch_size}, "
                                        f"{waiting * scale:.1f} s waiting for batches"}
    return work


def stage_inner(ctx: Context) -> Callable[[], dict]:
    import torch

    from ecgnet.inference.ensemble import inference_forms, predict_probabilities
    from ecgnet.network.model import network_for

    cache, settings = cache_of(ctx), config()
    val = splits_of(ctx, cache)["val"]
    torch.manual_seed(0)
    networks = inference_forms([network_for(settings)], torch.device("cpu"))

    def work() -> dict:
        predict_probabilities(networks, cache, settings, indices=val)
        return {"note": f"{len(val)} records"}
    return work


def stage_thresholds(ctx: Context) -> Callable[[], dict]:
    from ecgnet.challenge.thresholds import search_thresholds

    cache, settings = cache_of(ctx), config()
    labels = np.asarray(cache.labels[splits_of(ctx, cache)["val"]], dtype=bool)
    scores = np.random.default_rng(0).random(labels.shape)

    def work() -> dict:
        search_thresholds(labels, scores, settings.threshold_passes)
        return {"note": f"{len(labels)} records, {settings.threshold_passes} pass(es)"}
    return work


def stage_bookkeeping(ctx: Context) -> Callable[[], dict]:
    from unittest import mock

    import ecgnet.training.crossval as crossval
    from ecgnet.modeldir import load_manifest

    cache = cache_of(ctx)
    results = results_of(ctx, cache)
    rng = np.random.default_rng(0)

    def random_predictions(models, dataset, settings, indices=None, **_) -> np.ndarray:
        return rng.random((len(indices), settings.classes.num_classes))

    def work() -> dict:
        with mock.patch.object(crossval, "train_ensemble", lambda *a, **k: load_manifest(results)), \
                mock.patch.object(crossval, "predict_probabilities", random_predictions):
            summary = crossval.cross_validate(ctx.train, results, config(), cache_root=ctx.path("cache"))
        return {"note": f"{summary['records']} records"}
    return work


def stage_driver(ctx: Context) -> Callable[[], dict]:
    from ecgnet.entry_points import driver_main

    importlib.import_module("ecgnet.inference.predict")
    results = results_of(ctx, cache_of(ctx))
    shutil.rmtree(ctx.path("outputs"), ignore_errors=True)
    argv = [str(results), ctx.test, str(ctx.path("outputs"))]
    return lambda: _checked(driver_main(argv), "driver.py") | {"note": f"{len(list(Path(ctx.test).glob('*.hea'))):,} records"}


def stage_score2020(ctx: Context) -> Callable[[], dict]:
    return scorer("evaluate_12ECG_score", [ctx.test, str(outputs_of(ctx)), str(ctx.path("scores2020.csv"))])


def stage_score2021(ctx: Context) -> Callable[[], dict]:
    return scorer("evaluate_model", [ctx.test, str(outputs_of(ctx)), str(ctx.path("scores2021.csv"))])


def stage_report(ctx: Context) -> Callable[[], dict]:
    return command(["report", str(cv_results_of(ctx))])


def stage_label_issues(ctx: Context) -> Callable[[], dict]:
    return command(["label-issues", str(cv_results_of(ctx))])


def _lead_importance(ctx: Context, data: list[str]) -> Callable[[], dict]:
    return command(["lead-importance", str(cv_results_of(ctx)), "--max-records", str(ctx.importance_records), *data])


def _review(ctx: Context, out: str, data: list[str]) -> Callable[[], dict]:
    return command(["review", str(cv_results_of(ctx)), "--class", "LAD", "--n", str(ctx.review_cases), "--out", str(ctx.path(out)),
                    "--force", *data])


STAGES: dict[str, tuple[str, Callable[[Context], Callable[[], dict]]]] = {
    "find": ("finding the records (`records.files.find_records`)", stage_find),
    "cache": ("cache build (`data.cache.build_cache`)", stage_cache),
    "folds": ("folds: 5 outer + 5 inner splits (`data.folds`)", stage_folds),
    "prepare": ("the `default` recipe's inputs prepared (`EpochLoader`'s start)", stage_prepare),
    "loader": ("loader, `default` recipe: the rates below", stage_loader),
    "epoch": ("one `smoke` epoch (adopted levers) over fold 0's fit split", stage_epoch),
    "inner": ("inner-split scoring (fold 0)", stage_inner),
    "thresholds": ("threshold search (`challenge.thresholds`, fold 0's inner split)", stage_thresholds),
    "bookkeeping": ("cv's bookkeeping (fold thresholds and scores, out-of-fold CSV, summary)", stage_bookkeeping),
    "driver": ("driver.py on the test folder", stage_driver),
    "score2020": ("evaluate_12ECG_score.py", stage_score2020),
    "score2021": ("evaluate_model.py", stage_score2021),
    "report": ("`report`", stage_report),
    "label-issues": ("`label-issues`", stage_label_issues),
    "lead-importance": ("`lead-importance --max-records M`, records as cv left them", lambda ctx: _lead_importance(ctx, [])),
    "lead-importance-flat": ("the same, `--data` a flat folder of links", lambda ctx: _lead_importance(ctx, ["--data", str(flat_links(ctx))])),
    "review": ("`review --class LAD --n R`, records as cv left them", lambda ctx: _review(ctx, "review", [])),
    "review-flat": ("the same, `--data` a flat folder of links", lambda ctx: _review(ctx, "review-flat", ["--data", str(flat_links(ctx))])),
}


# ---- measuring -----------------------------------------------------------------------------

def folder_mb(path: Path) -> float:
    """MB of the files under ``path`` (links count as nothing)."""
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total / 1e6


class LastError(logging.Handler):
    """Keeps the last error ecgnet logged: a command's one-line answer when it fails."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


def measure(stage: str, ctx: Context) -> dict:
    """One stage in this process: its inputs made, then its work timed, with peak RSS and MB written."""
    work = STAGES[stage][1](ctx)
    before, errors = folder_mb(Path(ctx.run)), LastError()
    logging.getLogger("ecgnet").addHandler(errors)
    with PeakMemory(interval=0.02) as floor:  # the process before its work: imports, the stage's inputs
        time.sleep(0.05)
    with PeakMemory(interval=0.02) as peak:
        began = time.perf_counter()
        try:
            found = work()
        except Exception as exc:  # noqa: BLE001 - a failing stage is a finding of the table, not the end of the run
            found = {"error": errors.message or f"{type(exc).__name__}: {exc}"}
        seconds = time.perf_counter() - began
    logging.getLogger("ecgnet").removeHandler(errors)
    scale = found.pop("scale", 1.0)  # a part timed for the whole
    return {"seconds": seconds * scale, "cpu": peak.cpu * scale, **found, "rss": peak.tree, "anonymous": peak.anonymous, "floor": floor.anonymous,
            "disk": folder_mb(Path(ctx.run)) - before}


def measure_in_child(stage: str, ctx: Context) -> dict:
    """``measure`` in a fresh Python process: the stage's memory is its own."""
    env = {**os.environ, "ECGNET_QUIET": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", stage, "--context", json.dumps(asdict(ctx))],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the table -----------------------------------------------------------------------------

def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    """log(large / small) / log(n_large / n_small); nan where either value is not positive."""
    return math.log(large / small) / math.log(n_large / n_small) if small > 0 and large > 0 else math.nan


def number(value: float | None, unit: str = "") -> str:
    """A cell: 3 significant figures at most, thousands separated."""
    if value is None or not math.isfinite(value):
        return "-"
    return (f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}") + unit


def rows_of(measured: dict[int, dict[str, dict]], stages: list[str], full: int) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, footnotes) of the table: each stage (and each loader rate) at each size, its exponents and flag."""
    sizes = sorted(measured)
    extrapolate = sizes[-1] < full and len(sizes) > 1
    header = ["stage"] + [f"{n:,}: {what}" for n in sizes for what in ("s (CPU s)", "MB RSS (anon.)", "MB disk")]
    header += ["CPU time exp.", "memory exp.", "flag"] + ([f"s at {full:,}: by its exp. (linear)"] if extrapolate else [])
    rows, notes = [], []
    for stage in stages:
        cells, found = [STAGES[stage][0]], [measured[n][stage] for n in sizes]
        for n, one in zip(sizes, found):
            if "error" in one:
                notes.append(f"{stage} at {n:,}: failed: {one['error']}")
            memory = f"{number(one['rss'])} ({number(one['anonymous'])})" if "rss" in one else "-"
            seconds = "failed" if "error" in one else f"{number(one['seconds'])} ({number(one['cpu'])})"
            cells += [seconds, memory, number(one.get("disk"))]
        flags, time_exp, memory_exp = [], math.nan, math.nan
        if len(sizes) > 1 and not any("error" in one for one in found[-2:]):
            (small, large), (n1, n2) = found[-2:], sizes[-2:]
            time_exp = exponent(small["cpu"], large["cpu"], n1, n2)
            memory_exp = exponent(*(one["anonymous"] - one["floor"] for one in (small, large)), n1, n2)
            flags += ["faster than N log N"] if time_exp > FLAG_TIME else []
            flags += ["memory grows with N"] if memory_exp > FLAG_MEMORY and large["anonymous"] - large["floor"] > FLAG_MEMORY_MB else []
        cells += [number(time_exp), number(memory_exp), "**" + "; ".join(flags) + "**" if flags else ""]
        if extrapolate:
            at_full = [found[-1]["seconds"] * (full / sizes[-1]) ** e for e in (max(time_exp, 0.0), 1.0)]
            cells.append(f"{number(at_full[0])} ({number(at_full[1])})" if math.isfinite(time_exp) else "-")
        rows.append(cells)
        for label in found[-1].get("rates", {}):
            rates = [one.get("rates", {}).get(label, math.nan) for one in found]
            rate_exp = exponent(rates[-2], rates[-1], *sizes[-2:]) if len(sizes) > 1 else math.nan
            rows.append([label] + [cell for rate in rates for cell in (number(rate), "", "")] +
                        [number(rate_exp), "", "**rate falls with N**" if rate_exp < FLAG_RATE else ""] + ([""] if extrapolate else []))
        notes += [f"{stage} (at {sizes[-1]:,}): {found[-1]['note']}"] if found[-1].get("note") else []
    return header, rows, notes


def cache_by_source(ctx: Context, sources: tuple[Source, ...]) -> list[list[str]] | None:
    """Per source: records cached, MB per record (raw 257-Hz float32 records), the release's count, GB at full size."""
    from ecgnet.data.cache import META_FILE, Cache
    from ecgnet.records.files import source_of

    built = [meta.parent for meta in ctx.path("cache").glob(f"*/{META_FILE}")]
    if not built:
        return None
    cache = Cache.open(built[0])
    rows, total = [], 0.0
    for source in sources:
        mine = cache.sources == source_of(source.prefix)  # Chapman-Shaoxing and Ningbo share JS: one group in the cache
        count = int(mine.sum())
        shared = [s.name for s in sources if s is not source and s.prefix == source.prefix]
        per_record = 4 * 12 * int(cache.lengths[mine].sum()) / count / 1e6 if count else math.nan
        total += per_record * source.records / 1e3 if count else 0.0
        cached = f"{count:,}" + (f" (with {', '.join(shared)}: one name prefix)" if shared else "")
        rows.append([source.name, cached, number(per_record), f"{source.records:,}", number(per_record * source.records / 1e3)])
    rows.append(["all", f"{len(cache):,}", "", f"{sum(s.records for s in sources):,}", number(total)])
    return rows


# ---- main ----------------------------------------------------------------------------------

def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["2000", "10000"], help="training records per size, or full (default 2000 10000)")
    parser.add_argument("--release", choices=sorted(RELEASES), default="2020")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES), metavar="STAGE",
                        help=f"stages to run (default all): {', '.join(STAGES)}")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-scale", help="data (kept and reused) and runs")
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--loader-windows", type=int, default=3000, help="windows per loader row")
    parser.add_argument("--epoch-steps", type=int, default=0, help="batches of the epoch timed (0: the whole epoch)")
    parser.add_argument("--importance-records", type=int, default=100, help="lead-importance's --max-records")
    parser.add_argument("--review-cases", type=int, default=20, help="review's --n")
    parser.add_argument("--child", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--context", help=argparse.SUPPRESS)
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.loader_workers, args.loader_windows, args.importance_records, args.review_cases = [str(SMOKE_SIZE)], [0], 64, 4, 2
    return args


def main() -> int:
    """Generate (or reuse) each size's stand-in, measure the stages, print the tables; 0 on success."""
    args = parse_arguments()
    if args.child:  # one stage in a fresh process: its result is the last line
        print(json.dumps(measure(args.child, Context(**json.loads(args.context)))))
        return 0
    sources, cores = RELEASES[args.release], os.cpu_count() or 1
    full = sum(s.records for s in sources)
    workers = 1 if args.smoke else cores
    measured, described = {}, []
    for size in sorted({full if s == "full" else int(s) for s in args.sizes}):
        train, test, spec = stand_in(args.work, args.release, size, args.smoke, workers)
        n = sum(spec["train"].values())
        run = train.parents[1] / "run"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        ctx = Context(str(train), str(test), str(run), args.smoke, workers, args.loader_workers, args.loader_windows,
                      args.epoch_steps, args.importance_records, args.review_cases)
        generated = "reused" if spec["generated_s"] is None else f"generated in {spec['generated_s']:.0f} s"
        described.append(f"{n:,} training records ({', '.join(f'{k} {v:,}' for k, v in spec['train'].items())}) and "
                         f"{sum(spec['test'].values()):,} test records, {generated}, in {train.parents[1]}")
        print(described[-1], file=sys.stderr, flush=True)
        measure_stage = measure if args.smoke else measure_in_child
        measured[n] = {}
        for stage in args.stages:
            measured[n][stage] = measure_stage(stage, ctx)
            print(f"  {stage}: {measured[n][stage]}", file=sys.stderr, flush=True)
    header, rows, notes = rows_of(measured, args.stages, full)
    floors = [one["floor"] for sizes in measured.values() for one in sizes.values() if "floor" in one]  # anonymous MB
    print(f"Release {args.release} stand-in; {machine()}; load at the end {os.getloadavg()[0]:.1f}")
    print("\n".join(described))
    print(f"Each stage's process holds {min(floors, default=0):,.0f}-{max(floors, default=0):,.0f} MB of its own (anon.) "
          "before its work (imports, the stage's inputs).\n")
    print_table(header, rows)
    print("\n" + "\n".join(f"- {note}" for note in notes))
    by_source = cache_by_source(ctx, sources)
    if by_source:
        print(f"\nThe cache by source (at {n:,} records; raw records only: the `default` recipe's prepared inputs add as much again)\n")
        print_table(["source", "records cached", "MB per record", "records in the release", "GB at full size (extrap.)"], by_source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
