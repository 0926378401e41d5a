"""Retries, faults and API calls of KiboDeveloperHook against the emulator over real HTTP."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_kibo.errors import KiboApiError, KiboAuthError
from airflow_provider_kibo.stores import LATEST_SLOT
from tests.support import EMAIL, FAST_RETRIES, PASSWORD, set_connection

APPS = "/platform/appdev/apppackages/collection"


@pytest.fixture
def short_timeout(monkeypatch, kibo_emulator, conn_id):
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password=PASSWORD,
                   extra={"developer_account_id": 1001, "request_timeout_seconds": 0.5})


def test_429_waits_retry_after_then_succeeds(make_hook, kibo_emulator, sleeps):
    kibo_emulator.inject("create", "rate_limit", retry_after=2)

    make_hook().get_ticket()

    assert kibo_emulator.status_counts()["create"] == {429: 1, 200: 1}
    assert sleeps == [2.0]


def test_429_asking_longer_than_the_cap_fails_at_once(make_hook, kibo_emulator, store, sleeps):
    kibo_emulator.inject("create", "rate_limit", retry_after=FAST_RETRIES.retry_after_max + 60)

    with pytest.raises(KiboApiError) as raised:
        make_hook().get_ticket()

    assert raised.value.status_code == 429
    assert kibo_emulator.counters()["create"] == 1
    assert sleeps == []
    assert store.read("1001") is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_back_off_and_retry(make_hook, kibo_emulator, sleeps, status):
    kibo_emulator.inject("create", "server_error", status=status, times=2)

    make_hook().get_ticket()

    assert kibo_emulator.counters()["create"] == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= FAST_RETRIES.backoff_max for s in sleeps)


def test_retries_are_bounded_and_the_stored_ticket_survives(make_hook, kibo_emulator, store):
    good = make_hook().get_ticket()
    kibo_emulator.clock.advance(3600 - 60)
    kibo_emulator.inject("refresh", "server_error", status=500, times=10)

    with pytest.raises(KiboApiError) as raised:
        make_hook().get_ticket()

    assert raised.value.status_code == 500
    assert raised.value.correlation_id
    assert kibo_emulator.counters()["refresh"] == FAST_RETRIES.max_attempts
    assert store.read("1001") == good
    assert store.read(LATEST_SLOT) == good


@pytest.mark.usefixtures("short_timeout")
def test_stalled_response_times_out_and_is_retried(make_hook, kibo_emulator):
    kibo_emulator.inject("create", "stall", seconds=3)

    ticket = make_hook().get_ticket()

    assert ticket.account_id == 1001
    assert kibo_emulator.counters()["create"] == 2


@pytest.mark.usefixtures("short_timeout")
def test_stalls_on_every_attempt_end_in_a_typed_error_without_the_url(make_hook, kibo_emulator, store):
    kibo_emulator.inject("create", "stall", seconds=2, times=FAST_RETRIES.max_attempts)

    with pytest.raises(KiboApiError) as raised:
        make_hook().get_ticket()

    assert "ReadTimeout" in str(raised.value)
    assert "127.0.0.1" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert store.read("1001") is None


def test_dropped_connection_is_retried(make_hook, kibo_emulator):
    kibo_emulator.inject("refresh", "drop")
    hook = make_hook()
    hook.get_ticket()

    hook.refresh_ticket()

    assert kibo_emulator.counters()["refresh"] == 2


def test_run_calls_the_api_with_the_bearer_jwt(make_hook, kibo_emulator):
    hook = make_hook()

    response = hook.run("GET", APPS, params={"pageSize": 2})

    assert response.json()["totalCount"] == 7
    assert response.request.headers["Authorization"] == f"Bearer {hook.get_ticket().jwt_access_token}"


def log_out_behind_the_hooks_back(kibo_emulator, ticket) -> None:
    """Kibo's logout kills the refresh token and the access tokens issued with it."""
    requests.delete(
        f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
        params={"refreshToken": ticket.refresh_token},
        timeout=5,
    ).raise_for_status()


def test_run_refreshes_once_and_retries_after_a_401(make_hook, kibo_emulator, store):
    hook = make_hook()
    log_out_behind_the_hooks_back(kibo_emulator, hook.get_ticket())

    response = hook.run("GET", APPS)

    assert response.ok
    assert kibo_emulator.status_counts()["apppackages"] == {401: 1, 200: 1}
    assert kibo_emulator.counters()["create"] == 2
    assert store.read("1001").access_token == hook.get_ticket().access_token


def test_run_raises_a_typed_error_for_a_client_error_without_retrying(make_hook, kibo_emulator):
    with pytest.raises(KiboApiError) as raised:
        make_hook().run("GET", APPS, params={"pageSize": -1})

    assert raised.value.status_code == 400
    assert kibo_emulator.counters()["apppackages"] == 1


def test_run_gives_up_after_one_forced_refresh(make_hook, kibo_emulator):
    kibo_emulator.access_token_lifetime = 0.001  # every token Kibo issues expires at once

    with pytest.raises(KiboAuthError) as raised:
        make_hook().run("GET", APPS)

    assert raised.value.status_code == 401
    assert kibo_emulator.counters()["apppackages"] == 2


@pytest.mark.parametrize(("account", "expected"), [(1001, 7), (1002, 3), (1003, 0)])
def test_paginate_yields_every_item_of_the_account(make_hook, kibo_emulator, account, expected):
    items = list(make_hook(developer_account_id=account).paginate(APPS, page_size=3))

    assert len(items) == expected
    assert len({item["applicationId"] for item in items}) == expected
    assert kibo_emulator.counters()["apppackages"] == max(1, -(-expected // 3))


def test_get_conn_session_signs_requests_and_resolves_endpoints(make_hook, kibo_emulator):
    session = make_hook(developer_account_id=1002).get_conn()

    page = session.get(APPS).json()

    assert page["totalCount"] == 3
    assert session.timeout > 0


def test_auth_error_after_401_retry_is_typed(make_hook, kibo_emulator, monkeypatch, conn_id):
    log_out_behind_the_hooks_back(kibo_emulator, make_hook().get_ticket())
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password="changed",
                   extra={"developer_account_id": 1001})

    with pytest.raises(KiboAuthError):
        make_hook().run("GET", APPS)
