"""One tenant's orders of a window to object storage."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_kibo.transfers.kibo_to_object_storage import KiboToObjectStorageOperator

with DAG("kibo_e2e_export", schedule=None,
         params={"conn_id": "kibo", "tenant": 100001, "destination": "", "start": "", "end": ""}) as dag:
    KiboToObjectStorageOperator(
        task_id="export",
        kibo_conn_id="{{ params.conn_id }}",
        tenant_id="{{ params.tenant }}",
        destination="{{ params.destination }}",
        window_start="{{ params.start }}",
        window_end="{{ params.end }}",
    )
