"""Applications in the emulator: both create forms, refresh, log-out, tenant lookup, faults, counters, and the
shapes of PROTOCOL.md ("Application credentials")."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_kibo.testing import DEMO_APPLICATIONS, DEMO_USERS, EmulatorApplication, KiboEmulator
from tests.testing.test_emulator import assert_kibo_error, parse_date

APP = DEMO_APPLICATIONS[0]
AUTH = "/api/platform/applications/authtickets"
ORDERS = "/api/commerce/orders"
OAUTH_ANSWER = {"access_token": str, "token_type": str, "expires_in": int, "refresh_token": str}
TICKET_ANSWER = {"accessToken": str, "accessTokenExpiration": str, "refreshToken": str, "refreshTokenExpiration": str}


def oauth(emu: KiboEmulator, key: str = APP.key, secret: str = APP.shared_secret, **more: Any) -> requests.Response:
    body = {"client_id": key, "client_secret": secret, "grant_type": "client_credentials", **more}
    return requests.post(emu.base_url + AUTH + "/oauth", json=body, timeout=5)


def ticket(emu: KiboEmulator, key: str = APP.key, secret: str = APP.shared_secret) -> requests.Response:
    return requests.post(emu.base_url + AUTH, json={"applicationId": key, "sharedSecret": secret}, timeout=5)


def refresh(emu: KiboEmulator, token: str, method: str = "PUT") -> requests.Response:
    return requests.request(method, emu.base_url + AUTH + "/refresh-ticket", json={"refreshToken": token}, timeout=5)


def lookup(emu: KiboEmulator, tenant: int, token: str) -> requests.Response:
    return requests.get(f"{emu.base_url}/api/platform/tenants/{tenant}", timeout=5,
                        headers={"Authorization": f"Bearer {token}"})


def assert_shape(answer: dict[str, Any], shape: dict[str, type]) -> None:
    assert set(answer) >= set(shape), sorted(answer)
    assert all(isinstance(answer[key], kind) and answer[key] for key, kind in shape.items()), answer


def test_the_oauth_form_answers_in_snake_case_with_expires_in(kibo_emulator: KiboEmulator) -> None:
    answer = oauth(kibo_emulator).json()

    assert_shape(answer, OAUTH_ANSWER)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600


def test_the_ticket_form_answers_in_camel_case_with_expiries(kibo_emulator: KiboEmulator) -> None:
    answer = ticket(kibo_emulator).json()

    assert_shape(answer, TICKET_ANSWER)
    assert parse_date(answer["refreshTokenExpiration"]) > parse_date(answer["accessTokenExpiration"])


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize(("create", "shape"), [(oauth, OAUTH_ANSWER), (ticket, TICKET_ANSWER)], ids=["oauth", "ticket"])
def test_a_refresh_answers_in_the_shape_of_the_ticket_refreshed(kibo_emulator, method, create, shape) -> None:
    first = create(kibo_emulator).json()
    token = first.get("refresh_token") or first["refreshToken"]

    renewed = refresh(kibo_emulator, token, method)

    assert renewed.status_code == 200
    assert_shape(renewed.json(), shape)


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotating"])
def test_refresh_tokens_are_kept_or_rotated(make_app_emulator, rotate) -> None:
    emu = make_app_emulator(rotate_refresh_tokens=rotate)
    token = oauth(emu).json()["refresh_token"]

    renewed = refresh(emu, token).json()["refresh_token"]

    assert (renewed == token) is not rotate
    assert (refresh(emu, token).status_code == 200) is not rotate


@pytest.mark.parametrize(("key", "secret"), [(APP.key, "wrong"), ("Unknown.app.1.0.0.Release", APP.shared_secret)])
def test_a_wrong_key_or_secret_is_401_invalid_credentials_and_echoes_no_secret(kibo_emulator, key, secret) -> None:
    for response in (oauth(kibo_emulator, key, secret), ticket(kibo_emulator, key, secret)):
        assert_kibo_error(response, 401, "INVALID_CREDENTIALS")
        assert secret not in response.text


def test_the_oauth_form_needs_the_client_credentials_grant(kibo_emulator: KiboEmulator) -> None:
    assert_kibo_error(oauth(kibo_emulator, grant_type="password"), 400, "VALIDATION_CONFLICT")


def test_a_pod_may_serve_one_create_route_only(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.application_auth_routes = ["ticket"]

    assert_kibo_error(oauth(kibo_emulator), 404, "ITEM_NOT_FOUND")
    assert ticket(kibo_emulator).status_code == 200
    with pytest.raises(ValueError):
        kibo_emulator.application_auth_routes = ["password"]


def test_the_oauth_answer_may_leave_out_expires_in(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.oauth_expires_in = False

    assert "expires_in" not in oauth(kibo_emulator).json()


def test_a_log_out_ends_the_session_and_a_second_one_is_404(kibo_emulator: KiboEmulator) -> None:
    answer = oauth(kibo_emulator).json()
    url = f"{kibo_emulator.base_url}{AUTH}/{answer['refresh_token']}"

    assert requests.delete(url, timeout=5).status_code == 200
    assert_kibo_error(refresh(kibo_emulator, answer["refresh_token"]), 401, "UNAUTHORIZED")
    assert_kibo_error(lookup(kibo_emulator, 100001, answer["access_token"]), 401, "UNAUTHORIZED")
    assert_kibo_error(requests.delete(url, timeout=5), 404, "ITEM_NOT_FOUND")
    assert requests.delete(f"{kibo_emulator.base_url}{AUTH}/unknown", timeout=5).status_code == 200
    assert kibo_emulator.live_refresh_tokens(APP.key) == 0


def test_a_tenant_lookup_describes_an_installed_tenant_and_refuses_the_others(kibo_emulator: KiboEmulator) -> None:
    token = oauth(kibo_emulator).json()["access_token"]

    tenant = lookup(kibo_emulator, 100001, token).json()

    assert (tenant["id"], tenant["name"]) == (100001, "Acme Retail")
    assert tenant["domain"] == kibo_emulator.tenant_url(100001).removeprefix("http://")
    assert [(s["id"], s["catalogId"]) for s in tenant["sites"]] == [(100011, 1), (100012, 2)]
    assert tenant["masterCatalogs"][0]["catalogs"]
    assert_kibo_error(lookup(kibo_emulator, 100003, token), 403, "UNAUTHORIZED")
    assert_kibo_error(lookup(kibo_emulator, 999999, token), 404, "ITEM_NOT_FOUND")
    user_token = requests.post(kibo_emulator.base_url + "/api/platform/adminuser/authtickets/tenants",
                               json={"emailAddress": DEMO_USERS[0].email, "password": DEMO_USERS[0].password},
                               timeout=5).json()["accessToken"]
    assert_kibo_error(lookup(kibo_emulator, 100001, user_token), 401, "UNAUTHORIZED")


def test_a_tenants_routes_take_the_applications_token_where_it_is_installed(kibo_emulator: KiboEmulator) -> None:
    token = oauth(kibo_emulator).json()["access_token"]

    def orders(tenant: int, **headers: str) -> requests.Response:
        return requests.get(kibo_emulator.tenant_url(tenant) + ORDERS, timeout=5,
                            headers={"x-vol-app-claims": token, "x-vol-tenant": str(tenant), **headers})

    assert orders(100001).json()["totalCount"] == 45
    assert orders(100002).json()["totalCount"] == 12
    assert_kibo_error(orders(100003), 403, "UNAUTHORIZED")


def test_the_new_routes_are_counted_faulted_and_logged_with_the_application(kibo_emulator: KiboEmulator) -> None:
    kibo_emulator.inject("app_oauth", "rate_limit", retry_after=7)
    kibo_emulator.inject("tenant_lookup", "server_error", status=503)

    limited = oauth(kibo_emulator)
    answer = oauth(kibo_emulator).json()
    failed = lookup(kibo_emulator, 100001, answer["access_token"])
    refresh(kibo_emulator, answer["refresh_token"])
    ticket(kibo_emulator)
    requests.delete(f"{kibo_emulator.base_url}{AUTH}/{answer['refresh_token']}", timeout=5)

    assert (limited.status_code, limited.headers["Retry-After"], limited.content) == (429, "7", b"")
    assert_kibo_error(failed, 503, "SERVICE_UNAVAILABLE")
    assert {r: n for r, n in kibo_emulator.counters().items() if n} == {
        "app_oauth": 2, "tenant_lookup": 1, "app_refresh": 1, "app_ticket": 1, "app_delete": 1}
    assert {call["user"] for call in kibo_emulator.calls()} == {APP.key}


@pytest.fixture
def make_app_emulator():
    started: list[KiboEmulator] = []

    def make(**kwargs: Any) -> KiboEmulator:
        emulator = KiboEmulator(DEMO_USERS, applications=[APP, EmulatorApplication("B.app", "b-secret")], **kwargs)
        started.append(emulator.start())
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def test_applications_are_checked(make_app_emulator) -> None:
    with pytest.raises(ValueError, match="application key"):
        EmulatorApplication(" ", "secret")
    with pytest.raises(ValueError, match="duplicate application keys"):
        KiboEmulator(DEMO_USERS, applications=[APP, APP])
