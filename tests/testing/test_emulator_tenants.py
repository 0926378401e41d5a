"""Tenants in the emulator: users' tenants, tenant admin-user tickets and the orders route."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
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
    body = assert_kibo_error(tenant_refresh(kibo_emulator, revoked), 401, "UNAUTHORIZED")
    assert "no longer valid" in body["message"]
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


# --------------------------------------------------------------------------- orders
ORDERS = "/api/commerce/orders"
ACME, GLOBEX, INITECH = DEMO_TENANT_IDS
ONE_DAY = timedelta(days=1)


def orders(emu: KiboEmulator, tenant: int, token: str | None, *, tenant_header: Any = "same",
           site: Any = None, header: str = "bearer", **params: Any) -> requests.Response:
    headers = {}
    if token is not None:
        headers = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"x-vol-user-claims": token}
    if tenant_header is not None:
        headers["x-vol-tenant"] = str(tenant if tenant_header == "same" else tenant_header)
    if site is not None:
        headers["x-vol-site"] = str(site)
    return requests.get(emu.tenant_url(tenant) + ORDERS, params=params, headers=headers, timeout=5)


def all_orders(emu: KiboEmulator, tenant: int, token: str, **params: Any) -> list[dict[str, Any]]:
    response = orders(emu, tenant, token, pageSize=200, **params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["totalCount"] == len(page["items"])
    return page["items"]


def midnight_before(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def emulator_and_its_day(make_emulator: Callable[..., KiboEmulator]) -> tuple[KiboEmulator, datetime]:
    """A new emulator and midnight UTC of the day it was created."""
    before = datetime.now(UTC)
    emulator = make_emulator()
    if midnight_before(before) != midnight_before(datetime.now(UTC)):
        pytest.skip("the emulator was created across midnight UTC")
    return emulator, midnight_before(before)


def test_the_tenant_domain_of_a_ticket_is_where_its_orders_are(kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator, GLOBEX)
    headers = {"Authorization": f"Bearer {ticket['jwtAccessToken']}", "x-vol-tenant": str(GLOBEX)}
    response = requests.get(f"http://{ticket['tenant']['domain']}{ORDERS}", headers=headers, timeout=5)
    assert response.status_code == 200 and response.json()["totalCount"] == 12
    assert kibo_emulator.tenant_url(GLOBEX) == f"http://{ticket['tenant']['domain']}"


def test_orders_paging_walks_every_order_once_in_update_date_then_number_order(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["jwtAccessToken"]
    seen, start = [], 0
    while True:
        page = orders(kibo_emulator, ACME, token, startIndex=start, pageSize=10).json()
        assert (page["startIndex"], page["pageSize"], page["totalCount"], page["pageCount"]) == (start, 10, 45, 5)
        if not page["items"]:
            break
        seen += page["items"]
        start += 10
    assert sorted(order["orderNumber"] for order in seen) == list(range(1, 46))
    keys = [(parse_date(o["auditInfo"]["updateDate"]), o["orderNumber"]) for o in seen]
    assert keys == sorted(keys)


def test_orders_default_to_page_size_20_cap_it_at_200_and_reject_bad_paging(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator)["accessToken"]
    default = orders(kibo_emulator, ACME, token).json()
    assert (default["startIndex"], default["pageSize"], default["pageCount"], len(default["items"])) == (0, 20, 3, 20)
    assert orders(kibo_emulator, ACME, token, pageSize=5000).json()["pageSize"] == 200
    for params in ({"pageSize": "x"}, {"startIndex": "-1"}, {"pageSize": "0"}):
        assert_kibo_error(orders(kibo_emulator, ACME, token, **params), 400, "VALIDATION_CONFLICT")


def test_orders_have_kibo_fields_spread_over_the_sites_round_robin(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["accessToken"]
    items = sorted(all_orders(kibo_emulator, ACME, token), key=lambda o: o["orderNumber"])
    assert [o["siteId"] for o in items[:4]] == [100011, 100012, 100011, 100012]
    assert {o["siteId"]: o["currencyCode"] for o in items} == {100011: "USD", 100012: "CAD"}
    for order in items:
        assert re.fullmatch(r"[0-9a-f]{32}", order["id"]) and order["tenantId"] == ACME
        assert order["status"] in ("Completed", "Accepted", "Processing", "Cancelled")
        assert 1 <= len(order["items"]) <= 2 and all(line["quantity"] >= 1 for line in order["items"])
        assert order["total"] == round(sum(line["total"] for line in order["items"]), 2) > 0
        audit = order["auditInfo"]
        assert set(audit) == {"createDate", "updateDate", "createBy", "updateBy"}
        assert parse_date(order["submittedDate"]) == parse_date(audit["createDate"]) <= parse_date(audit["updateDate"])
    assert len({o["id"] for o in items}) == 45


def test_orders_are_the_same_in_every_emulator_and_differ_between_tenants(make_emulator) -> None:
    first, second = make_emulator(), make_emulator()
    listed = [all_orders(emu, tenant, tenant_login(emu, tenant)["accessToken"])
              for emu in (first, second) for tenant in (ACME, GLOBEX)]
    fingerprint = [[(o["id"], o["orderNumber"], o["siteId"], o["total"], o["items"]) for o in items]
                   for items in listed]
    assert fingerprint[:2] == fingerprint[2:]
    assert not {o["id"] for o in listed[0]} & {o["id"] for o in listed[1]}


@pytest.mark.parametrize(("tenant", "count"), [(ACME, 45), (GLOBEX, 12)])
def test_order_update_dates_fill_each_of_the_7_days_before_the_emulators_creation_day(
        make_emulator, tenant: int, count: int) -> None:
    emu, today = emulator_and_its_day(make_emulator)
    emu.clock.advance(timedelta(days=3))  # the orders stay where they were
    token = tenant_login(emu, tenant)["accessToken"]
    updated = [parse_date(o["auditInfo"]["updateDate"]) for o in all_orders(emu, tenant, token)]
    assert len(updated) == count
    assert {(today - midnight_before(moment)).days for moment in updated} == {1, 2, 3, 4, 5, 6, 7}
    assert all(today - 7 * ONE_DAY <= moment < today for moment in updated)


def test_a_tenant_without_orders_lists_an_empty_page(kibo_emulator: KiboEmulator) -> None:
    page = orders(kibo_emulator, INITECH, tenant_login(kibo_emulator, INITECH)["accessToken"]).json()
    assert (page["totalCount"], page["pageCount"], page["items"]) == (0, 0, [])


def test_a_day_filter_finds_that_days_orders_and_the_days_add_up(make_emulator) -> None:
    kibo_emulator, today = emulator_and_its_day(make_emulator)
    token = tenant_login(kibo_emulator, ACME)["accessToken"]
    total = 0
    for back in range(1, 8):
        start, end = today - back * ONE_DAY, today - (back - 1) * ONE_DAY
        text = (f"auditInfo.updateDate ge {start:%Y-%m-%dT%H:%M:%SZ} and "
                f"auditInfo.updateDate lt {end:%Y-%m-%dT%H:%M:%SZ}")
        items = all_orders(kibo_emulator, ACME, token, filter=text)
        assert items and all(start <= parse_date(o["auditInfo"]["updateDate"]) < end for o in items)
        total += len(items)
    assert total == 45


def test_filter_operators_treat_the_boundary_as_kibo_does(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, GLOBEX)["accessToken"]
    everything = all_orders(kibo_emulator, GLOBEX, token)
    pivot = everything[5]["auditInfo"]["updateDate"]
    count = {op: len(all_orders(kibo_emulator, GLOBEX, token, filter=f"auditInfo.updateDate {op} {pivot}"))
             for op in ("ge", "gt", "le", "lt")}
    assert count == {"ge": 7, "gt": 6, "le": 6, "lt": 5}
    offset = parse_date(pivot).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert len(all_orders(kibo_emulator, GLOBEX, token, filter=f"AUDITINFO.UPDATEDATE GE {offset}")) == 7


@pytest.mark.parametrize("text", ["status eq Completed", "auditInfo.updateDate eq 2026-01-01T00:00:00Z",
                                  "auditInfo.updateDate ge yesterday", "auditInfo.updateDate lt",
                                  "auditInfo.updateDate ge 2026-01-01 or auditInfo.updateDate lt 2026-02-01",
                                  "auditInfo.createDate ge 2026-01-01T00:00:00Z"],
                         ids=["other-field", "eq", "not-a-date", "no-value", "or", "create-date"])
def test_any_other_filter_is_400_without_echoing_it(kibo_emulator: KiboEmulator, text: str) -> None:
    response = orders(kibo_emulator, ACME, tenant_login(kibo_emulator)["accessToken"], filter=text)
    body = assert_kibo_error(response, 400, "VALIDATION_CONFLICT")
    assert "auditInfo.updateDate ge|gt|le|lt" in body["message"] and text not in body["message"]


def test_sort_by_order_number_descending_and_unknown_sorts_are_400(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, GLOBEX)["accessToken"]
    numbers = [o["orderNumber"] for o in all_orders(kibo_emulator, GLOBEX, token, sortBy="orderNumber desc")]
    assert numbers == list(range(12, 0, -1))
    assert_kibo_error(orders(kibo_emulator, GLOBEX, token, sortBy="total desc"), 400, "VALIDATION_CONFLICT")


def test_the_site_header_lists_only_that_sites_orders(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["accessToken"]
    us, ca = (all_orders(kibo_emulator, ACME, token, site=site) for site in (100011, 100012))
    assert (len(us), len(ca)) == (23, 22)
    assert {o["siteId"] for o in us} == {100011} and {o["siteId"] for o in ca} == {100012}


@pytest.mark.parametrize("site", [100021, 999, "abc"], ids=["other-tenants-site", "unknown", "not-a-number"])
def test_a_site_header_naming_no_site_of_the_tenant_is_400(kibo_emulator: KiboEmulator, site: Any) -> None:
    response = orders(kibo_emulator, ACME, tenant_login(kibo_emulator)["accessToken"], site=site)
    assert "x-vol-site" in assert_kibo_error(response, 400, "VALIDATION_CONFLICT")["message"]


@pytest.mark.parametrize("tenant_header", [None, GLOBEX, "", "acme"], ids=["missing", "other-tenant", "empty", "text"])
def test_a_missing_or_wrong_tenant_header_is_400_naming_the_header(kibo_emulator: KiboEmulator, tenant_header) -> None:
    response = orders(kibo_emulator, ACME, tenant_login(kibo_emulator)["accessToken"], tenant_header=tenant_header)
    assert "x-vol-tenant" in assert_kibo_error(response, 400, "VALIDATION_CONFLICT")["message"]


def test_an_unknown_tenant_in_the_path_is_404_item_not_found(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator)["accessToken"]
    assert_kibo_error(orders(kibo_emulator, 424242, token), 404, "ITEM_NOT_FOUND")
    assert kibo_emulator.status_counts()["orders"] == {404: 1}


@pytest.mark.parametrize(("key", "header"), [("jwtAccessToken", "bearer"), ("accessToken", "bearer"),
                                             ("accessToken", "x-vol-user-claims")])
def test_orders_accept_bearer_and_legacy_claims_headers(kibo_emulator: KiboEmulator, key: str, header: str) -> None:
    token = tenant_login(kibo_emulator, GLOBEX)[key]
    assert orders(kibo_emulator, GLOBEX, token, header=header).json()["totalCount"] == 12


@pytest.mark.parametrize("token", [None, "unknown-token"], ids=["missing", "unknown"])
def test_orders_without_a_valid_token_are_401(kibo_emulator: KiboEmulator, token: str | None) -> None:
    response = orders(kibo_emulator, ACME, token)
    assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert "unknown-token" not in response.text


def test_orders_with_an_expired_or_logged_out_token_are_401(kibo_emulator: KiboEmulator) -> None:
    ticket, other = tenant_login(kibo_emulator), tenant_login(kibo_emulator)
    tenant_logout(kibo_emulator, ticket["refreshToken"])
    assert "revoked" in assert_kibo_error(orders(kibo_emulator, ACME, ticket["jwtAccessToken"]), 401,
                                          "UNAUTHORIZED")["message"]
    assert orders(kibo_emulator, ACME, other["jwtAccessToken"]).status_code == 200
    kibo_emulator.clock.advance(3600)
    assert "expired" in assert_kibo_error(orders(kibo_emulator, ACME, other["jwtAccessToken"]), 401,
                                          "UNAUTHORIZED")["message"]


def test_a_tenant_token_only_opens_its_own_tenant_and_a_switch_opens_the_next(kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator, ACME)
    body = assert_kibo_error(orders(kibo_emulator, GLOBEX, ticket["accessToken"]), 401, "UNAUTHORIZED")
    assert body["message"] == "The access token is not valid for tenant 100002."
    switched = tenant_refresh(kibo_emulator, ticket, GLOBEX).json()
    assert orders(kibo_emulator, GLOBEX, switched["accessToken"]).status_code == 200
    assert orders(kibo_emulator, ACME, ticket["accessToken"]).status_code == 200  # valid until it expires


def test_a_developer_access_token_is_refused_by_the_orders_route(kibo_emulator: KiboEmulator) -> None:
    response = orders(kibo_emulator, ACME, developer_login(kibo_emulator)["jwtAccessToken"])
    body = assert_kibo_error(response, 401, "UNAUTHORIZED")
    assert body["message"] == "The access token is not a tenant admin-user access token."


def test_orders_faults_counters_and_calls(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["accessToken"]
    kibo_emulator.inject("orders", "rate_limit", retry_after=4)
    kibo_emulator.inject("orders", "server_error", status=503)
    limited = orders(kibo_emulator, ACME, token)
    assert (limited.status_code, limited.content, limited.headers["Retry-After"]) == (429, b"", "4")
    assert orders(kibo_emulator, ACME, token).status_code == 503
    assert orders(kibo_emulator, ACME, token).status_code == 200
    orders(kibo_emulator, ACME, "nobodys-token")
    assert kibo_emulator.counters()["orders"] == 4
    assert kibo_emulator.status_counts()["orders"] == {429: 1, 503: 1, 200: 1, 401: 1}
    assert [call for call in kibo_emulator.calls() if call["route"] == "orders"] == [
        {"route": "orders", "user": EMAIL}] * 3 + [{"route": "orders", "user": None}]


def test_orders_drop_fault_resets_the_connection(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, GLOBEX)["accessToken"]
    kibo_emulator.inject("orders", "drop")
    with pytest.raises(requests.ConnectionError):
        orders(kibo_emulator, GLOBEX, token)
    assert orders(kibo_emulator, GLOBEX, token).status_code == 200


def test_orders_need_the_tenant_prefix_and_get(kibo_emulator: KiboEmulator) -> None:
    assert_kibo_error(requests.get(kibo_emulator.base_url + ORDERS, timeout=5), 404, "ITEM_NOT_FOUND")
    assert_kibo_error(requests.get(kibo_emulator.base_url + "/_tenant/x" + ORDERS, timeout=5), 404, "ITEM_NOT_FOUND")
    response = requests.put(kibo_emulator.tenant_url(ACME) + ORDERS, timeout=5)
    assert_kibo_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "GET, POST"
    assert kibo_emulator.counters()["orders"] == 0


def test_users_may_share_a_tenant_described_identically_and_only_so() -> None:
    shared = EmulatorTenant(9, "Shared", [EmulatorSite(91, "Web")], order_count=2)
    other = EmulatorUser("b@example.com", "pw", ACCOUNTS, tenants=[shared])
    with KiboEmulator([EmulatorUser("a@example.com", "pw", ACCOUNTS, tenants=[shared]), other]) as emu:
        assert emu.running
    renamed = EmulatorTenant(9, "Renamed", [EmulatorSite(91, "Web")], order_count=2)
    with pytest.raises(ValueError, match="tenant 9 is described differently"):
        KiboEmulator([EmulatorUser("a@example.com", "pw", ACCOUNTS, tenants=[renamed]), other])


def test_an_order_placed_now_is_numbered_after_the_last_and_listed_by_its_update_date(
        kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, GLOBEX)["accessToken"]
    headers = {"Authorization": f"Bearer {token}", "x-vol-tenant": str(GLOBEX), "x-vol-site": "100021"}

    placed = requests.post(kibo_emulator.tenant_url(GLOBEX) + ORDERS, json={}, headers=headers, timeout=5)

    assert placed.status_code == 201
    order = placed.json()
    assert (order["orderNumber"], order["status"], order["siteId"]) == (13, "Pending", 100021)
    assert parse_date(order["auditInfo"]["updateDate"]) <= kibo_emulator.clock.now()
    assert all_orders(kibo_emulator, GLOBEX, token)[-1] == order
    assert kibo_emulator.counters()["order_create"] == 1


@pytest.mark.parametrize(("token", "tenant_header", "status"), [(None, "same", 401), ("ok", None, 400)])
def test_placing_an_order_needs_the_tenants_token_and_header(
        kibo_emulator: KiboEmulator, token: Any, tenant_header: Any, status: int) -> None:
    headers = {} if tenant_header is None else {"x-vol-tenant": str(ACME)}
    if token:
        headers["Authorization"] = f"Bearer {tenant_login(kibo_emulator, ACME)['accessToken']}"

    response = requests.post(kibo_emulator.tenant_url(ACME) + ORDERS, json={}, headers=headers, timeout=5)

    assert response.status_code == status
    assert len(all_orders(kibo_emulator, ACME, tenant_login(kibo_emulator, ACME)["accessToken"])) == 45
