"""onnxruntime beside torch: the exported ensemble (the README's numpy code) against ``Ensemble``, records/s and memory.

    .venv/bin/python bench/bench_onnx.py [--records 64] [--batch 32] [--config default] [--folds 5] [--threads 1,2] [--smoke]

Prints one Markdown table. A random model directory of ``--config`` (``default``: the full-size
network with the band-pass and stride padding; speed does not depend on the weights) is exported by
``python -m ecgnet export``'s function; ``--records`` synthetic 10-s 500 Hz records are classified
from their mV arrays (resampling to 257 Hz included) by each runtime, with ``--threads`` threads, one record
at a time (batch 1) and ``--batch`` records per forward pass:

- torch: ``Ensemble.predict_record`` / ``Ensemble.predict_records`` (the driver's path);
- onnxruntime: the README's code ("Exporting to ONNX", executed from README.md): ``to_257_hz`` and
  ``classify`` per record; for a batch, the same ``windows_of``, ``demographics`` and ``vote`` around one
  ``run`` of each graph over the batch's windows. With more than one thread, also with the intra-op
  threads' spinning off (``session.intra_op.allow_spinning = 0``): onnxruntime's threads spin while they
  wait by default, which costs a machine shared with other processes dearly.

Each measurement runs in a fresh process (its peak RSS is that run's alone; the onnxruntime ones never
import torch or ecgnet, as a user's would not), one record untimed first. The last column is the largest
probability difference from torch's first run. ``--smoke`` (the suite's check): the ``smoke`` preset,
two folds, 4 records, batches of 2, 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXPORTED = "exported"  # the README's folder name, under the run's work folder
ONNX, PASSIVE = "onnxruntime", "onnxruntime, no spinning"  # the second: threads sleep while they wait
COLUMNS = ("runtime", "threads", "records per pass", "records/s", "peak RSS (MiB)", "max prob diff vs torch's first row")


def readme_code() -> tuple[str, str]:
    """The Python blocks of the README's "Exporting to ONNX" section: the classifier, then the resampler."""
    section = README.read_text(encoding="utf-8").split("### Exporting to ONNX", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    if len(blocks) != 2:
        raise RuntimeError(f"{README}: the export section should show two Python blocks, found {len(blocks)}")
    return blocks[0], blocks[1]


def _onnx_functions(work: Path, threads: int, spin: bool) -> dict:
    """The names the README's code defines, run in ``work``, its sessions made with ``threads`` intra-op threads
    that spin while they wait for work (onnxruntime's default) or not."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    made_by = ort.InferenceSession
    ort.InferenceSession = lambda path, **kwargs: made_by(path, options, **kwargs)  # the README's call, these options
    scope: dict = {"signal": np.zeros((12, 10 * 257), np.float32)}  # what the README's last lines classify
    try:
        os.chdir(work)
        exec("\n".join(readme_code()), scope)  # noqa: S102 - the README's own code, as a user runs it
    finally:
        ort.InferenceSession = made_by
    return scope


def _onnx_batch(scope: dict, signals: list[np.ndarray], ages: list, sexes: list) -> np.ndarray:
    """Probabilities (B, 24) of records of one length: each graph runs once over all their windows."""
    session, graphs = scope["session"], scope["graphs"]
    filtered = session[graphs[0]].run(None, {"signal": np.stack(signals)})[0]
    windows = [scope["windows_of"](x) for x in filtered]
    feeds = {"windows": np.concatenate(windows),
             "demographics": np.concatenate([np.repeat(scope["demographics"](a, s)[None], len(w), axis=0)
                                             for w, a, s in zip(windows, ages, sexes)])}
    outputs = np.stack([session[g].run(None, feeds)[0] for g in graphs[1:]])  # (folds, windows, 24)
    ends = np.cumsum([len(w) for w in windows])
    return np.stack([scope["vote"](part.mean(axis=1))[1] for part in np.split(outputs, ends[:-1], axis=1)])


def _classify_all(runtime: str, work: Path, threads: int, batch: int) -> tuple[float, np.ndarray]:
    """(records/s, probabilities (N, 24)) of one runtime on the saved records, one record untimed first."""
    data = np.load(work / "records.npz", allow_pickle=True)
    signals, fs, ages, sexes = list(data["signals"]), int(data["fs"]), list(data["ages"]), list(data["sexes"])
    if runtime == "torch":
        sys.path.insert(0, str(REPO))
        import torch

        from ecgnet.api import signal_record
        from ecgnet.inference.ensemble import Ensemble

        torch.set_num_threads(threads)
        ensemble = Ensemble.load(work / "model", device="cpu")
        records = [signal_record(s, fs, a, x) for s, a, x in zip(signals, ages, sexes)]
        run = lambda chunk: ensemble.predict_records([records[i] for i in chunk])[1]  # noqa: E731
    else:
        scope = _onnx_functions(work, threads, spin=runtime == ONNX)
        resampled = lambda chunk: [scope["to_257_hz"](signals[i], fs) for i in chunk]  # noqa: E731
        run = lambda chunk: (np.stack([scope["classify"](x, ages[i], sexes[i])[1] for x, i in zip(resampled(chunk), chunk)])  # noqa: E731
                             if batch == 1 else _onnx_batch(scope, resampled(chunk), [ages[i] for i in chunk], [sexes[i] for i in chunk]))
    run([0])
    start = time.perf_counter()
    scores = np.concatenate([run(range(i, min(i + batch, len(signals)))) for i in range(0, len(signals), batch)])
    return len(signals) / (time.perf_counter() - start), scores


def child(runtime: str, work: Path, threads: int, batch: int) -> None:
    """One measurement in this fresh process: prints a JSON line, saves the probabilities beside the records."""
    rate, scores = _classify_all(runtime, work, threads, batch)
    np.save(work / f"{runtime.replace(' ', '_')}_{threads}_{batch}.npy", scores)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"rate": rate, "peak": peak / 1024}))


def prepare(work: Path, config_name: str, folds: int, count: int) -> None:
    """The random model directory, its export and ``count`` synthetic 10-s 500 Hz records, under ``work``."""
    sys.path.insert(0, str(REPO))
    from bench.common import random_model_dir
    from ecgnet.config import PRESETS
    from ecgnet.inference.export import export_model
    from ecgnet.synth import generate_record

    model_dir = random_model_dir(work / "model", PRESETS[config_name], folds=folds)
    export_model(model_dir, work / EXPORTED)
    made = [generate_record(i, seed=5, fs=500, duration=10.0) for i in range(count)]
    np.savez(work / "records.npz", signals=np.stack([m[0] for m in made]), fs=500,
             ages=np.array([m[2] for m in made], dtype=object), sexes=np.array([m[3] for m in made], dtype=object))


def main() -> None:
    """Prepare once, measure each (runtime, threads, batch) in a fresh process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32, help="records per forward pass in the batched rows")
    parser.add_argument("--config", default="default", help="the preset of the random model directory")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--smoke", action="store_true", help="the smallest run: smoke preset, 2 folds, 4 records, batch 2")
    parser.add_argument("--child", nargs=4, metavar=("RUNTIME", "WORK", "THREADS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runtime, work, threads, batch = args.child
        return child(runtime, Path(work), int(threads), int(batch))
    if args.smoke:
        args.records, args.batch, args.config, args.folds, args.threads = 4, 2, "smoke", 2, "1"
    sys.path.insert(0, str(REPO))
    from bench.common import machine, print_table

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        prepare(work, args.config, args.folds, args.records)
        rows, reference = [], None
        for runtime in ("torch", ONNX, PASSIVE):
            for threads in [int(t) for t in args.threads.split(",") if runtime != PASSIVE or int(t) > 1]:
                for batch in (1, args.batch):
                    done = subprocess.run([sys.executable, __file__, "--child", runtime, str(work), str(threads), str(batch)],
                                          capture_output=True, text=True, env={**os.environ, "ECGNET_QUIET": "1"})
                    if done.returncode != 0:
                        raise RuntimeError(f"{runtime}, {threads} thread(s), batch {batch} failed:\n{done.stderr[-3000:]}")
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    scores = np.load(work / f"{runtime.replace(' ', '_')}_{threads}_{batch}.npy")
                    reference = scores if reference is None else reference
                    rows.append((runtime, threads, batch, f"{result['rate']:.2f}", f"{result['peak']:.0f}",
                                 f"{np.abs(scores - reference).max():.1e}"))
        print(f"{machine()}; {args.config} recipe, {args.folds} random folds, {args.records} synthetic 10-s 500 Hz records")
        print_table(COLUMNS, rows, "lrrrrr")


if __name__ == "__main__":
    main()
