"""switch >> wait (poke, reschedule, deferrable) >> downstream, and a switch mapped over accounts."""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

CONN = "{{ params.conn_id }}"

with DAG("kibo_e2e_switch_wait", schedule=None, params={"conn_id": "kibo", "account": 1002}) as dag:
    switch = KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=CONN, developer_account_id="{{ params.account }}")
    waits = [
        KiboTicketSensor(task_id="wait_poke", kibo_conn_id=CONN, developer_account_id="{{ params.account }}",
                         mode="poke", poke_interval=2, timeout=60),
        KiboTicketSensor(task_id="wait_reschedule", kibo_conn_id=CONN, developer_account_id="{{ params.account }}",
                         mode="reschedule", poke_interval=2, timeout=60),
        KiboTicketSensor(task_id="wait_deferred", kibo_conn_id=CONN, developer_account_id="{{ params.account }}",
                         deferrable=True, poke_interval=2, timeout=60),
    ]

    @task
    def downstream(params=None):
        hook = KiboDeveloperHook(params["conn_id"], params["account"])
        return len(list(hook.paginate("/platform/appdev/apppackages/collection")))

    switch >> waits >> downstream()

    switch_many = KiboRefreshTicketOperator.partial(task_id="switch_many", kibo_conn_id=CONN).expand(
        developer_account_id=[1001, 1002, 1003]
    )
