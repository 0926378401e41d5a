"""A hook that holds the stored ticket reads only its record; a ticket stored by another process is read whole."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_kibo.stores import LATEST_SLOT, RECORD_PREFIX, MemoryTicketStore, VariableTicketStore

SLOTS = ("1001", LATEST_SLOT)


class ReadListingStore(VariableTicketStore):
    """The metadata DB's Variable store, listing the Variables it reads."""

    def __init__(self, conn_id: str) -> None:
        super().__init__(conn_id, supervised=False)
        self.reads: list[str] = []

    def _get(self, key: str):
        self.reads.append(key)
        return super()._get(key)


@pytest.fixture
def store(airflow_db, conn_id) -> ReadListingStore:
    return ReadListingStore(conn_id)


@pytest.fixture(autouse=True)
def rotating(kibo_emulator) -> None:
    kibo_emulator.rotate_refresh_tokens = True


def test_a_hook_renewing_its_own_ticket_reads_only_records(make_hook, kibo_emulator, store):
    hook = make_hook()
    hook.get_ticket()
    store.reads.clear()

    renewed = [hook.refresh_ticket() for _ in range(3)]

    assert store.reads and all(key.startswith(f"{RECORD_PREFIX}__") for key in store.reads), store.reads
    assert kibo_emulator.status_counts()["refresh"] == {200: 3}
    assert store.read("1001") == renewed[-1]


def test_a_ticket_another_process_stored_is_read_whole_and_its_refresh_token_used(make_hook, kibo_emulator, store):
    mine, other = make_hook(), make_hook()
    mine.get_ticket()
    theirs = other.refresh_ticket()
    store.reads.clear()

    renewed = mine.refresh_ticket()

    assert store.key("1001") in store.reads
    assert kibo_emulator.status_counts()["refresh"] == {200: 2}, "no refresh token was refused"
    assert kibo_emulator.counters()["create"] == 1
    assert renewed != theirs and store.read("1001") == renewed


def test_a_ticket_stored_without_its_record_is_found_after_one_refused_refresh(make_hook, kibo_emulator, store):
    """Another process refreshed and died between writing the ticket and its record: the record still
    names the ticket this hook holds, whose refresh token Kibo has retired."""
    mine = make_hook()
    first = mine.get_ticket()
    kibo_emulator.clock.advance(timedelta(minutes=1))
    elsewhere = MemoryTicketStore()
    for slot in SLOTS:
        elsewhere.write(slot, first)
    theirs = make_hook(store=elsewhere).refresh_ticket()
    from airflow.models import Variable

    for slot in SLOTS:
        Variable.set(store.key(slot), json.dumps(theirs.to_stored()))

    ticket = mine.refresh_ticket()

    assert ticket == theirs, "taken from the store once the refused token showed it had moved on"
    assert kibo_emulator.status_counts()["refresh"] == {200: 1, 401: 1}
    assert kibo_emulator.counters()["create"] == 1
