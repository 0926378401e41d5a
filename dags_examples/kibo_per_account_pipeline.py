"""
A pipeline per Kibo developer account: switch, wait for the ticket, fetch, summarise.

For each account in the ``accounts`` param (dynamic task mapping over a task group):

1. ``switch``: ``KiboRefreshTicketOperator`` makes sure a fresh ticket for the account is stored;
2. ``wait``: ``KiboTicketSensor`` confirms it is there and valid for the next 10 minutes;
3. ``fetch``: pages through ``GET /platform/appdev/apppackages/collection`` for that account and
   writes ``<output_dir>/<account>.json``.

Then ``summarise`` reports the application count per account. An account the user cannot access
fails its own ``switch`` with a message listing the accounts the user does have; the other
accounts still finish, and the summary names the failed ones.

Needs a ``kibo_developer`` Connection (default id ``kibo_developer_default``): the Kibo home URL as
host, the user's email address and password. The defaults of ``accounts`` are the developer
accounts of the bundled emulator's demo user.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task, task_group

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

APPLICATIONS = "/platform/appdev/apppackages/collection"

with DAG(
    dag_id="kibo_per_account_pipeline",
    description="Fetch the applications of each Kibo developer account",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["kibo"],
    params={
        "conn_id": Param("kibo_developer_default", type="string", description="The kibo_developer Connection"),
        "accounts": Param([1001, 1002, 1003], type="array", items={"type": "integer"}, minItems=1,
                          description="Developer accounts to run the pipeline for"),
        "output_dir": Param(os.path.join(tempfile.gettempdir(), "kibo_per_account"), type="string",
                            description="Folder for one JSON file per account"),
    },
) as dag:

    @task
    def accounts(params=None) -> list[int]:
        return list(dict.fromkeys(params["accounts"]))

    @task
    def fetch(account: int, params=None) -> dict:
        """Page through the account's applications and write them to ``<output_dir>/<account>.json``."""
        import json
        from pathlib import Path

        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        hook = KiboDeveloperHook(params["conn_id"], account)
        ticket = hook.get_ticket()
        applications = list(hook.paginate(APPLICATIONS))
        output = Path(params["output_dir"]) / f"{account}.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        summary = {"account_id": account, "account_name": ticket.account_name,
                   "ticket_valid_until": ticket.access_token_expires_at.isoformat()}
        output.write_text(json.dumps({**summary, "applications": applications}, indent=2))
        return {**summary, "applications": len(applications), "output": str(output)}

    @task_group
    def account(account_id: int):
        switch = KiboRefreshTicketOperator(task_id="switch", kibo_conn_id="{{ params.conn_id }}",
                                           developer_account_id=account_id)
        wait = KiboTicketSensor(task_id="wait", kibo_conn_id="{{ params.conn_id }}", developer_account_id=account_id,
                                min_valid_for=timedelta(minutes=10), poke_interval=10, timeout=300)
        fetched = fetch(account_id)
        switch >> wait >> fetched
        return fetched

    @task(trigger_rule="all_done")
    def summarise(results, params=None) -> dict:
        """Applications per account, and the accounts whose pipeline failed."""
        if isinstance(results, dict):  # Airflow 3.3 hands over the one result of a mapping that had one success
            results = [results]
        done = {r["account_id"]: r for r in results if r}
        failed = [a for a in dict.fromkeys(params["accounts"]) if a not in done]
        for result in done.values():
            print(f"account {result['account_id']} ({result['account_name']}): "
                  f"{result['applications']} applications -> {result['output']}")
        if failed:
            print(f"accounts that failed: {', '.join(map(str, failed))}")
        return {"accounts": list(done.values()), "failed": failed}

    summarise(account.expand(account_id=accounts()))
