"""Tenants in the emulator: users' tenants, tenant admin-user tickets and the orders route."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kibo.testing import (
    DEMO_USERS,
    EmulatorAccount,
    EmulatorSite,
    EmulatorTenant,
    EmulatorUser,
)

ACCOUNTS = [EmulatorAccount(1, "One")]


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
