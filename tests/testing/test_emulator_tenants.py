"""Tenants in the emulator: users' tenants, tenant admin-user tickets and the orders route."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from airflow_provider_kibo.testing import (
    DEMO_USERS,
    EmulatorAccount,
    EmulatorSite,
    EmulatorTenant,
    EmulatorUser,
    KiboEmulator,
)
from tests.testing.test_emulator import APPS, EMAIL, PASSWORD, TICKETS, assert_kibo_error, parse_date

ACCOUNTS = [EmulatorAccount(1, "One")]
TENANT_TICKETS = "/api/platform/adminuser/authtickets/tenants"
TENANT_LOGOUT = "/api/platform/adminuser/authtickets"
DEMO_TENANT_IDS = [100001, 100002, 100003]


def tenant_create(emu: KiboEmulator, tenant: int | None = None, *, email: str = EMAIL,
                  password: str = PASSWORD) -> requests.Response:
    params = {} if tenant is None else {"tenantId": tenant}
    return requests.post(emu.base_url + TENANT_TICKETS, params=params, timeout=5,
                         json={"emailAddress": email, "password": password})


def tenant_login(emu: KiboEmulator, tenant: int | None = None) -> dict[str, Any]:
    response = tenant_create(emu, tenant)
    assert response.status_code == 200, response.text
    return response.json()


def tenant_refresh(emu: KiboEmulator, ticket: dict[str, Any] | None, tenant: int | None = None) -> requests.Response:
    params = {} if tenant is None else {"tenantId": tenant}
    return requests.put(emu.base_url + TENANT_TICKETS, params=params, json=ticket, timeout=5)


def tenant_logout(emu: KiboEmulator, refresh_token: str | None) -> requests.Response:
    params = {} if refresh_token is None else {"refreshToken": refresh_token}
    return requests.delete(emu.base_url + TENANT_LOGOUT, params=params, timeout=5)


def developer_login(emu: KiboEmulator) -> dict[str, Any]:
    response = requests.post(emu.base_url + TICKETS, json={"emailAddress": EMAIL, "password": PASSWORD}, timeout=5)
    assert response.status_code == 200
    return response.json()


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


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


# ------------------------------------------------------------------------ models
def test_demo_user_holds_the_documented_tenants_sites_and_order_counts() -> None:
    (user,) = DEMO_USERS
    assert [(t.id, t.name, t.order_count) for t in user.tenants] == [
        (100001, "Acme Retail", 45), (100002, "Globex Outlet", 12), (100003, "Initech Store", 0)]
    assert [[(s.id, s.name) for s in t.sites] for t in user.tenants] == [
        [(100011, "Acme US"), (100012, "Acme CA")], [(100021, "Globex Main")], [(100031, "Initech Web")]]


def test_a_tenants_json_names_its_domain_sites_and_one_master_catalog_of_the_sites_catalogs() -> None:
    tenant = EmulatorTenant(7, "Seven", [EmulatorSite(71, "A"), EmulatorSite(72, "B", catalog_id=3),
                                         EmulatorSite(73, "C", catalog_id=3, currency_code="EUR")])
    document = tenant.to_json("127.0.0.1:4000")
    assert document["domain"] == "127.0.0.1:4000/_tenant/7"
    assert {site["domain"] for site in document["sites"]} == {"127.0.0.1:4000/_tenant/7"}
    assert [(s["id"], s["tenantId"], s["catalogId"], s["currencyCode"]) for s in document["sites"]] == [
        (71, 7, 1, "USD"), (72, 7, 3, "USD"), (73, 7, 3, "EUR")]
    (master,) = document["masterCatalogs"]
    assert (master["id"], master["name"]) == (1, "Master")
    assert [(c["id"], c["masterCatalogId"]) for c in master["catalogs"]] == [(1, 1), (3, 1)]


def test_users_without_tenants_still_work_and_tenant_lookups_find_only_their_own() -> None:
    assert EmulatorUser("a@example.com", "pw", ACCOUNTS).tenants == ()
    (user,) = DEMO_USERS
    assert user.tenant(100002).name == "Globex Outlet"
    assert user.tenant(1001) is None


@pytest.mark.parametrize(("factory", "message"), [
    (lambda: EmulatorTenant(0, "Zero", [EmulatorSite(1, "S")]), "tenant id"),
    (lambda: EmulatorTenant(2**31, "Big", [EmulatorSite(1, "S")]), "tenant id"),
    (lambda: EmulatorTenant(1, " ", [EmulatorSite(1, "S")]), "tenant name"),
    (lambda: EmulatorTenant(1, "No sites", []), "at least one EmulatorSite"),
    (lambda: EmulatorTenant(1, "Twice", [EmulatorSite(1, "S"), EmulatorSite(1, "T")]), "duplicate site ids"),
    (lambda: EmulatorTenant(1, "Many", [EmulatorSite(1, "S")], order_count=10_001), "order_count"),
    (lambda: EmulatorTenant(1, "Flag", [EmulatorSite(1, "S")], is_dev_tenant="yes"), "is_dev_tenant"),
    (lambda: EmulatorSite(True, "S"), "site id"),
    (lambda: EmulatorSite(1, "S", catalog_id=0), "catalog_id"),
    (lambda: EmulatorSite(1, "S", currency_code=""), "currency_code"),
    (lambda: EmulatorUser("a@example.com", "pw", ACCOUNTS, tenants=[ACCOUNTS[0]]), "EmulatorTenant"),
    (lambda: EmulatorUser("a@example.com", "pw", ACCOUNTS, tenants=[EmulatorTenant(1, "X", [EmulatorSite(1, "S")]),
                                                                    EmulatorTenant(1, "Y", [EmulatorSite(2, "T")])]),
     "duplicate tenant ids"),
], ids=["zero-id", "int32-overflow", "blank-name", "no-sites", "duplicate-site", "too-many-orders", "flag-type",
        "bool-site-id", "catalog-id", "currency", "not-a-tenant", "duplicate-tenant"])
def test_invalid_tenants_sites_and_user_tenants_are_rejected(factory: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_user_from_json_reads_tenants_with_defaults() -> None:
    user = EmulatorUser.from_json({
        "email": "ops@example.com", "password": "pw", "accounts": [{"id": 5, "name": "Ops"}],
        "tenants": [{"id": 500001, "name": "Ops Store", "order_count": 3, "is_dev_tenant": True,
                     "sites": [{"id": 500011, "name": "Ops Web"},
                               {"id": 500012, "name": "Ops EU", "catalog_id": 2, "locale_code": "de-DE",
                                "currency_code": "EUR"}]}]})
    assert user.tenants == (EmulatorTenant(500001, "Ops Store", [
        EmulatorSite(500011, "Ops Web"), EmulatorSite(500012, "Ops EU", 2, "de-DE", "EUR")],
        order_count=3, is_dev_tenant=True),)


@pytest.mark.parametrize("tenants", [[{"id": 1, "name": "No sites key"}], [{"id": 1, "sites": []}],
                                     [{"id": 1, "name": "N", "sites": [{"id": 2}]}], "not-a-list-of-objects"],
                         ids=["no-sites", "no-name", "site-without-name", "malformed"])
def test_user_from_json_rejects_malformed_tenants_with_value_error(tenants: Any) -> None:
    with pytest.raises(ValueError, match="invalid (tenant|user) entry"):
        EmulatorUser.from_json({"email": "a@example.com", "password": "pw", "accounts": [{"id": 1, "name": "A"}],
                                "tenants": tenants})


# ----------------------------------------------------------------- tenant tickets
def test_tenant_create_returns_a_ticket_for_the_requested_tenant_with_every_tenant_available(
        kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator, 100002)
    authority = kibo_emulator.base_url.removeprefix("http://")
    assert (ticket["tenant"]["id"], ticket["tenant"]["name"]) == (100002, "Globex Outlet")
    assert ticket["tenant"]["domain"] == f"{authority}/_tenant/100002"
    assert ticket["tenant"]["sites"][0]["domain"] == f"{authority}/_tenant/100002"
    assert ticket["tenant"]["isDevTenant"] is False
    assert [t["id"] for t in ticket["availableTenants"]] == DEMO_TENANT_IDS
    assert ticket["availableTenants"][1] == ticket["tenant"]
    assert ticket["user"]["emailAddress"] == EMAIL and re.fullmatch(r"[0-9a-f]{32}", ticket["user"]["userId"])
    assert ticket["grantedBehaviors"] and "account" not in ticket and "availableAccounts" not in ticket
    assert len({ticket["accessToken"], ticket["jwtAccessToken"], ticket["refreshToken"]}) == 3


def test_tenant_create_without_tenant_id_uses_the_users_first_tenant(kibo_emulator: KiboEmulator) -> None:
    assert tenant_login(kibo_emulator)["tenant"]["id"] == 100001


def test_tenant_ticket_lifetimes_follow_the_configured_ones(make_emulator) -> None:
    emu = make_emulator(access_token_lifetime=600, refresh_token_lifetime=timedelta(hours=2))
    ticket = tenant_login(emu)
    created = parse_date(ticket["createdOn"])
    assert parse_date(ticket["accessTokenExpiration"]) - created == timedelta(minutes=10)
    assert parse_date(ticket["refreshTokenExpiration"]) - created == timedelta(hours=2)


def test_tenant_jwt_access_token_carries_a_tenant_claim(kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator, 100003)
    claims = jwt_claims(ticket["jwtAccessToken"])
    assert claims["tenant"] == 100003 and "developerAccountId" not in claims
    assert claims["exp"] == int(parse_date(ticket["accessTokenExpiration"]).timestamp())


@pytest.mark.parametrize(("email", "password"), [(EMAIL, "not-the-password"), ("nobody@example.com", PASSWORD)],
                         ids=["wrong-password", "unknown-email"])
def test_tenant_create_with_wrong_credentials_is_401_invalid_credentials(
        kibo_emulator: KiboEmulator, email: str, password: str) -> None:
    response = tenant_create(kibo_emulator, 100001, email=email, password=password)
    assert_kibo_error(response, 401, "INVALID_CREDENTIALS")
    assert "not-the-password" not in response.text and PASSWORD not in response.text


@pytest.mark.parametrize("status", [401, 403])
def test_tenant_create_for_a_tenant_the_user_lacks_answers_no_access_status_unauthorized(
        make_emulator, status: int) -> None:
    emu = make_emulator(no_access_status=status)
    body = assert_kibo_error(tenant_create(emu, 1001), status, "UNAUTHORIZED")
    assert body["message"] == "The user does not have access to tenant 1001."


def test_tenant_create_for_a_user_without_tenants_answers_no_access_status(make_emulator) -> None:
    emu = make_emulator([EmulatorUser("ops@example.com", "ops-pw", ACCOUNTS)])
    response = tenant_create(emu, email="ops@example.com", password="ops-pw")
    assert assert_kibo_error(response, 403, "UNAUTHORIZED")["message"] == "The user has no tenant."


def test_tenant_refresh_switches_tenant_with_new_access_tokens(kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator, 100001)
    response = tenant_refresh(kibo_emulator, {"refreshToken": ticket["refreshToken"]}, 100003)
    assert response.status_code == 200
    new = response.json()
    assert new["tenant"]["id"] == 100003 and jwt_claims(new["jwtAccessToken"])["tenant"] == 100003
    assert new["accessToken"] != ticket["accessToken"] and new["jwtAccessToken"] != ticket["jwtAccessToken"]
    assert tenant_refresh(kibo_emulator, new).json()["tenant"]["id"] == 100003  # no tenantId: kept


def test_tenant_refresh_in_kept_mode_returns_the_same_refresh_token_which_keeps_working(
        kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator)
    kibo_emulator.clock.advance(60)
    first = tenant_refresh(kibo_emulator, ticket, 100002).json()
    assert (first["refreshToken"], first["refreshTokenExpiration"]) == (ticket["refreshToken"],
                                                                         ticket["refreshTokenExpiration"])
    assert tenant_refresh(kibo_emulator, ticket).status_code == 200


def test_tenant_refresh_in_rotate_mode_returns_a_new_refresh_token_and_the_old_one_dies(make_emulator) -> None:
    emu = make_emulator(rotate_refresh_tokens=True)
    ticket = tenant_login(emu)
    emu.clock.advance(60)
    new = tenant_refresh(emu, ticket, 100002).json()
    assert new["refreshToken"] != ticket["refreshToken"]
    assert parse_date(new["refreshTokenExpiration"]) > parse_date(ticket["refreshTokenExpiration"])
    assert_kibo_error(tenant_refresh(emu, ticket), 401, "UNAUTHORIZED")
    assert tenant_refresh(emu, new).json()["tenant"]["id"] == 100002


@pytest.mark.parametrize("status", [401, 403])
def test_tenant_refresh_to_a_tenant_the_user_lacks_fails_without_burning_the_token(make_emulator, status) -> None:
    emu = make_emulator(no_access_status=status, rotate_refresh_tokens=True)
    ticket = tenant_login(emu)
    assert_kibo_error(tenant_refresh(emu, ticket, 424242), status, "UNAUTHORIZED")
    assert tenant_refresh(emu, ticket).status_code == 200


@pytest.mark.parametrize("body", [{"refreshToken": "not-a-token"}, {}, None], ids=["unknown", "missing", "no-body"])
def test_tenant_refresh_with_an_unknown_or_missing_token_is_401(kibo_emulator: KiboEmulator, body: Any) -> None:
    response = tenant_refresh(kibo_emulator, body)
    assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert "not-a-token" not in response.text


def test_tenant_refresh_with_an_expired_or_revoked_refresh_token_is_401(kibo_emulator: KiboEmulator) -> None:
    revoked = tenant_login(kibo_emulator)
    assert kibo_emulator.revoke_refresh_tokens(EMAIL) == 1
    assert "no longer valid" in assert_kibo_error(tenant_refresh(kibo_emulator, revoked), 401, "UNAUTHORIZED")["message"]
    expiring = tenant_login(kibo_emulator)
    kibo_emulator.clock.advance(timedelta(days=1))
    assert "expired" in assert_kibo_error(tenant_refresh(kibo_emulator, expiring), 401, "UNAUTHORIZED")["message"]


def test_tenant_delete_answers_200_empty_and_ends_that_login_only(kibo_emulator: KiboEmulator) -> None:
    ticket, other = tenant_login(kibo_emulator), tenant_login(kibo_emulator)
    response = tenant_logout(kibo_emulator, ticket["refreshToken"])
    assert response.status_code == 200 and response.content == b""
    assert_kibo_error(tenant_refresh(kibo_emulator, ticket), 401, "UNAUTHORIZED")
    assert tenant_refresh(kibo_emulator, other).status_code == 200


@pytest.mark.parametrize("token", ["unknown", None], ids=["unknown", "missing"])
def test_tenant_delete_with_an_unknown_or_missing_token_is_still_200(kibo_emulator: KiboEmulator, token) -> None:
    response = tenant_logout(kibo_emulator, token)
    assert response.status_code == 200 and response.content == b""


# --------------------------------------------------------------------- token kinds
def test_a_developer_refresh_token_is_refused_by_the_tenant_refresh_and_vice_versa(kibo_emulator) -> None:
    developer, tenant = developer_login(kibo_emulator), tenant_login(kibo_emulator)
    body = assert_kibo_error(tenant_refresh(kibo_emulator, developer), 401, "UNAUTHORIZED")
    assert body["message"] == "The refresh token is not a tenant admin-user refresh token."
    response = requests.put(kibo_emulator.base_url + TICKETS, json=tenant, timeout=5)
    body = assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert body["message"] == "The refresh token is not a developer refresh token."


@pytest.mark.parametrize("key", ["accessToken", "jwtAccessToken"])
def test_a_tenant_access_token_is_refused_by_the_developer_apppackages_route(kibo_emulator, key: str) -> None:
    token = tenant_login(kibo_emulator)[key]
    response = requests.get(kibo_emulator.base_url + APPS, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    body = assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert body["message"] == "The access token is not a developer access token."


def test_each_logout_route_ends_only_its_own_kind_of_login(kibo_emulator: KiboEmulator) -> None:
    developer, tenant = developer_login(kibo_emulator), tenant_login(kibo_emulator)
    assert tenant_logout(kibo_emulator, developer["refreshToken"]).status_code == 200
    requests.delete(kibo_emulator.base_url + TICKETS, params={"refreshToken": tenant["refreshToken"]}, timeout=5)
    assert requests.put(kibo_emulator.base_url + TICKETS, json=developer, timeout=5).status_code == 200
    assert tenant_refresh(kibo_emulator, tenant).status_code == 200


def test_tenant_error_bodies_never_echo_a_secret(make_emulator) -> None:
    emu = make_emulator(rotate_refresh_tokens=True)
    developer, ticket = developer_login(emu), tenant_login(emu)
    tenant_refresh(emu, ticket)
    errors = [tenant_refresh(emu, ticket), tenant_refresh(emu, developer), tenant_create(emu, 5),
              tenant_create(emu, password="wrong-" + PASSWORD),
              requests.put(emu.base_url + TICKETS, json=ticket, timeout=5),
              requests.get(emu.base_url + APPS, headers={"x-vol-user-claims": ticket["accessToken"]}, timeout=5)]
    assert {e.status_code for e in errors} == {401, 403}
    for response in errors:
        assert not any(secret in response.text for secret in emu.issued_secrets())


# ------------------------------------------------------------- faults & counters
def test_tenant_routes_are_counted_logged_with_their_user_and_answer_429_with_retry_after(
        kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("tenant_create", "rate_limit", retry_after=9)
    limited = tenant_create(kibo_emulator)
    assert (limited.status_code, limited.content, limited.headers["Retry-After"]) == (429, b"", "9")
    ticket = tenant_login(kibo_emulator)
    tenant_refresh(kibo_emulator, ticket, 100002)
    tenant_logout(kibo_emulator, ticket["refreshToken"])
    counters = kibo_emulator.counters()
    assert {k: counters[k] for k in ("tenant_create", "tenant_refresh", "tenant_delete")} == {
        "tenant_create": 2, "tenant_refresh": 1, "tenant_delete": 1}
    assert counters["create"] == counters["refresh"] == counters["delete"] == 0
    assert kibo_emulator.status_counts()["tenant_create"] == {429: 1, 200: 1}
    assert kibo_emulator.calls() == [{"route": "tenant_create", "user": EMAIL}] * 2 + [
        {"route": "tenant_refresh", "user": EMAIL}, {"route": "tenant_delete", "user": EMAIL}]


@pytest.mark.parametrize(("route", "status"), [("tenant_create", 500), ("tenant_refresh", 503),
                                               ("tenant_delete", 502)])
def test_server_error_faults_hit_the_tenant_routes(kibo_emulator: KiboEmulator, route: str, status: int) -> None:
    ticket = tenant_login(kibo_emulator)
    kibo_emulator.inject(route, "server_error", status=status)
    call = {"tenant_create": lambda: tenant_create(kibo_emulator),
            "tenant_refresh": lambda: tenant_refresh(kibo_emulator, ticket),
            "tenant_delete": lambda: tenant_logout(kibo_emulator, ticket["refreshToken"])}[route]
    assert call().status_code == status
    assert call().status_code == 200
    assert kibo_emulator.status_counts()[route] == {status: 1, 200: 1 + (route == "tenant_create")}


def test_http_faults_accept_the_tenant_route_names(kibo_emulator: KiboEmulator) -> None:
    for route in ("tenant_create", "tenant_refresh", "tenant_delete", "orders"):
        response = requests.post(f"{kibo_emulator.base_url}/_emulator/faults", timeout=5,
                                 json={"route": route, "kind": "rate_limit"})
        assert response.status_code == 200, response.text
    assert tenant_create(kibo_emulator).status_code == 429


@pytest.mark.parametrize(("method", "path"), [("GET", TENANT_TICKETS), ("DELETE", TENANT_TICKETS),
                                              ("POST", TENANT_LOGOUT)])
def test_wrong_methods_on_tenant_ticket_routes_are_405(kibo_emulator: KiboEmulator, method: str, path: str) -> None:
    response = requests.request(method, kibo_emulator.base_url + path, timeout=5)
    assert_kibo_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"]
