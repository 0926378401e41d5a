"""The emulator's answers match Kibo's published OpenAPI component schemas.

The OpenAPI 3.0 schemas are converted to JSON Schema (2020-12): ``nullable: true`` becomes
``type: [T, "null"]``, ``#/components/schemas/X`` refs point at ``#/$defs/X``, inheritance
(``allOf: [{$ref: Base}]`` beside the schema's own properties) is inlined, the spec's
``additionalProperties: false`` is kept, and every listed property is made required (the
emulator always sends full objects), so a missing field fails validation.

``openapi-commerce-orders.json`` is an extract of Kibo's Commerce spec (see its ``info``): the
properties the emulator sends, with ``additionalProperties: false`` added.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from airflow_provider_kibo.testing import KiboEmulator

OPENAPI_DIR = Path(__file__).resolve().parents[1] / "openapi"
TICKETS = "/api/platform/developer/authtickets"
APPS = "/api/platform/appdev/apppackages/collection"
TENANT_TICKETS = "/api/platform/adminuser/authtickets/tenants"
ORDERS = "/api/commerce/orders"
CREDENTIALS = {"emailAddress": "developer@example.com", "password": "emulator-password"}
REF_PREFIX = "#/components/schemas/"


def to_json_schema(node: Any, *, require_all: bool = True) -> Any:
    """Convert an OpenAPI 3.0 schema node to JSON Schema 2020-12."""
    if isinstance(node, list):
        return [to_json_schema(item, require_all=require_all) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("nullable", "example", "xml", "discriminator", "readOnly", "writeOnly"):
            continue
        if key == "$ref":
            assert value.startswith(REF_PREFIX), value
            out["$ref"] = "#/$defs/" + value.removeprefix(REF_PREFIX)
        elif key == "properties":
            out[key] = {name: to_json_schema(sub, require_all=require_all) for name, sub in value.items()}
        else:
            out[key] = to_json_schema(value, require_all=require_all)
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if require_all and "properties" in out:
        out["required"] = sorted(set(out.get("required", [])) | set(out["properties"]))
    return out


def inline_inheritance(schemas: dict[str, Any]) -> dict[str, Any]:
    """Inline ``allOf: [{$ref: Base}]``: the schema gets Base's properties beside its own.

    That is what the spec means (Swashbuckle's inheritance), and with ``additionalProperties:
    false`` on both, a literal ``allOf`` would refuse every object.
    """
    def inlined(name: str) -> dict[str, Any]:
        node = dict(schemas[name])
        properties: dict[str, Any] = {}
        for base in node.pop("allOf", []):
            assert set(base) == {"$ref"}, base
            properties.update(inlined(base["$ref"].removeprefix(REF_PREFIX))["properties"])
        node["properties"] = {**properties, **node.get("properties", {})}
        return node

    return {name: inlined(name) for name in schemas}


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None or "T" not in value:
            raise ValueError(f"not an RFC 3339 date-time: {value!r}")
        return True

    @checker.checks("int32")
    def is_int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    return checker


def validator_for(spec_file: str, name: str) -> Draft202012Validator:
    spec = json.loads((OPENAPI_DIR / spec_file).read_text(encoding="utf-8"))
    defs = {key: to_json_schema(value) for key, value in inline_inheritance(spec["components"]["schemas"]).items()}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs,
              "$ref": f"#/$defs/{name}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


TICKET = validator_for("openapi-authtickets.json", "DeveloperAdminUserAuthTicket")
COLLECTION = validator_for("openapi-apppackages-collection.json", "ApplicationSummaryCollection")
TENANT_TICKET = validator_for("openapi-authtickets.json", "TenantAdminUserAuthTicket")
ORDER_COLLECTION = validator_for("openapi-commerce-orders.json", "OrderCollection")


def assert_valid(validator: Draft202012Validator, document: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors


def login(emu: KiboEmulator, account: int | None = None) -> dict[str, Any]:
    params = {} if account is None else {"developerAccountId": account}
    response = requests.post(emu.base_url + TICKETS, params=params, json=CREDENTIALS, timeout=5)
    assert response.status_code == 200
    return response.json()


def tenant_login(emu: KiboEmulator, tenant: int | None = None) -> dict[str, Any]:
    params = {} if tenant is None else {"tenantId": tenant}
    response = requests.post(emu.base_url + TENANT_TICKETS, params=params, json=CREDENTIALS, timeout=5)
    assert response.status_code == 200
    return response.json()


def orders_page(emu: KiboEmulator, tenant: int, headers: dict[str, str] | None = None,
                **params: Any) -> dict[str, Any]:
    token = tenant_login(emu, tenant)["jwtAccessToken"]
    response = requests.get(emu.tenant_url(tenant) + ORDERS, params=params, timeout=5, headers={
        "Authorization": f"Bearer {token}", "x-vol-tenant": str(tenant), **(headers or {})})
    assert response.status_code == 200
    return response.json()


# ------------------------------------------------------------------------ conversion
def test_conversion_turns_nullable_into_a_null_type_and_resolves_refs() -> None:
    schema = to_json_schema({"type": "object", "additionalProperties": False, "properties": {
        "name": {"type": "string", "nullable": True},
        "account": {"$ref": "#/components/schemas/DeveloperAccount"},
        "list": {"type": "array", "nullable": True, "items": {"$ref": "#/components/schemas/X"}},
    }})
    assert schema["properties"]["name"] == {"type": ["string", "null"]}
    assert schema["properties"]["account"] == {"$ref": "#/$defs/DeveloperAccount"}
    assert schema["properties"]["list"] == {"type": ["array", "null"], "items": {"$ref": "#/$defs/X"}}
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["account", "list", "name"]


def test_inheritance_is_inlined_recursively_beside_the_schemas_own_properties() -> None:
    schemas = inline_inheritance({
        "Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": False},
        "Middle": {"type": "object", "allOf": [{"$ref": "#/components/schemas/Base"}],
                   "properties": {"name": {"type": "string"}}, "additionalProperties": False},
        "Leaf": {"type": "object", "allOf": [{"$ref": "#/components/schemas/Middle"}], "additionalProperties": False},
    })
    assert "allOf" not in schemas["Leaf"] and list(schemas["Leaf"]["properties"]) == ["id", "name"]
    assert list(schemas["Middle"]["properties"]) == ["id", "name"]
    assert schemas["Base"]["properties"] == {"id": {"type": "integer"}}


def test_the_spec_schemas_used_here_forbid_additional_properties() -> None:
    for validator, names in [(TICKET, ["DeveloperAdminUserAuthTicket", "DeveloperAccount", "UserProfile"]),
                             (COLLECTION, ["ApplicationSummaryCollection", "ApplicationSummary", "AppVersion"]),
                             (TENANT_TICKET, ["TenantAdminUserAuthTicket", "AdminUserTenant", "Site",
                                              "AdminUserMasterCatalog", "Catalog", "TenantAttribute"]),
                             (ORDER_COLLECTION, ["OrderCollection", "CommerceRuntimeOrder", "AdminUserAuditInfo",
                                                 "CommerceRuntimeOrderItem", "CommerceRuntimeProduct"])]:
        for name in names:
            assert validator.schema["$defs"][name]["additionalProperties"] is False, name


# ---------------------------------------------------------------------- real answers
def test_create_answer_matches_the_developer_ticket_schema(kibo_emulator: KiboEmulator) -> None:
    assert_valid(TICKET, login(kibo_emulator))


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotated"])
def test_refresh_answer_matches_the_developer_ticket_schema(kibo_emulator: KiboEmulator, rotate: bool) -> None:
    kibo_emulator.rotate_refresh_tokens = rotate
    response = requests.put(kibo_emulator.base_url + TICKETS, params={"developerAccountId": 1002},
                            json=login(kibo_emulator), timeout=5)
    assert response.status_code == 200
    assert_valid(TICKET, response.json())


@pytest.mark.parametrize(("account", "page_size"), [(1001, 5), (1002, 20), (1003, 20)])
def test_apppackages_page_matches_the_application_summary_collection_schema(
        kibo_emulator: KiboEmulator, account: int, page_size: int) -> None:
    token = login(kibo_emulator, account)["jwtAccessToken"]
    response = requests.get(kibo_emulator.base_url + APPS, params={"pageSize": page_size},
                            headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200
    assert_valid(COLLECTION, response.json())


def test_tenant_create_answer_matches_the_tenant_ticket_schema(kibo_emulator: KiboEmulator) -> None:
    assert_valid(TENANT_TICKET, tenant_login(kibo_emulator, 100002))


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotated"])
def test_tenant_refresh_answer_matches_the_tenant_ticket_schema(kibo_emulator: KiboEmulator, rotate: bool) -> None:
    kibo_emulator.rotate_refresh_tokens = rotate
    response = requests.put(kibo_emulator.base_url + TENANT_TICKETS, params={"tenantId": 100003},
                            json=tenant_login(kibo_emulator), timeout=5)
    assert response.status_code == 200
    assert_valid(TENANT_TICKET, response.json())


@pytest.mark.parametrize(("tenant", "headers", "params"), [
    (100001, None, {"pageSize": 7}),
    (100001, {"x-vol-site": "100012"}, {"sortBy": "orderNumber desc"}),
    (100002, None, {"filter": "auditInfo.updateDate ge 2000-01-01T00:00:00Z"}),
    (100003, None, {}),
], ids=["paged", "one-site", "filtered", "empty"])
def test_orders_page_matches_the_order_collection_schema(kibo_emulator: KiboEmulator, tenant: int,
                                                         headers: dict[str, str] | None, params: dict) -> None:
    page = orders_page(kibo_emulator, tenant, headers, **params)
    assert_valid(ORDER_COLLECTION, page)
    assert page["items"] or tenant == 100003


# ------------------------------------------------------------- the validator bites
def _mutate(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


@pytest.mark.parametrize(("path", "value"), [
    (["refreshToken"], KeyError),
    (["user", "userId"], KeyError),
    (["bogus"], "extra"),
    (["account", "tenant"], 1),
    (["account", "id"], "1001"),
    (["accessTokenExpiration"], None),
    (["refreshTokenExpiration"], "tomorrow"),
    (["grantedBehaviors", 0], 2**40),
], ids=["missing-top", "missing-nested", "extra-top", "extra-nested", "wrong-type", "null-not-nullable",
        "bad-date", "int32-overflow"])
def test_a_broken_ticket_fails_validation(kibo_emulator: KiboEmulator, path: list[Any], value: Any) -> None:
    ticket = login(kibo_emulator)
    assert_valid(TICKET, ticket)
    with pytest.raises(jsonschema.ValidationError):
        TICKET.validate(_mutate(ticket, path, value))


@pytest.mark.parametrize(("path", "value"), [
    (["items", 0, "applicationId"], KeyError),
    (["items", 0, "applicationVersion", "extra"], 1),
    (["totalCount"], KeyError),
    (["items", 0, "hasVersions"], "yes"),
], ids=["missing-item-field", "extra-nested", "missing-top", "wrong-type"])
def test_a_broken_collection_fails_validation(kibo_emulator: KiboEmulator, path: list[Any], value: Any) -> None:
    token = login(kibo_emulator)["accessToken"]
    page = requests.get(kibo_emulator.base_url + APPS, headers={"Authorization": f"Bearer {token}"},
                        timeout=5).json()
    with pytest.raises(jsonschema.ValidationError):
        COLLECTION.validate(_mutate(page, path, value))


def test_nullable_fields_accept_null(kibo_emulator: KiboEmulator) -> None:
    ticket = login(kibo_emulator)
    for key in ("jwtAccessToken", "availableAccounts", "grantedBehaviors"):
        assert_valid(TICKET, _mutate(ticket, [key], None))


@pytest.mark.parametrize(("path", "value"), [
    (["tenant"], KeyError),
    (["tenant", "sites", 0, "tenantId"], KeyError),
    (["availableTenants", 0, "masterCatalogs", 0, "catalogs", 0, "bogus"], 1),
    (["account"], {"id": 1001, "name": "Acme Development"}),
    (["tenant", "isDevTenant"], "no"),
    (["tenant", "id"], 2**31),
    (["tenant", "domain"], 100001),
    (["createdOn"], "yesterday"),
], ids=["missing-tenant", "missing-site-field", "extra-catalog-field", "developer-field", "wrong-type",
        "int32-overflow", "domain-type", "bad-date"])
def test_a_broken_tenant_ticket_fails_validation(kibo_emulator: KiboEmulator, path: list[Any], value: Any) -> None:
    ticket = tenant_login(kibo_emulator)
    assert_valid(TENANT_TICKET, ticket)
    with pytest.raises(jsonschema.ValidationError):
        TENANT_TICKET.validate(_mutate(ticket, path, value))


@pytest.mark.parametrize(("path", "value"), [
    (["items", 0, "auditInfo"], KeyError),
    (["items", 0, "items", 0, "product", "productCode"], KeyError),
    (["items", 0, "customerNotes"], "extra"),
    (["items", 0, "total"], "12.50"),
    (["items", 0, "auditInfo", "updateDate"], "last tuesday"),
    (["items", 0, "orderNumber"], 2**31),
    (["pageCount"], KeyError),
], ids=["missing-audit-info", "missing-product-code", "extra-field", "total-as-text", "bad-date",
        "int32-overflow", "missing-top"])
def test_a_broken_orders_page_fails_validation(kibo_emulator: KiboEmulator, path: list[Any], value: Any) -> None:
    page = orders_page(kibo_emulator, 100002)
    assert_valid(ORDER_COLLECTION, page)
    with pytest.raises(jsonschema.ValidationError):
        ORDER_COLLECTION.validate(_mutate(page, path, value))


def test_tenant_ticket_and_order_nullable_fields_accept_null(kibo_emulator: KiboEmulator) -> None:
    ticket = tenant_login(kibo_emulator)
    for path in (["availableTenants"], ["tenant", "sites"], ["tenant", "expiry"], ["redirect"]):
        assert_valid(TENANT_TICKET, _mutate(ticket, path, None))
    page = orders_page(kibo_emulator, 100002)
    for path in (["items", 0, "submittedDate"], ["items", 0, "auditInfo", "createBy"], ["items"]):
        assert_valid(ORDER_COLLECTION, _mutate(page, path, None))
