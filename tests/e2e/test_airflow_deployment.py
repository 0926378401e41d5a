"""Tests proving the :class:`AirflowDeployment` harness itself.

One module-scoped deployment runs two DAGs (triggered concurrently):

* ``e2e_harness_variables`` -- one task sets an Airflow Variable through the Task SDK, a downstream
  task (another process) reads it back.
* ``e2e_harness_probe`` -- a task attempts direct ORM access (must be refused by the real task
  supervisor), a mapped task and a BashOperator report the environment they see.

A second, short-lived deployment checks that no process survives the ``with`` block even when the
block is left with an exception while a task is still running.
"""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.airflow_deployment import AirflowDeployment, pid_alive, write_dag_file

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None, reason="apache-airflow is not installed"
)

ENV_MARKER = f"marker-{uuid.uuid4().hex}"
OTHER_MARKER = f"other-{uuid.uuid4().hex}"
VARIABLE_KEY = "e2e_harness_variable"
ORM_BLOCKED_MESSAGE = "Direct database access via the ORM is not allowed"

VARIABLES_DAG = """
    from __future__ import annotations

    import os

    from airflow.sdk import Variable, dag, task


    @dag(schedule=None, catchup=False, tags=["e2e"])
    def e2e_harness_variables():
        @task
        def set_variable(**context):
            Variable.set("e2e_harness_variable", context["dag_run"].conf["value"])
            return os.getpid()

        @task
        def get_variable(writer_pid):
            value = Variable.get("e2e_harness_variable")
            return {"value": value, "pid": os.getpid(), "writer_pid": writer_pid}

        get_variable(set_variable())


    e2e_harness_variables()
"""

PROBE_DAG = """
    from __future__ import annotations

    import os

    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import dag, task


    @dag(schedule=None, catchup=False, tags=["e2e"])
    def e2e_harness_probe():
        @task
        def orm_probe():
            # Under the real supervisor airflow.settings.Session is replaced by BlockedDBSession.
            from sqlalchemy import text

            try:
                from airflow.settings import Session

                Session().execute(text("select 1"))
            except Exception as exc:
                return {"type": type(exc).__name__, "message": str(exc)}
            return {"type": None, "message": "ORM access worked - not running under the task supervisor?"}

        @task
        def env_probe(name):
            print(f"env_probe looking at {name}")
            return os.environ.get(name)

        orm_probe()
        env_probe.expand(name=["E2E_HARNESS_MARKER", "E2E_HARNESS_OTHER"])
        BashOperator(
            task_id="bash_probe",
            bash_command="echo \\"word={{ dag_run.conf['word'] }} env=$E2E_HARNESS_MARKER\\"",
        )


    e2e_harness_probe()
"""

SLEEPER_DAG = """
    from __future__ import annotations

    import os
    import time
    from pathlib import Path

    from airflow.sdk import dag, task


    @dag(schedule=None, catchup=False, tags=["e2e"])
    def e2e_harness_sleeper():
        @task
        def sleep_forever():
            Path(os.environ["E2E_HARNESS_PID_FILE"]).write_text(str(os.getpid()))
            time.sleep(600)

        sleep_forever()


    e2e_harness_sleeper()
"""


@pytest.fixture(scope="module")
def airflow(e2e_dags_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    write_dag_file(e2e_dags_folder, "e2e_harness_variables.py", VARIABLES_DAG)
    write_dag_file(e2e_dags_folder, "e2e_harness_probe.py", PROBE_DAG)
    home = tmp_path_factory.mktemp("airflow-home")
    deployment = AirflowDeployment(
        home, e2e_dags_folder, env={"E2E_HARNESS_MARKER": ENV_MARKER, "E2E_HARNESS_OTHER": OTHER_MARKER}
    )
    with deployment:
        yield deployment
    print(f"\nAirflowDeployment timings: {deployment.timings}")
    assert deployment.live_pids() == []


@pytest.fixture(scope="module")
def runs(airflow: AirflowDeployment) -> dict[str, str]:
    """Trigger both DAGs at once and wait for them; returns ``{dag_id: run_id}``."""
    airflow.wait_for_dag("e2e_harness_variables")
    airflow.wait_for_dag("e2e_harness_probe")
    started = time.monotonic()
    run_ids = {
        "e2e_harness_variables": airflow.trigger(
            "e2e_harness_variables", conf={"value": f"v-{uuid.uuid4().hex}"}
        ),
        "e2e_harness_probe": airflow.trigger("e2e_harness_probe", conf={"word": "templated-word"}),
    }
    for dag_id, run_id in run_ids.items():
        state = airflow.wait_for_run(dag_id, run_id, timeout=180)
        if state != "success":
            tis = airflow.task_instances(dag_id, run_id)
            pytest.fail(f"{dag_id} ended {state}: {tis}\n{airflow.all_log_text()[-5000:]}")
    airflow.timings["two_dag_runs"] = time.monotonic() - started
    return run_ids


def test_health_and_auth(airflow: AirflowDeployment) -> None:
    health = airflow.api("GET", "/api/v2/monitor/health").json()
    assert {health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {
        "healthy"
    }
    assert airflow.api_url.startswith("http://127.0.0.1:")
    # The public API really requires the JWT.
    assert requests.get(f"{airflow.api_url}/api/v2/dags", timeout=10).status_code == 401
    assert airflow.api("GET", "/api/v2/dags").status_code == 200
    assert airflow.airflow_version() in airflow.run_cli("version").stdout


def test_variable_set_and_get_across_task_processes(airflow: AirflowDeployment, runs: dict[str, str]) -> None:
    dag_id, run_id = "e2e_harness_variables", runs["e2e_harness_variables"]
    expected = airflow.dag_run(dag_id, run_id)["conf"]["value"]
    result = airflow.xcom_value(dag_id, run_id, "get_variable")
    assert result["value"] == expected
    assert result["pid"] != result["writer_pid"], "reader and writer should be different task processes"
    variable = airflow.variable(VARIABLE_KEY)
    assert variable is not None and variable["value"] == expected


def test_orm_access_is_blocked_in_tasks(airflow: AirflowDeployment, runs: dict[str, str]) -> None:
    result = airflow.xcom_value("e2e_harness_probe", runs["e2e_harness_probe"], "orm_probe")
    assert result["type"] == "RuntimeError", result
    assert ORM_BLOCKED_MESSAGE in result["message"], result


def test_env_reaches_task_processes(airflow: AirflowDeployment, runs: dict[str, str]) -> None:
    dag_id, run_id = "e2e_harness_probe", runs["e2e_harness_probe"]
    mapped = sorted(
        (ti["map_index"], ti["state"])
        for ti in airflow.task_instances(dag_id, run_id)
        if ti["task_id"] == "env_probe"
    )
    assert mapped == [(0, "success"), (1, "success")]
    assert airflow.xcom_value(dag_id, run_id, "env_probe", map_index=0) == ENV_MARKER
    assert airflow.xcom_value(dag_id, run_id, "env_probe", map_index=1) == OTHER_MARKER
    assert "env_probe looking at E2E_HARNESS_OTHER" in airflow.task_log(
        dag_id, run_id, "env_probe", map_index=1
    )
    assert airflow.rendered_fields(dag_id, run_id, "env_probe", map_index=1)["op_kwargs"] == {
        "name": "E2E_HARNESS_OTHER"
    }

    # A subprocess of a task (BashOperator) sees it as well; templating works with dag_run.conf.
    assert airflow.xcom_value(dag_id, run_id, "bash_probe") == f"word=templated-word env={ENV_MARKER}"
    assert "templated-word" in airflow.rendered_fields(dag_id, run_id, "bash_probe")["bash_command"]
    assert f"env={ENV_MARKER}" in airflow.task_log(dag_id, run_id, "bash_probe")
    assert ENV_MARKER in airflow.all_log_text()


def test_create_connection_replaces(airflow: AirflowDeployment) -> None:
    airflow.create_connection("e2e_harness_conn", "http", host="a.example", password="p1", extra={"a": 1})
    airflow.create_connection("e2e_harness_conn", "http", host="b.example", port=8443, extra={"b": 2})
    conn = airflow.api("GET", "/api/v2/connections/e2e_harness_conn").json()
    assert (conn["host"], conn["port"], conn["password"]) == ("b.example", 8443, None)
    assert conn["extra"] is not None and '"b"' in conn["extra"] and '"a"' not in conn["extra"]


def test_no_process_survives_the_with_block(tmp_path: Path) -> None:
    """Leave the ``with`` block with an exception while a task is running: nothing may survive."""
    dags = tmp_path / "dags"
    write_dag_file(dags, "e2e_harness_sleeper.py", SLEEPER_DAG)
    pid_file = tmp_path / "sleeper.pid"
    deployment = AirflowDeployment(
        tmp_path / "home", dags, env={"E2E_HARNESS_PID_FILE": str(pid_file)}, stop_timeout=5
    )

    class Boom(Exception):
        pass

    seen: list[int] = []
    with pytest.raises(Boom), deployment:
        deployment.wait_for_dag("e2e_harness_sleeper")
        deployment.trigger("e2e_harness_sleeper")
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text()):
            deployment.check_alive()
            assert time.monotonic() < deadline, "sleeper task did not start"
            time.sleep(0.5)
        task_pid = int(pid_file.read_text())
        assert pid_alive(task_pid)
        seen = [*deployment.pids.values(), task_pid, *deployment.live_pids()]
        assert set(deployment.pids) == {"api-server", "scheduler", "dag-processor", "triggerer"}
        raise Boom

    survivors = [pid for pid in set(seen) if pid_alive(pid)]
    assert survivors == [], f"processes survived: {survivors}"
    for pid in deployment.pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert deployment.live_pids() == []
