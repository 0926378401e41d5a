"""
The demo: the provider's whole ticket flow against the bundled Kibo emulator.

Run it with ``python3 scripts/dev.py demo``. It prepares an Airflow home with SQLite under
``.kibo-demo/`` (ignored by git), starts the emulator on loopback, points a Connection at it, and
uses ``KiboDeveloperHook`` for three developer accounts: log in once, switch accounts with
refreshes, page through each account's applications, reuse the stored tickets, and show the
error for an account the user cannot access. Nothing keeps running afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEMO_HOME = Path(__file__).resolve().parents[1] / ".kibo-demo"
ACCOUNTS = (1001, 1002, 1003)
APPS = "/platform/appdev/apppackages/collection"


def prepare_airflow_home() -> None:
    os.environ["AIRFLOW_HOME"] = str(DEMO_HOME / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def main() -> None:
    prepare_airflow_home()
    from airflow_provider_kibo.errors import KiboAccountAccessError
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.testing import DEMO_USERS, KiboEmulator

    with KiboEmulator(DEMO_USERS) as emulator:
        user = DEMO_USERS[0]
        os.environ["AIRFLOW_CONN_KIBO_DEVELOPER_DEFAULT"] = json.dumps(
            {
                "conn_type": "kibo_developer",
                "host": emulator.base_url,
                "login": user.email,
                "password": user.password,
                "extra": {"developer_account_id": ACCOUNTS[0]},
            }
        )
        print(f"Kibo emulator on {emulator.base_url}; Airflow home {os.environ['AIRFLOW_HOME']}\n")
        hook = KiboDeveloperHook()
        rows = []
        for account in ACCOUNTS:
            ticket = hook.get_ticket(account)
            apps = list(hook.paginate(APPS, page_size=2, developer_account_id=account))
            rows.append((account, ticket.account_name, len(apps), ticket.access_token_expires_at))
        calls_first_pass = emulator.counters()

        for account in ACCOUNTS:
            KiboDeveloperHook().get_ticket(account)  # a new hook, as a new task would be: reads the store
        calls_second_pass = emulator.counters()

        try:
            hook.get_ticket(1999)
            refused = "unexpectedly granted"
        except KiboAccountAccessError as err:
            refused = str(err)

    print(f"{'account':>8}  {'name':<18} {'applications':>12}  ticket valid until")
    for account, name, count, expiry in rows:
        print(f"{account:>8}  {name:<18} {count:>12}  {expiry:%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"\nKibo calls: {calls_first_pass['create']} login, {calls_first_pass['refresh']} account switches, "
        f"{calls_first_pass['apppackages']} application pages."
    )
    print(
        "Reusing the stored tickets from new hooks made "
        f"{calls_second_pass['create'] - calls_first_pass['create']} logins and "
        f"{calls_second_pass['refresh'] - calls_first_pass['refresh']} refreshes."
    )
    print(f"\nAn account the user cannot access fails clearly:\n  {refused}")
    print(f"\nTickets are stored as Airflow Variables in {DEMO_HOME / 'airflow' / 'airflow.db'}.")


if __name__ == "__main__":
    main()
