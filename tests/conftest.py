"""Shared pytest configuration: a private AIRFLOW_HOME, the emulator fixture, hooks wired to it."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

import pytest

# Before anything imports Airflow: a private home, so tests never touch ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="kibo-tests-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# One Fernet key for this process and every process it starts, so Variables any of them writes the others read.
os.environ["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
# dag.test() finds the DAG it runs by syncing the DAGs folder, read when Airflow is imported.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.path.dirname(__file__), "e2e", "dags")

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
from airflow_provider_kibo.stores import MemoryTicketStore
from airflow_provider_kibo.testing import KiboEmulator
from tests.support import EMAIL, FAST_RETRIES, PASSWORD, set_connection

pytest_plugins = ["airflow_provider_kibo.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate this session's metadata DB (SQLite), which scripts outside tasks use."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, env=os.environ, capture_output=True)


@pytest.fixture
def conn_id(monkeypatch: pytest.MonkeyPatch, kibo_emulator: KiboEmulator) -> str:
    """A Connection to the emulator's demo user with default account 1001."""
    conn_id = f"kibo_{uuid.uuid4().hex[:8]}"
    set_connection(
        monkeypatch,
        conn_id,
        host=kibo_emulator.base_url,
        login=EMAIL,
        password=PASSWORD,
        extra={"developer_account_id": 1001},
    )
    return conn_id


@pytest.fixture
def store() -> MemoryTicketStore:
    return MemoryTicketStore()


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the hook asked for, instead of waiting."""
    return []


@pytest.fixture
def make_hook(
    conn_id: str, store: MemoryTicketStore, kibo_emulator: KiboEmulator, tmp_path, sleeps: list[float]
) -> Callable[..., KiboDeveloperHook]:
    """Hooks that share one store, one lock folder and the emulator's clock, as tasks on one machine do."""

    def make(**kwargs: Any) -> KiboDeveloperHook:
        options: dict[str, Any] = {
            "kibo_conn_id": conn_id,
            "clock": kibo_emulator.clock.now,
            "lock_dir": tmp_path / "locks",
            "retry_policy": FAST_RETRIES,
            "sleep": sleeps.append,
            "store": store,
        }
        return KiboDeveloperHook(**{**options, **kwargs})

    return make
