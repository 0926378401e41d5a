"""The Airflow API client of the Connection write-back store: where it may send the API password."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from airflow_provider_kibo.connection_store import AirflowApiClient
from airflow_provider_kibo.errors import KiboConfigError


def api_connection(host: str, **fields) -> Connection:
    return Connection(conn_id="airflow_api", conn_type="http", host=host, login="admin", password="pw", **fields)


@pytest.mark.parametrize("host", ["http://airflow.example.com", "http://10.0.0.5:8080"])
def test_plain_http_to_another_machine_is_refused(host):
    with pytest.raises(KiboConfigError, match="would send its password over plain http://") as raised:
        AirflowApiClient.from_connection(api_connection(host), timeout=5)

    assert raised.value.field == "extra.airflow_api_conn_id"
    assert "pw" not in str(raised.value)


@pytest.mark.parametrize(
    ("host", "fields", "url"),
    [
        ("https://airflow.example.com", {}, "https://airflow.example.com"),
        ("airflow.example.com", {"port": 8443}, "https://airflow.example.com:8443"),
        ("http://127.0.0.1:8080", {}, "http://127.0.0.1:8080"),
        ("localhost", {"schema": "http", "port": 8080}, "http://localhost:8080"),
    ],
)
def test_https_or_a_loopback_host_is_taken(host, fields, url):
    assert AirflowApiClient.from_connection(api_connection(host, **fields), timeout=5).base_url == url
