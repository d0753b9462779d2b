#!/usr/bin/env python
"""``python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR``: one ``NAME.csv`` per ``NAME.mat``, as the official 2020 script.

Differences from the official script, none of which change a file's bytes:

- the next records are read from disk in a background thread while the current one
  is classified (the model itself runs one record at a time, exactly as a per-record
  ``run_12ECG_classifier`` call, so the files are identical to those calls');
- files are written atomically (``ecgnet.outputs.write_output``);
- a record that cannot be read or classified does not stop the run: one line names the
  file and the reason, the others go on, the failures are listed at the end and the
  exit status is 1;
- an existing output file with different content is replaced, and a warning at the end
  says how many were replaced (and names the first): never silently.
"""
import logging
import os
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.io import loadmat

from ecgnet.outputs import format_output, write_output
from ecgnet.progress import progress
from team_code import load_12ECG_model, run_12ECG_classifier

LOOKAHEAD = 4  # records read ahead of the model: hides file reading, keeps memory flat


def load_challenge_data(mat_path):
    data = np.asarray(loadmat(mat_path)["val"], dtype=np.float64)
    with open(mat_path[: -len(".mat")] + ".hea") as handle:
        header_data = handle.readlines()
    return data, header_data


def input_files(input_directory):
    return sorted(
        f for f in os.listdir(input_directory)
        if os.path.isfile(os.path.join(input_directory, f)) and not f.lower().startswith(".") and f.lower().endswith("mat")
    )


def main(model_directory, input_directory, output_directory):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("driver")
    files = input_files(input_directory)
    os.makedirs(output_directory, exist_ok=True)
    print("Loading 12ECG model...")
    model = load_12ECG_model(model_directory)
    print("Extracting 12ECG features...")
    failures, replaced = [], []
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = deque()
        queue = iter(files)
        for name in queue:
            pending.append((name, reader.submit(load_challenge_data, os.path.join(input_directory, name))))
            if len(pending) >= LOOKAHEAD:
                break
        for _ in progress(range(len(files)), desc="records", unit="record"):
            name, future = pending.popleft()
            for following in queue:
                pending.append((following, reader.submit(load_challenge_data, os.path.join(input_directory, following))))
                break
            mat_path = os.path.join(input_directory, name)
            try:
                data, header_data = future.result()
                labels, scores, classes = run_12ECG_classifier(data, header_data, model)
                recording = os.path.splitext(name)[0]
                output_file = os.path.join(output_directory, name.replace(".mat", ".csv"))
                if os.path.isfile(output_file):
                    with open(output_file, encoding="utf-8", errors="replace") as handle:
                        if handle.read() != format_output(recording, classes, labels, scores):
                            replaced.append(output_file)
                write_output(output_file, recording, classes, labels, scores)
            except Exception as error:  # one bad record must not stop the others
                log.error("%s: %s", mat_path, str(error).removeprefix(f"{mat_path}: ") or type(error).__name__)
                failures.append(mat_path)
    if replaced:
        log.warning("replaced %d existing output file(s) whose content differed, e.g. %s", len(replaced), replaced[0])
    if failures:
        print(f"{len(failures)} of {len(files)} record(s) failed:", *failures, sep="\n  ")
        return 1
    print("Done.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python driver.py MODEL_DIR INPUT_DIR OUTPUT_DIR")
    sys.exit(main(*sys.argv[1:]))
