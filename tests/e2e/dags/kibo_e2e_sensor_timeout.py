"""A wait that never ends well: each sensor mode times out, failing, or skipping with soft_fail."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

with DAG("kibo_e2e_sensor_timeout", schedule=None, params={"conn_id": "kibo"}) as dag:
    # Nothing ever stores a ticket for account 1002 in this DAG, so every sensor runs into its timeout.
    # A task instance that comes back within seconds of its previous run (a short reschedule, a trigger
    # that fires at once) can beat the executor's report that the previous run ended, and the scheduler
    # then fails it ("state changed externally"), whatever the run said; hence the longer waits there.
    for mode, deferrable, poke_interval, timeout in (
        ("poke", False, 1, 3), ("reschedule", False, 6, 4), ("poke", True, 1, 10)
    ):
        for soft_fail in (False, True):
            KiboTicketSensor(
                task_id=f"{'deferred' if deferrable else mode}_{'skips' if soft_fail else 'fails'}",
                kibo_conn_id="{{ params.conn_id }}", developer_account_id=1002,
                min_valid_for=timedelta(minutes=5), mode=mode, deferrable=deferrable,
                poke_interval=poke_interval, timeout=timeout, soft_fail=soft_fail,
            )
