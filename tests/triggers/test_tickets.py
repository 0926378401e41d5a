"""KiboTicketTrigger: its serialized form, and its polling loop against the emulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.triggers.tickets import KiboTicketTrigger

pytestmark = pytest.mark.usefixtures("airflow_db")


def trigger(
    conn_id: str, account: int = 1001, check_access: bool = False, deadline: str | None = None
) -> KiboTicketTrigger:
    return KiboTicketTrigger(conn_id, account, min_valid_for_seconds=60.0, check_access=check_access,
                             poll_interval=0.05, deadline=deadline)


async def first_event(trigger: KiboTicketTrigger, timeout: float = 10):
    return await asyncio.wait_for(anext(trigger.run()), timeout)


def test_serialize_is_pinned():
    assert trigger("kibo_prod", 1002, deadline="2026-11-26T12:00:00+00:00").serialize() == (
        "airflow_provider_kibo.triggers.tickets.KiboTicketTrigger",
        {"kibo_conn_id": "kibo_prod", "developer_account_id": 1002, "min_valid_for_seconds": 60.0,
         "check_access": False, "poll_interval": 0.05, "deadline": "2026-11-26T12:00:00+00:00", "tenant_id": None},
    )


def test_serialized_trigger_rebuilds_the_same_trigger():
    path, kwargs = trigger("kibo_prod", 1002, deadline="2026-11-26T12:00:00+00:00").serialize()

    assert KiboTicketTrigger(**kwargs).serialize() == (path, kwargs)


def test_trigger_serialized_before_deadlines_existed_still_loads():
    path, kwargs = trigger("kibo_prod", 1002).serialize()
    del kwargs["deadline"]

    assert KiboTicketTrigger(**kwargs).serialize()[1]["deadline"] is None


def test_trigger_fires_once_a_ticket_is_stored(conn_id, kibo_emulator):
    async def scenario():
        waiting = asyncio.create_task(first_event(trigger(conn_id)))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await asyncio.to_thread(
            KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id).execute, {}
        )
        return await waiting

    event = asyncio.run(scenario())

    assert event.payload["status"] == "success"
    assert event.payload["summary"]["account_id"] == 1001


def test_trigger_reports_a_typed_error_as_an_error_event(monkeypatch, kibo_emulator, conn_id):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        '{"conn_type": "kibo_developer", "host": "http://kibo.example.com", "login": "a@b.c", "password": "p"}',
    )

    event = asyncio.run(first_event(trigger(conn_id)))

    assert event.payload["status"] == "error"
    assert "host" in event.payload["message"]


def test_the_event_loop_keeps_running_during_a_slow_check(conn_id, kibo_emulator):
    kibo_emulator.inject("create", "latency", seconds=1)

    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        clock = asyncio.create_task(ticker())
        event = await first_event(trigger(conn_id, check_access=True))
        clock.cancel()
        return event, ticks

    event, ticks = asyncio.run(scenario())

    assert event.payload["status"] == "success"
    assert ticks >= 10, "the loop ticked while the check waited on Kibo"


def test_trigger_ends_with_a_timeout_event_at_its_deadline(conn_id, kibo_emulator):
    deadline = datetime.now(UTC) + timedelta(seconds=0.5)

    event = asyncio.run(first_event(trigger(conn_id, 1002, deadline=deadline.isoformat())))

    assert datetime.now(UTC) >= deadline
    assert event.payload == {
        "status": "timeout",
        "message": "Timed out waiting for a Kibo ticket for developer account 1002 valid for at least 0:01:00 in the "
        f"ticket store: the sensor's timeout ended at {deadline.isoformat()}",
    }
    assert sum(kibo_emulator.counters().values()) == 0


def test_trigger_checks_once_more_before_timing_out(conn_id):
    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id).execute({})
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    event = asyncio.run(first_event(trigger(conn_id, deadline=past)))

    assert event.payload["status"] == "success"


def test_a_tenant_trigger_fires_once_the_tenant_ticket_is_stored(conn_id):
    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id, tenant_id=100001).execute({})
    waiting = KiboTicketTrigger(conn_id, None, min_valid_for_seconds=60.0, check_access=False, poll_interval=0.05,
                                tenant_id=100001)

    event = asyncio.run(first_event(waiting))

    assert event.payload["status"] == "success"
    assert event.payload["summary"]["tenant_id"] == 100001
