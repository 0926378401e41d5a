"""Ticket stores outside a task: the metadata DB when reachable, else memory with one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from airflow_provider_kibo.airflow_compat import has_supervisor
from airflow_provider_kibo.stores import (
    LATEST_SLOT,
    MemoryTicketStore,
    VariableTicketStore,
    variable_or_memory_store,
)
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket
from tests.support import EMAIL, PASSWORD

MEMORY_FALLBACK = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
from airflow_provider_kibo.stores import variable_or_memory_store
first, second = variable_or_memory_store("a"), variable_or_memory_store("b")
print("STORES", type(first).__name__, type(second).__name__, variable_or_memory_store("a") is first)
"""


def log_in(kibo_emulator) -> KiboDeveloperTicket:
    """A new ticket for account 1002, straight from the emulator."""
    document = requests.post(
        f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
        params={"developerAccountId": 1002},
        json={"emailAddress": EMAIL, "password": PASSWORD},
        timeout=5,
    ).json()
    return KiboDeveloperTicket.from_api(document)


@pytest.fixture
def ticket(kibo_emulator) -> KiboDeveloperTicket:
    return log_in(kibo_emulator)


def test_outside_a_task_the_store_is_the_metadata_db(airflow_db, ticket):
    assert not has_supervisor()
    store = variable_or_memory_store("kibo_store_test")
    assert isinstance(store, VariableTicketStore)

    store.write("1002", ticket)

    from airflow.models import Variable

    raw = Variable.get("kibo_developer_token__kibo_store_test__1002")
    assert json.loads(raw)["refreshToken"] == ticket.refresh_token
    assert store.read("1002") == ticket
    store.delete("1002")
    assert store.read("1002") is None


def test_each_ticket_variable_has_a_record_beside_it_that_holds_no_secret(airflow_db, ticket):
    from airflow.models import Variable
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    store = VariableTicketStore("kibo_store_test", supervised=False)

    store.write("1002", ticket)

    record_key = "kibo_developer_ticket_record__kibo_store_test__1002"
    assert store.record_key("1002") == record_key
    assert not should_hide_value_for_key(record_key), "Airflow does not mask the record, nor need to"
    raw = Variable.get(record_key)
    assert not [secret for secret in ticket.secrets if secret in raw]
    assert store.read_record("1002") == ticket.record()
    assert store.read_record("1002").summary == ticket.summary()
    store.delete("1002")
    assert Variable.get(record_key, None) is None
    assert store.read_record("1002") is None


def test_a_ticket_stored_without_its_record_is_read_whole(airflow_db, ticket):
    from airflow.models import Variable

    store = VariableTicketStore("kibo_store_test", supervised=False)
    Variable.set(store.key("1002"), json.dumps(ticket.to_stored()))

    assert store.read_record("1002") == ticket.record()


def test_unreadable_stored_ticket_counts_as_absent(airflow_db, caplog):
    from airflow.models import Variable

    store = VariableTicketStore("kibo_store_damaged", supervised=False)
    Variable.set(store.key(LATEST_SLOT), '{"accessToken": "half"}')

    assert store.read(LATEST_SLOT) is None
    assert "unreadable Kibo ticket" in caplog.text
    assert "half" not in caplog.text


def test_without_a_reachable_db_tickets_stay_in_memory_with_one_warning(tmp_path):
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/missing/dir/airflow.db"}

    done = subprocess.run([sys.executable, "-c", MEMORY_FALLBACK], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, check=True)

    assert "STORES MemoryTicketStore MemoryTicketStore True" in done.stdout
    assert done.stdout.count("not shared with other processes") == 1


def test_memory_store_keeps_slots_apart(ticket):
    store = MemoryTicketStore()

    store.write("1002", ticket)

    assert store.read("1002") == ticket
    assert store.read("1001") is None


@pytest.fixture
def core_masker():
    """airflow-core's secrets masker, which a read of a Variable from the metadata DB feeds; emptied."""
    from airflow._shared.secrets_masker import _secrets_masker

    _secrets_masker().reset_masker()
    yield _secrets_masker()
    _secrets_masker().reset_masker()


def test_a_held_ticket_comes_back_unread_while_its_record_names_it(airflow_db, ticket, core_masker):
    store = VariableTicketStore("kibo_store_test", supervised=False)
    store.write("1002", ticket)

    assert store.read("1002", ticket) is ticket
    assert not core_masker.patterns, "the ticket Variable was not read, so Airflow masked nothing"
    assert store.read("1002") == ticket
    assert core_masker.patterns, "reading the ticket Variable makes Airflow mask its value"


def test_a_held_ticket_another_process_replaced_is_read_whole(airflow_db, ticket, kibo_emulator):
    store = VariableTicketStore("kibo_store_test", supervised=False)
    store.write("1002", ticket)
    newer = log_in(kibo_emulator)
    store.write("1002", newer)

    assert store.read("1002", ticket) == newer


def test_a_held_ticket_is_read_whole_when_its_record_has_no_fingerprint(airflow_db, ticket):
    from airflow.models import Variable

    store = VariableTicketStore("kibo_store_test", supervised=False)
    store.write("1002", ticket)
    earlier_record = {k: v for k, v in ticket.record().to_stored().items() if k != "fingerprint"}
    Variable.set(store.record_key("1002"), json.dumps(earlier_record))

    found = store.read("1002", ticket)

    assert found == ticket and found is not ticket
