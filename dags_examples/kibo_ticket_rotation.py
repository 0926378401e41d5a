"""
Keep Kibo developer auth tickets fresh, so other DAGs never wait on Kibo.

Every 30 minutes this DAG makes sure the ticket of the Connection's default developer account, and
of each account in the ``accounts`` param, stays valid for at least the next run (35 minutes):
a ticket that would expire sooner is refreshed, one that lasts longer is left alone (no call to
Kibo). Refreshes run one at a time through the Airflow pool ``kibo_ticket_refresh``, which you
create once with one slot::

    airflow pools set kibo_ticket_refresh 1 "Kibo ticket refreshes, one at a time"

Trigger it with ``{"full_credential_rotation": true}`` after changing the user's password (or to end
every session of the Connection): its first task then logs in with the Connection's current
password and logs out every earlier ticket of the Connection, before the accounts are kept fresh as
usual.

Needs a ``kibo_developer`` Connection (default id ``kibo_developer_default``): the Kibo home URL as
host, the user's email address and password, and ``{"developer_account_id": <id>}`` as extra.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator

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
        "full_credential_rotation": Param(False, type="boolean",
                                          description="Log in with the password and log out every earlier ticket first"),
    },
) as dag:

    # The default account first: with full_credential_rotation a new login that logs out every
    # earlier ticket, otherwise the same keep-fresh check as the other accounts.
    rotate_credentials = KiboRefreshTicketOperator(
        task_id="rotate_credentials",
        kibo_conn_id="{{ params.conn_id }}",
        force_login="{{ params.full_credential_rotation }}",
        min_valid_for=timedelta(minutes=35),
        pool=REFRESH_POOL,
    )

    @task
    def accounts_to_refresh(params=None) -> list[int]:
        """The Connection's default account first, then the others, each once."""
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        default = KiboDeveloperHook(params["conn_id"]).account_id()
        return list(dict.fromkeys([default, *params["accounts"]]))

    refresh = KiboRefreshTicketOperator.partial(
        task_id="refresh",
        kibo_conn_id="{{ params.conn_id }}",
        min_valid_for=timedelta(minutes=35),
        pool=REFRESH_POOL,
    ).expand(developer_account_id=accounts_to_refresh())

    rotate_credentials >> refresh
