"""
Keep Kibo developer auth tickets fresh, so other DAGs never wait on Kibo.

Every 30 minutes this DAG makes sure the ticket of the Connection's default developer account, and
of each account in the ``accounts`` param, stays valid for at least the next run (35 minutes):
a ticket that would expire sooner is refreshed, one that lasts longer is left alone (no call to
Kibo). Refreshes run one at a time through the Airflow pool ``kibo_ticket_refresh``, which you
create once with one slot::

    airflow pools set kibo_ticket_refresh 1 "Kibo ticket refreshes, one at a time"

Needs a ``kibo_developer`` Connection (default id ``kibo_developer_default``): the Kibo home URL as
host, the user's email address and password, and ``{"developer_account_id": <id>}`` as extra.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_kibo.operators.developer import KiboRefreshTicketOperator

REFRESH_POOL = "kibo_ticket_refresh"

with DAG(
    dag_id="kibo_ticket_rotation",
    description="Refresh Kibo developer auth tickets before they expire",
    doc_md=__doc__,
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kibo"],
    params={
        "conn_id": Param("kibo_developer_default", type="string", description="The kibo_developer Connection"),
        "accounts": Param([], type="array", items={"type": "integer"},
                          description="Developer accounts to keep fresh besides the Connection's default one"),
    },
) as dag:

    @task
    def accounts_to_refresh(params=None) -> list[int]:
        """The Connection's default account first, then the others, each once."""
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        default = KiboDeveloperHook(params["conn_id"]).account_id()
        return list(dict.fromkeys([default, *params["accounts"]]))

    KiboRefreshTicketOperator.partial(
        task_id="refresh",
        kibo_conn_id="{{ params.conn_id }}",
        min_valid_for=timedelta(minutes=35),
        pool=REFRESH_POOL,
    ).expand(developer_account_id=accounts_to_refresh())
