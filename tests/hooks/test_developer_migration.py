"""Tickets stored by 0.2.0 (plain JSON in sensitive-named Variables, with records beside them) are read once,
sealed, and their Variables removed; a half-written one included; no task fails because of them."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from airflow.models import Variable

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
from airflow_provider_kibo.hooks.tenant import KiboTenantHook
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboAuthTicket, KiboDeveloperTicket, KiboTenantTicket
from tests.support import EMAIL, PASSWORD

pytestmark = pytest.mark.usefixtures("airflow_db")


def issued(emulator, ticket_class, route: str, params: dict) -> KiboAuthTicket:
    document = requests.post(f"{emulator.base_url}/api/platform/{route}", params=params, timeout=5,
                             json={"emailAddress": EMAIL, "password": PASSWORD}).json()
    return ticket_class.from_api(document).issued(KiboIdentity.of(emulator.base_url, EMAIL))


def plant(conn_id: str, slot: str, ticket: KiboAuthTicket | str | None, record: KiboAuthTicket | None) -> None:
    """What 0.2.0 left in a slot: the ticket (or damaged text), and the record beside it (or none)."""
    if ticket is not None:
        text = ticket if isinstance(ticket, str) else json.dumps(ticket.to_stored())
        Variable.set(f"kibo_developer_token__{conn_id}__{slot}", text)
    if record is not None:
        Variable.set(f"kibo_developer_ticket_record__{conn_id}__{slot}", json.dumps(record.record().to_stored()))


def legacy_variables(conn_id: str) -> list[str]:
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        keys = session.scalars(select(Variable.key).where(Variable.key.like("kibo_developer_%")))
        return sorted(key for key in keys if f"__{conn_id}__" in key)


def hook(conn_id, emulator, tmp_path, hook_class=KiboDeveloperHook, **kwargs):
    """A hook with the metadata DB's Variables as its store, as a script outside a task has."""
    return hook_class(conn_id, clock=emulator.clock.now, lock_dir=tmp_path / "locks", **kwargs)


def test_tickets_of_0_2_0_are_sealed_once_and_their_variables_removed(conn_id, kibo_emulator, tmp_path, caplog):
    account_1001 = issued(kibo_emulator, KiboDeveloperTicket, "developer/authtickets", {"developerAccountId": 1001})
    account_1002 = issued(kibo_emulator, KiboDeveloperTicket, "developer/authtickets", {"developerAccountId": 1002})
    tenant = issued(kibo_emulator, KiboTenantTicket, "adminuser/authtickets/tenants", {"tenantId": 100002})
    plant(conn_id, "1001", account_1001, account_1001)
    plant(conn_id, "1002", account_1002, account_1002)
    plant(conn_id, "latest", account_1002, account_1002)
    plant(conn_id, "1003", None, account_1001)  # half-written: a record without its ticket
    plant(conn_id, "tenant_100002", tenant, None)  # half-written: a ticket without its record
    plant(conn_id, "tenant_latest", tenant, tenant)
    kibo_emulator.reset_counters()

    with caplog.at_level(logging.INFO):
        first = hook(conn_id, kibo_emulator, tmp_path).get_ticket()
        switched = hook(conn_id, kibo_emulator, tmp_path, developer_account_id=1002).get_ticket()
        tenants = hook(conn_id, kibo_emulator, tmp_path, KiboTenantHook, tenant_id=100002).get_ticket()

    assert (first, switched, tenants) == (account_1001, account_1002, tenant)
    assert sum(kibo_emulator.counters().values()) == 0, "no login, no refresh: the old tickets serve"
    assert legacy_variables(conn_id) == []
    assert caplog.text.count("from the plain Variables of airflow-provider-kibo 0.2.0") == 1
    assert "Moved 5 Kibo tickets" in caplog.text
    for ticket in (account_1001, account_1002, tenant):
        assert not [s for s in ticket.secrets if s in caplog.text]


def test_a_damaged_ticket_of_0_2_0_is_replaced_by_a_login_and_removed(conn_id, kibo_emulator, tmp_path):
    plant(conn_id, "latest", '{"accessToken": "half', None)
    plant(conn_id, "1001", None, issued(kibo_emulator, KiboDeveloperTicket, "developer/authtickets", {}))
    kibo_emulator.reset_counters()

    ticket = hook(conn_id, kibo_emulator, tmp_path).get_ticket()

    assert ticket.account_id == 1001
    assert {route: n for route, n in kibo_emulator.counters().items() if n} == {"create": 1}
    assert legacy_variables(conn_id) == []


def test_a_store_only_check_reads_the_record_0_2_0_left_without_moving_anything(conn_id, kibo_emulator, tmp_path):
    ticket = issued(kibo_emulator, KiboDeveloperTicket, "developer/authtickets", {"developerAccountId": 1001})
    plant(conn_id, "1001", ticket, ticket)

    record = hook(conn_id, kibo_emulator, tmp_path).stored_ticket_record()

    assert record == ticket.record()
    assert len(legacy_variables(conn_id)) == 2, "the ticket moves when a hook needs the ticket itself"
