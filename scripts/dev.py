#!/usr/bin/env python3
"""
Set up a virtual environment for this repository and run the demo or the tests in it.

    python3 scripts/dev.py demo                  # the end-to-end demo against the bundled emulator
    python3 scripts/dev.py test [PYTEST ARGS]    # the whole test suite (or what the arguments select)
    python3 scripts/dev.py lint                  # ruff (lint, format check) and mypy
    python3 scripts/dev.py wheel [AIRFLOW SPEC]  # build and check sdist and wheel; unit tests against the wheel
    python3 scripts/dev.py bench [SCRIPT]        # the benchmarks (all, or one of benchmarks/*.py)

Options before the command: ``--venv PATH`` (default ``.venv``) and ``--airflow SPEC`` (a pip
requirement such as ``apache-airflow~=3.1.0``; default: the newest release pyproject.toml allows).
Needs only Python 3.11+ and access to a package index; repeated runs reuse the environment.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ensure_venv(path: Path, airflow: str | None, extras: str) -> Path:
    """Create the environment and install the package with the given extras, unless already done."""
    python = path / "bin" / "python"
    wanted = hashlib.sha256(((REPO / "pyproject.toml").read_text() + (airflow or "") + extras).encode()).hexdigest()
    stamp = path / ".kibo-installed"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"Creating the virtual environment {path} ...", flush=True)
        venv.create(path, with_pip=True)
    print(f"Installing airflow-provider-kibo[{extras}] (about a minute the first time) ...", flush=True)
    requirements = ["-e", f"{REPO}[{extras}]", *([airflow] if airflow else [])]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *requirements], check=True)
    stamp.write_text(wanted)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=REPO / ".venv")
    parser.add_argument("--airflow", help="pip requirement for Airflow, e.g. 'apache-airflow~=3.1.0'")
    parser.add_argument("command", choices=["demo", "test", "lint", "wheel", "bench"])
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    extras = "test,lint,distributed,s3,bench" if options.command == "bench" else "test,lint,distributed,s3"
    python = ensure_venv(options.venv.resolve(), options.airflow, extras)
    if options.command == "lint":
        return lint(python)
    if options.command == "wheel":
        return check_wheel(python, options.args[0] if options.args else None)
    if options.command == "demo":
        command = [python, REPO / "scripts" / "demo.py", *options.args]
    elif options.command == "bench":
        command = [python, REPO / "benchmarks" / (options.args[0] if options.args else "run_all.py"), *options.args[1:]]
    else:
        command = [python, "-m", "pytest", *(options.args or ["tests"])]
    return subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).returncode


def lint(python: Path) -> int:
    """Ruff's lint and format check, then mypy, over the package; the first failure ends it."""
    for command in (
        ["ruff", "check", "airflow_provider_kibo"],
        ["ruff", "format", "--check", "airflow_provider_kibo"],
        ["mypy", "airflow_provider_kibo"],
    ):
        print(f"== {' '.join(command)}", flush=True)
        if subprocess.run([python, "-m", *command], cwd=REPO).returncode != 0:
            return 1
    return 0


def check_wheel(python: Path, airflow: str | None) -> int:
    """
    Build the sdist and the wheel, check them with twine, install the wheel (with ``airflow``, a pip
    requirement, if given) into a new virtual environment with nothing of the source tree beside it,
    and run the unit tests against that install. The S3 test is left to the main suite: its extra
    (``s3``: the Amazon provider's s3fs, moto) sets off pip's backtracking beside Airflow 3.1.
    """
    with tempfile.TemporaryDirectory(prefix="kibo-wheel-") as tmp:
        dist, work = Path(tmp) / "dist", Path(tmp) / "work"
        subprocess.run([python, "-m", "build", "--outdir", dist, REPO], check=True)
        subprocess.run([python, "-m", "twine", "check", "--strict", *dist.iterdir()], check=True)
        (wheel,) = glob.glob(str(dist / "*.whl"))
        strays = [n for n in zipfile.ZipFile(wheel).namelist() if n.split("/")[0] in ("tests", "dags_examples")]
        if strays:
            print(f"The wheel holds files that are not the provider's: {strays[:5]}", file=sys.stderr)
            return 1
        print(f"== unit tests against {Path(wheel).name} in a new environment", flush=True)
        venv.create(Path(tmp) / "venv", with_pip=True)
        installed = Path(tmp) / "venv" / "bin" / "python"
        requirements = [f"{wheel}[test]", *([airflow] if airflow else [])]
        subprocess.run([installed, "-m", "pip", "install", "--quiet", *requirements], check=True)
        # The tests and the example DAGs they load, and nothing else of the repository.
        for folder in ("tests", "dags_examples"):
            shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        command = [installed, "-m", "pytest", "-p", "no:cacheprovider", "tests", "--ignore=tests/e2e",
                   "-m", "not e2e and not s3"]
        return subprocess.run(command, cwd=work, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
