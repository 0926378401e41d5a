"""The ticket lifecycle of KiboDeveloperHook against the emulator over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from airflow_provider_kibo.errors import KiboAccountAccessError, KiboAuthError
from airflow_provider_kibo.stores import LATEST_SLOT
from airflow_provider_kibo.tickets.manager import ADVISORY_REFRESH_HEADSTART
from tests.support import EMAIL, PASSWORD, TENANT_ROUTES_UNUSED, set_connection

LIFETIME = 3600
MARGIN = 180


def in_advisory_window(emulator) -> None:
    """Move the clock so the first ticket is valid for less than the advisory lead but more than the margin."""
    emulator.clock.advance(LIFETIME - MARGIN - ADVISORY_REFRESH_HEADSTART.total_seconds() / 2)


def test_first_call_creates_one_ticket_and_later_calls_reuse_it(make_hook, kibo_emulator, store):
    first = make_hook().get_ticket()
    second_hook = make_hook()
    again = [second_hook.get_ticket() for _ in range(5)]

    assert kibo_emulator.counters()["create"] == 1
    assert kibo_emulator.counters()["refresh"] == 0
    assert all(t.access_token == first.access_token for t in again)
    assert store.read("1001") == first
    assert store.read(LATEST_SLOT) == first
    assert first.account_id == 1001
    assert first.account_name == "Acme Development"
    assert set(first.available_account_ids) == {1001, 1002, 1003}
    assert first.access_token_expires_at.tzinfo is not None


def test_ticket_in_advisory_window_is_refreshed_once_by_one_caller(make_hook, kibo_emulator, store):
    old = make_hook().get_ticket()
    in_advisory_window(kibo_emulator)

    renewed = make_hook().get_ticket()
    other = make_hook().get_ticket()

    assert renewed.access_token != old.access_token
    assert other.access_token == renewed.access_token
    assert kibo_emulator.counters()["refresh"] == 1
    assert store.read("1001") == renewed


def test_failed_refresh_ahead_keeps_the_still_valid_ticket(make_hook, kibo_emulator, store):
    old = make_hook().get_ticket()
    in_advisory_window(kibo_emulator)
    kibo_emulator.inject("refresh", "server_error", times=4, status=503)

    ticket = make_hook().get_ticket()

    assert ticket.access_token == old.access_token
    assert kibo_emulator.counters()["refresh"] == 4
    assert store.read("1001") == old


def test_ticket_inside_the_margin_is_refreshed_before_use(make_hook, kibo_emulator):
    old = make_hook().get_ticket()
    kibo_emulator.clock.advance(LIFETIME - MARGIN + 1)

    ticket = make_hook().get_ticket()

    assert ticket.access_token != old.access_token
    assert ticket.access_valid_for(kibo_emulator.clock.now()) > timedelta(seconds=MARGIN)
    assert kibo_emulator.counters() == {"create": 1, "refresh": 1, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}


def test_min_valid_for_beyond_the_margin_forces_a_refresh(make_hook, kibo_emulator):
    make_hook().get_ticket()
    kibo_emulator.clock.advance(LIFETIME / 2)

    make_hook().get_ticket(min_valid_for=timedelta(minutes=45))

    assert kibo_emulator.counters()["refresh"] == 1


def test_expired_refresh_token_falls_back_to_the_password(make_hook, kibo_emulator, store):
    make_hook().get_ticket()
    kibo_emulator.clock.advance(timedelta(days=2))

    ticket = make_hook().get_ticket()

    assert ticket.access_valid_for(kibo_emulator.clock.now()) > timedelta(minutes=50)
    assert kibo_emulator.counters()["create"] == 2
    assert kibo_emulator.counters()["refresh"] == 0, "an expired refresh token is not even tried"
    assert store.read("1001") == ticket


def test_revoked_refresh_token_falls_back_to_the_password(make_hook, kibo_emulator):
    make_hook().get_ticket()
    kibo_emulator.revoke_refresh_tokens()
    kibo_emulator.clock.advance(LIFETIME)

    make_hook().get_ticket()

    assert kibo_emulator.counters()["refresh"] == 1
    assert kibo_emulator.counters()["create"] == 2


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotated"])
def test_switching_accounts_uses_one_login_then_refreshes(make_hook, kibo_emulator, store, rotate):
    kibo_emulator.rotate_refresh_tokens = rotate
    hook = make_hook()

    tickets = {account: hook.for_account(account).get_ticket() for account in (1001, 1002, 1003, 1002)}

    assert kibo_emulator.counters()["create"] == 1
    assert kibo_emulator.counters()["refresh"] == 2
    assert {a: t.account_id for a, t in tickets.items()} == {1001: 1001, 1002: 1002, 1003: 1003}
    assert store.read("1002").account_name == "Globex Sandbox"
    assert store.read(LATEST_SLOT).account_id == 1003


def test_rotated_refresh_token_of_another_account_is_not_reused(make_hook, kibo_emulator, store):
    kibo_emulator.rotate_refresh_tokens = True
    hook = make_hook()
    hook.for_account(1001).get_ticket()
    hook.for_account(1002).get_ticket()  # rotates the refresh token 1001's ticket holds
    kibo_emulator.clock.advance(LIFETIME)

    ticket = make_hook(developer_account_id=1001).get_ticket()

    assert ticket.account_id == 1001
    assert kibo_emulator.counters()["create"] == 1, "the freshest refresh token serves every account"
    assert kibo_emulator.counters()["refresh"] == 2


def test_refresh_ticket_forces_a_put_and_stores_it(make_hook, kibo_emulator, store):
    hook = make_hook()
    old = hook.get_ticket()

    new = hook.refresh_ticket()

    assert new.access_token != old.access_token
    assert store.read("1001") == new
    assert kibo_emulator.counters()["refresh"] == 1


@pytest.mark.parametrize("status", [401, 403])
def test_inaccessible_account_is_a_typed_error_listing_the_users_accounts(make_hook, kibo_emulator, store, status):
    kibo_emulator.no_access_status = status
    good = make_hook().get_ticket()

    with pytest.raises(KiboAccountAccessError) as raised:
        make_hook(developer_account_id=1999).get_ticket()

    assert raised.value.account_id == 1999
    assert set(raised.value.available_account_ids) == {1001, 1002, 1003}
    assert "1999" in str(raised.value) and "1002" in str(raised.value)
    assert store.read("1999") is None
    assert store.read("1001") == good
    assert store.read(LATEST_SLOT) == good
    total = sum(kibo_emulator.counters().values())
    assert total <= 6, f"no retry storm: {kibo_emulator.counters()}"


def test_wrong_password_is_an_auth_error_that_says_what_to_fix(monkeypatch, kibo_emulator, make_hook, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password="wrong-password",
                   extra={"developer_account_id": 1001})

    with pytest.raises(KiboAuthError) as raised:
        make_hook().get_ticket()

    assert raised.value.status_code == 401
    assert raised.value.error_code == "INVALID_CREDENTIALS"
    assert "email address and password" in str(raised.value)
    assert "wrong-password" not in str(raised.value)
    assert raised.value.correlation_id


def test_seed_ticket_without_password_is_refreshed_and_used(monkeypatch, kibo_emulator, make_hook, conn_id):
    seed = requests.post(
        f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
        params={"developerAccountId": 1002},
        json={"emailAddress": EMAIL, "password": PASSWORD},
        timeout=5,
    ).json()
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url,
                   extra={"developer_account_id": 1001, "seed_ticket": seed})
    kibo_emulator.reset_counters()

    ticket = make_hook().get_ticket()
    seeded_account = make_hook(developer_account_id=1002).get_ticket()

    assert ticket.account_id == 1001
    assert seeded_account.access_token == seed["accessToken"]
    assert kibo_emulator.counters() == {"create": 0, "refresh": 1, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}


def test_dead_seed_without_password_says_how_to_reseed(monkeypatch, kibo_emulator, make_hook, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url,
                   extra={"developer_account_id": 1001, "refresh_token": "no-such-refresh-token"})

    with pytest.raises(KiboAuthError) as raised:
        make_hook().get_ticket()

    assert "extra.seed_ticket" in str(raised.value)
    assert "no-such-refresh-token" not in str(raised.value)
    assert kibo_emulator.counters()["create"] == 0


def test_revoke_ticket_logs_out_and_empties_the_store(make_hook, kibo_emulator, store):
    hook = make_hook()
    ticket = hook.get_ticket()

    hook.revoke_ticket()

    assert kibo_emulator.counters()["delete"] == 1
    assert store.read("1001") is None
    assert store.read(LATEST_SLOT) is None
    refused = requests.put(
        f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
        json={"refreshToken": ticket.refresh_token},
        timeout=5,
    )
    assert refused.status_code == 401


def test_ticket_repr_and_summary_show_no_secret(make_hook, kibo_emulator):
    ticket = make_hook().get_ticket()

    shown = repr(ticket) + str(ticket) + json.dumps(ticket.summary())

    assert "1001" in shown
    assert not any(secret in shown for secret in kibo_emulator.issued_secrets())
    assert ticket.summary()["access_token_expires_at"] == ticket.access_token_expires_at.isoformat()


def test_test_connection_reports_account_and_expiry_without_secrets(make_hook, kibo_emulator):
    ok, message = make_hook().test_connection()

    assert ok
    assert "1001" in message and "Acme Development" in message
    assert not any(secret in message for secret in kibo_emulator.issued_secrets())


def test_test_connection_reports_a_refusal(monkeypatch, kibo_emulator, make_hook, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password="bad",
                   extra={"developer_account_id": 1001})

    ok, message = make_hook().test_connection()

    assert not ok
    assert "INVALID_CREDENTIALS" in message


def test_an_account_kibo_refuses_with_401_unauthorized_fails_at_once(make_hook, kibo_emulator, sleeps):
    """Kibo may answer a switch to an account the user lacks with 401, as it answers a refused refresh
    token: the error code and message tell them apart, so no wait for another machine, no login."""
    kibo_emulator.no_access_status = 401
    make_hook().get_ticket()
    kibo_emulator.reset_counters()

    with pytest.raises(KiboAccountAccessError) as raised:
        make_hook(developer_account_id=1999).get_ticket()

    assert raised.value.status_code == 401 and raised.value.error_code == "UNAUTHORIZED"
    assert {route: n for route, n in kibo_emulator.counters().items() if n} == {"refresh": 1}
    assert sleeps == []


@pytest.mark.usefixtures("airflow_db")
def test_the_test_button_leaves_no_variable_and_no_live_session_behind(conn_id, kibo_emulator):
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    ok, message = KiboDeveloperHook(conn_id).test_connection()

    assert ok and "developer account 1001" in message
    assert {route: n for route, n in kibo_emulator.counters().items() if n} == {"create": 1, "delete": 1}
    assert kibo_emulator.live_refresh_tokens() == 0
    with create_session() as session:
        assert [key for key in session.scalars(select(Variable.key)) if conn_id in key] == []
