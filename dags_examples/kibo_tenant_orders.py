"""
Export the orders of Kibo tenants, one JSON lines object per tenant and day, to object storage.

Every day at 00:30 UTC, for each tenant in the ``tenants`` param (dynamic task mapping over a task group):

1. ``switch``: ``KiboRefreshTicketOperator`` makes sure a fresh ticket for the tenant is stored: with
   a user's Connection an admin-user ticket (one login for the Connection, then a switch per tenant),
   with an application's Connection the application's token (one for the Connection) and the tenant's
   host, which also checks that the application is installed there;
2. ``wait``: ``KiboTicketSensor`` confirms it is there and valid for the next 10 minutes;
3. ``export``: ``KiboToObjectStorageOperator`` writes the tenant's orders updated on the UTC day before
   the run (the day that just ended, for the run at 00:30) to ``<output>/<tenant>/<day>.jsonl``, each
   order once even while orders are edited during the export, and whole: a failed attempt leaves no
   partial object, and a rerun of the same day writes the same bytes. Each object gets an asset event
   through the asset alias ``kibo_export``, which DAGs can be scheduled on.

Then ``summarise`` reports the orders per tenant. A tenant the Connection cannot reach fails its own
``switch`` (a user's Connection lists the tenants the user does have; an application's says to install
it there); the other tenants still finish.

Needs either kind of Connection, named by the ``conn_id`` param: a ``kibo_developer`` Connection (the
Kibo home URL as host, the user's email address and password: tenant tickets are only issued to a
login) or a ``kibo_application`` Connection (the auth host, the application key and the shared
secret). ``output`` is a local folder or an object storage URI such as ``s3://bucket/kibo/orders``,
written with the storage's Connection named by ``storage_conn_id`` (e.g. ``aws_default``); end the
object names with ``.gz`` below to compress them. The defaults of ``tenants`` are the tenants of the
bundled emulator's demo user.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor
from airflow_provider_kibo.transfers.kibo_to_object_storage import KiboToObjectStorageOperator

with DAG(
    dag_id="kibo_tenant_orders",
    description="Export each Kibo tenant's orders of the day as JSON lines to object storage",
    doc_md=__doc__,
    schedule="30 0 * * *",  # a cron trigger: runs at 00:30 UTC
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["kibo"],
    params={
        "conn_id": Param("kibo_developer_default", type="string",
                         description="A kibo_developer or a kibo_application Connection"),
        "tenants": Param([100001, 100002, 100003], type="array", items={"type": "integer"}, minItems=1,
                         description="Kibo tenants to export the orders of"),
        "output": Param(os.path.join(tempfile.gettempdir(), "kibo_tenant_orders"), type="string",
                        description="Folder or object storage URI for one <tenant>/<day>.jsonl object per tenant "
                                    "and day"),
        "storage_conn_id": Param(None, type=["null", "string"],
                                 description="The object storage's Connection, e.g. aws_default"),
    },
) as dag:

    @task
    def exports(params=None, logical_date=None, dag_run=None) -> list[dict]:
        """One export per tenant: the UTC day before the run, to ``<output>/<tenant>/<day>.jsonl``."""
        moment = (logical_date or dag_run.run_after).astimezone(UTC)  # a manual run may have no logical date
        end = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=1)
        return [
            {"tenant_id": tenant, "window_start": start.isoformat(), "window_end": end.isoformat(),
             "destination": f"{params['output'].rstrip('/')}/{tenant}/{start:%Y-%m-%d}.jsonl",
             "destination_conn_id": params["storage_conn_id"]}
            for tenant in dict.fromkeys(params["tenants"])
        ]

    @task_group
    def tenant(tenant_id: int, window_start: str, window_end: str, destination: str, destination_conn_id: str | None):
        switch = KiboRefreshTicketOperator(task_id="switch", kibo_conn_id="{{ params.conn_id }}", tenant_id=tenant_id)
        wait = KiboTicketSensor(task_id="wait", kibo_conn_id="{{ params.conn_id }}", tenant_id=tenant_id,
                                min_valid_for=timedelta(minutes=10), poke_interval=10, timeout=300)
        export = KiboToObjectStorageOperator(
            task_id="export",
            kibo_conn_id="{{ params.conn_id }}",
            tenant_id=tenant_id,
            window_start=window_start,
            window_end=window_end,
            destination=destination,
            destination_conn_id=destination_conn_id,
            retries=2,
            retry_delay=timedelta(minutes=5),  # a run in the day's first minutes waits for it to settle
        )
        switch >> wait >> export
        return export.output

    @task(trigger_rule="all_done")
    def summarise(results, params=None) -> dict:
        """Orders per tenant, and the tenants whose export failed."""
        if isinstance(results, dict):  # Airflow 3.3 hands over the one result of a mapping that had one success
            results = [results]
        done = {r["tenant_id"]: r for r in results if r}
        failed = [t for t in dict.fromkeys(params["tenants"]) if t not in done]
        for result in done.values():
            print(f"tenant {result['tenant_id']}: {result['count']} orders -> {result['path']}")
        if failed:
            print(f"tenants that failed: {', '.join(map(str, failed))}")
        return {"tenants": list(done.values()), "failed": failed}

    summarise(tenant.expand_kwargs(exports()))
