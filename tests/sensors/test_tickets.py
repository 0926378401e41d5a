"""KiboTicketSensor against the emulator: poke, deferral and the timeout path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.bases.operator import TriggerFailureReason

from airflow_provider_kibo.errors import AirflowFailException, KiboConfigError, KiboError
from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import DEFERRAL_TIMEOUT_GRACE, KiboTicketSensor
from airflow_provider_kibo.triggers.tickets import KiboTicketTrigger
from tests.support import EMAIL, PASSWORD, set_connection

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

pytestmark = pytest.mark.usefixtures("airflow_db")


def sensor(conn_id: str, **kwargs) -> KiboTicketSensor:
    return KiboTicketSensor(task_id="wait", kibo_conn_id=conn_id, poke_interval=1, timeout=30, **kwargs)


def store_ticket(conn_id: str, account: int) -> None:
    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id, developer_account_id=account).execute({})


def test_poke_reads_the_store_only(conn_id, kibo_emulator):
    waiting = sensor(conn_id, developer_account_id=1002)

    assert waiting.poke({}).is_done is False
    assert sum(kibo_emulator.counters().values()) == 0
    store_ticket(conn_id, 1002)
    kibo_emulator.reset_counters()

    done = waiting.poke({})

    assert done.is_done is True
    assert done.xcom_value["account_id"] == 1002
    assert sum(kibo_emulator.counters().values()) == 0


def test_poke_waits_while_the_ticket_expires_too_soon(conn_id):
    store_ticket(conn_id, 1001)

    assert sensor(conn_id, min_valid_for=timedelta(minutes=61)).poke({}).is_done is False


def test_check_access_waits_for_an_account_kibo_does_not_grant(conn_id, kibo_emulator):
    assert sensor(conn_id, developer_account_id=1999, check_access=True).poke({}).is_done is False

    granted = sensor(conn_id, developer_account_id=1003, check_access=True).poke({})

    assert granted.is_done is True
    assert granted.xcom_value["account_name"] == "Initech Test"


def test_deferrable_sensor_returns_at_once_when_the_ticket_is_there(conn_id):
    store_ticket(conn_id, 1001)

    assert sensor(conn_id, deferrable=True).execute({})["account_id"] == 1001


def test_deferrable_sensor_defers_to_a_plain_trigger(conn_id, kibo_emulator):
    before = datetime.now(UTC)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(conn_id, developer_account_id="1002", deferrable=True, min_valid_for=timedelta(minutes=61)).execute({})
    after = datetime.now(UTC)

    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=30) + DEFERRAL_TIMEOUT_GRACE
    path, kwargs = deferred.value.trigger.serialize()
    deadline = datetime.fromisoformat(kwargs.pop("deadline"))
    assert (path, kwargs) == (
        "airflow_provider_kibo.triggers.tickets.KiboTicketTrigger",
        {"kibo_conn_id": conn_id, "developer_account_id": 1002, "min_valid_for_seconds": 3660.0,
         "check_access": False, "poll_interval": 1.0, "tenant_id": None},
    )
    assert before + timedelta(seconds=30) <= deadline <= after + timedelta(seconds=30), "the sensor's timeout"
    assert isinstance(deferred.value.trigger, KiboTicketTrigger)
    assert sum(kibo_emulator.counters().values()) == 0


def test_execute_complete_returns_the_summary_or_raises():
    waiting = sensor("kibo")

    assert waiting.execute_complete({}, {"status": "success", "summary": {"account_id": 1}}) == {"account_id": 1}
    with pytest.raises(KiboError, match="No access"):
        waiting.execute_complete({}, {"status": "error", "message": "No access to Kibo developer account 9"})


@pytest.mark.parametrize(("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)])
def test_trigger_timeout_fails_or_skips_like_any_sensor(soft_fail, expected):
    waiting = sensor("kibo", deferrable=True, soft_fail=soft_fail)

    with pytest.raises(expected):
        waiting.resume_execution("__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})


TIMEOUT_EVENT = {"status": "timeout", "message": "Timed out waiting for a Kibo ticket for developer account 1002"}


@pytest.mark.parametrize(("soft_fail", "expected"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)])
def test_trigger_timeout_event_fails_or_skips_like_any_sensor(soft_fail, expected):
    waiting = sensor("kibo", deferrable=True, soft_fail=soft_fail)

    with pytest.raises(expected) as raised:
        waiting.resume_execution("execute_complete", {"event": TIMEOUT_EVENT}, {})

    timeout = raised.value if expected is AirflowSensorTimeout else raised.value.__cause__
    assert isinstance(timeout, AirflowSensorTimeout)
    assert str(timeout) == TIMEOUT_EVENT["message"]


def test_poke_mode_timeout_names_the_account_and_the_condition(conn_id):
    waiting = KiboTicketSensor(task_id="wait", kibo_conn_id=conn_id, developer_account_id=1999, poke_interval=0.1,
                               timeout=0.3, check_access=True, min_valid_for=timedelta(minutes=50))

    with pytest.raises(AirflowSensorTimeout, match=(
        r"^Timed out waiting for Kibo to grant access: a Kibo ticket for developer account 1999 valid for at least "
        r"0:50:00: Sensor has timed out"
    )):
        waiting.execute({})


def test_a_tenant_ticket_is_waited_for_in_the_store(conn_id, kibo_emulator):
    waiting = sensor(conn_id, tenant_id="100002")
    assert waiting.poke({}).is_done is False

    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id, tenant_id=100002).execute({})
    kibo_emulator.reset_counters()
    done = waiting.poke({})

    assert done.is_done is True
    assert done.xcom_value["tenant_id"] == 100002
    assert sum(kibo_emulator.counters().values()) == 0


def test_a_deferred_tenant_sensor_hands_the_tenant_to_its_trigger(conn_id):
    with pytest.raises(TaskDeferred) as deferred:
        sensor(conn_id, tenant_id=100003, deferrable=True).execute({})

    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["tenant_id"], kwargs["developer_account_id"]) == (100003, None)


def test_tenant_timeout_names_the_tenant(conn_id):
    waiting = KiboTicketSensor(task_id="wait", kibo_conn_id=conn_id, tenant_id=100003, poke_interval=0.1, timeout=0.3)

    with pytest.raises(AirflowSensorTimeout, match=r"^Timed out waiting for a Kibo ticket for tenant 100003 valid"):
        waiting.execute({})


def test_an_account_and_a_tenant_together_are_a_config_error():
    from airflow_provider_kibo.errors import KiboConfigError

    with pytest.raises(KiboConfigError, match="give either developer_account_id or tenant_id, not both"):
        KiboTicketSensor(task_id="wait", developer_account_id=1001, tenant_id=100001)


def broken_connection(monkeypatch, conn_id: str, kibo_emulator) -> None:
    """The Connection is edited into an invalid one while the sensor waits."""
    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=EMAIL, password=PASSWORD,
                   extra={"developer_account_id": 1001, "refresh_margin": 60})


@pytest.mark.parametrize("soft_fail", [False, True])
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_an_error_retrying_cannot_mend_ends_every_mode_the_same_way(
        monkeypatch, conn_id, kibo_emulator, mode, soft_fail):
    waiting = sensor(conn_id, deferrable=mode == "deferrable", soft_fail=soft_fail,
                     mode="reschedule" if mode == "reschedule" else "poke")
    broken_connection(monkeypatch, conn_id, kibo_emulator)

    with pytest.raises((KiboConfigError, AirflowSkipException)) as raised:
        if mode == "deferrable":
            event = asyncio.run(anext(KiboTicketTrigger(conn_id, 1001, 60.0, False, 0.05).run()))
            waiting.resume_execution("execute_complete", {"event": event.payload}, {})
        else:
            waiting.execute({"ti": SimpleNamespace(get_first_reschedule_date=lambda context: None)})

    error = raised.value.__cause__ if soft_fail else raised.value
    assert isinstance(raised.value, AirflowSkipException if soft_fail else AirflowFailException)
    assert isinstance(error, KiboConfigError) and "extra.refresh_margin" in str(error)


def test_check_access_longer_than_kibo_tokens_live_fails_at_once_naming_both(conn_id, kibo_emulator):
    waiting = sensor(conn_id, check_access=True, min_valid_for=timedelta(minutes=61))

    with pytest.raises(KiboConfigError) as raised:
        waiting.execute({})

    assert raised.value.field == "min_valid_for"
    assert "valid for 1:01:00, but Kibo issues access tokens valid for 1:00:00 only" in str(raised.value)
    assert {route: n for route, n in kibo_emulator.counters().items() if n} == {"create": 1}, "no refresh loop"


def test_a_sensor_on_an_application_connection_waits_for_the_tenant_to_be_found(monkeypatch, kibo_emulator):
    from airflow_provider_kibo.testing import DEMO_APPLICATIONS

    conn_id = "kibo_app_sensor"
    set_connection(monkeypatch, conn_id, conn_type="kibo_application", host=kibo_emulator.base_url,
                   login=DEMO_APPLICATIONS[0].key, password=DEMO_APPLICATIONS[0].shared_secret)
    waiting = sensor(conn_id, tenant_id=100001)
    assert waiting.poke({}).is_done is False

    KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id, tenant_id=100001).execute({})
    kibo_emulator.reset_counters()
    done = waiting.poke({})

    assert done.is_done is True
    assert done.xcom_value["tenant_id"] == 100001 and done.xcom_value["application_key"] == DEMO_APPLICATIONS[0].key
    assert sum(kibo_emulator.counters().values()) == 0, "the store only"
    assert sensor(conn_id, tenant_id=100003, check_access=True).poke({}).is_done is False, "not installed: it waits"
