"""KiboRefreshTicketOperator against the emulator, with tickets in the metadata DB as outside a task."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from airflow_provider_kibo.errors import AirflowFailException, KiboAccountAccessError, KiboConfigError
from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator
from tests.support import TENANT_ROUTES_UNUSED

pytestmark = pytest.mark.usefixtures("airflow_db")


def switch(conn_id: str, **kwargs) -> dict:
    return KiboRefreshTicketOperator(task_id="switch", kibo_conn_id=conn_id, **kwargs).execute(context={})


def test_first_run_obtains_and_reports_a_ticket_without_secrets(conn_id, kibo_emulator):
    summary = switch(conn_id, developer_account_id=1002)

    assert summary["refreshed"] is True
    assert summary["account_id"] == 1002
    assert summary["account_name"] == "Globex Sandbox"
    assert set(summary["available_account_ids"]) == {1001, 1002, 1003}
    assert summary["user_id"]
    assert summary["access_token_expires_at"].endswith("+00:00")
    assert not any(secret in json.dumps(summary) for secret in kibo_emulator.issued_secrets())


def test_a_good_stored_ticket_is_reused_without_calling_kibo(conn_id, kibo_emulator):
    switch(conn_id, developer_account_id=1002)
    kibo_emulator.reset_counters()

    summary = switch(conn_id, developer_account_id="1002")

    assert summary["refreshed"] is False
    assert sum(kibo_emulator.counters().values()) == 0


def test_a_ticket_expiring_within_min_valid_for_is_refreshed(conn_id, kibo_emulator):
    switch(conn_id)

    summary = switch(conn_id, min_valid_for=timedelta(minutes=61))

    assert summary["refreshed"] is True
    assert kibo_emulator.counters()["refresh"] == 1


def test_force_refresh_always_refreshes(conn_id, kibo_emulator):
    switch(conn_id)

    assert switch(conn_id, force_refresh=True)["refreshed"] is True
    assert kibo_emulator.counters()["refresh"] == 1


def test_force_login_logs_in_and_logs_out_the_earlier_tickets(conn_id, kibo_emulator):
    switch(conn_id, developer_account_id=1002)
    kibo_emulator.reset_counters()

    summary = switch(conn_id, developer_account_id=1002, force_login=True)

    assert summary["refreshed"] is True
    assert summary["issued_to"] == f"developer@example.com at {kibo_emulator.base_url}"
    assert kibo_emulator.counters() == {"create": 1, "refresh": 0, "delete": 1, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}
    assert switch(conn_id, developer_account_id=1002)["refreshed"] is False


def test_force_login_takes_the_text_a_template_renders(conn_id, kibo_emulator):
    switch(conn_id)

    assert switch(conn_id, force_login="False")["refreshed"] is False
    assert switch(conn_id, force_login="True")["refreshed"] is True
    assert kibo_emulator.counters()["create"] == 2
    with pytest.raises(KiboConfigError, match="'force_login': must be true or false, not 'yes'"):
        switch(conn_id, force_login="yes")


def test_switching_to_a_tenant_reports_its_ticket_without_secrets(conn_id, kibo_emulator):
    first = switch(conn_id, tenant_id="100002")
    again = switch(conn_id, tenant_id=100002)

    assert (first["refreshed"], again["refreshed"]) == (True, False)
    assert first["tenant_id"] == 100002 and first["tenant_name"] == "Globex Outlet"
    assert set(first["available_tenant_ids"]) == {100001, 100002, 100003}
    assert first["site_ids"] == [100021]
    assert first["domain"].endswith("/_tenant/100002")
    assert kibo_emulator.counters()["tenant_create"] == 1
    assert not any(secret in json.dumps(first) for secret in kibo_emulator.issued_secrets())


def test_an_account_and_a_tenant_together_are_a_config_error():
    with pytest.raises(KiboConfigError, match="give either developer_account_id or tenant_id, not both"):
        KiboRefreshTicketOperator(task_id="switch", developer_account_id=1001, tenant_id=100001)


def test_an_inaccessible_account_fails_the_task_without_retries(conn_id, kibo_emulator):
    with pytest.raises(KiboAccountAccessError) as raised:
        switch(conn_id, developer_account_id=1999)

    assert isinstance(raised.value, AirflowFailException)
    assert "1001, 1002, 1003" in str(raised.value)


def test_a_bad_min_valid_for_names_the_argument(conn_id):
    with pytest.raises(KiboConfigError) as raised:
        switch(conn_id, min_valid_for=-5)

    assert raised.value.field == "min_valid_for"


def test_building_the_operator_touches_nothing(kibo_emulator):
    operator = KiboRefreshTicketOperator(task_id="switch", kibo_conn_id="does_not_exist", developer_account_id=7)

    assert operator.template_fields == ("developer_account_id", "tenant_id", "kibo_conn_id", "force_login")
    assert sum(kibo_emulator.counters().values()) == 0


def test_concurrent_switches_to_one_account_refresh_it_once(conn_id, kibo_emulator):
    kibo_emulator.inject("create", "latency", seconds=0.5)  # keep the first one busy while the others wait
    with ThreadPoolExecutor(max_workers=4) as pool:
        summaries = list(pool.map(lambda _: switch(conn_id, developer_account_id=1002), range(4)))

    assert [s["refreshed"] for s in summaries].count(True) == 1
    assert kibo_emulator.counters()["create"] == 1
    assert {s["access_token_expires_at"] for s in summaries} == {summaries[0]["access_token_expires_at"]}


def test_the_log_says_how_the_ticket_was_obtained(conn_id, capsys):
    switch(conn_id, developer_account_id=1002)
    switch(conn_id, developer_account_id=1003)
    switch(conn_id, developer_account_id=1003)
    switch(conn_id, developer_account_id=1003, force_refresh=True)

    lines = [line for line in capsys.readouterr().out.splitlines() if "valid until" in line]
    assert [line.split("[info     ] ")[1].split(" (")[0] for line in lines] == [
        "Logged in to Kibo for developer account 1002",
        "Switched to Kibo developer account 1003",
        "Reused the stored Kibo ticket of developer account 1003",
        "Refreshed the Kibo ticket of developer account 1003",
    ]


@pytest.fixture
def app_conn(monkeypatch, kibo_emulator) -> str:
    from airflow_provider_kibo.testing import DEMO_APPLICATIONS
    from tests.support import set_connection

    conn_id = f"kibo_app_{uuid.uuid4().hex[:8]}"
    set_connection(monkeypatch, conn_id, conn_type="kibo_application", host=kibo_emulator.base_url,
                   login=DEMO_APPLICATIONS[0].key, password=DEMO_APPLICATIONS[0].shared_secret)
    return conn_id


def test_an_application_connection_switches_to_a_tenant_it_is_installed_on(app_conn, kibo_emulator, capsys):
    summary = switch(app_conn, tenant_id=100002)
    again = switch(app_conn, tenant_id="100002")

    assert (summary["refreshed"], again["refreshed"]) == (True, False)
    assert summary["tenant_id"] == 100002 and summary["tenant_name"] == "Globex Outlet"
    assert summary["domain"].endswith("/_tenant/100002") and summary["site_ids"] == [100021]
    assert [c["route"] for c in kibo_emulator.calls()] == ["app_oauth", "tenant_lookup"]
    assert "Logged in to Kibo for tenant 100002 with application KiboDemo.orders_export" in capsys.readouterr().out
    assert not any(secret in json.dumps(summary) for secret in kibo_emulator.issued_secrets())


def test_an_application_connection_fails_at_once_on_a_tenant_without_the_application(app_conn, kibo_emulator):
    from airflow_provider_kibo.errors import KiboApplicationAccessError

    with pytest.raises(KiboApplicationAccessError) as raised:
        switch(app_conn, tenant_id=100003)

    assert isinstance(raised.value, AirflowFailException)
    assert "may not call tenant 100003" in str(raised.value)


def test_an_application_connection_names_tenants_not_developer_accounts(app_conn):
    with pytest.raises(KiboConfigError) as raised:
        switch(app_conn, developer_account_id=1001)

    assert raised.value.field == "developer_account_id"
