"""The operator and the sensor under a real scheduler with LocalExecutor and a real triggerer."""

from __future__ import annotations

import json

from airflow_provider_kibo.testing import KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment

SWITCH_WAIT = "kibo_e2e_switch_wait"
DEFERRAL = "kibo_e2e_deferral"
INACCESSIBLE = "kibo_e2e_inaccessible"
SENSOR_TIMEOUT = "kibo_e2e_sensor_timeout"


def test_switch_wait_downstream_runs_green(airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection):
    conn_id = kibo_connection()
    airflow.wait_for_dag(SWITCH_WAIT)
    emulator.reset_counters()

    run_id = airflow.trigger(SWITCH_WAIT, conf={"conn_id": conn_id, "account": 1002})

    assert airflow.wait_for_run(SWITCH_WAIT, run_id) == "success"
    assert airflow.task_states(SWITCH_WAIT, run_id) == {
        "switch": "success", "wait_poke": "success", "wait_reschedule": "success", "wait_deferred": "success",
        "downstream": "success", "switch_many[0]": "success", "switch_many[1]": "success",
        "switch_many[2]": "success",
    }
    assert airflow.xcom_value(SWITCH_WAIT, run_id, "downstream") == 3
    switched = airflow.xcom_value(SWITCH_WAIT, run_id, "switch")
    assert switched["account_id"] == 1002
    for sensor in ("wait_poke", "wait_reschedule", "wait_deferred"):
        assert airflow.xcom_value(SWITCH_WAIT, run_id, sensor)["account_id"] == 1002
    mapped = [airflow.xcom_value(SWITCH_WAIT, run_id, "switch_many", map_index=i) for i in range(3)]
    assert [m["account_id"] for m in mapped] == [1001, 1002, 1003]
    assert [switched["refreshed"], mapped[1]["refreshed"]].count(True) == 1, "1002 is obtained once, then reused"
    assert emulator.counters()["create"] == 1


def test_deferred_sensor_waits_in_the_triggerer_and_times_out_softly(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(DEFERRAL)

    run_id = airflow.trigger(DEFERRAL, conf={"conn_id": conn_id})

    assert airflow.wait_for_run(DEFERRAL, run_id) == "success"
    assert airflow.task_states(DEFERRAL, run_id) == {"wait_late": "success", "late_switch": "success", "wait_timeout": "skipped"}
    late_log = airflow.task_log(DEFERRAL, run_id, "wait_late")
    assert "Pausing task as DEFERRED" in late_log
    assert "Trigger fired event" in late_log and "'status': 'success'" in late_log
    assert airflow.xcom_value(DEFERRAL, run_id, "wait_late")["account_id"] == 1003
    assert "Pausing task as DEFERRED" in airflow.task_log(DEFERRAL, run_id, "wait_timeout")


def test_rendered_fields_and_xcom_hold_no_token(airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection):
    conn_id = kibo_connection()
    airflow.wait_for_dag(SWITCH_WAIT)
    run_id = airflow.trigger(SWITCH_WAIT, conf={"conn_id": conn_id, "account": 1001})
    assert airflow.wait_for_run(SWITCH_WAIT, run_id) == "success"

    rendered = airflow.rendered_fields(SWITCH_WAIT, run_id, "switch")
    assert rendered == {"developer_account_id": "1001", "tenant_id": None, "kibo_conn_id": conn_id, "force_login": False}
    seen = json.dumps(
        [airflow.rendered_fields(SWITCH_WAIT, run_id, t) for t in ("switch", "wait_poke", "wait_deferred")]
        + [airflow.xcom_value(SWITCH_WAIT, run_id, t) for t in ("switch", "wait_poke", "wait_deferred", "downstream")]
    )
    assert not [s[:6] for s in emulator.issued_secrets() if s in seen]


def test_inaccessible_account_fails_its_task_once_without_retrying(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(INACCESSIBLE)

    run_id = airflow.trigger(INACCESSIBLE, conf={"conn_id": conn_id})

    assert airflow.wait_for_run(INACCESSIBLE, run_id) == "failed"
    (ti,) = airflow.task_instances(INACCESSIBLE, run_id)
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    log = airflow.task_log(INACCESSIBLE, run_id, "switch")
    assert "No access to Kibo developer account 1999" in log
    assert "1001, 1002, 1003" in log


def test_every_sensor_mode_times_out_failing_or_skipping(
    airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection
):
    conn_id = kibo_connection()
    airflow.wait_for_dag(SENSOR_TIMEOUT)

    run_id = airflow.trigger(SENSOR_TIMEOUT, conf={"conn_id": conn_id})

    assert airflow.wait_for_run(SENSOR_TIMEOUT, run_id) == "failed"
    assert airflow.task_states(SENSOR_TIMEOUT, run_id) == {
        "poke_fails": "failed", "poke_skips": "skipped",
        "reschedule_fails": "failed", "reschedule_skips": "skipped",
        "deferred_fails": "failed", "deferred_skips": "skipped",
    }
    for task in ("poke_fails", "reschedule_fails", "deferred_fails"):
        assert (
            "Timed out waiting for a Kibo ticket for developer account 1002 valid for at least 0:05:00 in the "
            "ticket store"
        ) in airflow.task_log(SENSOR_TIMEOUT, run_id, task), task
    assert "Trigger fired event" in airflow.task_log(SENSOR_TIMEOUT, run_id, "deferred_skips"), "the trigger ended it"
