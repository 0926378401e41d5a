"""
The cost of ``get_ticket()`` in a fresh task process: PostgreSQL + Celery workers against SQLite +
LocalExecutor.

Starts each deployment of the e2e harness (``tests/e2e/airflow_deployment.py``) in turn, with the
bundled emulator, lets one task store a ticket, then runs 24 mapped tasks that each build a new
hook and time their first ``get_ticket()`` (the Connection read, the Variable store read through the
execution API, the expiry check; no Kibo call). The Kibo calls of the multi-worker pipeline workload
are printed by the distributed test suite (``python3 scripts/dev.py test -m distributed``), whose
figures are in this folder's README.

Run: ``python3 scripts/dev.py bench distributed.py`` (about 4 min on 2 cores).
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

import _support

sys.path.insert(0, str(_support.REPO))

from airflow_provider_kibo.testing import DEMO_USERS, KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment, CeleryWorkers, write_dag_file

TASKS = 24
DAG = """
    from airflow.sdk import DAG, task

    with DAG("kibo_bench_get_ticket", schedule=None, params={"conn_id": "kibo", "tasks": 1}):

        @task
        def warm(params=None):
            from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

            KiboDeveloperHook(params["conn_id"]).get_ticket()

        @task
        def indexes(params=None):
            return list(range(params["tasks"]))

        @task
        def timed(index, params=None):
            import time

            began = time.perf_counter()
            from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

            imported = time.perf_counter()
            KiboDeveloperHook(params["conn_id"]).get_ticket()
            return {"import": imported - began, "get_ticket": time.perf_counter() - imported}

        warm() >> timed.expand(index=indexes())
"""


def measure(label: str, tmp: Path, emulator: KiboEmulator, **shape: object) -> list[object]:
    """
    One deployment: the median and p90 of the first ``get_ticket()`` of fresh task processes.

    :param label: the row's name
    :param tmp: a folder for the deployment
    :param emulator: the running emulator
    :param shape: the deployment's configuration (``metadata_db``, ``celery``)
    """
    dags = tmp / "dags"
    write_dag_file(dags, "kibo_bench_get_ticket.py", DAG)
    with AirflowDeployment(tmp / "home", dags, startup_timeout=300, **shape) as airflow:
        user, conn_id = DEMO_USERS[0], f"kibo_{uuid.uuid4().hex[:8]}"
        airflow.create_connection(conn_id, "kibo_developer", host=emulator.base_url, login=user.email,
                                  password=user.password, extra={"developer_account_id": 1001})
        airflow.wait_for_dag("kibo_bench_get_ticket")
        run_id = airflow.trigger("kibo_bench_get_ticket", conf={"conn_id": conn_id, "tasks": TASKS})
        assert airflow.wait_for_run("kibo_bench_get_ticket", run_id, timeout=900) == "success"
        samples = [airflow.xcom_value("kibo_bench_get_ticket", run_id, "timed", map_index=i) for i in range(TASKS)]
    first = [s["get_ticket"] for s in samples]
    return [label, TASKS, _support.fmt_seconds(_support.median(first)),
            _support.fmt_seconds(_support.percentile(first, 90)),
            _support.fmt_seconds(_support.median([s["import"] for s in samples]))]


def main() -> None:
    """Measure both deployments and print the table."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="kibo-bench-distributed-") as name, KiboEmulator() as emulator:
        tmp = Path(name)
        rows.append(measure("SQLite, LocalExecutor (4 slots)", tmp / "sqlite", emulator))
        rows.append(measure("PostgreSQL, 3 Celery workers x 4 slots", tmp / "postgres", emulator,
                            metadata_db="postgres", celery=CeleryWorkers(count=3, concurrency=4)))
    print(f"distributed: first get_ticket() of a new hook in each of {TASKS} fresh task processes, ticket "
          "already stored (Variable store through the execution API)")
    _support.print_table(["deployment", "tasks", "median get_ticket()", "p90 get_ticket()", "median hook import"],
                         rows)


if __name__ == "__main__":
    main()
