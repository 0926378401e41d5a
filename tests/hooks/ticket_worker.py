"""
A worker process for the concurrency tests: waits for a start file, then calls the hook.

Usage: ``python -m tests.hooks.ticket_worker CONN_ID EMULATOR_URL LOCK_DIR START_FILE CALLS ACCOUNT...``

It prints one JSON line: how many calls succeeded and the type and text of each failure (never a
token: the hook's errors carry none, which the tests check).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests


def emulator_clock(base_url: str):
    """The emulator's clock, read over HTTP, so tests can move time for every process at once."""
    session = requests.Session()

    def now() -> datetime:
        offset = session.get(f"{base_url}/_emulator/clock", timeout=5).json()["offset_seconds"]
        return datetime.now(UTC) + timedelta(seconds=offset)

    return now


def main() -> None:
    conn_id, base_url, lock_dir, start_file, calls, *accounts = sys.argv[1:]
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    hook = KiboDeveloperHook(conn_id, lock_dir=lock_dir, clock=emulator_clock(base_url))
    print(json.dumps({"ready": True}), flush=True)
    while not Path(start_file).exists():
        time.sleep(0.01)
    ok, failures = 0, []
    for call in range(int(calls)):
        account = int(accounts[call % len(accounts)])
        try:
            page = hook.for_account(account).run("GET", "/platform/appdev/apppackages/collection")
            ok += page.json()["totalCount"] >= 0
        except Exception as err:  # every failure is reported, none hidden
            failures.append(f"{type(err).__name__}: {err}")
        time.sleep(0.02)
    print(json.dumps({"ok": ok, "failures": failures}), flush=True)


if __name__ == "__main__":
    main()
