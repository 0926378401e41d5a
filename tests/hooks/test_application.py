"""KiboApplicationHook against the emulator over real HTTP: each test states the Kibo calls it expects."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from airflow_provider_kibo.errors import AirflowFailException, KiboApiError, KiboApplicationAccessError, KiboAuthError
from airflow_provider_kibo.hooks.application import KiboApplicationHook
from airflow_provider_kibo.testing import DEMO_APPLICATIONS, DEMO_USERS, EmulatorApplication, KiboEmulator
from tests.support import FAST_RETRIES, set_connection

APP = DEMO_APPLICATIONS[0]
OTHER_APP = EmulatorApplication("KiboDemo.other_export.2.0.0.Release", "other-shared-secret", tenants=[100001])
LIFETIME = 3600
MARGIN = 180
ORDERS = "/commerce/orders"


@pytest.fixture
def kibo_emulator():
    with KiboEmulator(DEMO_USERS, applications=[APP, OTHER_APP]) as emulator:
        yield emulator


def connect(monkeypatch, conn_id: str, emulator: KiboEmulator, *, key: str = APP.key,
            secret: str = APP.shared_secret, **extra: Any) -> None:
    set_connection(monkeypatch, conn_id, conn_type="kibo_application", host=emulator.base_url, login=key,
                   password=secret, extra={"tenant_id": 100001, **extra})


@pytest.fixture
def app_conn(monkeypatch, kibo_emulator) -> str:
    conn_id = f"kibo_app_{uuid.uuid4().hex[:8]}"
    connect(monkeypatch, conn_id, kibo_emulator)
    return conn_id


@pytest.fixture
def make_app_hook(app_conn, store, kibo_emulator, tmp_path, sleeps) -> Callable[..., KiboApplicationHook]:
    """Application hooks sharing one store, one lock folder and the emulator's clock, as tasks on one machine do."""

    def make(tenant_id: int | None = None, **kwargs: Any) -> KiboApplicationHook:
        options: dict[str, Any] = {"clock": kibo_emulator.clock.now, "lock_dir": tmp_path / "locks",
                                   "retry_policy": FAST_RETRIES, "sleep": sleeps.append, "store": store}
        return KiboApplicationHook(app_conn, tenant_id, **{**options, **kwargs})

    return make


def calls(emulator: KiboEmulator) -> list[str]:
    return [call["route"] for call in emulator.calls()]


def test_the_first_token_is_one_oauth_call_and_later_hooks_reuse_it(make_app_hook, kibo_emulator, store):
    first = make_app_hook().get_ticket()
    again = make_app_hook(100002).get_ticket()

    assert calls(kibo_emulator) == ["app_oauth"]
    assert again == first and store.read("application") == first
    assert first.application_key == APP.key
    assert timedelta(minutes=59) < first.access_valid_for(kibo_emulator.clock.now()) <= timedelta(hours=1)


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotating"])
def test_a_token_inside_the_margin_is_refreshed_once(make_app_hook, kibo_emulator, rotate):
    kibo_emulator.rotate_refresh_tokens = rotate
    old = make_app_hook().get_ticket()
    kibo_emulator.clock.advance(LIFETIME - MARGIN + 1)

    new = make_app_hook().get_ticket()
    again = make_app_hook().get_ticket()

    assert calls(kibo_emulator) == ["app_oauth", "app_refresh"]
    assert new == again and new.access_token != old.access_token
    assert (new.refresh_token != old.refresh_token) is rotate


@pytest.mark.parametrize(("served", "route", "expected"), [
    (["ticket"], "auto", ["app_oauth", "app_ticket"]),
    (["ticket"], "ticket", ["app_ticket"]),
    (["oauth", "ticket"], "ticket", ["app_ticket"]),
    (["oauth"], "auto", ["app_oauth"]),
])
def test_the_create_route_follows_the_connection_and_falls_back_on_a_404(
        monkeypatch, make_app_hook, kibo_emulator, app_conn, served, route, expected):
    kibo_emulator.application_auth_routes = served
    connect(monkeypatch, app_conn, kibo_emulator, auth_route=route)

    ticket = make_app_hook().get_ticket()

    assert calls(kibo_emulator) == expected
    assert timedelta(minutes=59) < ticket.access_valid_for(kibo_emulator.clock.now())


def test_an_oauth_route_the_pod_does_not_serve_is_an_error_when_the_connection_insists(
        monkeypatch, make_app_hook, kibo_emulator, app_conn):
    kibo_emulator.application_auth_routes = ["ticket"]
    connect(monkeypatch, app_conn, kibo_emulator, auth_route="oauth")

    with pytest.raises(KiboApiError) as raised:
        make_app_hook().get_ticket()

    assert raised.value.status_code == 404
    assert calls(kibo_emulator) == ["app_oauth"]


def test_a_new_shared_secret_alone_keeps_the_stored_token(monkeypatch, make_app_hook, kibo_emulator, app_conn):
    first = make_app_hook().get_ticket()
    connect(monkeypatch, app_conn, kibo_emulator, secret="a-rotated-shared-secret")

    assert make_app_hook().get_ticket() == first
    assert calls(kibo_emulator) == ["app_oauth"], "no new token"


def test_a_new_application_key_gets_one_token_and_logs_the_old_ones_out_where_they_came_from(
        monkeypatch, make_app_hook, kibo_emulator, app_conn, store):
    old = make_app_hook().get_ticket()
    connect(monkeypatch, app_conn, kibo_emulator, key=OTHER_APP.key, secret=OTHER_APP.shared_secret)
    since = len(kibo_emulator.calls())

    new = make_app_hook().get_ticket()

    assert kibo_emulator.calls()[since:] == [{"route": "app_oauth", "user": OTHER_APP.key},
                                            {"route": "app_delete", "user": APP.key}]
    assert new.application_key == OTHER_APP.key and store.read("application") == new
    refused = requests.put(f"{kibo_emulator.base_url}/api/platform/applications/authtickets/refresh-ticket",
                           json={"refreshToken": old.refresh_token}, timeout=5)
    assert refused.status_code == 401


def test_a_tenant_without_the_application_fails_at_once_naming_it(make_app_hook, kibo_emulator):
    with pytest.raises(KiboApplicationAccessError) as raised:
        list(make_app_hook(100003).paginate(ORDERS))

    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.tenant_id == 100003 and raised.value.status_code == 403
    assert f"Kibo application {APP.key} may not call tenant 100003" in str(raised.value)
    assert "Dev Center" in str(raised.value)
    assert calls(kibo_emulator) == ["app_oauth", "tenant_lookup"]


def test_a_429_on_the_token_route_waits_retry_after(make_app_hook, kibo_emulator, sleeps):
    kibo_emulator.inject("app_oauth", "rate_limit", retry_after=3)

    make_app_hook().get_ticket()

    assert kibo_emulator.status_counts()["app_oauth"] == {429: 1, 200: 1}
    assert sleeps == [3.0]


def test_a_tenant_is_looked_up_once_per_connection_and_its_orders_read_at_its_host(
        make_app_hook, kibo_emulator, store):
    first = make_app_hook(site_id=100012)
    orders = list(first.paginate(ORDERS))
    later_task = make_app_hook()
    everything = list(later_task.paginate(ORDERS, page_size=20))

    assert {o["siteId"] for o in orders} == {100012} and len(everything) == 45
    assert calls(kibo_emulator) == ["app_oauth", "tenant_lookup", "orders", "orders", "orders", "orders"]
    session = first.get_conn()
    assert session.base_url == kibo_emulator.tenant_url(100001)
    assert (session.headers["x-vol-tenant"], session.headers["x-vol-site"], session.headers["x-vol-catalog"]) == (
        "100001", "100012", "2")
    assert store.read_note("application_tenant_100001")["tenant"]["domain"].endswith("/_tenant/100001")


def test_an_answer_without_expires_in_is_taken_to_live_ten_minutes(make_app_hook, kibo_emulator, caplog):
    kibo_emulator.oauth_expires_in = False

    with caplog.at_level(logging.WARNING):
        ticket = make_app_hook().get_ticket()

    assert timedelta(minutes=9) < ticket.access_valid_for(kibo_emulator.clock.now()) <= timedelta(minutes=10)
    assert "gives no expires_in; the token is taken to live 0:10:00" in caplog.text


def test_revoke_all_and_force_login_end_the_applications_sessions(make_app_hook, kibo_emulator, store):
    first = make_app_hook().get_ticket()

    again = make_app_hook().force_login()
    make_app_hook().revoke_all_tickets()

    assert calls(kibo_emulator) == ["app_oauth", "app_oauth", "app_delete", "app_delete"]
    assert again != first and store.read("application") is None
    assert kibo_emulator.live_refresh_tokens(APP.key) == 0


def test_a_wrong_shared_secret_is_an_auth_error_that_says_what_to_fix(monkeypatch, make_app_hook, kibo_emulator,
                                                                       app_conn):
    connect(monkeypatch, app_conn, kibo_emulator, secret="not-the-secret")

    with pytest.raises(KiboAuthError, match="refused the application key and shared secret") as raised:
        make_app_hook().get_ticket()

    assert "not-the-secret" not in str(raised.value)
    assert calls(kibo_emulator) == ["app_oauth"]


def test_nothing_shows_a_token_or_the_secret(make_app_hook, kibo_emulator, caplog):
    """The provider's and the emulator's own log lines, at every level. (Kibo takes an application's
    refresh token in the path of its log-out, and urllib3's DEBUG lines show request paths.)"""
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_kibo"):
        hook = make_app_hook()
        ticket = hook.get_ticket()
        list(hook.paginate(ORDERS))
        summary = hook.summary(ticket)
        hook.revoke_all_tickets()

    shown = caplog.text + repr(hook) + repr(ticket) + json.dumps(summary)
    assert summary["tenant_id"] == 100001 and summary["application_key"] == APP.key
    assert not [s[:6] for s in kibo_emulator.issued_secrets() if s in shown]


def test_the_test_button_gets_a_token_and_logs_it_out(make_app_hook, kibo_emulator):
    ok, message = make_app_hook().test_connection()

    assert ok and APP.key in message
    assert calls(kibo_emulator) == ["app_oauth", "app_delete"]
    assert kibo_emulator.live_refresh_tokens(APP.key) == 0
