"""
Export the orders of Kibo tenants, one JSON lines file per tenant and day.

For each tenant in the ``tenants`` param (dynamic task mapping over a task group):

1. ``switch``: ``KiboRefreshTicketOperator`` makes sure a fresh ticket for the tenant is stored: with
   a user's Connection an admin-user ticket (one login for the Connection, then a switch per tenant),
   with an application's Connection the application's token (one for the Connection) and the tenant's
   host, which also checks that the application is installed there;
2. ``wait``: ``KiboTicketSensor`` confirms it is there and valid for the next 10 minutes;
3. ``export``: pages through the tenant's ``GET /commerce/orders`` updated on the UTC day before the
   run's logical date (the day that just ended, for the run at midnight) and writes them to
   ``<output_dir>/<tenant>/<day>.jsonl``. A re-run of the same logical date writes the same file (it
   replaces it whole).

Then ``summarise`` reports the orders per tenant. A tenant the Connection cannot reach fails its own
``switch`` (a user's Connection lists the tenants the user does have; an application's says to install
it there); the other tenants still finish.

Needs either kind of Connection, named by the ``conn_id`` param: a ``kibo_developer`` Connection (the
Kibo home URL as host, the user's email address and password: tenant tickets are only issued to a
login) or a ``kibo_application`` Connection (the auth host, the application key and the shared
secret). The defaults of ``tenants`` are the tenants of the bundled emulator's demo user.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

ORDERS = "/commerce/orders"

with DAG(
    dag_id="kibo_tenant_orders",
    description="Export each Kibo tenant's orders of the day as JSON lines",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kibo"],
    params={
        "conn_id": Param("kibo_developer_default", type="string",
                         description="A kibo_developer or a kibo_application Connection"),
        "tenants": Param([100001, 100002, 100003], type="array", items={"type": "integer"}, minItems=1,
                         description="Kibo tenants to export the orders of"),
        "output_dir": Param(os.path.join(tempfile.gettempdir(), "kibo_tenant_orders"), type="string",
                            description="Folder for one <tenant>/<day>.jsonl file per tenant and day"),
    },
) as dag:

    @task
    def tenants(params=None) -> list[int]:
        return list(dict.fromkeys(params["tenants"]))

    @task
    def export(tenant: int, params=None, logical_date=None, dag_run=None) -> dict:
        """Write the tenant's orders of the day before the logical date to ``<output_dir>/<tenant>/<day>.jsonl``."""
        import json
        from pathlib import Path

        from airflow_provider_kibo.scope import scope_hook

        moment = (logical_date or dag_run.run_after).astimezone(UTC)  # a manual run may have no logical date
        day_end = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        day = day_end - timedelta(days=1)
        start, end = (d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in (day, day_end))
        hook = scope_hook(params["conn_id"], None, tenant)  # a user's tenant ticket or an application's token
        orders = hook.paginate(ORDERS, params={
            "filter": f"auditInfo.updateDate ge {start} and auditInfo.updateDate lt {end}",
            "sortBy": "auditInfo.updateDate asc",
        })
        output = Path(params["output_dir"]) / str(tenant) / f"{day:%Y-%m-%d}.jsonl"
        output.parent.mkdir(parents=True, exist_ok=True)
        partial, count = output.with_suffix(".jsonl.partial"), 0
        with partial.open("w") as lines:
            for order in orders:
                lines.write(json.dumps(order, sort_keys=True) + "\n")
                count += 1
        partial.replace(output)
        return {"tenant_id": tenant, "orders": count, "output": str(output), "from": start, "until": end}

    @task_group
    def tenant(tenant_id: int):
        switch = KiboRefreshTicketOperator(task_id="switch", kibo_conn_id="{{ params.conn_id }}", tenant_id=tenant_id)
        wait = KiboTicketSensor(task_id="wait", kibo_conn_id="{{ params.conn_id }}", tenant_id=tenant_id,
                                min_valid_for=timedelta(minutes=10), poke_interval=10, timeout=300)
        exported = export(tenant_id)
        switch >> wait >> exported
        return exported

    @task(trigger_rule="all_done")
    def summarise(results, params=None) -> dict:
        """Orders per tenant, and the tenants whose export failed."""
        if isinstance(results, dict):  # Airflow 3.3 hands over the one result of a mapping that had one success
            results = [results]
        done = {r["tenant_id"]: r for r in results if r}
        failed = [t for t in dict.fromkeys(params["tenants"]) if t not in done]
        for result in done.values():
            print(f"tenant {result['tenant_id']}: {result['orders']} orders -> {result['output']}")
        if failed:
            print(f"tenants that failed: {', '.join(map(str, failed))}")
        return {"tenants": list(done.values()), "failed": failed}

    summarise(tenant.expand(tenant_id=tenants()))
