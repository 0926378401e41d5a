"""Constants and helpers shared by the tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_kibo.testing import DEMO_USERS, EmulatorAccount, EmulatorSite, EmulatorTenant, EmulatorUser
from airflow_provider_kibo.transport import RetryPolicy

EMAIL = "developer@example.com"
PASSWORD = "emulator-password"
OTHER_EMAIL = "Other.Developer@example.com"
OTHER_PASSWORD = "other-emulator-password"
TWO_USERS = (
    *DEMO_USERS,
    EmulatorUser(
        OTHER_EMAIL,
        OTHER_PASSWORD,
        [EmulatorAccount(2001, "Umbrella Dev", app_count=2)],
        tenants=[EmulatorTenant(200001, "Umbrella Shop", [EmulatorSite(200011, "Umbrella Web")], order_count=3)],
    ),
)
"""The demo user (accounts 1001-1003, tenants 100001-100003) and another Kibo user (account 2001,
tenant 200001), for credential changes."""
TENANT_ROUTES_UNUSED = {
    "tenant_create": 0, "tenant_refresh": 0, "tenant_delete": 0, "orders": 0, "order_create": 0,
    "customer_accounts": 0, "app_oauth": 0, "app_ticket": 0, "app_refresh": 0, "app_delete": 0, "tenant_lookup": 0,
}
"""The emulator's counters of the tenant-ticket, order, customer and application routes, of a test that calls
none of them."""
FAST_RETRIES = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, retry_after_max=5)


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """Define a Connection the way users do without a database: an ``AIRFLOW_CONN_*`` variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kibo_developer", **fields}))
