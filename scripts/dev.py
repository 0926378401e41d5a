#!/usr/bin/env python3
"""
Set up a virtual environment for this repository and run the demo or the tests in it.

    python3 scripts/dev.py demo                  # the end-to-end demo against the bundled emulator
    python3 scripts/dev.py test [PYTEST ARGS]    # the whole test suite (or what the arguments select)
    python3 scripts/dev.py bench [SCRIPT]        # the benchmarks (all, or one of benchmarks/*.py)

Options before the command: ``--venv PATH`` (default ``.venv``) and ``--airflow SPEC`` (a pip
requirement such as ``apache-airflow~=3.1.0``; default: the newest release pyproject.toml allows).
Needs only Python 3.11+ and access to a package index; repeated runs reuse the environment.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
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
    parser.add_argument("command", choices=["demo", "test", "bench"])
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    extras = "test,distributed,bench" if options.command == "bench" else "test,distributed"
    python = ensure_venv(options.venv.resolve(), options.airflow, extras)
    if options.command == "demo":
        command = [python, REPO / "scripts" / "demo.py", *options.args]
    elif options.command == "bench":
        command = [python, REPO / "benchmarks" / (options.args[0] if options.args else "run_all.py"), *options.args[1:]]
    else:
        command = [python, "-m", "pytest", *(options.args or ["tests"])]
    return subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).returncode


if __name__ == "__main__":
    sys.exit(main())
