"""The README's daily export: the UTC day before the run, from templates on the logical date."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from airflow_provider_kibo.transfers.kibo_to_object_storage import KiboToObjectStorageOperator

with DAG("kibo_e2e_export_daily", schedule="30 0 * * *", start_date=datetime(2026, 1, 1, tzinfo=UTC),
         params={"conn_id": "kibo", "folder": ""}) as dag:
    KiboToObjectStorageOperator(
        task_id="export_orders",
        kibo_conn_id="{{ params.conn_id }}",
        tenant_id=100001,
        window_start="{{ macros.ds_add(ds, -1) }}",
        window_end="{{ ds }}",
        destination="{{ params.folder }}/{{ macros.ds_add(ds, -1) }}.jsonl.gz",
    )
