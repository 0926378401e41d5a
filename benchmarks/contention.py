"""
K processes calling ``get_ticket()`` across an expiry, sharing one lock folder and the metadata DB,
with rotating refresh tokens.

For each K a new Connection gets one ticket (in this process), then K workers
(``contention_worker.py``) start, each warms up and says ready; once all are ready they make
``CALLS`` timed ``get_ticket()`` calls ``INTERVAL`` s apart, and shortly after the start this script
moves the emulator's clock so the ticket has 100 s left, inside the 180 s refresh margin: every
worker must then wait for one refresh. Printed per K: refreshes and creates the emulator saw (the
floor is 1 refresh, 0 creates), failures, and the median, p99 and max wait of all calls, and how
many calls took over 10 ms (about one per worker: the call that met the expiry).

Run: ``python3 scripts/dev.py bench contention.py [K ...]`` (default 2 8 32)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _support

CALLS = 40
INTERVAL = 0.025
ADVANCE_AFTER = 0.4
"""Seconds after the start at which the clock moves: mid-run, as the calls take at least 1 s."""
ADVANCE = 3600 - 100
SLOW = 0.010
START_TIMEOUT = 180.0
RUN_TIMEOUT = 120.0
WORKER = Path(__file__).with_name("contention_worker.py")


def write_clock(path: Path, offset: float) -> None:
    """
    Publish the emulator's clock offset to the workers, atomically.

    :param path: the clock file
    :param offset: seconds
    """
    draft = path.with_suffix(".draft")
    draft.write_text(repr(offset))
    os.replace(draft, path)


def run(bench: _support.Bench, processes: int) -> list[str]:
    """
    One round with ``processes`` workers; the table row.

    :param bench: the benchmark environment (emulator with rotating refresh tokens)
    :param processes: K
    """
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    assert bench.emulator is not None
    emulator, folder = bench.emulator, bench.tmp / f"k{processes}"
    folder.mkdir()
    conn_id = bench.add_connection(f"kibo_contention_{processes}")
    clock_file = folder / "clock"
    write_clock(clock_file, emulator.clock.offset_seconds)
    KiboDeveloperHook(conn_id, lock_dir=bench.lock_dir, clock=emulator.clock.now).get_ticket()
    emulator.reset_counters()

    began = time.monotonic()
    workers = []
    for n in range(processes):
        args = [conn_id, bench.lock_dir, clock_file, folder / f"ready-{n}", folder / "start",
                folder / f"report-{n}.json", CALLS, INTERVAL]
        with (folder / f"out-{n}.txt").open("w") as out:
            workers.append(subprocess.Popen([sys.executable, WORKER, *map(str, args)], env=os.environ,
                                            stdout=out, stderr=subprocess.STDOUT))
    try:
        while sum((folder / f"ready-{n}").exists() for n in range(processes)) < processes:
            dead = [w for w in workers if w.poll() is not None]
            if dead or time.monotonic() - began > START_TIMEOUT:
                raise RuntimeError(f"workers did not get ready (see {folder}/out-*.txt): {len(dead)} exited")
            time.sleep(0.05)
        startup = time.monotonic() - began
        (folder / "start").touch()
        time.sleep(ADVANCE_AFTER)
        emulator.clock.advance(ADVANCE)
        write_clock(clock_file, emulator.clock.offset_seconds)
        for worker in workers:
            worker.wait(timeout=max(1.0, RUN_TIMEOUT - (time.monotonic() - began - startup)))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    reports: list[dict[str, Any]] = []
    for n, worker in enumerate(workers):
        report = folder / f"report-{n}.json"
        if worker.returncode != 0 or not report.exists():
            reports.append({"waits": [], "failures": [f"worker exited {worker.returncode}"], "store": "?"})
        else:
            reports.append(json.loads(report.read_text()))
    waits: list[float] = [w for r in reports for w in r["waits"]]
    failures: list[str] = [f for r in reports for f in r["failures"]]
    stores: set[str] = {r["store"] for r in reports}
    seen = emulator.counters()
    for failure in sorted(set(failures))[:3]:
        print(f"  K={processes} failure: {failure}")
    if any("Variables" not in s for s in stores):
        print(f"  K={processes}: a worker did not use the Variable store: {sorted(stores)}")
    return [str(processes), str(len(waits)), str(seen.get("refresh", 0)), str(seen.get("create", 0)),
            str(len(failures)), _support.fmt_seconds(_support.median(waits)) if waits else "-",
            _support.fmt_seconds(_support.percentile(waits, 99)) if waits else "-",
            _support.fmt_seconds(max(waits)) if waits else "-", str(sum(w > SLOW for w in waits)), f"{startup:.0f} s"]


def main() -> None:
    """Run each K and print the table."""
    counts = [int(k) for k in sys.argv[1:]] or [2, 8, 32]
    with _support.bench_env(rotate_refresh_tokens=True) as bench:
        _support.quiet_provider_logs()
        rows = [run(bench, k) for k in counts]
    print(f"contention: K processes x {CALLS} get_ticket() calls {INTERVAL * 1000:.0f} ms apart; "
          f"{ADVANCE_AFTER} s in, the ticket is left 100 s (inside the 180 s margin); rotating refresh tokens, "
          "one lock folder, metadata-DB Variable store; floor: 1 refresh, 0 creates")
    _support.print_table(["K", "calls", "refreshes", "creates", "failures", "median wait", "p99 wait", "max wait",
                          f"calls over {SLOW * 1000:.0f} ms", "start-up of the K processes"], rows)


if __name__ == "__main__":
    main()
