"""Many processes, one Connection: tickets shared through the metadata DB, refreshes serialized."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_kibo.testing import KiboEmulator
from tests.support import EMAIL, PASSWORD

REPO = Path(__file__).resolve().parents[2]


def start_workers(
    emulator: KiboEmulator,
    conn_id: str,
    tmp_path: Path,
    *,
    processes: int,
    calls: int,
    accounts: Callable[[int], list[int]],
    shared_lock_dir: bool = True,
) -> list[subprocess.Popen]:
    """Start worker processes; worker ``n`` calls Kibo ``calls`` times, cycling through ``accounts(n)``."""
    start_file = tmp_path / f"start-{uuid.uuid4().hex}"
    workers = []
    for n in range(processes):
        lock_dir = tmp_path / ("locks" if shared_lock_dir else f"locks-{n}")
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.hooks.ticket_worker", conn_id, emulator.base_url,
                 str(lock_dir), str(start_file), str(calls), *map(str, accounts(n))],
                cwd=REPO,
                env=os.environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for worker in workers:
        assert json.loads(worker.stdout.readline()) == {"ready": True}, worker.stderr.read()
    start_file.touch()
    return workers


def results(workers: list[subprocess.Popen]) -> list[dict]:
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


@pytest.fixture
def shared_conn_id(monkeypatch, kibo_emulator, airflow_db) -> str:
    """A Connection in an environment variable that worker processes inherit."""
    conn_id = f"kibo_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "kibo_developer", "host": kibo_emulator.base_url, "login": EMAIL,
                    "password": PASSWORD, "extra": {"developer_account_id": 1001}}),
    )
    return conn_id


def test_twenty_processes_in_one_token_lifetime_log_in_once(kibo_emulator, shared_conn_id, tmp_path):
    workers = start_workers(kibo_emulator, shared_conn_id, tmp_path, processes=20, calls=1, accounts=lambda n: [1001])

    reports = results(workers)

    assert [r["failures"] for r in reports] == [[]] * 20
    assert kibo_emulator.counters()["create"] == 1
    assert kibo_emulator.counters()["refresh"] == 0
    assert kibo_emulator.counters()["apppackages"] == 20


def test_parallel_first_use_of_several_accounts_logs_in_once_then_switches(kibo_emulator, shared_conn_id, tmp_path):
    kibo_emulator.rotate_refresh_tokens = True
    workers = start_workers(
        kibo_emulator, shared_conn_id, tmp_path, processes=6, calls=1, accounts=lambda n: [1001 + n % 3]
    )

    reports = results(workers)

    assert [r["failures"] for r in reports] == [[]] * 6
    assert kibo_emulator.counters()["create"] == 1
    assert kibo_emulator.counters()["refresh"] == 2


@pytest.mark.parametrize("shared_lock_dir", [True, False], ids=["one-machine", "separate-machines"])
def test_racing_processes_across_expiries_with_rotating_refresh_tokens(
    kibo_emulator, shared_conn_id, tmp_path, shared_lock_dir
):
    kibo_emulator.rotate_refresh_tokens = True
    accounts = [1001, 1002]
    warm = start_workers(kibo_emulator, shared_conn_id, tmp_path, processes=1, calls=2, accounts=lambda n: accounts)
    assert results(warm)[0]["failures"] == []
    kibo_emulator.reset_counters()

    workers = start_workers(kibo_emulator, shared_conn_id, tmp_path, processes=8, calls=25,
                            accounts=lambda n: accounts[n % 2:] + accounts[: n % 2], shared_lock_dir=shared_lock_dir)
    time.sleep(0.3)  # let the workers get going, then expire every ticket under them
    kibo_emulator.clock.advance(3600 - 100)
    reports = results(workers)

    assert [r["failures"] for r in reports] == [[]] * 8
    assert sum(r["ok"] for r in reports) == 8 * 25
    assert kibo_emulator.counters()["create"] == 0, "a machine that lost a race waits for the winner's ticket"
    if shared_lock_dir:
        assert kibo_emulator.counters()["refresh"] <= len(accounts)
