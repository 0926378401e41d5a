"""Many tasks on several workers asking for the same Connection's tickets at once, then a check.

With ``tenant`` set, the Connection is an application's and every task calls that tenant; otherwise
each task works on its developer account."""

from __future__ import annotations

from airflow.sdk import DAG, task

with DAG(
    "kibo_e2e_storm",
    schedule=None,
    params={"conn_id": "kibo", "accounts": [], "tenant": None, "barrier_dir": "", "loop_seconds": 0},
    max_active_tasks=32,
):

    @task
    def accounts(params=None) -> list[int]:
        return params["accounts"]

    @task
    def hammer(account: int, params=None, ti=None) -> dict:
        """Meet the other tasks at a barrier, then call get_ticket() in a loop for loop_seconds."""
        import os
        import time
        from pathlib import Path

        from airflow_provider_kibo.scope import scope_hook

        barrier = Path(params["barrier_dir"])
        (barrier / str(ti.map_index)).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < len(params["accounts"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        tenant = params["tenant"]
        hook = scope_hook(params["conn_id"], None if tenant else account, tenant)
        calls, slowest, expiries = 0, 0.0, set()
        stop = time.monotonic() + params["loop_seconds"]
        while True:
            began = time.monotonic()
            ticket = hook.get_ticket()
            slowest = max(slowest, time.monotonic() - began)
            calls += 1
            expiries.add(ticket.access_token_expires_at.isoformat())
            if time.monotonic() >= stop:
                break
            time.sleep(0.1)
        return {"machine": os.environ.get("AIRFLOW_E2E_MACHINE"), "calls": calls,
                "slowest_ms": round(slowest * 1000), "tickets_seen": len(expiries)}

    @task
    def check(results, params=None) -> dict:
        """A fresh hook finds a working ticket for every account (or the tenant) in the store, and uses it."""
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
        from airflow_provider_kibo.scope import scope_hook

        if params["tenant"]:
            hook = scope_hook(params["conn_id"], None, params["tenant"])
            stored = hook.stored_ticket()
            return {"stored": stored is not None, "orders": hook.run("GET", "/commerce/orders").json()["totalCount"]}
        hook = KiboDeveloperHook(params["conn_id"])
        found = {}
        for account in dict.fromkeys(params["accounts"]):
            stored = hook.for_account(account).stored_ticket()
            apps = hook.for_account(account).run("GET", "/platform/appdev/apppackages/collection").json()
            found[str(account)] = {"stored": stored is not None, "valid_until": stored and stored.access_token_expires_at.isoformat(),
                                   "applications": apps["totalCount"]}
        return found

    check(hammer.expand(account=accounts()))
