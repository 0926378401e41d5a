"""Two machines, one ticket store: each machine has its own lock folder, so their hooks race."""

from __future__ import annotations

import pytest

from airflow_provider_kibo.stores import LATEST_SLOT, MemoryTicketStore
from airflow_provider_kibo.tickets.manager import OTHER_MACHINE_GRACE, OTHER_MACHINE_POLL

LIFETIME = 3600
SLOTS = ("1001", LATEST_SLOT)


@pytest.fixture
def machine(make_hook, tmp_path):
    """A hook on machine ``name``: its own lock folder, the shared store unless told otherwise."""
    return lambda name, **kwargs: make_hook(lock_dir=tmp_path / name, **kwargs)


@pytest.fixture
def winner_refreshed(machine, kibo_emulator, store) -> tuple:
    """
    Rotating refresh tokens and an expired ticket: machine a has just refreshed it, and its write to
    the shared store is still on its way. Returns a's new ticket and a function that delivers that
    write.
    """
    kibo_emulator.rotate_refresh_tokens = True
    machine("a").get_ticket()
    kibo_emulator.clock.advance(LIFETIME)
    on_its_way = MemoryTicketStore()
    for slot in SLOTS:
        on_its_way.write(slot, store.read(slot))
    won = machine("a", store=on_its_way).get_ticket()

    def deliver() -> None:
        for slot in SLOTS:
            store.write(slot, on_its_way.read(slot))

    return won, deliver


@pytest.mark.parametrize("arrives_after", [1, 4, 10], ids=["at-once", "after-a-moment", "at-the-last-poll"])
def test_machine_that_lost_the_refresh_race_waits_for_the_winners_ticket(
    machine, kibo_emulator, winner_refreshed, arrives_after
):
    won, deliver = winner_refreshed
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == arrives_after:
            deliver()

    lost = machine("b", sleep=sleep).get_ticket()

    assert lost == won
    assert waits == [OTHER_MACHINE_POLL.total_seconds()] * arrives_after
    assert kibo_emulator.status_counts()["refresh"] == {200: 1, 401: 1}, "b tried the used token once"
    assert kibo_emulator.counters()["create"] == 1, "no login after a lost race"


def test_refused_refresh_token_nobody_replaces_costs_a_bounded_wait_then_a_login(
    machine, kibo_emulator, winner_refreshed, store
):
    won, _never_delivered = winner_refreshed
    waits: list[float] = []

    ticket = machine("b", sleep=waits.append).get_ticket()

    assert sum(waits) == pytest.approx(OTHER_MACHINE_GRACE.total_seconds())
    assert ticket.access_token != won.access_token
    assert kibo_emulator.counters()["create"] == 2
    assert store.read("1001") == ticket
