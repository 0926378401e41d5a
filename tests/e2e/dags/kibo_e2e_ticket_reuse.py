"""Three tasks in three processes share one ticket; the last one logs it carelessly."""

from __future__ import annotations

import logging
import os

from airflow.sdk import DAG, task

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

log = logging.getLogger(__name__)

with DAG("kibo_e2e_ticket_reuse", schedule=None, params={"conn_id": "kibo"}):

    @task
    def first(params=None):
        hook = KiboDeveloperHook(params["conn_id"])
        apps = list(hook.paginate("/platform/appdev/apppackages/collection"))
        return {"pid": os.getpid(), "apps": len(apps), "ticket": hook.get_ticket().summary()}

    @task
    def second(params=None):
        ticket = KiboDeveloperHook(params["conn_id"]).get_ticket()
        return {"pid": os.getpid(), "ticket": ticket.summary()}

    @task
    def careless(params=None):
        ticket = KiboDeveloperHook(params["conn_id"]).get_ticket()
        log.info("Deliberately logging the access token: %s", ticket.access_token)
        print("Deliberately printing the refresh token:", ticket.refresh_token)
        return "logged"

    first() >> second() >> careless()
