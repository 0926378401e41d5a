"""Hooks sharing the metadata DB's sealed Variables: what they read, and a ticket another process stored."""

from __future__ import annotations

import pytest
from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

from airflow_provider_kibo.stores import VariableTicketStore
from airflow_provider_kibo.variables import Variables


class ListingVariables(Variables):
    """The metadata DB's Variables, listing the keys read."""

    def __init__(self) -> None:
        super().__init__(supervised=False)
        self.read: list[str] = []

    def get(self, key: str) -> str | None:
        self.read.append(key)
        return super().get(key)


@pytest.fixture
def variables(airflow_db) -> ListingVariables:
    return ListingVariables()


@pytest.fixture
def store(conn_id, variables) -> VariableTicketStore:
    return VariableTicketStore(conn_id, variables)


@pytest.fixture(autouse=True)
def rotating(kibo_emulator) -> None:
    kibo_emulator.rotate_refresh_tokens = True


def test_renewals_read_no_sensitive_variable_but_the_constant_key(make_hook, kibo_emulator, store, variables, conn_id):
    hook = make_hook()
    hook.get_ticket()
    variables.read.clear()

    renewed = [hook.refresh_ticket() for _ in range(5)]

    assert variables.read
    assert {key for key in variables.read if should_hide_value_for_key(key)} == {f"kibo_ticket_secret__{conn_id}"}
    assert kibo_emulator.status_counts()["refresh"] == {200: 5}
    assert store.read("1001") == renewed[-1]


def test_a_ticket_another_process_stored_is_taken_and_its_refresh_token_used(make_hook, kibo_emulator, store):
    mine, other = make_hook(), make_hook()
    mine.get_ticket()
    theirs = other.refresh_ticket()

    renewed = mine.refresh_ticket()

    assert kibo_emulator.status_counts()["refresh"] == {200: 2}, "no refresh token was refused"
    assert kibo_emulator.counters()["create"] == 1
    assert renewed != theirs and store.read("1001") == renewed
