"""Constants and helpers shared by the tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_kibo.transport import RetryPolicy

EMAIL = "developer@example.com"
PASSWORD = "emulator-password"
FAST_RETRIES = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, retry_after_max=5)


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """Define a Connection the way users do without a database: an ``AIRFLOW_CONN_*`` variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kibo_developer", **fields}))
