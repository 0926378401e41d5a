"""The example DAGs under a real Airflow deployment against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from airflow_provider_kibo.testing import DEMO_APPLICATIONS, KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment, secrets_shown
from tests.support import PASSWORD

ROTATION = "kibo_ticket_rotation"
PIPELINE = "kibo_per_account_pipeline"
TENANT_ORDERS = "kibo_tenant_orders"



def successful_logins(emulator: KiboEmulator) -> int:
    return emulator.status_counts()["create"].get(200, 0)


def test_rotation_refreshes_each_account_once_through_the_pool(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection
):
    conn_id = kibo_connection()
    airflow.api("POST", "/api/v2/pools", json={"name": "kibo_ticket_refresh", "slots": 1})
    airflow.wait_for_dag(ROTATION)
    emulator.reset_counters()

    run_id = airflow.trigger(ROTATION, conf={"conn_id": conn_id, "accounts": [1002, 1003, 1001]})

    assert airflow.wait_for_run(ROTATION, run_id) == "success"
    assert set(airflow.task_states(ROTATION, run_id).values()) == {"success"}
    refreshed = [airflow.xcom_value(ROTATION, run_id, "refresh", map_index=i) for i in range(3)]
    assert [r["account_id"] for r in refreshed] == [1001, 1002, 1003]
    assert successful_logins(emulator) == 1
    assert emulator.counters()["refresh"] == 2, "1001 is the login's account; 1002 and 1003 are switches"
    pool = airflow.api("GET", "/api/v2/pools/kibo_ticket_refresh").json()
    assert pool["slots"] == 1

    again = airflow.trigger(ROTATION, conf={"conn_id": conn_id, "accounts": [1002, 1003]})
    assert airflow.wait_for_run(ROTATION, again) == "success"
    assert emulator.counters()["refresh"] == 2, "fresh tickets are left alone"
    assert not any(airflow.xcom_value(ROTATION, again, "refresh", map_index=i)["refreshed"] for i in range(3))


def test_rotation_with_full_credential_rotation_logs_in_and_logs_out_the_earlier_tickets(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection
):
    conn_id = kibo_connection()
    airflow.api("POST", "/api/v2/pools", json={"name": "kibo_ticket_refresh", "slots": 1})
    airflow.wait_for_dag(ROTATION)
    usual = airflow.trigger(ROTATION, conf={"conn_id": conn_id, "accounts": [1002]})
    assert airflow.wait_for_run(ROTATION, usual) == "success"
    emulator.reset_counters()
    again = airflow.trigger(ROTATION, conf={"conn_id": conn_id, "accounts": [1002]})
    assert airflow.wait_for_run(ROTATION, again) == "success"
    assert sum(emulator.counters().values()) == 0, "off by default: fresh tickets are left alone"

    full = airflow.trigger(ROTATION, conf={"conn_id": conn_id, "accounts": [1002], "full_credential_rotation": True})

    assert airflow.wait_for_run(ROTATION, full) == "success"
    assert set(airflow.task_states(ROTATION, full).values()) == {"success"}
    assert airflow.xcom_value(ROTATION, full, "rotate_credentials")["account_id"] == 1001
    assert successful_logins(emulator) == 1
    assert emulator.counters()["delete"] == 1, "the earlier login's refresh token is logged out"
    assert emulator.counters()["refresh"] == 1, "1002's earlier ticket was removed, so it is switched again"


def test_per_account_pipeline_isolates_the_inaccessible_account(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection, tmp_path: Path
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(PIPELINE)
    emulator.reset_counters()
    output = tmp_path / "out"

    run_id = airflow.trigger(
        PIPELINE, conf={"conn_id": conn_id, "accounts": [1001, 1002, 1999, 1003], "output_dir": str(output)}
    )

    final = airflow.wait_for_run(PIPELINE, run_id)
    by_task = airflow.task_states(PIPELINE, run_id)
    assert final == "success", by_task
    assert by_task.pop("account.switch[2]") == "failed"
    assert by_task.pop("account.wait[2]") == "upstream_failed"
    assert by_task.pop("account.fetch[2]") == "upstream_failed"
    assert set(by_task.values()) == {"success"}
    log = airflow.task_log(PIPELINE, run_id, "account.switch", map_index=2)
    assert "No access to Kibo developer account 1999" in log and "1001, 1002, 1003" in log
    summary = airflow.xcom_value(PIPELINE, run_id, "summarise")
    assert summary["failed"] == [1999]
    assert {a["account_id"]: a["applications"] for a in summary["accounts"]} == {1001: 7, 1002: 3, 1003: 0}
    written = json.loads((output / "1001.json").read_text())
    assert len(written["applications"]) == 7
    assert sorted(p.name for p in output.iterdir()) == ["1001.json", "1002.json", "1003.json"]
    assert successful_logins(emulator) == 1
    assert emulator.counters()["refresh"] <= 3, "at most one switch per account"


def test_tenant_orders_export_one_file_per_tenant_and_day_and_rerun_to_the_same_files(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection, tmp_path: Path
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(TENANT_ORDERS)
    emulator.reset_counters()
    output = tmp_path / "orders"
    conf = {"conn_id": conn_id, "tenants": [100001, 100002, 199999, 100003], "output": str(output)}

    first = airflow.trigger(TENANT_ORDERS, conf=conf)

    assert airflow.wait_for_run(TENANT_ORDERS, first) == "success"
    by_task = airflow.task_states(TENANT_ORDERS, first)
    assert by_task.pop("tenant.switch[2]") == "failed"
    assert by_task.pop("tenant.wait[2]") == by_task.pop("tenant.export[2]") == "upstream_failed"
    assert set(by_task.values()) == {"success"}
    log = airflow.task_log(TENANT_ORDERS, first, "tenant.switch", map_index=2)
    assert "No access to Kibo tenant 199999" in log and "100001, 100002, 100003" in log
    files = {p.relative_to(output).as_posix(): p.read_text() for p in output.rglob("*.jsonl")}
    assert sorted(name.split("/")[0] for name in files) == ["100001", "100002", "100003"]
    summary = airflow.xcom_value(TENANT_ORDERS, first, "summarise")
    assert summary["failed"] == [199999]
    for exported in summary["tenants"]:
        lines = Path(urlsplit(exported["path"]).path).read_text().splitlines()
        assert len(lines) == exported["count"]
        assert all(json.loads(line)["tenantId"] == exported["tenant_id"] for line in lines)
    assert sum(e["count"] for e in summary["tenants"]) > 0
    auth = emulator.status_counts()
    assert auth["tenant_create"].get(200, 0) == 1, "one login for the Connection"
    assert auth["tenant_refresh"].get(200, 0) <= 2, "then at most one switch per further tenant"

    emulator.reset_counters()
    again = airflow.trigger(TENANT_ORDERS, conf=conf)

    assert airflow.wait_for_run(TENANT_ORDERS, again) == "success"
    assert {p.relative_to(output).as_posix(): p.read_text() for p in output.rglob("*.jsonl")} == files
    assert emulator.counters()["tenant_create"] == 0, "the tickets of the first run are still good"
    assert emulator.status_counts()["tenant_refresh"].get(200, 0) == 0


def test_tenant_orders_two_tenants_over_two_days_each_object_whole_with_its_asset_event(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection, tmp_path: Path
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(TENANT_ORDERS)
    output = tmp_path / "orders"
    conf = {"conn_id": conn_id, "tenants": [100001, 100002], "output": output.as_uri()}
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [midnight - timedelta(days=3), midnight - timedelta(days=2)]

    runs = [airflow.trigger(TENANT_ORDERS, conf=conf, logical_date=day + timedelta(days=1, minutes=30)) for day in days]

    assert [airflow.wait_for_run(TENANT_ORDERS, run_id) for run_id in runs] == ["success", "success"]
    expected = {
        f"{tenant}/{day:%Y-%m-%d}.jsonl": orders_updated(emulator, tenant, day, day + timedelta(days=1))
        for tenant in (100001, 100002) for day in days
    }
    files = {p.relative_to(output).as_posix(): p.read_bytes() for p in output.rglob("*") if p.is_file()}
    assert {name: [json.loads(line) for line in data.splitlines()] for name, data in files.items()} == expected
    assert all(expected.values()), "each tenant has orders on each day"
    events = [e for run_id in runs for e in airflow.asset_events(TENANT_ORDERS, run_id)]
    assert sorted((e["uri"], e["extra"]["count"]) for e in events) == sorted(
        ((output / name).as_uri(), len(orders)) for name, orders in expected.items())

    again = airflow.trigger(TENANT_ORDERS, conf=conf, logical_date=days[1] + timedelta(days=1, hours=2))

    assert airflow.wait_for_run(TENANT_ORDERS, again) == "success"
    assert {p.relative_to(output).as_posix(): p.read_bytes() for p in output.rglob("*") if p.is_file()} == files


def orders_updated(emulator: KiboEmulator, tenant: int, start: datetime, end: datetime) -> list[dict]:
    """The tenant's orders last updated in ``[start, end)``, in the order the export writes them."""
    orders = emulator.orders(tenant)
    stamped = sorted((datetime.fromisoformat(o["auditInfo"]["updateDate"]), o["id"], o) for o in orders)
    return [order for at, _, order in stamped if start <= at < end]


def test_no_token_or_password_in_the_example_runs(airflow: AirflowDeployment, emulator: KiboEmulator):
    secrets = emulator.issued_secrets()
    assert PASSWORD in secrets
    seen = {
        "task log files": "\n".join(p.read_text(errors="replace") for p in airflow.task_log_dir.rglob("*") if p.is_file()),
        "component logs": "\n".join(l for l in airflow.all_log_text().splitlines() if "Deliberately" not in l),
        **airflow.shown_by_the_api(),
    }
    assert secrets_shown(secrets, seen) == {where: [] for where in seen}


def test_tenant_orders_with_an_application_connection(airflow: AirflowDeployment, emulator: KiboEmulator, tmp_path):
    app = DEMO_APPLICATIONS[0]
    conn_id = "kibo_e2e_application"
    airflow.create_connection(conn_id, "kibo_application", host=emulator.base_url, login=app.key,
                              password=app.shared_secret)
    airflow.wait_for_dag(TENANT_ORDERS)
    emulator.reset_counters()
    output = tmp_path / "orders"
    conf = {"conn_id": conn_id, "tenants": [100001, 100002, 100003], "output": str(output)}

    first = airflow.trigger(TENANT_ORDERS, conf=conf)

    assert airflow.wait_for_run(TENANT_ORDERS, first) == "success"
    by_task = airflow.task_states(TENANT_ORDERS, first)
    assert by_task.pop("tenant.switch[2]") == "failed", "tenant 100003 has not installed the application"
    assert by_task.pop("tenant.wait[2]") == by_task.pop("tenant.export[2]") == "upstream_failed"
    assert set(by_task.values()) == {"success"}
    log = airflow.task_log(TENANT_ORDERS, first, "tenant.switch", map_index=2)
    assert f"Kibo application {app.key} may not call tenant 100003" in log
    summary = airflow.xcom_value(TENANT_ORDERS, first, "summarise")
    assert summary["failed"] == [100003]
    assert {e["tenant_id"] for e in summary["tenants"]} == {100001, 100002}
    for exported in summary["tenants"]:
        lines = Path(urlsplit(exported["path"]).path).read_text().splitlines()
        assert len(lines) == exported["count"]
        assert all(json.loads(line)["tenantId"] == exported["tenant_id"] for line in lines)
    counts = emulator.counters()
    assert (counts["app_oauth"], counts["app_refresh"], counts["tenant_lookup"]) == (1, 0, 3)
    assert counts["tenant_create"] == counts["tenant_refresh"] == 0

    emulator.reset_counters()
    again = airflow.trigger(TENANT_ORDERS, conf=conf)

    assert airflow.wait_for_run(TENANT_ORDERS, again) == "success"
    counts = emulator.counters()
    assert counts["app_oauth"] == counts["app_refresh"] == counts["app_ticket"] == 0, "no token call"
    assert counts["tenant_lookup"] == 1, "only the tenant without the application is asked again"
    shown = {**airflow.shown_by_the_api(), "task log files": "\n".join(
        p.read_text(errors="replace") for p in airflow.task_log_dir.rglob("*") if p.is_file())}
    assert secrets_shown(emulator.issued_secrets(), shown) == {where: [] for where in shown}
