"""Behaviour of the local Kibo emulator, exercised over real HTTP with ``requests``."""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_provider_kibo.testing import (
    DEMO_USERS,
    EmulatorAccount,
    EmulatorUser,
    KiboEmulator,
)
from tests.support import TENANT_ROUTES_UNUSED

EMAIL = "developer@example.com"
PASSWORD = "emulator-password"
TICKETS = "/api/platform/developer/authtickets"
APPS = "/api/platform/appdev/apppackages/collection"
KIBO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def parse_date(value: str) -> datetime:
    assert KIBO_DATE.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create(emu: KiboEmulator, account: int | None = None, *, email: str = EMAIL,
           password: str = PASSWORD, timeout: float = 5) -> requests.Response:
    params = {} if account is None else {"developerAccountId": account}
    return requests.post(emu.base_url + TICKETS, params=params, timeout=timeout,
                         json={"emailAddress": email, "password": password})


def login(emu: KiboEmulator, account: int | None = None) -> dict[str, Any]:
    response = create(emu, account)
    assert response.status_code == 200, response.text
    return response.json()


def refresh(emu: KiboEmulator, ticket: dict[str, Any] | None, account: int | None = None) -> requests.Response:
    params = {} if account is None else {"developerAccountId": account}
    return requests.put(emu.base_url + TICKETS, params=params, json=ticket, timeout=5)


def apps(emu: KiboEmulator, token: str | None, *, header: str = "bearer",
         timeout: float = 5, **params: Any) -> requests.Response:
    headers = {}
    if token is not None:
        headers = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"x-vol-user-claims": token}
    return requests.get(emu.base_url + APPS, params=params, headers=headers, timeout=timeout)


def control(emu: KiboEmulator, path: str, body: Any = None) -> requests.Response:
    url = f"{emu.base_url}/_emulator/{path}"
    if body is None and path in ("counters", "calls", "clock", "config", "status_counts"):
        return requests.get(url, timeout=5)
    return requests.post(url, json=body if body is not None else {}, timeout=5)


def assert_kibo_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code
    assert set(body) == {"message", "errorCode", "applicationName", "additionalErrorData",
                         "exceptionDetail", "items"}
    assert body["applicationName"] == "Kibo Emulator"
    assert body["exceptionDetail"]["message"] == body["message"]
    return body


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., KiboEmulator]]:
    started: list[KiboEmulator] = []

    def factory(*args: Any, **kwargs: Any) -> KiboEmulator:
        emulator = KiboEmulator(*args, **kwargs).start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


# ----------------------------------------------------------------------------- create
def test_create_returns_a_complete_ticket_for_the_requested_account(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator, 1002)
    assert ticket["account"] == {"id": 1002, "name": "Globex Sandbox"}
    assert ticket["availableAccounts"] == [{"id": 1001, "name": "Acme Development"},
                                           {"id": 1002, "name": "Globex Sandbox"},
                                           {"id": 1003, "name": "Initech Test"}]
    assert ticket["user"]["emailAddress"] == EMAIL
    assert ticket["user"]["userName"] == EMAIL
    assert re.fullmatch(r"[0-9a-f]{32}", ticket["user"]["userId"])
    assert ticket["grantedBehaviors"] and all(isinstance(b, int) for b in ticket["grantedBehaviors"])
    assert ticket["accessToken"] and ticket["refreshToken"]
    assert len({ticket["accessToken"], ticket["jwtAccessToken"], ticket["refreshToken"]}) == 3


def test_create_without_account_id_uses_the_users_first_account(kibo_emulator: KiboEmulator) -> None:
    assert login(kibo_emulator)["account"]["id"] == 1001


def test_create_dates_are_utc_millis_with_z_and_follow_configured_lifetimes(make_emulator) -> None:
    emu = make_emulator(access_token_lifetime=timedelta(minutes=10), refresh_token_lifetime=7200)
    ticket = login(emu)
    created = parse_date(ticket["createdOn"])
    assert abs(created - datetime.now(UTC)) < timedelta(seconds=5)
    assert parse_date(ticket["accessTokenExpiration"]) - created == timedelta(minutes=10)
    assert parse_date(ticket["refreshTokenExpiration"]) - created == timedelta(hours=2)


def test_create_with_wrong_password_is_401_invalid_credentials(kibo_emulator: KiboEmulator) -> None:
    response = create(kibo_emulator, password="not-the-password")
    body = assert_kibo_error(response, 401, "INVALID_CREDENTIALS")
    assert "not-the-password" not in response.text and PASSWORD not in body["message"]


def test_create_with_unknown_email_is_401_invalid_credentials(kibo_emulator: KiboEmulator) -> None:
    assert_kibo_error(create(kibo_emulator, email="nobody@example.com"), 401, "INVALID_CREDENTIALS")


def test_create_matches_email_case_insensitively(kibo_emulator: KiboEmulator) -> None:
    assert create(kibo_emulator, email="Developer@Example.COM").status_code == 200


@pytest.mark.parametrize("status", [401, 403])
def test_create_for_an_account_the_user_lacks_answers_no_access_status_unauthorized(
        make_emulator, status: int) -> None:
    emu = make_emulator(no_access_status=status)
    assert_kibo_error(create(emu, 999999), status, "UNAUTHORIZED")


def test_no_access_status_can_be_switched_at_runtime(kibo_emulator: KiboEmulator) -> None:
    assert create(kibo_emulator, 4242).status_code == 403
    kibo_emulator.no_access_status = 401
    assert_kibo_error(create(kibo_emulator, 4242), 401, "UNAUTHORIZED")


def test_create_with_a_non_integer_account_id_is_400(kibo_emulator: KiboEmulator) -> None:
    response = requests.post(kibo_emulator.base_url + TICKETS, params={"developerAccountId": "abc"},
                             json={"emailAddress": EMAIL, "password": PASSWORD}, timeout=5)
    assert_kibo_error(response, 400, "VALIDATION_CONFLICT")


def test_create_with_a_malformed_json_body_is_400(kibo_emulator: KiboEmulator) -> None:
    response = requests.post(kibo_emulator.base_url + TICKETS, data=b"{nope", timeout=5,
                             headers={"Content-Type": "application/json"})
    assert_kibo_error(response, 400, "VALIDATION_CONFLICT")


def test_jwt_access_token_is_a_three_part_base64url_token_with_claims(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator, 1002)
    parts = ticket["jwtAccessToken"].split(".")
    assert len(parts) == 3 and all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts)
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    assert decode(parts[0])["typ"] == "JWT"
    claims = decode(parts[1])
    assert claims["developerAccountId"] == 1002
    assert claims["exp"] == int(parse_date(ticket["accessTokenExpiration"]).timestamp())


def test_concurrent_logins_all_succeed_with_unique_tokens(kibo_emulator: KiboEmulator) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        tickets = list(pool.map(lambda _: login(kibo_emulator), range(48)))
    tokens = [t[k] for t in tickets for k in ("accessToken", "jwtAccessToken", "refreshToken")]
    assert len(set(tokens)) == len(tokens) == 144
    assert kibo_emulator.counters()["create"] == 48


# ---------------------------------------------------------------------------- refresh
def test_refresh_switches_account_with_a_new_access_token(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator, 1001)
    response = refresh(kibo_emulator, ticket, 1002)
    assert response.status_code == 200
    new = response.json()
    assert new["account"] == {"id": 1002, "name": "Globex Sandbox"}
    assert new["accessToken"] != ticket["accessToken"]
    assert new["jwtAccessToken"] != ticket["jwtAccessToken"]
    assert apps(kibo_emulator, new["jwtAccessToken"]).json()["totalCount"] == 3


def test_refresh_without_account_id_keeps_the_tickets_current_account(kibo_emulator: KiboEmulator) -> None:
    ticket = refresh(kibo_emulator, login(kibo_emulator, 1001), 1002).json()
    assert refresh(kibo_emulator, ticket).json()["account"]["id"] == 1002


def test_refresh_needs_only_the_refresh_token_in_the_body(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    assert refresh(kibo_emulator, {"refreshToken": ticket["refreshToken"]}).status_code == 200


def test_refresh_in_kept_mode_returns_the_same_refresh_token_and_expiry_which_keeps_working(
        kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.clock.advance(60)
    first = refresh(kibo_emulator, ticket).json()
    assert first["refreshToken"] == ticket["refreshToken"]
    assert first["refreshTokenExpiration"] == ticket["refreshTokenExpiration"]
    assert refresh(kibo_emulator, ticket).status_code == 200  # a second worker, same token


def test_refresh_in_rotate_mode_returns_a_new_refresh_token_and_the_old_one_dies_at_once(
        make_emulator) -> None:
    emu = make_emulator(rotate_refresh_tokens=True)
    ticket = login(emu)
    emu.clock.advance(60)
    new = refresh(emu, ticket).json()
    assert new["refreshToken"] != ticket["refreshToken"]
    assert parse_date(new["refreshTokenExpiration"]) > parse_date(ticket["refreshTokenExpiration"])
    assert_kibo_error(refresh(emu, ticket), 401, "UNAUTHORIZED")
    assert refresh(emu, new).status_code == 200


def test_rotation_can_be_enabled_at_runtime(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.rotate_refresh_tokens = True
    assert refresh(kibo_emulator, ticket).json()["refreshToken"] != ticket["refreshToken"]
    assert refresh(kibo_emulator, ticket).status_code == 401


def test_access_tokens_issued_before_a_refresh_stay_valid_until_they_expire(make_emulator) -> None:
    emu = make_emulator(rotate_refresh_tokens=True)
    ticket = login(emu)
    refresh(emu, ticket)
    assert apps(emu, ticket["accessToken"]).status_code == 200


@pytest.mark.parametrize("body", [{"refreshToken": "not-a-token"}, {"refreshToken": ""}, {}, None],
                         ids=["unknown", "empty", "missing", "no-body"])
def test_refresh_with_an_unknown_empty_or_missing_token_is_401_unauthorized(
        kibo_emulator: KiboEmulator, body: Any) -> None:
    response = refresh(kibo_emulator, body)
    assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert "not-a-token" not in response.text


def test_refresh_with_an_expired_refresh_token_is_401(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.clock.advance(timedelta(days=1))
    body = assert_kibo_error(refresh(kibo_emulator, ticket), 401, "UNAUTHORIZED")
    assert "expired" in body["message"]


def test_refresh_token_is_still_valid_just_before_expiry(make_emulator) -> None:
    emu = make_emulator(refresh_token_lifetime=100)
    ticket = login(emu)
    emu.clock.advance(95)
    assert refresh(emu, ticket).status_code == 200


@pytest.mark.parametrize("status", [401, 403])
def test_refresh_to_an_account_the_user_lacks_answers_no_access_status(make_emulator, status: int) -> None:
    emu = make_emulator(no_access_status=status, rotate_refresh_tokens=True)
    ticket = login(emu)
    assert_kibo_error(refresh(emu, ticket, 31337), status, "UNAUTHORIZED")
    assert refresh(emu, ticket).status_code == 200  # a failed switch does not burn the token


def test_revoke_refresh_tokens_kills_refresh_tokens_but_not_access_tokens(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    assert kibo_emulator.revoke_refresh_tokens() == 1
    assert_kibo_error(refresh(kibo_emulator, ticket), 401, "UNAUTHORIZED")
    assert apps(kibo_emulator, ticket["accessToken"]).status_code == 200
    assert create(kibo_emulator).status_code == 200


def test_revoke_refresh_tokens_for_another_email_leaves_this_user_alone(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    assert kibo_emulator.revoke_refresh_tokens("someone@else.example") == 0
    assert refresh(kibo_emulator, ticket).status_code == 200
    assert kibo_emulator.revoke_refresh_tokens(EMAIL.upper()) == 1


# ----------------------------------------------------------------------------- delete
def test_delete_answers_200_empty_and_the_refresh_token_then_fails(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    response = requests.delete(kibo_emulator.base_url + TICKETS,
                               params={"refreshToken": ticket["refreshToken"]}, timeout=5)
    assert response.status_code == 200 and response.content == b""
    assert_kibo_error(refresh(kibo_emulator, ticket), 401, "UNAUTHORIZED")


def test_delete_also_revokes_the_access_tokens_of_that_login(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    other = login(kibo_emulator)
    requests.delete(kibo_emulator.base_url + TICKETS, params={"refreshToken": ticket["refreshToken"]}, timeout=5)
    assert_kibo_error(apps(kibo_emulator, ticket["jwtAccessToken"]), 401, "UNAUTHORIZED")
    assert apps(kibo_emulator, other["jwtAccessToken"]).status_code == 200


@pytest.mark.parametrize("params", [{"refreshToken": "unknown"}, {}], ids=["unknown", "missing"])
def test_delete_with_an_unknown_or_missing_token_is_still_200(kibo_emulator: KiboEmulator, params) -> None:
    response = requests.delete(kibo_emulator.base_url + TICKETS, params=params, timeout=5)
    assert response.status_code == 200 and response.content == b""


# ------------------------------------------------------------------------ apppackages
def test_apppackages_paging_walks_every_item_exactly_once(kibo_emulator: KiboEmulator) -> None:
    token = login(kibo_emulator, 1001)["jwtAccessToken"]
    seen, start = [], 0
    while True:
        page = apps(kibo_emulator, token, startIndex=start, pageSize=3).json()
        assert (page["startIndex"], page["pageSize"], page["totalCount"], page["pageCount"]) == (start, 3, 7, 3)
        if not page["items"]:
            break
        seen += [item["applicationId"] for item in page["items"]]
        start += 3
    assert seen == [100100 + i for i in range(1, 8)]


def test_apppackages_defaults_to_page_size_20_and_caps_it_at_200(kibo_emulator: KiboEmulator) -> None:
    token = login(kibo_emulator)["accessToken"]
    default = apps(kibo_emulator, token).json()
    assert (default["startIndex"], default["pageSize"], default["pageCount"]) == (0, 20, 1)
    assert len(default["items"]) == 7
    assert apps(kibo_emulator, token, pageSize=5000).json()["pageSize"] == 200


@pytest.mark.parametrize("params", [{"pageSize": "x"}, {"startIndex": "-1"}, {"pageSize": "0"}],
                         ids=["non-integer", "negative-start", "zero-size"])
def test_apppackages_with_invalid_paging_is_400(kibo_emulator: KiboEmulator, params) -> None:
    token = login(kibo_emulator)["accessToken"]
    assert_kibo_error(apps(kibo_emulator, token, **params), 400, "VALIDATION_CONFLICT")


def test_apppackages_are_scoped_to_the_tokens_account(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator, 1001)
    acme = apps(kibo_emulator, ticket["accessToken"]).json()["items"]
    globex = apps(kibo_emulator, refresh(kibo_emulator, ticket, 1002).json()["accessToken"]).json()
    initech = apps(kibo_emulator, refresh(kibo_emulator, ticket, 1003).json()["accessToken"]).json()
    assert [a["name"] for a in acme][:2] == ["acme-development-app-1", "acme-development-app-2"]
    assert [a["applicationId"] for a in globex["items"]] == [100201, 100202, 100203]
    assert all(a["name"].startswith("globex-sandbox-app-") for a in globex["items"])
    assert (initech["totalCount"], initech["pageCount"], initech["items"]) == (0, 0, [])


def test_apppackages_are_deterministic_across_emulators(make_emulator) -> None:
    first, second = make_emulator(), make_emulator()
    assert apps(first, login(first)["accessToken"]).json() == apps(second, login(second)["accessToken"]).json()


@pytest.mark.parametrize(("token_key", "header"), [("jwtAccessToken", "bearer"), ("accessToken", "bearer"),
                                                   ("accessToken", "x-vol-user-claims")])
def test_apppackages_accept_bearer_and_legacy_claims_headers(kibo_emulator: KiboEmulator, token_key, header) -> None:
    token = login(kibo_emulator, 1002)[token_key]
    response = apps(kibo_emulator, token, header=header)
    assert response.status_code == 200
    assert response.json()["totalCount"] == 3


@pytest.mark.parametrize("token", [None, "unknown-token"], ids=["missing", "unknown"])
def test_apppackages_without_a_valid_token_is_401_unauthorized(kibo_emulator: KiboEmulator, token) -> None:
    response = apps(kibo_emulator, token)
    assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert "unknown-token" not in response.text


def test_apppackages_with_an_expired_access_token_is_401_saying_expired(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.clock.advance(3600)
    body = assert_kibo_error(apps(kibo_emulator, ticket["jwtAccessToken"]), 401, "UNAUTHORIZED")
    assert "expired" in body["message"]
    fresh = refresh(kibo_emulator, ticket).json()
    assert apps(kibo_emulator, fresh["jwtAccessToken"]).status_code == 200


# ----------------------------------------------------------------------------- faults
def test_rate_limit_fault_answers_429_with_empty_body_and_retry_after(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "rate_limit", retry_after=7)
    limited = create(kibo_emulator)
    assert limited.status_code == 429
    assert limited.content == b"" and limited.headers["Content-Length"] == "0"
    assert limited.headers["Retry-After"] == "7"
    assert create(kibo_emulator).status_code == 200


def test_rate_limit_retry_after_defaults_to_60(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "rate_limit")
    assert create(kibo_emulator).headers["Retry-After"] == "60"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_fault_answers_that_status_with_a_kibo_error_body(kibo_emulator, status) -> None:
    kibo_emulator.inject("create", "server_error", status=status)
    response = create(kibo_emulator)
    assert response.status_code == status
    body = response.json()
    assert body["errorCode"] and body["message"] and body["applicationName"] == "Kibo Emulator"


def test_server_error_status_defaults_to_500(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("refresh", "server_error")
    assert refresh(kibo_emulator, login(kibo_emulator)).status_code == 500


def test_stall_fault_times_the_client_out_while_other_requests_answer_fast(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "stall", seconds=5)
    outcome: dict[str, Any] = {}

    def stalled_call() -> None:
        try:
            create(kibo_emulator, timeout=0.5)
        except requests.Timeout as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=stalled_call)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert create(kibo_emulator).status_code == 200
    assert time.monotonic() - started < 1.0  # the stalled request holds its answer for 5 s
    thread.join(3)
    assert isinstance(outcome.get("error"), requests.ReadTimeout)


def test_drop_fault_closes_the_connection_without_a_response(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("apppackages", "drop")
    token = login(kibo_emulator)["accessToken"]
    with pytest.raises(requests.ConnectionError):
        apps(kibo_emulator, token)
    assert apps(kibo_emulator, token).status_code == 200
    assert kibo_emulator.status_counts()["apppackages"] == {0: 1, 200: 1}


def test_latency_fault_delays_one_answer_which_then_succeeds(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "latency", seconds=0.5)
    started = time.monotonic()
    assert create(kibo_emulator).status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    create(kibo_emulator)
    assert time.monotonic() - started < 0.4


def test_global_latency_delays_every_kibo_answer_but_not_control_routes(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.latency = 0.5
    started = time.monotonic()
    assert create(kibo_emulator).status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    control(kibo_emulator, "counters")
    assert time.monotonic() - started < 0.4


def test_faults_are_consumed_in_fifo_order_per_route_each_times_times(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "rate_limit", times=2)
    kibo_emulator.inject("create", "server_error", status=503)
    kibo_emulator.inject("delete", "server_error")
    statuses = [create(kibo_emulator).status_code for _ in range(4)]
    assert statuses == [429, 429, 503, 200]
    assert requests.delete(kibo_emulator.base_url + TICKETS, timeout=5).status_code == 500


def test_wildcard_faults_hit_whatever_route_comes_next(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.inject("*", "server_error", times=2, status=502)
    assert apps(kibo_emulator, ticket["accessToken"]).status_code == 502
    assert refresh(kibo_emulator, ticket).status_code == 502
    assert refresh(kibo_emulator, ticket).status_code == 200


def test_clear_faults_drops_queued_faults(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "rate_limit", times=3)
    kibo_emulator.clear_faults()
    assert create(kibo_emulator).status_code == 200


@pytest.mark.parametrize("kwargs", [
    {"route": "login", "kind": "drop"}, {"route": "create", "kind": "explode"},
    {"route": "create", "kind": "drop", "times": 0},
    {"route": "create", "kind": "server_error", "status": 404},
    {"route": "create", "kind": "drop", "status": 500},
    {"route": "create", "kind": "rate_limit", "retry_after": -1},
], ids=["route", "kind", "times", "status", "status-on-drop", "retry-after"])
def test_inject_rejects_invalid_faults(kibo_emulator: KiboEmulator, kwargs) -> None:
    with pytest.raises(ValueError):
        kibo_emulator.inject(**kwargs)


# ------------------------------------------------------------------- counters & http
def test_counters_count_requests_received_per_route_including_faulted_ones(kibo_emulator) -> None:
    assert kibo_emulator.counters() == {"create": 0, "refresh": 0, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}
    kibo_emulator.inject("create", "rate_limit")
    assert create(kibo_emulator).status_code == 429
    ticket = login(kibo_emulator)
    refresh(kibo_emulator, ticket)
    apps(kibo_emulator, ticket["accessToken"])
    apps(kibo_emulator, "bad")
    requests.delete(kibo_emulator.base_url + TICKETS, timeout=5)
    assert kibo_emulator.counters() == {"create": 2, "refresh": 1, "delete": 1, "apppackages": 2,
                                        **TENANT_ROUTES_UNUSED}
    assert kibo_emulator.status_counts() == {"create": {429: 1, 200: 1}, "refresh": {200: 1},
                                             "delete": {200: 1}, "apppackages": {200: 1, 401: 1},
                                             "tenant_create": {}, "tenant_refresh": {}, "tenant_delete": {},
                                             "orders": {}, "order_create": {}, "customer_accounts": {},
                                             "app_oauth": {}, "app_ticket": {}, "app_refresh": {}, "app_delete": {},
                                             "tenant_lookup": {}}


def test_reset_counters_zeroes_counters_and_status_counts(kibo_emulator: KiboEmulator) -> None:
    login(kibo_emulator)
    kibo_emulator.reset_counters()
    assert kibo_emulator.counters() == {"create": 0, "refresh": 0, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}
    assert kibo_emulator.status_counts() == {"create": {}, "refresh": {}, "delete": {}, "apppackages": {},
                                             "tenant_create": {}, "tenant_refresh": {}, "tenant_delete": {},
                                             "orders": {}, "order_create": {}, "customer_accounts": {},
                                             "app_oauth": {}, "app_ticket": {}, "app_refresh": {}, "app_delete": {},
                                             "tenant_lookup": {}}


def test_calls_name_the_user_whose_password_or_token_each_request_carried(make_emulator) -> None:
    other = EmulatorUser("other@example.com", "other-password", [EmulatorAccount(2001, "Other")])
    emu = make_emulator((*DEMO_USERS, other))
    ticket = login(emu)
    create(emu, email="OTHER@example.com", password="wrong")
    refresh(emu, ticket, 1002)
    apps(emu, ticket["jwtAccessToken"])
    apps(emu, ticket["accessToken"], header="claims")
    apps(emu, "not-a-token")
    requests.delete(emu.base_url + TICKETS, params={"refreshToken": ticket["refreshToken"]}, timeout=5)
    refresh(emu, ticket)  # a revoked token still has its owner

    expected = [{"route": "create", "user": EMAIL}, {"route": "create", "user": "other@example.com"},
                {"route": "refresh", "user": EMAIL}, {"route": "apppackages", "user": EMAIL},
                {"route": "apppackages", "user": EMAIL}, {"route": "apppackages", "user": None},
                {"route": "delete", "user": EMAIL}, {"route": "refresh", "user": EMAIL}]
    assert emu.calls() == expected
    assert control(emu, "calls").json() == expected
    emu.reset_counters()
    assert emu.calls() == []


def test_http_counters_match_python_and_control_routes_are_not_counted(kibo_emulator: KiboEmulator) -> None:
    login(kibo_emulator)
    for _ in range(3):
        assert control(kibo_emulator, "counters").json() == {"create": 1, "refresh": 0, "delete": 0,
                                                              "apppackages": 0, **TENANT_ROUTES_UNUSED}
    control(kibo_emulator, "clock")
    assert kibo_emulator.counters()["create"] == 1
    assert control(kibo_emulator, "status_counts").json()["create"] == {"200": 1}
    reset = control(kibo_emulator, "counters/reset")
    assert reset.status_code == 200
    assert kibo_emulator.counters() == {"create": 0, "refresh": 0, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}


def test_unknown_paths_are_404_item_not_found_and_not_counted(kibo_emulator: KiboEmulator) -> None:
    assert_kibo_error(requests.get(kibo_emulator.base_url + "/api/platform/nothing", timeout=5), 404,
                      "ITEM_NOT_FOUND")
    assert_kibo_error(requests.get(kibo_emulator.base_url + "/_emulator/nothing", timeout=5), 404,
                      "ITEM_NOT_FOUND")
    assert sum(kibo_emulator.counters().values()) == 0


@pytest.mark.parametrize(("method", "path"), [("GET", TICKETS), ("PATCH", TICKETS), ("POST", APPS)])
def test_wrong_methods_on_kibo_routes_are_405(kibo_emulator: KiboEmulator, method: str, path: str) -> None:
    response = requests.request(method, kibo_emulator.base_url + path, timeout=5)
    assert_kibo_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"]


def test_every_response_carries_a_fresh_correlation_id(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    kibo_emulator.inject("create", "rate_limit")
    kibo_emulator.inject("apppackages", "server_error")
    responses = [
        create(kibo_emulator), create(kibo_emulator), create(kibo_emulator, password="x"),
        refresh(kibo_emulator, ticket), apps(kibo_emulator, ticket["accessToken"]),
        apps(kibo_emulator, ticket["accessToken"]), apps(kibo_emulator, None),
        requests.delete(kibo_emulator.base_url + TICKETS, timeout=5),
        requests.get(kibo_emulator.base_url + "/nope", timeout=5),
        requests.get(kibo_emulator.base_url + TICKETS, timeout=5),
        control(kibo_emulator, "counters"), control(kibo_emulator, "clock", {"advance_seconds": 1}),
        control(kibo_emulator, "config", {"no_access_status": 7}),
    ]
    assert {r.status_code for r in responses} == {200, 400, 401, 404, 405, 429, 500}
    ids = [r.headers["x-vol-correlation"] for r in responses]
    assert all(uuid.UUID(hex=i).hex == i and uuid.UUID(hex=i).version == 4 for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_keep_alive_connection_serves_many_requests_including_errors_and_empty_bodies(
        kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("create", "rate_limit")
    conn = http.client.HTTPConnection("127.0.0.1", kibo_emulator.port, timeout=5)
    body = json.dumps({"emailAddress": EMAIL, "password": PASSWORD})
    statuses = []
    try:
        for method, path, payload in [("POST", TICKETS, body), ("POST", TICKETS, body),
                                      ("DELETE", TICKETS + "?refreshToken=x", None),
                                      ("GET", "/missing", None), ("POST", TICKETS, "{}")]:
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        first_socket = conn.sock
        conn.request("GET", "/_emulator/counters")
        conn.getresponse().read()
        assert conn.sock is first_socket
    finally:
        conn.close()
    assert statuses == [429, 200, 200, 404, 401]


# ---------------------------------------------------------------------- secrets & clock
def test_issued_secrets_hold_every_issued_token_and_every_password(kibo_emulator: KiboEmulator) -> None:
    shared_secrets = {a.shared_secret for a in kibo_emulator.applications}
    assert kibo_emulator.issued_secrets() == {PASSWORD, *shared_secrets}
    first = login(kibo_emulator)
    second = refresh(kibo_emulator, first, 1002).json()
    expected = {PASSWORD, *shared_secrets} | {t[k] for t in (first, second)
                             for k in ("accessToken", "jwtAccessToken", "refreshToken")}
    assert kibo_emulator.issued_secrets() == expected


def test_error_bodies_never_echo_a_secret(make_emulator) -> None:
    emu = make_emulator(rotate_refresh_tokens=True)
    ticket = login(emu)
    refresh(emu, ticket)
    emu.clock.advance(90000)
    errors = [refresh(emu, ticket), refresh(emu, ticket, 1), apps(emu, ticket["accessToken"]),
              apps(emu, ticket["jwtAccessToken"], header="x-vol-user-claims"), create(emu, 5)]
    assert {e.status_code for e in errors} == {401, 403}
    for response in errors:
        assert not any(secret in response.text for secret in emu.issued_secrets())


def test_emulator_user_repr_hides_the_password() -> None:
    user = EmulatorUser("a@example.com", "s3cret-value", [EmulatorAccount(1, "One")])
    assert "s3cret-value" not in repr(user)
    assert re.fullmatch(r"[0-9a-f]{32}", user.user_id)
    assert user.user_id == EmulatorUser("A@example.com", "x", [EmulatorAccount(2, "Two")]).user_id


def test_demo_users_hold_the_documented_developer_and_accounts() -> None:
    (user,) = DEMO_USERS
    assert (user.email, user.password) == (EMAIL, PASSWORD)
    assert [(a.id, a.name) for a in user.accounts] == [(1001, "Acme Development"),
                                                       (1002, "Globex Sandbox"), (1003, "Initech Test")]
    assert [a.app_count for a in user.accounts][:2] == [7, 3]


def test_custom_users_can_log_in_and_the_demo_user_cannot(make_emulator) -> None:
    user = EmulatorUser("ops@example.com", "pw-123456", [EmulatorAccount(77, "Ops Lab", app_count=2)])
    emu = make_emulator([user])
    ticket = login_as(emu, "ops@example.com", "pw-123456")
    assert ticket["availableAccounts"] == [{"id": 77, "name": "Ops Lab"}]
    assert apps(emu, ticket["accessToken"]).json()["items"][1]["name"] == "ops-lab-app-2"
    assert create(emu).status_code == 401


def login_as(emu: KiboEmulator, email: str, password: str) -> dict[str, Any]:
    response = create(emu, email=email, password=password)
    assert response.status_code == 200
    return response.json()


def test_clock_runs_in_utc_and_advances_by_seconds_or_timedelta(kibo_emulator: KiboEmulator) -> None:
    clock = kibo_emulator.clock
    first = clock.now()
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    time.sleep(0.02)
    assert clock.now() > first  # not frozen
    clock.advance(30)
    clock.advance(timedelta(minutes=1))
    assert timedelta(seconds=90) <= clock.now() - first < timedelta(seconds=92)


def test_constructor_and_setters_validate_settings(kibo_emulator: KiboEmulator) -> None:
    with pytest.raises(ValueError):
        KiboEmulator(no_access_status=404)
    with pytest.raises(ValueError):
        KiboEmulator(access_token_lifetime=-1)
    with pytest.raises(ValueError):
        kibo_emulator.latency = -0.5
    kibo_emulator.access_token_lifetime = timedelta(minutes=5)
    assert kibo_emulator.access_token_lifetime == 300


# ------------------------------------------------------------------- control surface
def test_http_clock_reports_and_advances_the_emulated_time(kibo_emulator: KiboEmulator) -> None:
    before = control(kibo_emulator, "clock").json()
    assert before["offset_seconds"] == 0 and KIBO_DATE.match(before["now"])
    after = control(kibo_emulator, "clock", {"advance_seconds": 120}).json()
    assert after["offset_seconds"] == 120
    assert parse_date(after["now"]) - parse_date(before["now"]) >= timedelta(seconds=120)
    assert kibo_emulator.clock.offset_seconds == 120


def test_http_faults_queue_a_fault_like_inject(kibo_emulator: KiboEmulator) -> None:
    response = control(kibo_emulator, "faults", {"route": "create", "kind": "rate_limit", "times": 2,
                                                 "retry_after": 3})
    assert response.status_code == 200 and response.json()["pending"] == 1
    assert [create(kibo_emulator).status_code for _ in range(3)] == [429, 429, 200]
    bad = control(kibo_emulator, "faults", {"route": "create", "kind": "explode"})
    assert_kibo_error(bad, 400, "VALIDATION_CONFLICT")
    control(kibo_emulator, "faults", {"route": "*", "kind": "server_error"})
    assert control(kibo_emulator, "faults/clear").status_code == 200
    assert create(kibo_emulator).status_code == 200


def test_http_config_changes_settings_at_runtime(kibo_emulator: KiboEmulator) -> None:
    config = control(kibo_emulator, "config", {"rotate_refresh_tokens": True, "no_access_status": 401,
                                               "access_token_lifetime": 60, "refresh_token_lifetime": 120,
                                               "latency": 0}).json()
    assert config == {"rotate_refresh_tokens": True, "no_access_status": 401, "access_token_lifetime": 60,
                      "refresh_token_lifetime": 120, "latency": 0, "application_auth_routes": ["oauth", "ticket"],
                      "oauth_expires_in": True}
    assert kibo_emulator.rotate_refresh_tokens and kibo_emulator.no_access_status == 401
    ticket = login(kibo_emulator)
    assert parse_date(ticket["accessTokenExpiration"]) - parse_date(ticket["createdOn"]) == timedelta(seconds=60)
    assert create(kibo_emulator, 9).status_code == 401
    assert refresh(kibo_emulator, ticket).json()["refreshToken"] != ticket["refreshToken"]
    assert_kibo_error(control(kibo_emulator, "config", {"no_access_status": 418}), 400, "VALIDATION_CONFLICT")
    assert_kibo_error(control(kibo_emulator, "config", {"colour": "red"}), 400, "VALIDATION_CONFLICT")
    assert control(kibo_emulator, "config").json()["no_access_status"] == 401


def test_http_revoke_kills_refresh_tokens_of_one_user_or_everyone(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    assert control(kibo_emulator, "revoke", {"email": "other@example.com"}).json() == {"revoked": 0}
    assert refresh(kibo_emulator, ticket).status_code == 200
    assert control(kibo_emulator, "revoke", {"email": EMAIL}).json() == {"revoked": 1}
    assert refresh(kibo_emulator, ticket).status_code == 401
    login(kibo_emulator)
    assert control(kibo_emulator, "revoke").json() == {"revoked": 1}


def test_control_routes_are_never_faulted(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("*", "drop")
    for path in ("counters", "clock", "config"):
        assert control(kibo_emulator, path).status_code == 200
    with pytest.raises(requests.ConnectionError):
        create(kibo_emulator)


# ------------------------------------------------------------------------- lifecycle
def test_stop_is_quick_with_open_keep_alive_connections_and_a_pending_stall() -> None:
    emu = KiboEmulator().start()
    session = requests.Session()
    assert session.post(emu.base_url + TICKETS, json={"emailAddress": EMAIL, "password": PASSWORD},
                        timeout=5).status_code == 200
    emu.inject("create", "stall", seconds=30)
    with pytest.raises(requests.Timeout):
        create(emu, timeout=0.2)
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 2
    assert not emu.running
    emu.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    session.close()


def test_start_twice_is_an_error_and_the_context_manager_starts_and_stops() -> None:
    with KiboEmulator() as emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        with pytest.raises(RuntimeError):
            emu.start()
    assert not emu.running
