"""The import paths and calls of 0.2.0 keep working for one release, each with a deprecation warning."""

from __future__ import annotations

import importlib
import sys

import pytest

from airflow_provider_kibo.airflow_compat import AirflowProviderDeprecationWarning, has_supervisor
from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.manager import OTHER_MACHINE_GRACE
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket
from airflow_provider_kibo.triggers.tickets import KiboTicketTrigger


def import_afresh(name: str):
    sys.modules.pop(name, None)
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"{name} is deprecated"):
        return importlib.import_module(name)


@pytest.mark.parametrize(
    ("old", "name", "now"),
    [
        ("airflow_provider_kibo.operators.developer", "KiboRefreshTicketOperator", KiboRefreshTicketOperator),
        ("airflow_provider_kibo.sensors.developer", "KiboTicketSensor", KiboTicketSensor),
        ("airflow_provider_kibo.triggers.developer", "KiboTicketTrigger", KiboTicketTrigger),
        ("airflow_provider_kibo.ticket", "KiboTicket", KiboDeveloperTicket),
        ("airflow_provider_kibo.identity", "KiboIdentity", KiboIdentity),
    ],
)
def test_an_old_module_still_serves_its_names_with_a_warning(old, name, now):
    assert getattr(import_afresh(old), name) is now


@pytest.mark.parametrize(
    ("module", "name", "now"),
    [
        ("airflow_provider_kibo.stores", "running_in_task", has_supervisor),
        ("airflow_provider_kibo.hooks.base", "OTHER_MACHINE_GRACE", OTHER_MACHINE_GRACE),
    ],
)
def test_a_moved_name_is_still_served_with_a_warning(module, name, now):
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"{module}.{name} is deprecated"):
        assert getattr(importlib.import_module(module), name) is now


def test_a_trigger_serialized_by_0_2_0_still_runs_from_its_classpath():
    _, kwargs = KiboTicketTrigger("kibo", 1002, 60.0, False, 1.0).serialize()
    old_class = import_afresh("airflow_provider_kibo.triggers.developer").KiboTicketTrigger

    assert old_class(**kwargs).serialize()[1] == kwargs


def test_the_account_per_call_still_works_with_a_warning(make_hook, kibo_emulator):
    hook = make_hook()

    with pytest.warns(AirflowProviderDeprecationWarning, match=r"get_ticket\(developer_account_id\) is deprecated"):
        ticket = hook.get_ticket(1002)
    with pytest.warns(AirflowProviderDeprecationWarning, match=r"paginate\(developer_account_id\) is deprecated"):
        apps = list(hook.paginate("/platform/appdev/apppackages/collection", developer_account_id=1002))

    assert ticket.account_id == 1002 and len(apps) == 3
    assert hook.get_ticket().account_id == 1001, "the hook's own account is unchanged"
    assert kibo_emulator.counters()["create"] == 1
