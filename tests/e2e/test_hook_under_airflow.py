"""KiboDeveloperHook under a real scheduler with LocalExecutor, where task code cannot use the ORM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_kibo.testing import KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment
from tests.support import PASSWORD

DAG_ID = "kibo_e2e_ticket_reuse"
WRITERS_DAG_ID = "kibo_e2e_connection_writers"


@pytest.fixture
def run_dag(airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection) -> Callable[..., tuple[str, str]]:
    airflow.wait_for_dag(DAG_ID)

    def run(**extra: Any) -> tuple[str, str]:
        conn_id = kibo_connection(**extra)
        emulator.reset_counters()
        run_id = airflow.trigger(DAG_ID, conf={"conn_id": conn_id})
        assert airflow.wait_for_run(DAG_ID, run_id) == "success", airflow.task_instances(DAG_ID, run_id)
        return conn_id, run_id

    return run


def test_ticket_stored_by_one_task_is_reused_by_later_tasks_in_other_processes(airflow, emulator, run_dag):
    conn_id, run_id = run_dag()

    first = airflow.xcom_value(DAG_ID, run_id, "first")
    second = airflow.xcom_value(DAG_ID, run_id, "second")
    assert first["pid"] != second["pid"]
    assert first["apps"] == 7
    assert second["ticket"]["access_token_expires_at"] == first["ticket"]["access_token_expires_at"]
    assert emulator.counters()["create"] == 1
    assert emulator.counters()["refresh"] == 0
    stored = airflow.variable(f"kibo_ticket__{conn_id}__1001")
    assert stored is not None
    entry = json.loads(stored["value"])
    assert entry["record"]["summary"]["account_id"] == 1001 and entry["sealed"], "the record shows, the ticket is sealed"
    assert not [s for s in emulator.issued_secrets() if s in stored["value"]]


def test_tickets_are_written_back_into_the_connection_through_the_api_server(airflow, emulator, run_dag):
    airflow.create_connection("airflow_api", "http", host=airflow.api_url, login=airflow.admin_username,
                              password=airflow.admin_password)

    conn_id, run_id = run_dag(airflow_api_conn_id="airflow_api")

    assert emulator.counters()["create"] == 1
    assert emulator.counters()["refresh"] == 0
    assert airflow.variable(f"kibo_ticket__{conn_id}__1001") is None
    exported = airflow.run_cli("connections", "get", conn_id, "--output", "json")
    (connection,) = json.loads(exported.stdout[exported.stdout.index("[") :])
    extra = connection["extra_dejson"]
    assert int(extra["developer_account_id"]) == 1001
    assert extra["airflow_api_conn_id"] == "airflow_api"
    assert set(extra["tickets"]) == {"1001", "latest"}
    assert extra["tickets"]["1001"]["sealed"], "sealed as in Variables"
    tokens = emulator.issued_secrets() - {PASSWORD}  # the Connection's own password is in the database, as ever
    assert not [s for s in tokens if s in exported.stdout], "no token, not even in the database"
    shown = airflow.api("GET", f"/api/v2/connections/{conn_id}").json()
    assert not any(secret in json.dumps(shown) for secret in emulator.issued_secrets())


@pytest.fixture
def write_back_connection(airflow, kibo_connection) -> str:
    airflow.create_connection("airflow_api", "http", host=airflow.api_url, login=airflow.admin_username,
                              password=airflow.admin_password)
    return kibo_connection(airflow_api_conn_id="airflow_api", request_timeout_seconds=45)


def test_a_lease_left_by_a_writer_that_died_is_removed_by_the_next_writer(airflow, write_back_connection):
    lease = f"kibo_connection_lease__{write_back_connection}"
    left_behind = {"holder": "worker-9 pid 4242", "until": "2026-01-01T00:00:00+00:00", "nonce": "0"}
    airflow.create_connection(lease, "generic", extra=left_behind)
    airflow.wait_for_dag(DAG_ID)

    run_id = airflow.trigger(DAG_ID, conf={"conn_id": write_back_connection})

    assert airflow.wait_for_run(DAG_ID, run_id) == "success", airflow.task_instances(DAG_ID, run_id)
    assert airflow.task_log(DAG_ID, run_id, "first").count(
        f"Removing the lease {lease} that worker-9 pid 4242 left behind"
    ) == 1
    assert airflow.api("GET", f"/api/v2/connections/{lease}").status_code == 404, "the writer removed its own lease"


def test_tasks_writing_different_slots_of_the_connection_at_once_lose_none(airflow, write_back_connection, tmp_path):
    conn_id = write_back_connection
    airflow.wait_for_dag(WRITERS_DAG_ID)

    run_id = airflow.trigger(WRITERS_DAG_ID, conf={"conn_id": conn_id, "barrier_dir": str(tmp_path)})

    assert airflow.wait_for_run(WRITERS_DAG_ID, run_id) == "success", airflow.task_instances(WRITERS_DAG_ID, run_id)
    assert len(list(tmp_path.iterdir())) == 4, "the four writers met at the barrier"
    exported = airflow.run_cli("connections", "get", conn_id, "--output", "json")
    (connection,) = json.loads(exported.stdout[exported.stdout.index("[") :])
    extra = connection["extra_dejson"]
    written = {f"writer{w}_{s}" for w in range(4) for s in range(5)}
    assert written <= set(extra["tickets"]), f"lost: {sorted(written - set(extra['tickets']))}"
    assert {"1001", "latest"} <= set(extra["tickets"])
    assert {k: str(v) for k, v in extra.items() if k != "tickets"} == {
        "developer_account_id": "1001", "airflow_api_conn_id": "airflow_api", "request_timeout_seconds": "45",
    }
    assert airflow.api("GET", f"/api/v2/connections/kibo_connection_lease__{conn_id}").status_code == 404


def test_no_token_or_password_reaches_task_logs_xcom_or_the_api(airflow, emulator, run_dag):
    """Task logs come out redacted even where a task logs a token itself. (Airflow 3.3's
    LocalExecutor also echoes task output to the scheduler's console, unredacted: the provider never
    logs a token, so the only lines there with one are the careless task's own.)"""
    conn_id, run_id = run_dag()
    secrets = emulator.issued_secrets()
    assert PASSWORD in secrets

    careless_log = airflow.task_log_with(DAG_ID, run_id, "careless", "Deliberately printing the refresh token")
    assert "Deliberately logging the access token: ***" in careless_log
    assert "Deliberately printing the refresh token: ***" in careless_log
    seen = {
        "task logs": "\n".join(airflow.task_log(DAG_ID, run_id, t) for t in ("first", "second", "careless")),
        "task log files": "\n".join(p.read_text(errors="replace") for p in airflow.task_log_dir.rglob("*") if p.is_file()),
        "component logs, but for the careless task's own lines": "\n".join(
            line for line in airflow.all_log_text().splitlines() if "Deliberately" not in line
        ),
        "xcom": json.dumps([airflow.xcom_value(DAG_ID, run_id, t) for t in ("first", "second", "careless")]),
        "variables": json.dumps(airflow.api("GET", "/api/v2/variables").json()),
        "connection": json.dumps(airflow.api("GET", f"/api/v2/connections/{conn_id}").json()),
    }
    leaks = {where: [s[:6] for s in secrets if s in text] for where, text in seen.items()}
    assert leaks == {where: [] for where in seen}
