"""The ``kibo_emulator`` fixture as a user's test suite uses it, against a development metadata DB."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from airflow_provider_kibo.stores import VariableTicketStore

from airflow_provider_kibo.variables import Variables
from airflow_provider_kibo.testing import KiboEmulator
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket
from tests.support import EMAIL, PASSWORD

CONFTEST = 'pytest_plugins = ["airflow_provider_kibo.testing.pytest_plugin"]\n'
USER_TESTS = '''
import json

from airflow.models import Variable

from airflow_provider_kibo.hooks.developer import KiboDeveloperHook


def connect(monkeypatch, emulator):
    monkeypatch.setenv("AIRFLOW_CONN_KIBO_PLUGIN", json.dumps({
        "conn_type": "kibo_developer", "host": emulator.base_url, "login": "developer@example.com",
        "password": "emulator-password", "extra": {"developer_account_id": 1001}}))


def test_first(kibo_emulator, monkeypatch):
    connect(monkeypatch, kibo_emulator)
    KiboDeveloperHook("kibo_plugin").get_ticket()
    assert Variable.get("kibo_ticket__kibo_plugin__1001", default_var=None)


def test_second(kibo_emulator, monkeypatch):
    connect(monkeypatch, kibo_emulator)
    KiboDeveloperHook("kibo_plugin").get_ticket()
    assert {route: n for route, n in kibo_emulator.counters().items() if n} == {"create": 1}
'''


def ticket_variables() -> dict[str, str]:
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {v.key: v.val for v in session.scalars(select(Variable)) if "__kibo_plugin" in v.key}


@pytest.mark.usefixtures("airflow_db")
def test_each_test_gets_only_its_own_emulators_tickets_and_leaves_none_behind(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user_dag.py").write_text(USER_TESTS)
    with KiboEmulator() as earlier_run:
        document = requests.post(f"{earlier_run.base_url}/api/platform/developer/authtickets",
                                 params={"developerAccountId": 1001},
                                 json={"emailAddress": EMAIL, "password": PASSWORD}, timeout=5).json()
        left_over = KiboDeveloperTicket.from_api(document).issued(KiboIdentity.of(earlier_run.base_url, EMAIL))
        VariableTicketStore("kibo_plugin", Variables(supervised=False)).write("1001", left_over)

        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )

        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout
        assert ticket_variables() == {}
        assert earlier_run.counters()["delete"] == 1
