"""
Run every benchmark, one subprocess each with this interpreter, and print their output.

Run: ``python3 scripts/dev.py bench``. Exits non-zero if a benchmark failed or ran over its time
limit.
"""

from __future__ import annotations

import datetime
import os
import platform
import signal
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "calls_per_workload.py",
    "parse_cost.py",
    "hook_overhead.py",
    "contention.py",
    "tenant_calls.py",
    "api_server_masks.py",
    "connection_store_masks.py",
]
TIME_LIMIT = 300.0
"""Seconds one benchmark may run before it and every process it started are stopped."""


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo``, if there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    """
    The installed version of a distribution.

    :param name: the distribution name
    """
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def run(script: str) -> tuple[int, float]:
    """
    Run one benchmark in its own process group; its exit code (-9 when stopped) and seconds taken.

    :param script: the file name under ``benchmarks/``
    """
    began = time.monotonic()
    child = subprocess.Popen([sys.executable, str(HERE / script)], cwd=HERE.parent, start_new_session=True,
                             env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        code = child.wait(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        print(f"{script} ran over {TIME_LIMIT:.0f} s: stopping it", flush=True)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        code = -9
    return code, time.monotonic() - began


def main() -> int:
    """Print the machine, then run each benchmark."""
    print(f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}; "
          f"Python {platform.python_version()}, apache-airflow {package_version('apache-airflow')}, "
          f"apache-airflow-providers-http {package_version('apache-airflow-providers-http')}; "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    failed = []
    for script in BENCHMARKS:
        print(f"\n== {script}", flush=True)
        code, seconds = run(script)
        print(f"== {script}: exit {code}, {seconds:.0f} s", flush=True)
        if code != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
