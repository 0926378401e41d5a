"""Each account's ticket renewed again and again, in a task of its own: what rotations leave at rest."""

from __future__ import annotations

from airflow.sdk import DAG, task

with DAG("kibo_e2e_rotations", schedule=None,
         params={"conn_id": "kibo", "accounts": [1001, 1002, 1003], "renewals": 30}):

    @task
    def accounts(params=None) -> list[int]:
        return params["accounts"]

    @task(max_active_tis_per_dag=1)  # one at a time: a renewal ahead skips while another holds the lock
    def renew(account: int, params=None) -> dict:
        """With tokens that live less than the refresh margin and its head start, each call renews."""
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        hook = KiboDeveloperHook(params["conn_id"], account)
        for _ in range(params["renewals"]):
            hook.get_ticket()
        return {"account": account, "obtained": hook.tickets_obtained}

    renew.expand(account=accounts())
