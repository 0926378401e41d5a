"""KiboTenantHook: tenant admin-user tickets and tenant API calls against the emulator over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_kibo.errors import KiboApiError, KiboAuthError, KiboConfigError, KiboTenantAccessError
from airflow_provider_kibo.hooks.tenant import KiboTenantHook
from airflow_provider_kibo.stores import LATEST_SLOT
from airflow_provider_kibo.testing import KiboEmulator
from airflow_provider_kibo.tickets.values import KiboTenantTicket
from airflow_provider_kibo.tickets.identity import KiboIdentity
from tests.support import EMAIL, FAST_RETRIES, OTHER_EMAIL, OTHER_PASSWORD, PASSWORD, TWO_USERS, set_connection

LIFETIME = 3600
MARGIN = 180
ORDERS = "/commerce/orders"


@pytest.fixture
def kibo_emulator():
    """The emulator with the demo user (tenants 100001-100003) and another user (tenant 200001)."""
    with KiboEmulator(TWO_USERS) as emulator:
        yield emulator


@pytest.fixture
def make_tenant_hook(conn_id, store, kibo_emulator, tmp_path, sleeps) -> Callable[..., KiboTenantHook]:
    """Tenant hooks sharing the developer hooks' store, lock folder and the emulator's clock."""

    def make(tenant_id: int | str = 100001, **kwargs: Any) -> KiboTenantHook:
        options: dict[str, Any] = {
            "clock": kibo_emulator.clock.now,
            "lock_dir": tmp_path / "locks",
            "retry_policy": FAST_RETRIES,
            "sleep": sleeps.append,
            "store": store,
        }
        return KiboTenantHook(conn_id, tenant_id, **{**options, **kwargs})

    return make


def used(emulator) -> dict[str, int]:
    """The emulator's routes that were called, with their counts."""
    return {route: n for route, n in emulator.counters().items() if n}


def test_first_call_logs_in_once_and_switching_tenants_refreshes(make_tenant_hook, kibo_emulator, store):
    first = make_tenant_hook(100001).get_ticket()
    again = make_tenant_hook(100001).get_ticket()
    switched = make_tenant_hook("100002").get_ticket()

    assert used(kibo_emulator) == {"tenant_create": 1, "tenant_refresh": 1}
    assert again.access_token == first.access_token
    assert (first.tenant_id, first.tenant_name) == (100001, "Acme Retail")
    assert set(first.available_tenant_ids) == {100001, 100002, 100003}
    assert first.site_ids == (100011, 100012)
    assert first.issued_to == KiboIdentity.of(kibo_emulator.base_url, EMAIL)
    assert switched.tenant_id == 100002
    assert store.read("tenant_100001") == first
    assert store.read("tenant_latest") == switched


def test_tenant_and_developer_tickets_live_side_by_side(make_tenant_hook, make_hook, kibo_emulator, store):
    developer = make_hook(developer_account_id=1001).get_ticket()
    tenant = make_tenant_hook().get_ticket()

    assert used(kibo_emulator) == {"create": 1, "tenant_create": 1}
    assert store.read(LATEST_SLOT) == developer
    assert store.read("tenant_latest") == tenant
    assert make_hook(developer_account_id=1001).get_ticket().access_token == developer.access_token


def test_ticket_inside_the_margin_is_refreshed_with_rotating_tokens(make_tenant_hook, kibo_emulator):
    kibo_emulator.rotate_refresh_tokens = True
    old = make_tenant_hook().get_ticket()
    kibo_emulator.clock.advance(LIFETIME - MARGIN + 1)

    new = make_tenant_hook().get_ticket()

    assert new.refresh_token != old.refresh_token
    assert used(kibo_emulator) == {"tenant_create": 1, "tenant_refresh": 1}


def test_inaccessible_tenant_lists_the_users_tenants(make_tenant_hook, kibo_emulator):
    make_tenant_hook().get_ticket()

    with pytest.raises(KiboTenantAccessError) as raised:
        make_tenant_hook(999999).get_ticket()

    assert raised.value.tenant_id == 999999
    assert set(raised.value.available_tenant_ids) == {100001, 100002, 100003}
    assert "No access to Kibo tenant 999999" in str(raised.value)


def test_orders_are_paged_from_the_tenants_host_with_its_context(make_tenant_hook, kibo_emulator):
    hook = make_tenant_hook()

    orders = list(hook.paginate(ORDERS, page_size=10))

    assert len(orders) == 45
    assert len({o["id"] for o in orders}) == 45
    assert {o["tenantId"] for o in orders} == {100001}
    assert kibo_emulator.counters()["orders"] == 5
    session = hook.get_conn()
    assert session.base_url == f"http://127.0.0.1:{kibo_emulator.port}/_tenant/100001"
    assert session.headers["x-vol-tenant"] == "100001"


def test_a_site_narrows_the_orders_and_sends_its_catalog(make_tenant_hook):
    hook = make_tenant_hook(site_id=100012)

    orders = list(hook.paginate(ORDERS))

    assert orders and {o["siteId"] for o in orders} == {100012}
    assert hook.get_conn().headers["x-vol-site"] == "100012"
    assert hook.get_conn().headers["x-vol-catalog"] == "2"


def test_a_site_of_another_tenant_is_a_config_error(make_tenant_hook):
    with pytest.raises(KiboConfigError) as raised:
        make_tenant_hook(site_id=100021).get_conn()

    assert raised.value.field == "site_id"
    assert "100011, 100012" in str(raised.value)


def test_tenant_api_retries_429_after_retry_after(make_tenant_hook, kibo_emulator, sleeps):
    kibo_emulator.inject("orders", "rate_limit", retry_after=2)

    orders = list(make_tenant_hook(100002).paginate(ORDERS))

    assert len(orders) == 12
    assert 2.0 in sleeps
    assert kibo_emulator.status_counts()["orders"] == {429: 1, 200: 1}


def test_tenant_refresh_retries_5xx_and_keeps_the_good_ticket_on_failure(make_tenant_hook, kibo_emulator, store):
    good = make_tenant_hook().get_ticket()
    kibo_emulator.inject("tenant_refresh", "server_error", times=4, status=503)

    with pytest.raises(Exception):
        make_tenant_hook().refresh_ticket()

    assert kibo_emulator.counters()["tenant_refresh"] == 4
    assert store.read("tenant_100001") == good


def test_a_logged_out_ticket_is_replaced_after_one_401(make_tenant_hook, kibo_emulator):
    hook = make_tenant_hook()
    ticket = hook.get_ticket()
    requests.delete(f"{kibo_emulator.base_url}/api/platform/adminuser/authtickets",
                    params={"refreshToken": ticket.refresh_token}, timeout=5)

    assert len(list(hook.paginate(ORDERS, page_size=50))) == 45
    assert kibo_emulator.status_counts()["orders"] == {401: 1, 200: 1}
    assert kibo_emulator.counters()["tenant_create"] == 2, "the logged-out refresh token falls back to the password"


def test_revoke_ticket_logs_the_tenant_ticket_out(make_tenant_hook, kibo_emulator, store):
    make_tenant_hook().get_ticket()

    make_tenant_hook().revoke_ticket()

    assert used(kibo_emulator) == {"tenant_create": 1, "tenant_delete": 1}
    assert store.read("tenant_100001") is None and store.read("tenant_latest") is None


def test_a_connection_without_password_cannot_get_tenant_tickets(monkeypatch, kibo_emulator, make_tenant_hook, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, extra={"refresh_token": "a-developer-token"})

    with pytest.raises(KiboAuthError, match="has no password"):
        make_tenant_hook().get_ticket()

    assert sum(kibo_emulator.counters().values()) == 0


def test_login_change_retires_the_old_users_tenant_tickets(monkeypatch, kibo_emulator, make_tenant_hook, conn_id, store):
    old = make_tenant_hook().get_ticket()
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=OTHER_EMAIL, password=OTHER_PASSWORD)
    changed_at = len(kibo_emulator.calls())

    with pytest.raises(KiboTenantAccessError):
        make_tenant_hook().get_ticket()

    assert [c["route"] for c in kibo_emulator.calls()[changed_at:] if c["user"] == EMAIL] == ["tenant_delete"]
    assert store.read("tenant_100001") is None
    assert old.refresh_token not in {t.refresh_token for t in filter(None, [store.read("tenant_latest")])}


def test_tenant_hook_logs_and_shows_no_secret(make_tenant_hook, caplog):
    with caplog.at_level(logging.DEBUG):
        hook = make_tenant_hook()
        ticket = hook.get_ticket()
        list(hook.paginate(ORDERS))

    assert "tenant_id=100001" in repr(hook)
    for secret in (*ticket.secrets, PASSWORD):
        assert secret not in caplog.text
        assert secret not in repr(ticket)
        assert secret not in str(ticket.summary())


def test_tenant_id_is_required_and_checked():
    with pytest.raises(KiboConfigError, match="'tenant_id': must be a positive integer tenant id, not None"):
        KiboTenantHook("kibo_developer_default")


def test_a_write_is_sent_once_whatever_5xx_follows(make_tenant_hook, kibo_emulator):
    kibo_emulator.inject("order_create", "server_error", times=4, status=503)

    with pytest.raises(KiboApiError) as raised:
        make_tenant_hook().run("POST", ORDERS, json={})

    assert raised.value.status_code == 503
    assert kibo_emulator.counters()["order_create"] == 1


def test_a_write_that_timed_out_is_not_sent_again(monkeypatch, make_tenant_hook, kibo_emulator, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password=PASSWORD,
                   extra={"request_timeout_seconds": 0.5})
    hook = make_tenant_hook(100003)
    hook.get_ticket()
    kibo_emulator.inject("order_create", "stall", seconds=1, times=4)  # Kibo places it, late

    with pytest.raises(KiboApiError, match="ReadTimeout"):
        hook.run("POST", ORDERS, json={})

    deadline = time.monotonic() + 5
    while not kibo_emulator.status_counts()["order_create"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the emulator places the order when its stall ends
    assert kibo_emulator.status_counts()["order_create"] == {201: 1}
    assert len(list(hook.paginate(ORDERS))) == 1, "one order placed, not four"


def test_a_write_is_retried_after_a_429_or_when_its_caller_says_it_is_idempotent(
        make_tenant_hook, kibo_emulator, sleeps):
    hook = make_tenant_hook(100003)
    kibo_emulator.inject("order_create", "rate_limit", retry_after=1)
    first = hook.run("POST", ORDERS, json={})
    kibo_emulator.inject("order_create", "server_error", times=2, status=502)
    second = hook.run("POST", ORDERS, json={}, idempotent=True)

    assert (first.status_code, second.status_code) == (201, 201)
    assert kibo_emulator.status_counts()["order_create"] == {429: 1, 502: 2, 201: 2}
    assert 1.0 in sleeps
    assert [o["orderNumber"] for o in hook.paginate(ORDERS)] == [1, 2]


def test_a_later_ticket_naming_another_host_moves_the_calls_there(make_tenant_hook, kibo_emulator, store):
    hook = make_tenant_hook()
    assert len(list(hook.paginate(ORDERS, page_size=50))) == 45
    with KiboEmulator(TWO_USERS) as moved:
        for emulator in (kibo_emulator, moved):
            emulator.clock.advance(LIFETIME - 60)  # the hook's ticket is due, and another machine renewed it
        document = requests.post(f"{moved.base_url}/api/platform/adminuser/authtickets/tenants",
                                 params={"tenantId": 100001}, json={"emailAddress": EMAIL, "password": PASSWORD},
                                 timeout=5).json()
        store.write("tenant_100001", KiboTenantTicket.from_api(document).issued(hook.identity))

        orders = list(hook.paginate(ORDERS, page_size=50))

        assert len(orders) == 45
        assert moved.counters()["orders"] == 1
        assert hook.get_conn().base_url == moved.tenant_url(100001)
    assert kibo_emulator.counters()["orders"] == 1, "only the first listing went to the first host"
