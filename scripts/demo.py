"""
The demo: ``kibo_per_account_pipeline``, then ``kibo_tenant_orders`` with a user's Connection and
again with an application's, end to end against the bundled Kibo emulator.

Run it with ``python3 scripts/dev.py demo``. It prepares an Airflow home with SQLite under
``.kibo-demo/`` (ignored by git), starts the emulator on loopback, points the
``kibo_developer_default`` Connection at it, runs the per-account example DAG with
``airflow dags test`` for the emulator's three developer accounts plus one the demo user cannot
access, then the tenant orders DAG for its three tenants plus one it cannot access, then the same
DAG with the ``kibo_application_default`` Connection (the emulator's demo application, installed on
two of the three tenants), and prints what happened. Nothing keeps running afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_HOME = REPO / ".kibo-demo"
ACCOUNTS = [1001, 1002, 1003, 1999]
TENANTS = [100001, 100002, 100003, 199999]
APP_TENANTS = [100001, 100002, 100003]
"""The demo application is installed on the first two."""


def main() -> int:
    from airflow_provider_kibo.testing import DEMO_APPLICATIONS, DEMO_USERS, KiboEmulator

    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    output_dir, log_file = DEMO_HOME / "output", DEMO_HOME / "airflow-dags-test.log"
    DEMO_HOME.mkdir()
    user, app = DEMO_USERS[0], DEMO_APPLICATIONS[0]
    with KiboEmulator(DEMO_USERS) as emulator:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(DEMO_HOME / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
            "AIRFLOW_CONN_KIBO_DEVELOPER_DEFAULT": json.dumps(
                {"conn_type": "kibo_developer", "host": emulator.base_url, "login": user.email,
                 "password": user.password, "extra": {"developer_account_id": ACCOUNTS[0]}}
            ),
            "AIRFLOW_CONN_KIBO_APPLICATION_DEFAULT": json.dumps(
                {"conn_type": "kibo_application", "host": emulator.base_url, "login": app.key,
                 "password": app.shared_secret}
            ),
        }
        print(f"Kibo emulator listening on {emulator.base_url}")
        print(f"Running kibo_per_account_pipeline for accounts {ACCOUNTS} (about a minute) ...", flush=True)
        with log_file.open("w") as log:
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, stdout=log, stderr=log,
                           check=True)
            conf = json.dumps({"accounts": ACCOUNTS, "output_dir": str(output_dir)})
            run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "kibo_per_account_pipeline",
                                  "--conf", conf], env=env, stdout=log, stderr=log)
        developer_calls = emulator.status_counts()
        print(f"Running kibo_tenant_orders for tenants {TENANTS} (about a minute) ...", flush=True)
        with log_file.open("a") as log:
            conf = json.dumps({"tenants": TENANTS, "output": str(output_dir / "orders")})
            orders_run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "kibo_tenant_orders",
                                         "--conf", conf], env=env, stdout=log, stderr=log)
        calls = emulator.status_counts()
        emulator.reset_counters()
        print(f"Running kibo_tenant_orders with the application {app.key} for tenants {APP_TENANTS} ...",
              flush=True)
        with log_file.open("a") as log:
            conf = json.dumps({"conn_id": "kibo_application_default", "tenants": APP_TENANTS,
                               "output": str(output_dir / "app-orders")})
            app_run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "kibo_tenant_orders",
                                      "--conf", conf], env=env, stdout=log, stderr=log)
        app_calls = emulator.status_counts()

    report_accounts(output_dir, log_file, developer_calls)
    report_tenants(output_dir / "orders", log_file, calls)
    report_application(output_dir / "app-orders", log_file, app_calls)
    print(f"\nOutputs: {output_dir}\nAirflow's output and the task logs: {log_file}")
    runs = (("kibo_per_account_pipeline", run), ("kibo_tenant_orders", orders_run),
            ("kibo_tenant_orders with the application", app_run))
    failed = [name for name, done in runs if done.returncode != 0]
    print(f"{', '.join(failed)} failed; see the log." if failed else "All three runs succeeded.")
    return 1 if failed else 0


def report_accounts(output_dir: Path, log_file: Path, calls: dict[str, dict[int, int]]) -> None:
    """Print the applications per account and the developer-ticket calls the pipeline cost."""
    print(f"\n{'account':>8}  {'name':<18} {'applications':>12}  ticket valid until")
    for account in ACCOUNTS:
        result = output_dir / f"{account}.json"
        if result.exists():
            data = json.loads(result.read_text())
            print(f"{account:>8}  {data['account_name']:<18} {len(data['applications']):>12}  "
                  f"{data['ticket_valid_until']}")
        elif f"No access to Kibo developer account {account}" in log_file.read_text():
            print(f"{account:>8}  (the user has no access: its switch task failed, the others went on)")
        else:
            print(f"{account:>8}  (its pipeline failed; see the Airflow output below)")
    logins = calls["create"].get(200, 0)
    switches = calls["refresh"].get(200, 0)
    pages = sum(calls["apppackages"].values())
    print(f"\nKibo calls: {logins} login, {switches} account switches, {pages} application pages, "
          f"{sum(sum(c.values()) for c in calls.values())} requests in all.")


def report_tenants(orders_dir: Path, log_file: Path, calls: dict[str, dict[int, int]]) -> None:
    """Print the orders exported per tenant and the tenant-ticket calls the export cost."""
    print(f"\n{'tenant':>8}  {'orders':>6}  file")
    for tenant in TENANTS:
        files = sorted((orders_dir / str(tenant)).glob("*.jsonl"))
        if files:
            print(f"{tenant:>8}  {sum(1 for _ in files[-1].open()):>6}  {files[-1]}")
        elif f"No access to Kibo tenant {tenant}" in log_file.read_text():
            print(f"{tenant:>8}  (the user has no access: its switch task failed, the others went on)")
        else:
            print(f"{tenant:>8}  (its export failed; see the Airflow output below)")
    logins = calls["tenant_create"].get(200, 0)
    switches = calls["tenant_refresh"].get(200, 0)
    pages = sum(calls["orders"].values())
    print(f"\nKibo tenant calls: {logins} login, {switches} tenant switches, {pages} order pages.")


def report_application(orders_dir: Path, log_file: Path, calls: dict[str, dict[int, int]]) -> None:
    """Print the orders exported per tenant with the application's Connection, and the Kibo calls it took."""
    print(f"\n{'tenant':>8}  {'orders':>6}  file (application credentials)")
    for tenant in APP_TENANTS:
        files = sorted((orders_dir / str(tenant)).glob("*.jsonl"))
        if files:
            print(f"{tenant:>8}  {sum(1 for _ in files[-1].open()):>6}  {files[-1]}")
        elif f"may not call tenant {tenant}" in log_file.read_text():
            print(f"{tenant:>8}  (the application is not installed there: its switch task failed, the others went on)")
        else:
            print(f"{tenant:>8}  (its export failed; see the Airflow output below)")
    tokens = calls["app_oauth"].get(200, 0) + calls["app_ticket"].get(200, 0)
    print(f"\nKibo application calls: {tokens} token, {calls['app_refresh'].get(200, 0)} refreshes, "
          f"{sum(calls['tenant_lookup'].values())} tenant lookups, {sum(calls['orders'].values())} order pages, "
          f"and {sum(calls[r].get(200, 0) for r in ('create', 'tenant_create', 'tenant_refresh'))} user logins or "
          "switches.")


if __name__ == "__main__":
    sys.exit(main())
