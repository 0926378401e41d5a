"""Tickets at rest under a real deployment: sealed, nothing for Airflow to learn, and nothing left behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

from airflow_provider_kibo.testing import KiboEmulator
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket
from tests.e2e.airflow_deployment import AirflowDeployment, secrets_shown
from tests.support import EMAIL, PASSWORD

ROTATIONS = "kibo_e2e_rotations"
RENEWALS = 30


def exported_variables(airflow: AirflowDeployment, tmp_path, name: str) -> dict[str, str]:
    """Every Variable as ``airflow variables export`` writes it: the values themselves, unmasked."""
    path = tmp_path / f"{name}.json"
    done = airflow.run_cli("variables", "export", str(path))
    assert done.returncode == 0, done.stderr
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in json.loads(path.read_text()).items()}


def sensitive(variables: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in variables.items() if should_hide_value_for_key(key)}


@pytest.fixture
def short_lived_tokens(emulator: KiboEmulator):
    """Access tokens that live less than the refresh margin plus its head start, so each use renews them."""
    lifetime, rotate = emulator.access_token_lifetime, emulator.rotate_refresh_tokens
    emulator.access_token_lifetime, emulator.rotate_refresh_tokens = 240, True
    yield
    emulator.access_token_lifetime, emulator.rotate_refresh_tokens = lifetime, rotate


def rotate(airflow: AirflowDeployment, conn_id: str, renewals: int) -> str:
    run_id = airflow.trigger(ROTATIONS, conf={"conn_id": conn_id, "renewals": renewals})
    assert airflow.wait_for_run(ROTATIONS, run_id) == "success", airflow.task_instances(ROTATIONS, run_id)
    return run_id


@pytest.mark.usefixtures("short_lived_tokens")
def test_rotations_add_no_sensitive_variable_and_leave_no_usable_token(
        airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection, tmp_path):
    conn_id = kibo_connection()
    airflow.wait_for_dag(ROTATIONS)
    rotate(airflow, conn_id, 1)  # the Connection's first tickets, and its sealing key
    before = exported_variables(airflow, tmp_path, "before")

    run_id = rotate(airflow, conn_id, RENEWALS)

    after = exported_variables(airflow, tmp_path, "after")
    renewed = [airflow.xcom_value(ROTATIONS, run_id, "renew", map_index=i)["obtained"] for i in range(3)]
    assert renewed == [RENEWALS] * 3
    assert sensitive(after) == sensitive(before), "no sensitive-named Variable added or changed by the rotations"
    assert f"kibo_ticket_secret__{conn_id}" in sensitive(after)
    assert sorted(k for k in after if conn_id in k) == sorted(
        [*(f"kibo_ticket__{conn_id}__{slot}" for slot in ("1001", "1002", "1003", "latest")),
         f"kibo_ticket_index__{conn_id}", f"kibo_ticket_secret__{conn_id}"])
    seen = {**airflow.shown_by_the_api(), "airflow variables export": json.dumps(after)}
    assert secrets_shown(emulator.issued_secrets(), seen) == {where: [] for where in seen}


def test_the_test_button_leaves_no_variable_and_no_live_session(
        airflow: AirflowDeployment, emulator: KiboEmulator, tmp_path):
    before = exported_variables(airflow, tmp_path, "before")
    live = emulator.live_refresh_tokens(EMAIL)
    connection: dict[str, Any] = {
        "connection_id": "kibo_test_button", "conn_type": "kibo_developer", "host": emulator.base_url,
        "login": EMAIL, "password": PASSWORD, "extra": json.dumps({"developer_account_id": 1002}),
    }
    emulator.reset_counters()

    answers = [airflow.api("POST", "/api/v2/connections/test", json=connection) for _ in range(3)]

    assert [a.status_code for a in answers] == [200] * 3
    assert all(a.json()["status"] is True and "developer account 1002" in a.json()["message"] for a in answers)
    assert {route: n for route, n in emulator.counters().items() if n} == {"create": 3, "delete": 3}
    assert emulator.live_refresh_tokens(EMAIL) == live
    assert exported_variables(airflow, tmp_path, "after") == before
    assert secrets_shown(emulator.issued_secrets(), {"answers": json.dumps([a.json() for a in answers])}) == {
        "answers": []}


def test_tickets_stored_by_0_2_0_are_sealed_by_the_first_task_and_their_variables_removed(
        airflow: AirflowDeployment, emulator: KiboEmulator, kibo_connection, tmp_path):
    conn_id = kibo_connection()
    identity = KiboIdentity.of(emulator.base_url, EMAIL)
    for account in (1001, 1002, 1003):
        ticket = emulator_ticket(emulator, account).issued(identity)
        for slot in (str(account), *(["latest"] if account == 1003 else [])):
            airflow.api("POST", "/api/v2/variables", json={
                "key": f"kibo_developer_token__{conn_id}__{slot}", "value": json.dumps(ticket.to_stored())})
            airflow.api("POST", "/api/v2/variables", json={
                "key": f"kibo_developer_ticket_record__{conn_id}__{slot}",
                "value": json.dumps(ticket.record().to_stored())})
    emulator.reset_counters()
    airflow.wait_for_dag(ROTATIONS)

    run_id = airflow.trigger(ROTATIONS, conf={"conn_id": conn_id, "renewals": 1, "accounts": [1001]})

    assert airflow.wait_for_run(ROTATIONS, run_id) == "success", airflow.task_instances(ROTATIONS, run_id)
    assert sum(emulator.counters().values()) == 0, "the ticket of 0.2.0 served, no login"
    names = [k for k in exported_variables(airflow, tmp_path, "after") if conn_id in k]
    assert not [k for k in names if k.startswith("kibo_developer_")], "0.2.0's Variables are gone"
    assert {f"kibo_ticket__{conn_id}__{slot}" for slot in ("1001", "1002", "1003", "latest")} <= set(names)
    log = airflow.task_log(ROTATIONS, run_id, "renew", map_index=0)
    assert log.count("from the plain Variables of airflow-provider-kibo 0.2.0") == 1


def emulator_ticket(emulator: KiboEmulator, account: int) -> KiboDeveloperTicket:
    import requests

    document = requests.post(f"{emulator.base_url}/api/platform/developer/authtickets",
                             params={"developerAccountId": account},
                             json={"emailAddress": EMAIL, "password": PASSWORD}, timeout=5).json()
    return KiboDeveloperTicket.from_api(document)
