"""
Kibo auth calls of the ``kibo_tenant_orders`` example DAG over 10 tenants, two runs in one token lifetime.

The DAG runs with ``dag.test()`` against the emulator (a user with 10 tenants, 1-hour tokens), twice
in a row, with tickets in the metadata DB's Variables as a deployment shares them. The floor is one
login and one switch per further tenant for the first run, and no auth call for the second (every
ticket is still valid). A provider without shared tickets would log in once per tenant and run.

Run: ``python3 scripts/dev.py bench tenant_calls.py``
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[1] / "dags_examples" / "kibo_tenant_orders.py"
HOME = tempfile.mkdtemp(prefix="kibo-bench-tenants-")
# dag.test() finds the DAG it runs by syncing the DAGs folder, read when Airflow is imported.
os.environ.update(
    {"AIRFLOW_HOME": HOME, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent)}
)

TENANTS = list(range(300001, 300011))
AUTH_ROUTES = ("tenant_create", "tenant_refresh")


def main() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.sdk import DAG

    from airflow_provider_kibo.testing import EmulatorSite, EmulatorTenant, EmulatorUser, KiboEmulator
    from airflow_provider_kibo.testing.models import DEMO_USERS

    demo = DEMO_USERS[0]
    tenants = [EmulatorTenant(t, f"Tenant {t}", [EmulatorSite(t * 10 + 1, "Web")], order_count=20) for t in TENANTS]
    user = EmulatorUser(demo.email, demo.password, demo.accounts, tenants=tenants)
    with KiboEmulator([user]) as emulator:
        os.environ["AIRFLOW_CONN_KIBO_BENCH"] = json.dumps({
            "conn_type": "kibo_developer", "host": emulator.base_url, "login": user.email, "password": user.password,
        })
        (dag,) = [v for v in runpy.run_path(str(DAG_FILE)).values() if isinstance(v, DAG)]
        rows = []
        for run in (1, 2):
            before = emulator.counters()
            result = dag.test(run_conf={"conn_id": "kibo_bench", "tenants": TENANTS, "output": HOME})
            after = emulator.counters()
            used = {route: after[route] - before[route] for route in (*AUTH_ROUTES, "orders")}
            failed = sum(ti.state != "success" for ti in result.get_task_instances())
            rows.append((run, used, failed))
    floor = {1: (1, len(TENANTS) - 1), 2: (0, 0)}
    print(f"kibo_tenant_orders over {len(TENANTS)} tenants, two runs within one token lifetime\n")
    print("| run | logins | tenant switches | auth calls | floor (logins + switches) | naive auth calls | order pages |"
          " failed tasks |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run, used, failed in rows:
        logins, switches = used["tenant_create"], used["tenant_refresh"]
        print(f"| {run} | {logins} | {switches} | {logins + switches} | {sum(floor[run])} | {len(TENANTS)} "
              f"| {used['orders']} | {failed} |")


if __name__ == "__main__":
    main()
