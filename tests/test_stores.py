"""Ticket stores outside a task: the metadata DB when reachable, else memory with one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

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
from airflow_provider_kibo.variables import Variables
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


def variables_of(conn_id: str) -> dict[str, str]:
    """Every Variable of the metadata DB that names the Connection, by key."""
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {v.key: v.val for v in session.scalars(select(Variable)) if f"__{conn_id}" in v.key}


@pytest.fixture
def conn(airflow_db) -> str:
    """A Connection id of its own, whose Variables are removed afterwards."""
    from airflow.models import Variable

    conn_id = f"kibo_store_{uuid.uuid4().hex[:8]}"
    yield conn_id
    for key in variables_of(conn_id):
        Variable.delete(key)


def test_outside_a_task_the_store_is_the_metadata_db(conn, ticket):
    assert not has_supervisor()
    store = variable_or_memory_store(conn)
    assert isinstance(store, VariableTicketStore)

    store.write("1002", ticket)

    assert store.read("1002") == ticket
    store.delete("1002")
    assert store.read("1002") is None


def test_a_stored_ticket_is_sealed_under_a_name_airflow_does_not_mask_and_its_key_under_one_it_does(conn, ticket):
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    VariableTicketStore(conn, Variables(supervised=False)).write("1002", ticket)

    stored = variables_of(conn)
    key_name = f"kibo_ticket_secret__{conn}"
    assert set(stored) == {f"kibo_ticket__{conn}__1002", f"kibo_ticket_index__{conn}", key_name}
    assert [name for name in stored if should_hide_value_for_key(name)] == [key_name]
    assert not [s for s in ticket.secrets if s in json.dumps(stored)], "no token anywhere, sealed or not"
    entry = json.loads(stored[f"kibo_ticket__{conn}__1002"])
    assert entry["record"]["summary"] == ticket.summary()
    assert json.loads(stored[f"kibo_ticket_index__{conn}"]) == {"slots": ["1002"]}


def test_records_are_read_without_the_key_and_rotations_add_no_mask(conn, kibo_emulator, core_masker):
    writer = VariableTicketStore(conn, Variables(supervised=False))
    masks = []
    for _ in range(5):
        ticket = log_in(kibo_emulator)
        writer.write("1002", ticket)
        before = set(core_masker.patterns)

        assert VariableTicketStore(conn, Variables(supervised=False)).read_record("1002") == ticket.record()
        assert core_masker.patterns == before, "a record needs no key"
        assert VariableTicketStore(conn, Variables(supervised=False)).read("1002") == ticket, "a new reader opens the seal"
        masks.append(len(core_masker.patterns))
    assert masks == [1] * 5, "the key's mask alone, whatever the rotations"


def test_a_ticket_another_process_replaced_is_read(conn, ticket, kibo_emulator):
    store = VariableTicketStore(conn, Variables(supervised=False))
    store.write("1002", ticket)
    newer = log_in(kibo_emulator)
    VariableTicketStore(conn, Variables(supervised=False)).write("1002", newer)

    assert store.read("1002") == newer


def test_a_damaged_entry_counts_as_absent(conn, caplog):
    from airflow.models import Variable

    store = VariableTicketStore(conn, Variables(supervised=False))
    Variable.set(store.key(LATEST_SLOT), '{"record": {"scopeId": "half"}, "sealed": "half"}')
    Variable.set(store.key("1001"), "not json")

    assert store.read(LATEST_SLOT) is None and store.read("1001") is None
    assert store.read_record(LATEST_SLOT) is None
    assert "unreadable Kibo ticket" in caplog.text


def test_a_lost_key_makes_the_sealed_tickets_absent_and_the_next_write_a_new_key(conn, ticket, kibo_emulator, caplog):
    from airflow.models import Variable

    VariableTicketStore(conn, Variables(supervised=False)).write("1002", ticket)
    old_key = Variable.get(f"kibo_ticket_secret__{conn}")
    Variable.delete(f"kibo_ticket_secret__{conn}")
    store = VariableTicketStore(conn, Variables(supervised=False))

    assert store.read("1002") is None
    assert store.read_record("1002") == ticket.record(), "the record needs no key"
    assert caplog.text.count("sealed with a key this Connection no longer has") == 1
    newer = log_in(kibo_emulator)
    store.write("1002", newer)
    assert Variable.get(f"kibo_ticket_secret__{conn}") != old_key
    assert VariableTicketStore(conn, Variables(supervised=False)).read("1002") == newer


def test_the_index_lists_every_slot_ever_stored(conn, ticket):
    store = VariableTicketStore(conn, Variables(supervised=False))
    for slot in ("1002", LATEST_SLOT, "tenant_100001"):
        store.write(slot, ticket)
    store.delete("1002")

    assert VariableTicketStore(conn, Variables(supervised=False)).slots() == ["1002", LATEST_SLOT, "tenant_100001"]


RACE_WRITER = """
import collections, json, pathlib, sys, time
from airflow_provider_kibo.stores import VariableTicketStore
from airflow_provider_kibo.tickets.values import ticket_from_stored
from airflow_provider_kibo.variables import Variables

conn, slot, signals, waits = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), json.loads(sys.argv[4])
seen = collections.Counter()

def hooked(method, kind_of):
    # Before its n-th read or write of a kind (read_key, set_key, put_entry), this writer waits for
    # the other's events listed in `waits`; after it, it announces `<slot>.<kind><n>`.
    def call(self, key, *args):
        kind = kind_of(key)
        if kind is None:
            return method(self, key, *args)
        seen[kind] += 1
        event = f"{kind}{seen[kind]}"
        for other in waits.get(event, []):
            while not (signals / other).exists():
                time.sleep(0.02)
        result = method(self, key, *args)
        (signals / f"{slot}.{event}").touch()
        return result
    return call

Variables.get = hooked(Variables.get, lambda key: "read_key" if key.startswith("kibo_ticket_secret__") else None)
Variables.set = hooked(Variables.set, lambda key: "set_key" if key.startswith("kibo_ticket_secret__")
                       else "put_entry" if key.startswith("kibo_ticket__") else None)
ticket = ticket_from_stored(json.loads(sys.stdin.read()))
VariableTicketStore(conn, Variables(supervised=False)).write(slot, ticket)
"""

RACES = {
    "the later key replaces the earlier after its writer finished": (
        {"a": {"read_key1": ["b.read_key1"], "set_key1": ["b.put_entry1"]}, "b": {"set_key1": ["a.read_key1"]}},
        {"a": True, "b": False},
    ),
    "the key is replaced while a writer seals: it seals again": (
        {"a": {"read_key1": ["b.read_key1"], "read_key3": ["b.set_key1"]}, "b": {"set_key1": ["a.put_entry1"]}},
        {"a": True, "b": True},
    ),
}


@pytest.mark.parametrize("race", RACES)
def test_first_writers_in_separate_processes_racing_to_create_the_key(conn, ticket, tmp_path, caplog, race):
    """Variables have no create-if-absent: two first writers may each create a key. Whatever the order,
    every writer finishes, the Connection ends with one key, and each ticket is either readable or counts
    as absent (a writer that finished before its key was replaced): never an error, never a wrong ticket."""
    steps, readable = RACES[race]
    writers = {
        slot: subprocess.Popen([sys.executable, "-c", RACE_WRITER, conn, slot, str(tmp_path), json.dumps(steps[slot])],
                               stdin=subprocess.PIPE, text=True, env=os.environ)
        for slot in ("a", "b")
    }
    for writer in writers.values():
        writer.stdin.write(json.dumps(ticket.to_stored()))
        writer.stdin.close()
    assert [writer.wait(timeout=120) for writer in writers.values()] == [0, 0]

    store = VariableTicketStore(conn, Variables(supervised=False))
    assert {slot: store.read(slot) == ticket for slot in writers} == readable
    assert {slot: store.read_record(slot) for slot in writers} == dict.fromkeys(writers, ticket.record())
    if not all(readable.values()):
        assert "sealed with a key this Connection no longer has" in caplog.text


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
