"""The emulator's answers match Kibo's published OpenAPI component schemas.

The OpenAPI 3.0 schemas are converted to JSON Schema (2020-12): ``nullable: true`` becomes
``type: [T, "null"]``, ``#/components/schemas/X`` refs point at ``#/$defs/X``, the spec's
``additionalProperties: false`` is kept, and every listed property is made required (the
emulator always sends full objects), so a missing field fails validation.
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
    defs = {key: to_json_schema(value) for key, value in spec["components"]["schemas"].items()}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs,
              "$ref": f"#/$defs/{name}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


TICKET = validator_for("openapi-authtickets.json", "DeveloperAdminUserAuthTicket")
COLLECTION = validator_for("openapi-apppackages-collection.json", "ApplicationSummaryCollection")


def assert_valid(validator: Draft202012Validator, document: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors


def login(emu: KiboEmulator, account: int | None = None) -> dict[str, Any]:
    params = {} if account is None else {"developerAccountId": account}
    response = requests.post(emu.base_url + TICKETS, params=params, json=CREDENTIALS, timeout=5)
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


def test_the_spec_schemas_used_here_forbid_additional_properties() -> None:
    for validator, names in [(TICKET, ["DeveloperAdminUserAuthTicket", "DeveloperAccount", "UserProfile"]),
                             (COLLECTION, ["ApplicationSummaryCollection", "ApplicationSummary", "AppVersion"])]:
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
