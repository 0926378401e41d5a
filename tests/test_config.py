"""Connection validation: every mistake is a typed error naming the field; nothing reaches Kibo or a store."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_kibo.config import KiboConnectionConfig
from airflow_provider_kibo.errors import KiboConfigError
from tests.support import set_connection

GOOD = {"host": "https://home.mozu.com", "login": "dev@example.com", "password": "pw"}
SEED_WITHOUT_REFRESH_TOKEN = {
    "accessToken": "a",
    "accessTokenExpiration": "2026-11-26T12:00:00.000Z",
    "refreshTokenExpiration": "2026-11-27T12:00:00.000Z",
    "account": {"id": 1001, "name": "Acme"},
}


def connection(extra: Any = None, **fields: Any) -> Connection:
    merged = {**GOOD, **fields}
    if extra is not None and not isinstance(extra, str):
        extra = json.dumps(extra)
    return Connection(conn_id="kibo", conn_type="kibo_developer", extra=extra, **merged)


BAD_INPUT = [
    ({"extra": "{not json"}, "extra"),
    ({"extra": [1, 2]}, "extra"),
    ({"extra": {"refresh_margin": 60}}, "extra.refresh_margin"),
    ({"extra": {"refresh_margin_seconds": -5}}, "extra.refresh_margin_seconds"),
    ({"extra": {"refresh_margin_seconds": 0}}, "extra.refresh_margin_seconds"),
    ({"extra": {"refresh_margin_seconds": 99999}}, "extra.refresh_margin_seconds"),
    ({"extra": {"refresh_margin_seconds": "soon"}}, "extra.refresh_margin_seconds"),
    ({"extra": {"refresh_margin_seconds": True}}, "extra.refresh_margin_seconds"),
    ({"extra": {"request_timeout_seconds": 0}}, "extra.request_timeout_seconds"),
    ({"extra": {"request_timeout_seconds": 10_000}}, "extra.request_timeout_seconds"),
    ({"extra": {"developer_account_id": "acme"}}, "extra.developer_account_id"),
    ({"extra": {"developer_account_id": -3}}, "extra.developer_account_id"),
    ({"extra": {"developer_account_id": 1.5}}, "extra.developer_account_id"),
    ({"extra": {"verify_tls": 3}}, "extra.verify_tls"),
    ({"extra": {"refresh_token": 5}}, "extra.refresh_token"),
    ({"extra": {"seed_ticket": "{broken"}}, "extra.seed_ticket"),
    ({"extra": {"seed_ticket": SEED_WITHOUT_REFRESH_TOKEN}}, "extra.seed_ticket"),
    ({"host": None}, "host"),
    ({"host": "http://kibo.example.com"}, "host"),
    ({"host": "ftp://home.mozu.com"}, "host"),
    ({"login": None}, "login"),
    ({"password": None}, "password"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_INPUT)
def test_invalid_connection_names_the_field(fields, field):
    with pytest.raises(KiboConfigError) as raised:
        KiboConnectionConfig.from_connection(connection(**fields))

    assert raised.value.field == field
    assert field in str(raised.value)
    assert "pw" not in str(raised.value).replace(field, "")


# Extra that is not a JSON object cannot travel in an AIRFLOW_CONN_* variable on every Airflow (3.1
# refuses to load such a Connection at all), so those cases are covered above only.
@pytest.mark.parametrize(("fields", "field"), [c for c in BAD_INPUT if isinstance(c[0].get("extra", {}), dict)])
def test_invalid_connection_fails_before_any_call_and_writes_nothing(
    monkeypatch, kibo_emulator, make_hook, conn_id, store, fields, field
):
    merged = {**GOOD, "host": kibo_emulator.base_url, **fields}
    set_connection(monkeypatch, conn_id, **{k: v for k, v in merged.items() if v is not None})

    with pytest.raises(KiboConfigError) as raised:
        make_hook(developer_account_id=1001).get_ticket()

    assert raised.value.field == field
    assert sum(kibo_emulator.counters().values()) == 0
    assert store.read("1001") is None and store.read("latest") is None


def test_seed_ticket_error_names_the_missing_key():
    with pytest.raises(KiboConfigError, match="refreshToken"):
        KiboConnectionConfig.from_connection(connection(extra={"seed_ticket": SEED_WITHOUT_REFRESH_TOKEN}))


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://home.mozu.com/api/", None, "https://home.mozu.com"),
        ("home.euw1.kibocommerce.com", None, "https://home.euw1.kibocommerce.com"),
        ("http://127.0.0.1:8123/api", None, "http://127.0.0.1:8123"),
        ("http://localhost", 9000, "http://localhost:9000"),
        ("http://[::1]:9000", None, "http://[::1]:9000"),
    ],
)
def test_host_is_normalised(host, port, expected):
    assert KiboConnectionConfig.from_connection(connection(host=host, port=port)).base_url == expected


def test_defaults_follow_kibos_sdks():
    config = KiboConnectionConfig.from_connection(connection(extra={"developer_account_id": "1001"}))

    assert config.refresh_margin == timedelta(seconds=180)
    assert config.request_timeout == 30
    assert config.verify_tls is True
    assert config.default_account_id == 1001
    assert "pw" not in repr(config)


def test_missing_account_everywhere_names_the_extra_field(monkeypatch, kibo_emulator, make_hook, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login="dev@example.com", password="pw")

    with pytest.raises(KiboConfigError) as raised:
        make_hook().get_ticket()

    assert raised.value.field == "extra.developer_account_id"


@pytest.mark.parametrize(("given", "taken"), [("false", False), (" False ", False), ("TRUE", True), (False, False)])
def test_verify_tls_given_as_text_is_a_flag_not_a_ca_bundle_path(given, taken):
    """A URI-form Connection or a template gives ``verify_tls`` as text."""
    assert KiboConnectionConfig.from_connection(connection(extra={"verify_tls": given})).verify_tls is taken


def test_verify_tls_names_a_ca_bundle_that_exists(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")

    assert KiboConnectionConfig.from_connection(connection(extra={"verify_tls": str(bundle)})).verify_tls == str(bundle)
    with pytest.raises(KiboConfigError, match="there is no CA bundle at '/no/such/ca.pem'") as raised:
        KiboConnectionConfig.from_connection(connection(extra={"verify_tls": "/no/such/ca.pem"}))
    assert raised.value.field == "extra.verify_tls"


def test_the_test_button_reports_a_missing_ca_bundle_instead_of_raising(monkeypatch, kibo_emulator, make_hook, conn_id):
    port = kibo_emulator.port  # https to a port that speaks http: requests would load the bundle first
    set_connection(monkeypatch, conn_id, host=f"https://127.0.0.1:{port}", login="dev@example.com", password="pw",
                   extra={"developer_account_id": 1001, "verify_tls": "/no/such/ca.pem"})

    ok, message = make_hook().test_connection()

    assert not ok
    assert "extra.verify_tls" in message
    assert sum(kibo_emulator.counters().values()) == 0
