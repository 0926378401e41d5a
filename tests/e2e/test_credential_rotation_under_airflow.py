"""A Connection that changes from one Kibo user to another, under a real Airflow deployment.

The per-account pipeline runs as user A, the Connection is changed to user B, and the pipeline runs
again: the second run uses only B's tokens, the accounts B cannot use fail with the access error
listing B's accounts, A's refresh token is logged out, and no secret reaches Airflow.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_kibo.testing import KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment, secrets_shown
from tests.support import EMAIL, OTHER_EMAIL, OTHER_PASSWORD, PASSWORD, TWO_USERS

PIPELINE = "kibo_per_account_pipeline"
ENV_CONN_ID = "kibo_from_env"


@pytest.fixture(scope="module")
def two_users() -> Iterator[KiboEmulator]:
    with KiboEmulator(TWO_USERS) as emulator:
        yield emulator


def connection_json(emulator: KiboEmulator, login: str, password: str, account: int) -> str:
    return json.dumps({"conn_type": "kibo_developer", "host": emulator.base_url, "login": login,
                       "password": password, "extra": {"developer_account_id": account}})


def run_pipeline(airflow: AirflowDeployment, conn_id: str, accounts: list[int], output: Path) -> tuple[str, dict]:
    airflow.wait_for_dag(PIPELINE)
    run_id = airflow.trigger(PIPELINE, conf={"conn_id": conn_id, "accounts": accounts, "output_dir": str(output)})
    final = airflow.wait_for_run(PIPELINE, run_id)
    states = airflow.task_states(PIPELINE, run_id)
    assert final == "success", (states, airflow.task_log(PIPELINE, run_id, "account.switch", map_index=0)[-3000:])
    return run_id, states


def calls_by(emulator: KiboEmulator, since: int) -> dict[str | None, list[str]]:
    by_user: dict[str | None, list[str]] = {}
    for call in emulator.calls()[since:]:
        by_user.setdefault(call["user"], []).append(call["route"])
    return by_user


def assert_second_run_is_user_bs(airflow: AirflowDeployment, emulator: KiboEmulator, conn_id: str,
                                 changed_at: int, output: Path) -> None:
    run_id, states = run_pipeline(airflow, conn_id, [2001, 1001], output)

    assert states.pop("account.switch[1]") == "failed"
    assert set(states.values()) - {"upstream_failed"} == {"success"}
    log = airflow.task_log(PIPELINE, run_id, "account.switch", map_index=1)
    assert "No access to Kibo developer account 1001" in log and "2001" in log
    summary = airflow.xcom_value(PIPELINE, run_id, "summarise")
    assert {a["account_id"]: a["applications"] for a in summary["accounts"]} == {2001: 2}
    calls = calls_by(emulator, changed_at)
    assert calls.pop(EMAIL) == ["delete"], "A's refresh token is logged out, and nothing else of A's is sent"
    assert set(calls) == {OTHER_EMAIL}, calls
    assert calls[OTHER_EMAIL].count("create") <= 2, "one login, and at most one that Kibo refuses for 1001"
    switched = airflow.xcom_value(PIPELINE, run_id, "account.switch", map_index=0)
    assert switched["issued_to"] == f"{OTHER_EMAIL.lower()} at {emulator.base_url}"


def assert_nothing_leaks(airflow: AirflowDeployment, emulator: KiboEmulator) -> None:
    secrets = emulator.issued_secrets()
    assert {PASSWORD, OTHER_PASSWORD} <= secrets
    seen = {
        "logs": "\n".join(l for l in airflow.all_log_text().splitlines() if "Deliberately" not in l),
        **airflow.shown_by_the_api(),
    }
    assert secrets_shown(secrets, seen) == {where: [] for where in seen}


def test_connection_in_the_db_changed_with_the_cli_takes_effect_on_the_next_run(
    airflow: AirflowDeployment, two_users: KiboEmulator, tmp_path: Path
):
    conn_id = "kibo_rotated_in_db"
    airflow.create_connection(conn_id, "kibo_developer", host=two_users.base_url, login=EMAIL, password=PASSWORD,
                              extra={"developer_account_id": 1001})
    _, first = run_pipeline(airflow, conn_id, [1001, 1002], tmp_path / "a")
    assert set(first.values()) == {"success"}
    changed_at = len(two_users.calls())

    for command in (
        ["connections", "delete", conn_id],
        ["connections", "add", conn_id, "--conn-type", "kibo_developer", "--conn-host", two_users.base_url,
         "--conn-login", OTHER_EMAIL, "--conn-password", OTHER_PASSWORD,
         "--conn-extra", json.dumps({"developer_account_id": 2001})],
    ):
        done = airflow.run_cli(*command)
        assert done.returncode == 0, done.stdout + done.stderr

    assert_second_run_is_user_bs(airflow, two_users, conn_id, changed_at, tmp_path / "b")
    assert_nothing_leaks(airflow, two_users)


def test_connection_from_the_environment_changed_by_a_restart_takes_effect(
    two_users: KiboEmulator, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
):
    home, dags = tmp_path_factory.mktemp("rotation-home"), tmp_path_factory.mktemp("rotation-dags")
    (dags / f"{PIPELINE}.py").write_text((Path(__file__).parents[2] / "dags_examples" / f"{PIPELINE}.py").read_text())
    # Variables outlive the restart only if both deployments encrypt them with the same key.
    shared = {"AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}
    env_var = f"AIRFLOW_CONN_{ENV_CONN_ID.upper()}"

    with AirflowDeployment(home, dags, env={**shared, env_var: connection_json(two_users, EMAIL, PASSWORD, 1001)}) as a:
        _, first = run_pipeline(a, ENV_CONN_ID, [1001, 1002], tmp_path / "a")
        assert set(first.values()) == {"success"}
    changed_at = len(two_users.calls())

    b_env = {**shared, env_var: connection_json(two_users, OTHER_EMAIL, OTHER_PASSWORD, 2001)}
    with AirflowDeployment(home, dags, env=b_env) as b:
        assert_second_run_is_user_bs(b, two_users, ENV_CONN_ID, changed_at, tmp_path / "b")
        assert_nothing_leaks(b, two_users)
