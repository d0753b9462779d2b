"""Count the project files whose functions run on the two main paths: one record through driver.py, one folder through train_model.py.

    python experiments/trace_paths.py [--work DIR] [--smoke]

Writes 40 synthetic records, trains a `smoke` ensemble with train_model.py, then runs
driver.py on one record; each under sys.setprofile, listing the repository files in
which a function (not module-level import code) was called. A reading aid for the
code's structure, not a speed measurement. ``--smoke`` (the suite's check): 20 records, 2
folds trained 1 epoch each.
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def traced(script: str, argv: list[str]) -> Counter:
    """Run a root script as ``python script argv...``; count the calls per repository file."""
    calls: Counter = Counter()
    names: dict[str, str | None] = {}  # file -> its name in the repository (None: not ours); the hook runs per call

    def profile(frame, event, _arg):
        if event != "call" or frame.f_code.co_name == "<module>":
            return
        filename = frame.f_code.co_filename
        if filename not in names:
            path = Path(filename)
            names[filename] = str(path.relative_to(REPO)) if REPO in path.parents and ".venv" not in path.parts else None
        if names[filename]:
            calls[names[filename]] += 1

    sys.argv = [script, *argv]
    sys.setprofile(profile)
    try:
        runpy.run_path(str(REPO / script), run_name="__main__")
    except SystemExit:
        pass
    finally:
        sys.setprofile(None)
    return calls


def main() -> None:
    """Train and run the driver under the profiler; print the files of each path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--smoke", action="store_true", help="20 records, 2 folds of 1 epoch (the suite's check)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="trace-"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    os.environ["ECGNET_CONFIG"] = "smoke"
    if args.smoke:  # the smoke preset, shorter still: the same files run, fewer times
        (work / "config.json").write_text(json.dumps({"preset": "smoke", "epochs": 1, "lr_milestones": [1], "n_folds": 2,
                                                       "inner_folds": 2, "workers": 1}))
        os.environ["ECGNET_CONFIG"] = str(work / "config.json")
    from ecgnet import synth
    import torch  # noqa: F401  loaded before the profiler: its import runs no project code, and profiled it takes minutes

    data, one = work / "data", work / "one"
    if not data.exists():
        synth.generate_dataset(data, 20 if args.smoke else 40, seed=0, workers=1)
    one.mkdir(parents=True, exist_ok=True)
    first = sorted(data.glob("*.mat"))[0]
    for suffix in (".mat", ".hea"):
        (one / first.with_suffix(suffix).name).write_bytes(first.with_suffix(suffix).read_bytes())
    for title, script, argv in (("training: train_model.py DATA MODEL", "train_model.py", [str(data), str(work / "model")]),
                                ("inference: driver.py MODEL ONE_RECORD OUT", "driver.py", [str(work / "model"), str(one), str(work / "out")])):
        calls = traced(script, argv)
        print(f"\n{title}: {len(calls)} files")
        for name, count in sorted(calls.items()):
            print(f"  {name:40s} {count:8d} calls")


if __name__ == "__main__":
    main()
