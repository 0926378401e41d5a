"""Pytest configuration for the end-to-end tests against a real Airflow deployment.

Every test collected from ``tests/e2e`` gets the ``e2e`` marker, so ``-m "not e2e"`` skips them.
The Kibo tests share one deployment for the session (``airflow``), whose DAGs folder holds the
DAGs of ``tests/e2e/dags`` and ``dags_examples``, and one emulator (``emulator``); each test makes its own Connection
(``kibo_connection``) so tickets of different tests never meet.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kibo.testing import KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment
from tests.support import EMAIL, PASSWORD

_E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def e2e_dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty DAGs folder, one per test module (module-scoped so deployment fixtures can use it)."""
    return tmp_path_factory.mktemp("dags")


@pytest.fixture(scope="session")
def emulator() -> Iterator[KiboEmulator]:
    with KiboEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def airflow(emulator: KiboEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    dags = tmp_path_factory.mktemp("kibo-dags")
    for source in [*(_E2E_DIR / "dags").glob("*.py"), *(_E2E_DIR.parents[1] / "dags_examples").glob("*.py")]:
        shutil.copy(source, dags)
    with AirflowDeployment(tmp_path_factory.mktemp("airflow-home"), dags) as deployment:
        yield deployment


@pytest.fixture
def kibo_connection(airflow: AirflowDeployment, emulator: KiboEmulator) -> Callable[..., str]:
    """Create a Connection to the emulator in the deployment's database; returns its id."""

    def create(**extra: Any) -> str:
        conn_id = f"kibo_{uuid.uuid4().hex[:8]}"
        airflow.create_connection(
            conn_id,
            "kibo_developer",
            host=emulator.base_url,
            login=EMAIL,
            password=PASSWORD,
            extra={"developer_account_id": 1001, **extra},
        )
        return conn_id

    return create
