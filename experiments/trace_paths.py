"""Count the project files whose functions run on the two main paths: one record through driver.py, one folder through train_model.py.

    python experiments/trace_paths.py [--work DIR]

Writes 40 synthetic records, trains a `smoke` ensemble with train_model.py, then runs
driver.py on one record; each under sys.setprofile, listing the repository files in
which a function (not module-level import code) was called. A reading aid for the
code's structure (issue 11), not a speed measurement.
"""
from __future__ import annotations

import argparse
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

    def profile(frame, event, _arg):
        if event == "call" and frame.f_code.co_name != "<module>":
            path = Path(frame.f_code.co_filename)
            if REPO in path.parents and ".venv" not in path.parts:
                calls[str(path.relative_to(REPO))] += 1

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="trace-"))
    sys.path.insert(0, str(REPO))
    os.environ["ECGNET_CONFIG"] = "smoke"
    from ecgnet import synth

    data, one = work / "data", work / "one"
    if not data.exists():
        synth.generate_dataset(data, 40, seed=0, workers=1)
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
