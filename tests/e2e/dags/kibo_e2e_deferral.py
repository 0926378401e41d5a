"""Deferral through the triggerer: a ticket that arrives late, and a wait that times out."""

from __future__ import annotations

import time
from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

CONN = "{{ params.conn_id }}"

# Each trigger fires 15 s or more after its deferral: Airflow 3.3.2's scheduler fails a deferred task
# whose trigger fired before it took in the executor's report of the deferral (apache/airflow#67287),
# which a loaded machine can delay by several seconds.
RESUME_AFTER = 15

with DAG("kibo_e2e_deferral", schedule=None, params={"conn_id": "kibo"}):
    # Nothing stores a ticket before this sensor starts, so it must defer to the triggerer; a task
    # that runs alongside stores one a little later.
    KiboTicketSensor(task_id="wait_late", kibo_conn_id=CONN, developer_account_id=1003,
                     min_valid_for=timedelta(minutes=58), deferrable=True, poke_interval=2, timeout=120)

    @task
    def late_switch(params=None):
        time.sleep(RESUME_AFTER)
        return KiboDeveloperHook(params["conn_id"], 1003).refresh_ticket().summary()

    late_switch()

    KiboTicketSensor(task_id="wait_timeout", kibo_conn_id=CONN, developer_account_id=1999, deferrable=True,
                     poke_interval=1, timeout=RESUME_AFTER, soft_fail=True)
