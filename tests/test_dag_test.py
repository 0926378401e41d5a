"""The switch >> wait >> downstream DAG under ``dag.test()`` (in-process; see tests/e2e for the real thing)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

DAGS = Path(__file__).parent / "e2e" / "dags"


def load_dag(dag_id: str):
    """Run the DAG file as ``python dag_file.py`` would, and take its DAG."""
    from airflow.sdk import DAG

    (dag,) = [v for v in runpy.run_path(str(DAGS / f"{dag_id}.py")).values() if isinstance(v, DAG)]
    return dag


@pytest.mark.usefixtures("airflow_db")
def test_switch_wait_downstream_runs_green_under_dag_test(kibo_emulator, conn_id):
    dag = load_dag("kibo_e2e_switch_wait")

    run = dag.test(run_conf={"conn_id": conn_id, "account": 1003})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert set(states.values()) == {"success"}
    assert kibo_emulator.counters()["create"] == 1
    values = json.dumps([ti.xcom_pull(task_ids=ti.task_id) for ti in run.get_task_instances() if ti.map_index < 0])
    assert not [s[:6] for s in kibo_emulator.issued_secrets() if s in values]



@pytest.mark.timeout(180)
@pytest.mark.usefixtures("airflow_db")
def test_every_sensor_mode_times_out_under_dag_test(kibo_emulator, conn_id, capfd):
    dag = load_dag("kibo_e2e_sensor_timeout")

    run = dag.test(run_conf={"conn_id": conn_id})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "poke_fails": "failed", "poke_skips": "skipped",
        "reschedule_fails": "failed", "reschedule_skips": "skipped",
        "deferred_fails": "failed", "deferred_skips": "skipped",
    }
    failures = capfd.readouterr().out.count(
        "AirflowSensorTimeout: Timed out waiting for a Kibo ticket for developer account 1002 valid for at least "
        "0:05:00 in the ticket store"
    )
    assert failures == 3, "each failing mode names the account and the condition"
