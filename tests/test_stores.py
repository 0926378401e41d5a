"""Ticket stores outside a task: the metadata DB when reachable, else memory with one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from airflow_provider_kibo.stores import (
    LATEST_SLOT,
    MemoryTicketStore,
    VariableTicketStore,
    running_in_task,
    variable_or_memory_store,
)
from airflow_provider_kibo.ticket import KiboTicket
from tests.support import EMAIL, PASSWORD

MEMORY_FALLBACK = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
from airflow_provider_kibo.stores import variable_or_memory_store
first, second = variable_or_memory_store("a"), variable_or_memory_store("b")
print("STORES", type(first).__name__, type(second).__name__, variable_or_memory_store("a") is first)
"""


@pytest.fixture
def ticket(kibo_emulator) -> KiboTicket:
    document = requests.post(
        f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
        params={"developerAccountId": 1002},
        json={"emailAddress": EMAIL, "password": PASSWORD},
        timeout=5,
    ).json()
    return KiboTicket.from_api(document)


def test_outside_a_task_the_store_is_the_metadata_db(airflow_db, ticket):
    assert not running_in_task()
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

    store = VariableTicketStore("kibo_store_test", in_task=False)

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

    store = VariableTicketStore("kibo_store_test", in_task=False)
    Variable.set(store.key("1002"), json.dumps(ticket.to_stored()))

    assert store.read_record("1002") == ticket.record()


def test_unreadable_stored_ticket_counts_as_absent(airflow_db, caplog):
    from airflow.models import Variable

    store = VariableTicketStore("kibo_store_damaged", in_task=False)
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
