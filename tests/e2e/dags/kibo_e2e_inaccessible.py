"""An account the user cannot access fails its task once, without retries."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator

with DAG("kibo_e2e_inaccessible", schedule=None, params={"conn_id": "kibo"}):
    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id="{{ params.conn_id }}", developer_account_id=1999,
                              retries=3, retry_delay=timedelta(seconds=1))
