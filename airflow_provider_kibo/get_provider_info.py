"""Provider metadata read by Airflow's providers manager (the ``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kibo import __version__

CONNECTION_TYPE = "kibo_developer"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "developer_account_id": {
        "label": "Default developer account id",
        "description": "The Kibo developer account that tasks use unless they name another.",
        "schema": {"type": ["integer", "null"]},
    },
    "refresh_margin_seconds": {
        "label": "Refresh margin (seconds)",
        "description": "Refresh the access token this long before it expires (Kibo's SDKs use 180).",
        "schema": {"type": ["integer", "null"], "default": 180},
    },
    "request_timeout_seconds": {
        "label": "Request timeout (seconds)",
        "description": "How long one request to Kibo may take.",
        "schema": {"type": ["integer", "null"], "default": 30},
    },
    "verify_tls": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "airflow_api_conn_id": {
        "label": "Airflow API connection id",
        "description": (
            "Optional: a Connection to this Airflow's API server (URL, login, password). When set, "
            "tickets are written back into this Connection's extra; otherwise into Variables."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "refresh_token": {
        "label": "Seed refresh token",
        "description": "Optional, for users who do not store a password here.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}
"""The extra fields of the Connection form (``seed_ticket`` and ``tickets`` are set in ``extra`` itself)."""

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Kibo home URL", "login": "Email address", "password": "Password"},
    "placeholders": {
        "host": "https://home.mozu.com",
        "login": "developer@example.com",
        "developer_account_id": "1001",
        "refresh_margin_seconds": "180",
        "request_timeout_seconds": "30",
        "airflow_api_conn_id": "airflow_api",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow."""
    return {
        "package-name": "airflow-provider-kibo",
        "name": "Kibo Commerce",
        "description": (
            "Kibo Commerce auth tickets for developer accounts and tenants: created, refreshed, shared "
            "and never leaked."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Kibo Commerce",
                "external-doc-url": "https://docs.kibocommerce.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Kibo Commerce",
                "python-modules": ["airflow_provider_kibo.hooks.developer", "airflow_provider_kibo.hooks.tenant"],
            }
        ],
        "operators": [
            {
                "integration-name": "Kibo Commerce",
                "python-modules": ["airflow_provider_kibo.operators.tickets"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Kibo Commerce",
                "python-modules": ["airflow_provider_kibo.sensors.tickets"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Kibo Commerce",
                "python-modules": ["airflow_provider_kibo.triggers.tickets"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kibo.hooks.developer.KiboDeveloperHook",
                "hook-name": "Kibo Developer",
                "connection-type": CONNECTION_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
