"""The emulator's customer accounts, and the orders it places and changes between the pages of a read."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import requests

from airflow_provider_kibo.testing import KiboEmulator
from tests.testing.test_emulator import assert_kibo_error, parse_date
from tests.testing.test_emulator_tenants import ACME, GLOBEX, midnight_before, orders, tenant_login

CUSTOMERS = "/api/commerce/customer/accounts"
STAMP = "auditInfo.updateDate"


def customers(emu: KiboEmulator, tenant: int, token: str | None, **params: Any) -> requests.Response:
    headers = {"x-vol-tenant": str(tenant), **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.get(emu.tenant_url(tenant) + CUSTOMERS, params=params, headers=headers, timeout=5)


def test_customer_accounts_page_in_update_order_and_filter_by_update_date(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["accessToken"]

    everyone = customers(kibo_emulator, ACME, token, pageSize=200).json()
    page = customers(kibo_emulator, ACME, token, startIndex=10, pageSize=5).json()

    items = everyone["items"]
    assert everyone["totalCount"] == len(items) == 30, "the demo tenant's customer_count"
    assert [c["id"] for c in items] == [ACME * 10_000_000 + n for n in range(1, 31)]
    stamps = [parse_date(c["auditInfo"]["updateDate"]) for c in items]
    assert stamps == sorted(stamps)
    midnight = midnight_before(kibo_emulator.clock.now())
    assert midnight - timedelta(days=7) <= stamps[0] and stamps[-1] < midnight
    assert page["items"] == items[10:15] and (page["startIndex"], page["pageSize"]) == (10, 5)
    since = items[20]["auditInfo"]["updateDate"]
    later = customers(kibo_emulator, ACME, token, pageSize=200, filter=f"{STAMP} gt {since}").json()
    assert later["items"] == items[21:]
    newest_first = customers(kibo_emulator, ACME, token, pageSize=3, sortBy=f"{STAMP} desc").json()
    assert newest_first["items"] == items[::-1][:3]


def test_customer_accounts_need_the_tenants_token_and_a_filter_and_sort_they_serve(
    kibo_emulator: KiboEmulator,
) -> None:
    acme = tenant_login(kibo_emulator, ACME)["accessToken"]

    assert customers(kibo_emulator, ACME, None).status_code == 401
    assert customers(kibo_emulator, GLOBEX, acme).status_code == 401
    assert_kibo_error(customers(kibo_emulator, ACME, acme, filter="lastName eq x"), 400, "VALIDATION_CONFLICT")
    assert_kibo_error(customers(kibo_emulator, ACME, acme, sortBy="lastName"), 400, "VALIDATION_CONFLICT")
    assert_kibo_error(customers(kibo_emulator, ACME, acme, pageSize=0), 400, "VALIDATION_CONFLICT")
    assert kibo_emulator.status_counts()["customer_accounts"] == {401: 2, 400: 3}


def test_orders_placed_at_a_moment_share_its_update_date(kibo_emulator: KiboEmulator) -> None:
    moment = midnight_before(kibo_emulator.clock.now()) - timedelta(hours=30, milliseconds=-5)

    placed = kibo_emulator.add_orders(ACME, 3, moment)

    assert len({o["id"] for o in placed}) == 3
    assert [parse_date(o["auditInfo"]["updateDate"]) for o in placed] == [moment.astimezone(UTC)] * 3
    assert all(o in kibo_emulator.orders(ACME) for o in placed)


def test_orders_change_before_each_page_after_the_first_as_many_pages_as_asked(kibo_emulator: KiboEmulator) -> None:
    token = tenant_login(kibo_emulator, ACME)["accessToken"]
    start = midnight_before(kibo_emulator.clock.now()) - timedelta(days=7)
    window = (start, start + timedelta(days=7))
    kibo_emulator.change_orders_between_pages(ACME, pages=2, edit=2, delete=1, add=1, seed=3, window=window)
    first_state = {o["id"]: o for o in kibo_emulator.orders(ACME)}

    orders(kibo_emulator, ACME, token, pageSize=5)
    unchanged = {o["id"]: o for o in kibo_emulator.orders(ACME)}
    for _ in range(3):
        orders(kibo_emulator, ACME, token, pageSize=5)

    after = {o["id"]: o for o in kibo_emulator.orders(ACME)}
    assert unchanged == first_state, "the first page is served as things are"
    now = kibo_emulator.clock.now()
    edited = [i for i in set(first_state) & set(after) if after[i] != first_state[i]]
    assert len(edited) == 4, "two edits before each of two pages"
    assert all(abs(parse_date(after[i]["auditInfo"]["updateDate"]) - now) < timedelta(seconds=5) for i in edited)
    assert all(after[i]["status"] != first_state[i]["status"] for i in edited)
    assert len(set(first_state) - set(after)) == 2, "one deletion before each of two pages"
    added = [after[i] for i in set(after) - set(first_state)]
    assert len(added) == 2 and {o["status"] for o in added} == {"Pending"}
