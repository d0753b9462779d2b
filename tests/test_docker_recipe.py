"""The challenge image's recipe, replayed without Docker (no engine runs on these machines).

What ``Dockerfile`` does, step by step: a fresh Python with only ``requirements.txt``
installed (a new virtual environment: no dev requirements, no system or user
site-packages), the build context copied to a folder named ``physionet`` the way
``.dockerignore`` filters it, and, from that folder, the organisers' commands with the
README's mount names: ``train_model.py training_data model`` (smoke configuration),
``driver.py model test_data outputs`` and the scorer on the outputs. It catches a
runtime import of a dev-only package, a file the programs need that the image leaves
out, and data or model outputs that would bloat the image. The same environment then
installs the package from that folder, as from a fresh clone (``pip install .``, then
``pip install -e .``), and runs the README's Python example from another folder with
the model just trained.

The fresh environment gets exactly the distributions ``requirements.txt`` pulls (its pins
and their requirements, markers evaluated, read from the installed metadata), linked in
from the test's own environment instead of unpacked again: unpacking torch took 30-50 s of
the suite's five minutes, and that ``pip install`` resolves the pins is what CI's own
install of ``requirements-dev.txt`` (which includes them) already proves. A pin that
differs from the version installed here skips the test, naming it.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ecgnet.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]
# The slim image's and the Dockerfile's ENV, but PYTHONDONTWRITEBYTECODE: the programs write the bytecode of the modules
# they import, which the image's compiled install would have spared them; it does not change what runs.
IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
MAX_CONTEXT_BYTES = 20 * 2**20  # code and tables only: data or a model would be far larger


def _glob_regex(pattern: str) -> str:
    """Docker's pattern syntax (Go ``filepath.Match`` plus ``**``) as a regex anchored at the context root."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out.append("[" + pattern[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """(is an exception ``!``, regex) per pattern, in file order; patterns are cleaned as Docker does."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((negate, re.compile(_glob_regex(pattern))))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


def copy_build_context(source: Path, target: Path) -> list[str]:
    """Copy what ``COPY . /physionet`` would put in the image; returns the copied files (relative paths)."""
    rules = dockerignore_rules((source / ".dockerignore").read_text())
    copied = []
    for root, dirs, files in os.walk(source):
        here = Path(root).relative_to(source)
        dirs[:] = sorted(d for d in dirs if not is_ignored((here / d).as_posix(), rules))
        for name in sorted(files):
            relative = (here / name).as_posix()
            if not is_ignored(relative, rules):
                (target / here).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(root) / name, target / relative)
                copied.append(relative)
    return copied


def test_dockerignore_rules_follow_docker_semantics():
    rules = dockerignore_rules("# comment\n.git\nruns/\n**/__pycache__\n*.mat\n/model/\ndata/\n!data/keep.txt\n")
    assert is_ignored(".git/HEAD", rules) and is_ignored("runs/cv/fold_0.pt", rules) and is_ignored("model", rules)
    assert is_ignored("ecgnet/synth/__pycache__/x.pyc", rules) and is_ignored("A0001.mat", rules)
    assert not is_ignored("tests/A0001.mat", rules)  # Docker anchors patterns at the root: *.mat is top level only
    assert is_ignored("data/x.hea", rules) and not is_ignored("data/keep.txt", rules)
    assert not is_ignored("driver.py", rules) and not is_ignored("ecgnet/runs.py", rules)


def test_the_dockerfile_follows_the_challenge_template():
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim", lines[0]), lines[0]
    assert "COPY . /physionet" in lines and "WORKDIR /physionet" in lines
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert len(installs) == 1 and re.search(r"-r (/physionet/)?requirements\.txt$", installs[0]), installs


def runtime_distributions(requirements: Path) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions that ``pip install -r requirements`` would install: each pin and, recursively, what it
    requires (markers evaluated for this interpreter, no extras). Skips the test when a pin is not what is installed."""
    pins = [Requirement(line.split("#")[0]) for line in requirements.read_text().splitlines()
            if line.split("#")[0].strip() and not line.startswith("-")]
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(pins)
    while todo:
        requirement = todo.pop()
        key = canonicalize_name(requirement.name)
        if key in found or (requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})):
            continue
        found[key] = importlib.metadata.distribution(requirement.name)
        todo += [Requirement(r) for r in found[key].requires or []]
    for pin in pins:
        installed = found[canonicalize_name(pin.name)].version
        if not pin.specifier.contains(installed, prereleases=True):
            pytest.skip(f"this environment has {pin.name} {installed}, requirements.txt pins {pin.specifier}")
    return found


def link_requirements(requirements: Path, python: Path) -> None:
    """Put the runtime distributions into the fresh environment of ``python``: each top-level file or folder they
    installed, linked into its site-packages (what the venv already holds, pip and setuptools, stays its own)."""
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for distribution in runtime_distributions(requirements).values():
        for top in {f.parts[0] for f in distribution.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            target = site / top
            if not target.exists() and not target.is_symlink():
                target.symlink_to(Path(distribution.locate_file(top)).resolve())


def _run(python: Path, args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_image_recipe_trains_classifies_and_scores(tmp_path):
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        pytest.skip(f"cannot create a virtual environment here ({made.stderr.strip()[-300:]}); the recipe needs one")
    try:
        _replay(venv, tmp_path)
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def _replay(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "ECGNET_CONFIG", "ECGNET_QUIET", "PYTHONDONTWRITEBYTECODE")}
    env.update(IMAGE_ENV, PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")

    image = tmp_path / "physionet"
    copied = copy_build_context(REPO, image)
    assert {"Dockerfile", "requirements.txt", "driver.py", "train_model.py", "team_code.py", "evaluate_12ECG_score.py",
            "weights.csv", "ecgnet/inference/predict.py"} <= set(copied)
    assert not [f for f in copied if f.startswith((".git/", ".venv/", "runs/")) or f.endswith((".mat", ".hea", ".pt"))]
    size = sum((image / f).stat().st_size for f in copied)
    assert size < MAX_CONTEXT_BYTES, f"the image's /physionet would hold {size / 2**20:.0f} MiB: data or models got in"

    link_requirements(image / "requirements.txt", python)
    isolated = _run(python, ["-c", "import importlib.util as u, sys; print(sys.prefix, u.find_spec('pytest'), u.find_spec('hypothesis'))"],
                    image, env).stdout.split()
    assert isolated == [str(venv), "None", "None"], isolated

    # The organisers' mounts, named as in the README's docker run lines.
    generate_dataset(image / "training_data", 30, seed=0, workers=1, fs_choices=[500], duration_range=(10, 10))
    tests = generate_dataset(image / "test_data", 4, seed=1, workers=1, fs_choices=[500], duration_range=(10, 10))
    config = image / "smoke.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "workers": 1, "epochs": 1, "lr_milestones": []}))
    env.update(ECGNET_CONFIG=str(config), OMP_NUM_THREADS="1")

    _run(python, ["train_model.py", "training_data", "model"], image, env)
    assert (image / "model" / "manifest.json").is_file()
    _run(python, ["driver.py", "model", "test_data", "outputs"], image, env)
    assert sorted(p.name for p in (image / "outputs").iterdir()) == sorted(f"{p.stem}.csv" for p in tests)
    _run(python, ["evaluate_12ECG_score.py", "test_data", "outputs", "scores.csv"], image, env)
    header, values = (image / "scores.csv").read_text().splitlines()
    assert "Challenge" in header and len(values.split(",")) == len(header.split(","))
    _use_the_package(python, image, tests[0], env, tmp_path / "elsewhere")


def readme_api_example() -> str:
    """The README's Python example (the code block of its "From Python" section)."""
    section = (REPO / "README.md").read_text().split("### From Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _use_the_package(python: Path, clone: Path, record: Path, env: dict, elsewhere: Path) -> None:
    """``pip install .`` then ``pip install -e .`` from the clone, each imported from another folder; the README's example runs
    there from the installed wheel."""
    example = readme_api_example().replace("runs/demo/model", str(clone / "model")).replace(
        "runs/demo/data/test/SYN01501.hea", str(record))
    assert len(example.strip().splitlines()) == 5 and str(record) in example and str(clone / "model") in example
    elsewhere.mkdir()
    for install in (["."], ["-e", "."]):
        _run(python, ["-m", "pip", "install", "--no-cache-dir", "--no-deps", *install], clone, env)
        where = _run(python, ["-c", "import ecgnet; print(ecgnet.__file__)"], elsewhere, env).stdout.strip()
        assert where.startswith(str(clone if install[0] == "-e" else python.parents[1])), (install, where)
        if install[0] == "-e":
            continue  # the example already ran from the built wheel, the case that must carry the tables; -e runs the clone itself
        printed = _run(python, ["-c", example], elsewhere, env).stdout.strip().splitlines()
        assert printed[:-1] and all(re.fullmatch(r"\d+ \w+ [01]\.\d\d", line) for line in printed[:-1]), printed
        assert printed[-1].startswith("{") and printed[-1].count(":") == 24, printed[-1]
        sets = _run(python, ["-c", "from ecgnet.challenge.classes import class_set as c; print(c('2020').num_classes, c('2021').num_classes)"],
                    elsewhere, env).stdout.split()
        assert sets == ["24", "26"], sets  # both years' tables came with the wheel
