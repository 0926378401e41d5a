"""
A worker process of ``contention.py``: one hook, timed ``get_ticket()`` calls, a JSON report.

Usage: ``python benchmarks/contention_worker.py CONN_ID LOCK_DIR CLOCK_FILE READY_FILE START_FILE
REPORT_FILE CALLS INTERVAL_SECONDS``

The hook's clock is real time plus the emulator's offset, which the parent writes to ``CLOCK_FILE``
whenever it moves the emulator's clock (a file read, so no clock round trip over HTTP lands in the
measured wait). The report holds the seconds each call took, the failures (type and message; the
hook's errors carry no token), and the store the hook chose. Nothing is printed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path


def file_clock(path: Path) -> Callable[[], datetime]:
    """
    A clock that adds the offset kept in ``path`` (seconds, as text) to the real UTC time.

    :param path: the file the parent replaces atomically when it moves the emulator's clock
    """

    def now() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=float(path.read_text()))

    return now


def main(argv: list[str]) -> None:
    """
    Warm up, say ready, wait for the start, then time ``get_ticket()`` calls.

    :param argv: the arguments listed in the module docstring
    """
    conn_id, lock_dir, clock_file, ready_file, start_file, report_file, calls, interval = argv
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    hook = KiboDeveloperHook(conn_id, lock_dir=lock_dir, clock=file_clock(Path(clock_file)))
    hook.get_ticket()  # untimed: reads the Connection and the stored ticket once
    Path(ready_file).touch()
    while not Path(start_file).exists():
        time.sleep(0.005)
    waits: list[float] = []
    failures: list[str] = []
    for _ in range(int(calls)):
        start = time.perf_counter()
        try:
            hook.get_ticket()
        except Exception as err:  # every failure is reported, none hidden
            failures.append(f"{type(err).__name__}: {err}")
        waits.append(time.perf_counter() - start)
        time.sleep(float(interval))
    Path(report_file).write_text(json.dumps({"waits": waits, "failures": failures, "store": hook.store.description}))


if __name__ == "__main__":
    main(sys.argv[1:])
