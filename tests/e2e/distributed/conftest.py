"""The distributed deployment: PostgreSQL metadata DB, Redis broker, three Celery worker machines.

Every test in this folder gets the ``distributed`` marker (and, from ``tests/e2e``, ``e2e``), so
``python3 scripts/dev.py test -m distributed`` runs them alone. They share one deployment, whose
DAGs folder holds the example DAGs and ``dags/`` here, one emulator with a user of 20 developer
accounts, and a :class:`KiboTally` in front of it; each test makes its own Connection.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kibo.testing import DEMO_USERS, EmulatorAccount, EmulatorUser, KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment, CeleryWorkers
from tests.e2e.distributed.kibo_tally import KiboTally

_HERE = Path(__file__).resolve().parent
WORKERS = CeleryWorkers(count=3, concurrency=4)


def many_accounts_user(first_account: int) -> EmulatorUser:
    """
    A user with 20 developer accounts, ``first_account + 1`` to ``first_account + 20``.

    :param first_account: the account ids start after this number
    """
    return EmulatorUser(
        email=f"accounts-{first_account}@example.com",
        password=f"accounts-{first_account}-password",
        accounts=[EmulatorAccount(first_account + i, f"Account {first_account + i}", app_count=i % 8)
                  for i in range(1, 21)],
    )


#: Users of the workloads that run at the same time: their accounts tell their calls apart.
MANY_ACCOUNTS_USERS = (many_accounts_user(3000), many_accounts_user(4000))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="package")
def emulator() -> Iterator[KiboEmulator]:
    with KiboEmulator([*DEMO_USERS, *MANY_ACCOUNTS_USERS]) as emulator:
        yield emulator


@pytest.fixture(scope="package")
def tally(emulator: KiboEmulator) -> Iterator[KiboTally]:
    with KiboTally(emulator.base_url) as tally:
        yield tally


@pytest.fixture(scope="package")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    dags = tmp_path_factory.mktemp("distributed-dags")
    for source in [*(_HERE / "dags").glob("*.py"), *(_HERE.parents[2] / "dags_examples").glob("*.py")]:
        shutil.copy(source, dags)
    home = tmp_path_factory.mktemp("distributed-home")
    with AirflowDeployment(home, dags, metadata_db="postgres", celery=WORKERS, startup_timeout=300) as deployment:
        yield deployment
    assert deployment.live_pids() == [], "a process of the deployment survived stop()"


@pytest.fixture(scope="module")
def many_accounts_connection(airflow: AirflowDeployment, tally: KiboTally) -> Callable[..., str]:
    """Create a Connection for a user with many accounts, through the tally, in the metadata DB; returns its id."""

    def create(user: EmulatorUser = MANY_ACCOUNTS_USERS[0], **extra: Any) -> str:
        conn_id = f"kibo_{uuid.uuid4().hex[:8]}"
        airflow.create_connection(conn_id, "kibo_developer", host=tally.base_url, login=user.email,
                                  password=user.password, extra={"developer_account_id": user.accounts[0].id, **extra})
        return conn_id

    return create
