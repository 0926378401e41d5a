"""Tasks that write different slots of one Connection's ``extra.tickets`` at the same moment."""

from __future__ import annotations

from airflow.sdk import DAG, BaseHook, task

with DAG(
    "kibo_e2e_connection_writers",
    schedule=None,
    params={"conn_id": "kibo", "api_conn_id": "airflow_api", "writers": 4, "slots": 5, "barrier_dir": "/tmp"},
):

    @task
    def write(writer: int, params=None) -> int:
        """Meet the other writers at a barrier, then write this writer's slots one after another."""
        import time
        from pathlib import Path

        from airflow_provider_kibo.connection_store import AirflowApiClient, ConnectionTicketStore
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
        from airflow_provider_kibo.sealing import TicketSeal
        from airflow_provider_kibo.variables import Variables

        ticket = KiboDeveloperHook(params["conn_id"]).get_ticket()
        api = AirflowApiClient.from_connection(BaseHook.get_connection(params["api_conn_id"]), timeout=30)
        store = ConnectionTicketStore(params["conn_id"], api, TicketSeal(params["conn_id"], Variables(supervised=True)))
        barrier = Path(params["barrier_dir"])
        (barrier / str(writer)).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < params["writers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        for slot in range(params["slots"]):
            store.write(f"writer{writer}_{slot}", ticket)
        return params["slots"]

    write.expand(writer=[0, 1, 2, 3])
