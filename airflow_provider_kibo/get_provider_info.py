"""Provider metadata read by Airflow's providers manager (the ``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kibo import __version__

CONNECTION_TYPE = "kibo_developer"
APPLICATION_CONNECTION_TYPE = "kibo_application"

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


APPLICATION_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "tenant_id": {
        "label": "Default tenant id",
        "description": "The Kibo tenant tasks call unless they name another; the application must be installed there.",
        "schema": {"type": ["integer", "null"]},
    },
    "site_id": {
        "label": "Default site id",
        "description": "Optional: the site of that tenant that calls are about (x-vol-site).",
        "schema": {"type": ["integer", "null"]},
    },
    "auth_route": {
        "label": "Token route",
        "description": (
            "How to ask for a token: auto (the OAuth route, and the older ticket route where the pod answers 404), "
            "oauth, or ticket."
        ),
        "schema": {"type": ["string", "null"], "default": "auto"},
    },
    "refresh_margin_seconds": CONN_FIELDS["refresh_margin_seconds"],
    "request_timeout_seconds": CONN_FIELDS["request_timeout_seconds"],
    "verify_tls": CONN_FIELDS["verify_tls"],
}
"""The extra fields of the application Connection's form."""

APPLICATION_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Kibo auth host", "login": "Application key", "password": "Shared secret"},
    "placeholders": {
        "host": "https://home.mozu.com (the default)",
        "login": "MyNamespace.orders_export.1.0.0.Release",
        "tenant_id": "100001",
        "site_id": "100011",
        "auth_route": "auto",
        "refresh_margin_seconds": "180",
        "request_timeout_seconds": "30",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow."""
    return {
        "package-name": "airflow-provider-kibo",
        "name": "Kibo Commerce",
        "description": (
            "Kibo Commerce auth tickets of users (developer accounts, tenants) and applications: created, "
            "refreshed, shared and never leaked; tenants' records exported to object storage, each once."
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
                "python-modules": [
                    "airflow_provider_kibo.hooks.developer",
                    "airflow_provider_kibo.hooks.tenant",
                    "airflow_provider_kibo.hooks.application",
                ],
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
        "transfers": [
            {
                "source-integration-name": "Kibo Commerce",
                "target-integration-name": "Common IO",
                "python-module": "airflow_provider_kibo.transfers.kibo_to_object_storage",
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kibo.hooks.developer.KiboDeveloperHook",
                "hook-name": "Kibo Developer",
                "connection-type": CONNECTION_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            },
            {
                "hook-class-name": "airflow_provider_kibo.hooks.application.KiboApplicationHook",
                "hook-name": "Kibo Application",
                "connection-type": APPLICATION_CONNECTION_TYPE,
                "conn-fields": APPLICATION_CONN_FIELDS,
                "ui-field-behaviour": APPLICATION_UI_FIELD_BEHAVIOUR,
            },
        ],
    }
