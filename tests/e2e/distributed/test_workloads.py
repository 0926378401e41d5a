"""The provider's claims where users run it: PostgreSQL, Redis, Celery workers on three machines.

Each worker machine has its own lock folder, so only the ticket store (Variables or the Connection,
in PostgreSQL through the API server) is shared. Refresh tokens rotate (single use) throughout.
Each workload prints its Kibo call figures; the assertions are the claims: no task fails, every
ticket a workload leaves behind works, and a ticket beyond the refresh policy (one issued while the
account's previous ticket was still fresh) happens only where a worker lost a race, i.e. Kibo
refused the refresh token it tried because another machine had just used it up.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from airflow_provider_kibo.testing import DEMO_APPLICATIONS, EmulatorUser, KiboEmulator
from tests.e2e.airflow_deployment import AirflowDeployment, secrets_shown
from tests.e2e.distributed.conftest import MANY_ACCOUNTS_USERS, WORKERS
from tests.e2e.distributed.kibo_tally import AuthCall, KiboTally

PIPELINE = "kibo_per_account_pipeline"
STORM = "kibo_e2e_storm"
HEADSTART = 120
"""The hook's advisory window before the refresh margin (``ADVISORY_REFRESH_HEADSTART``), seconds."""

# Workloads 1 and 2. The example pipeline demands 10 minutes of validity (its sensor and switch), so
# its tokens must outlive that: 15-minute tokens with a 10-minute margin. As the hook sees them they
# are 5-minute tokens: fresh for 3 minutes, refreshed ahead by one caller for 2 more, then by all.
PIPELINE_LIFETIME, PIPELINE_MARGIN = 900, 600
CONNECTION_STORE_ACCOUNTS = 5
"""Accounts of workload 2. Every task that reads the Connection store masks every secret of every
ticket in it, and Airflow's masker recompiles its regex for each new secret; with 20 accounts (63+
secrets, new ones at each refresh) a sensor poke took over 5 minutes on a loaded 2-core machine."""
# Workloads 3 and 4: 4-minute tokens, 60-second margin (fresh for 60 s after they are issued).
STORM_LIFETIME, STORM_MARGIN = 240, 60


def fresh_for(lifetime: int, margin: int) -> int:
    """Seconds after its issue during which the hook uses a ticket without refreshing it."""
    return lifetime - margin - HEADSTART


def account_ids(user: EmulatorUser) -> list[int]:
    return [account.id for account in user.accounts]


def figures(calls: list[AuthCall], accounts: list[int], fresh: int) -> dict[str, Any]:
    """
    Creates, refreshes, refused refreshes, and tickets beyond the policy, of the given accounts.

    A ticket is beyond the policy when the account's previous one was issued less than ``fresh``
    seconds earlier: the hook would have used that one had it seen it.

    :param calls: the tally's calls
    :param accounts: the accounts of one workload
    :param fresh: see :func:`fresh_for`
    """
    mine = [c for c in calls if c.account in accounts]
    issued = [c for c in mine if c.status == 200 and c.route in ("create", "refresh")]
    last: dict[int, float] = {}
    beyond = 0
    for call in issued:
        if call.account in last and call.at - last[call.account] < fresh:
            beyond += 1
        last[call.account] = call.at
    per_account = {a: Counter(c.route for c in issued if c.account == a) for a in accounts}
    return {
        "creates": sum(c["create"] for c in per_account.values()),
        "refreshes": sum(c["refresh"] for c in per_account.values()),
        "refused": sum(1 for c in mine if c.route == "refresh" and c.status == 401),
        "errors": sum(1 for c in mine if c.status not in (200, 401)),
        "beyond_policy": beyond,
        "per_account": per_account,
        "last_issue": max((c.at for c in issued), default=0.0),
    }


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[..., None]:
    """Print a workload's figures on the terminal, past pytest's capture."""

    def show(title: str, numbers: dict[str, Any], **more: Any) -> None:
        with capsys.disabled():
            print(summary_line(title, numbers, **more), flush=True)

    return show


def summary_line(title: str, numbers: dict[str, Any], **more: Any) -> str:
    """One line of a workload's figures."""
    per_account = numbers["per_account"]
    spread = Counter(f"{c['create']}+{c['refresh']}" for c in per_account.values())
    line = ", ".join(f"{k}: {v}" for k, v in {**{k: numbers[k] for k in ("creates", "refreshes", "refused", "errors",
                                                                         "beyond_policy")}, **more}.items())
    return f"\n[{title}] {line}; accounts by creates+refreshes: {dict(sorted(spread.items()))}"


def failed_tasks(airflow: AirflowDeployment, dag_id: str, run_id: str) -> dict[str, str]:
    return {t: s for t, s in airflow.task_states(dag_id, run_id).items() if s != "success"}


def machines(airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> set[str]:
    return {ti["hostname"] for ti in airflow.task_instances(dag_id, run_id) if ti["task_id"] == task_id}


def machines_per_item(airflow: AirflowDeployment, dag_id: str, run_id: str, group_id: str) -> dict[int, set[str]]:
    """The machines the tasks of each item (map index) of a mapped task group ran on."""
    items: dict[int, set[str]] = {}
    for ti in airflow.task_instances(dag_id, run_id):
        if ti["task_id"].startswith(f"{group_id}."):
            items.setdefault(ti["map_index"], set()).add(ti["hostname"])
    return items


def works(emulator: KiboEmulator, ticket: dict[str, Any]) -> int:
    """The number of applications Kibo lists with this ticket (fails the test if it is refused)."""
    bearer = ticket.get("jwtAccessToken") or ticket["accessToken"]
    answer = requests.get(f"{emulator.base_url}/api/platform/appdev/apppackages/collection",
                          headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["totalCount"])


# -- workloads 1 and 2: the per-account pipeline over 20 accounts, Variables and Connection stores ---


@pytest.fixture(scope="module")
def pipelines(
    airflow: AirflowDeployment, emulator: KiboEmulator, tally: KiboTally, many_accounts_connection: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, dict[str, Any]]]:
    """
    Run the pipeline twice for each store: Variables (user 1) and the Connection (user 2).

    The second run starts once every ticket of the first is inside the refresh margin, so each
    account must be refreshed in the middle of the second run, on whichever worker its switch lands.
    """
    emulator.rotate_refresh_tokens = True
    emulator.access_token_lifetime = PIPELINE_LIFETIME
    airflow.create_connection("airflow_api", "http", host=airflow.api_url, login=airflow.admin_username,
                              password=airflow.admin_password)
    stores = {
        "variables": many_accounts_connection(MANY_ACCOUNTS_USERS[0], refresh_margin_seconds=PIPELINE_MARGIN),
        "connection": many_accounts_connection(MANY_ACCOUNTS_USERS[1], refresh_margin_seconds=PIPELINE_MARGIN,
                                        airflow_api_conn_id="airflow_api", request_timeout_seconds=45),
    }
    users = dict(zip(stores, MANY_ACCOUNTS_USERS))
    accounts = {"variables": account_ids(users["variables"]),
                "connection": account_ids(users["connection"])[:CONNECTION_STORE_ACCOUNTS]}
    airflow.wait_for_dag(PIPELINE)
    fresh = fresh_for(PIPELINE_LIFETIME, PIPELINE_MARGIN)
    began = time.time()
    runs: dict[str, list[str]] = {store: [] for store in stores}
    outputs = {store: tmp_path_factory.mktemp(f"pipeline-{store}") for store in stores}
    # One run at a time (a sensor queued behind another run's tasks could miss its ticket's window);
    # a store's second run waits in its margin while the other store's first run goes.
    for round_, store in [(1, "variables"), (1, "connection"), (2, "variables"), (2, "connection")]:
        if round_ == 2:
            last = figures(tally.calls(began), accounts[store], fresh)["last_issue"]
            time.sleep(max(0.0, last + PIPELINE_LIFETIME - PIPELINE_MARGIN + 5 - time.time()))
        conf = {"conn_id": stores[store], "accounts": accounts[store], "output_dir": str(outputs[store])}
        runs[store].append(airflow.trigger(PIPELINE, conf=conf))
        airflow.wait_for_run(PIPELINE, runs[store][-1], timeout=900)
    yield {
        store: {"conn_id": conn_id, "runs": runs[store], "output": outputs[store],
                "accounts": [a for a in users[store].accounts if a.id in accounts[store]],
                "figures": figures(tally.calls(began), accounts[store], fresh),
                "seconds": time.time() - began}
        for store, conn_id in stores.items()
    }


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("store", ["variables", "connection"])
def test_per_account_pipeline_over_20_accounts_on_three_workers(
    airflow: AirflowDeployment, pipelines: dict[str, dict[str, Any]], store: str, report
):
    done = pipelines[store]
    numbers, accounts = done["figures"], done["accounts"]
    report(f"workload {1 if store == 'variables' else 2}: pipeline x2 over {len(accounts)} accounts, {store} store",
           numbers, seconds=round(done["seconds"]), floor=f"1 create + {2 * len(accounts) - 1} refreshes")

    for run_id in done["runs"]:
        assert failed_tasks(airflow, PIPELINE, run_id) == {}
    assert machines(airflow, PIPELINE, done["runs"][1], "account.switch") == set(WORKERS.names)
    per_account = machines_per_item(airflow, PIPELINE, done["runs"][1], "account")
    assert len(per_account) == len(accounts)
    assert all(m == set(WORKERS.names) for m in per_account.values()), "switch, wait, fetch: three machines"
    summary = airflow.xcom_value(PIPELINE, done["runs"][1], "summarise")
    assert summary["failed"] == []
    assert {a["account_id"]: a["applications"] for a in summary["accounts"]} == {a.id: a.app_count for a in accounts}
    assert sorted(p.name for p in done["output"].iterdir()) == sorted(f"{a.id}.json" for a in accounts)
    assert numbers["errors"] == 0
    assert all(sum(c.values()) >= 2 for c in numbers["per_account"].values()), "every account renewed in run 2"
    assert numbers["creates"] <= 1 + numbers["refused"], "a login only after a lost race"
    assert numbers["beyond_policy"] <= numbers["refused"], "an extra ticket only after a lost race"


@pytest.mark.timeout(1500)
def test_connection_keeps_a_working_ticket_per_account_and_its_other_extra(
    airflow: AirflowDeployment, emulator: KiboEmulator, pipelines: dict[str, dict[str, Any]]
):
    done = pipelines["connection"]
    exported = airflow.run_cli("connections", "get", done["conn_id"], "--output", "json")
    (connection,) = json.loads(exported.stdout[exported.stdout.index("["):])
    extra = connection["extra_dejson"]
    assert {k: str(v) for k, v in extra.items() if k != "tickets"} == {  # the CLI prints every value as text
        "developer_account_id": str(done["accounts"][0].id), "refresh_margin_seconds": str(PIPELINE_MARGIN),
        "airflow_api_conn_id": "airflow_api", "request_timeout_seconds": "45",
    }
    now = datetime.now(UTC)
    key = airflow.run_cli("variables", "get", f"kibo_ticket_secret__{done['conn_id']}").stdout.strip().splitlines()[-1]
    for account in done["accounts"]:
        entry = extra["tickets"].get(str(account.id))
        assert entry is not None, f"no ticket for account {account.id} in the Connection"
        assert entry["record"]["scopeId"] == str(account.id), "its record, readable"
        ticket = json.loads(Fernet(key.encode()).decrypt(entry["sealed"].encode()))  # sealed: the key opens it
        assert int(ticket["account"]["id"]) == account.id
        assert datetime.fromisoformat(ticket["accessTokenExpiration"].replace("Z", "+00:00")) > now
        assert works(emulator, ticket) == account.app_count


# -- workloads 3 and 4: many tasks on three machines asking for one Connection's tickets at once ----


def storm(airflow: AirflowDeployment, conn_id: str, accounts: list[int], loop_seconds: int, barrier: Path,
          tenant: int | None = None) -> str:
    barrier.mkdir()
    conf = {"conn_id": conn_id, "accounts": accounts, "tenant": tenant, "barrier_dir": str(barrier),
            "loop_seconds": loop_seconds}
    run_id = airflow.trigger(STORM, conf=conf)
    airflow.wait_for_run(STORM, run_id, timeout=600)
    return run_id


@pytest.mark.timeout(900)
def test_storm_of_twelve_tasks_on_three_machines_across_one_expiry(
    airflow: AirflowDeployment, emulator: KiboEmulator, tally: KiboTally, many_accounts_connection, tmp_path: Path, report
):
    emulator.rotate_refresh_tokens = True
    emulator.access_token_lifetime = STORM_LIFETIME
    user = MANY_ACCOUNTS_USERS[0]
    account = user.accounts[0].id
    conn_id = many_accounts_connection(user, refresh_margin_seconds=STORM_MARGIN)
    airflow.wait_for_dag(STORM)
    warmup = storm(airflow, conn_id, [account], 0, tmp_path / "warmup")
    assert failed_tasks(airflow, STORM, warmup) == {}
    stormed = time.time()

    run_id = storm(airflow, conn_id, [account] * 12, STORM_LIFETIME - STORM_MARGIN - HEADSTART + 30,
                   tmp_path / "storm")

    slots = WORKERS.count * WORKERS.concurrency
    hammered = [airflow.xcom_value(STORM, run_id, "hammer", map_index=i) for i in range(slots)]
    numbers = figures(tally.calls(stormed), [account], fresh_for(STORM_LIFETIME, STORM_MARGIN))
    report("workload 3: storm, 3 workers x 4 slots, one expiry", numbers,
           calls=sum(h["calls"] for h in hammered), slowest_ms=max(h["slowest_ms"] for h in hammered),
           floor="0 creates + 1 refresh")
    assert failed_tasks(airflow, STORM, run_id) == {}
    assert {h["machine"] for h in hammered} == set(WORKERS.names)
    assert numbers["refreshes"] + numbers["creates"] >= 1, "the storm crossed the expiry"
    assert numbers["errors"] == 0
    assert numbers["creates"] <= numbers["refused"], "a login only after a lost race"
    assert numbers["beyond_policy"] <= numbers["refused"], "an extra ticket only after a lost race"
    checked = airflow.xcom_value(STORM, run_id, "check")
    assert checked[str(account)]["stored"] and checked[str(account)]["applications"] == user.accounts[0].app_count


@pytest.mark.timeout(900)
def test_first_tickets_stored_by_three_machines_at_once_on_postgres(
    airflow: AirflowDeployment, emulator: KiboEmulator, tally: KiboTally, many_accounts_connection, tmp_path: Path, report
):
    emulator.rotate_refresh_tokens = True
    emulator.access_token_lifetime = STORM_LIFETIME
    user = MANY_ACCOUNTS_USERS[1]
    accounts = [a.id for a in user.accounts[:4]]
    conn_id = many_accounts_connection(user, refresh_margin_seconds=STORM_MARGIN)
    airflow.wait_for_dag(STORM)
    began = time.time()

    run_id = storm(airflow, conn_id, accounts * 3, 0, tmp_path / "barrier")

    numbers = figures(tally.calls(began), accounts, fresh_for(STORM_LIFETIME, STORM_MARGIN))
    report("workload 4: first tickets of 4 accounts, 12 tasks at once", numbers, floor="1 create + 3 refreshes")
    assert failed_tasks(airflow, STORM, run_id) == {}
    hammered = [airflow.xcom_value(STORM, run_id, "hammer", map_index=i) for i in range(12)]
    assert {h["machine"] for h in hammered} == set(WORKERS.names)
    checked = airflow.xcom_value(STORM, run_id, "check")
    assert {int(a): (c["stored"], c["applications"]) for a, c in checked.items()} == {
        a.id: (True, a.app_count) for a in user.accounts[:4]
    }
    assert numbers["errors"] == 0


# -- what every workload left behind -------------------------------------------------------------


def test_each_machine_used_its_own_lock_folder(airflow: AirflowDeployment, pipelines):
    for machine in WORKERS.names:
        locks = airflow.machine_tmp_dir(machine) / "airflow-provider-kibo-locks"
        assert any(locks.glob("*.lock")), f"{machine} took no lock in its own TMPDIR"


def test_no_token_or_password_anywhere_on_the_distributed_deployment(
    airflow: AirflowDeployment, emulator: KiboEmulator, pipelines
):
    secrets = emulator.issued_secrets()
    assert {u.password for u in MANY_ACCOUNTS_USERS} <= secrets
    seen = {
        "task log files": "\n".join(p.read_text(errors="replace") for p in airflow.task_log_dir.rglob("*") if p.is_file()),
        "component logs (workers, scheduler, servers)": airflow.all_log_text(),
        **airflow.shown_by_the_api(),
    }
    assert secrets_shown(secrets, seen) == {where: [] for where in seen}


@pytest.mark.timeout(900)
def test_burst_of_twelve_tasks_with_an_application_connection_on_three_machines_across_one_expiry(
    airflow: AirflowDeployment, emulator: KiboEmulator, tmp_path: Path, report
):
    emulator.rotate_refresh_tokens = True
    emulator.access_token_lifetime = STORM_LIFETIME
    app = DEMO_APPLICATIONS[0]
    conn_id = "kibo_e2e_application_burst"
    airflow.create_connection(conn_id, "kibo_application", host=emulator.base_url, login=app.key,
                              password=app.shared_secret,
                              extra={"tenant_id": 100001, "refresh_margin_seconds": STORM_MARGIN})
    airflow.wait_for_dag(STORM)
    warmup = storm(airflow, conn_id, [0], 0, tmp_path / "warmup", tenant=100001)
    assert failed_tasks(airflow, STORM, warmup) == {}
    emulator.reset_counters()

    run_id = storm(airflow, conn_id, [0] * 12, STORM_LIFETIME - STORM_MARGIN - HEADSTART + 30, tmp_path / "burst",
                   tenant=100001)

    hammered = [airflow.xcom_value(STORM, run_id, "hammer", map_index=i) for i in range(12)]
    refreshes = emulator.status_counts()["app_refresh"]
    tokens, refreshed, refused = emulator.counters()["app_oauth"], refreshes.get(200, 0), refreshes.get(401, 0)
    report("workload 5: an application's token, 12 tasks on 3 machines, one expiry",
           {"creates": tokens, "refreshes": refreshed, "refused": refused, "errors": 0, "beyond_policy": 0,
            "per_account": {app.key: {"create": tokens, "refresh": refreshed}}},
           calls=sum(h["calls"] for h in hammered), slowest_ms=max(h["slowest_ms"] for h in hammered),
           floor="0 tokens + 1 refresh")
    assert failed_tasks(airflow, STORM, run_id) == {}
    assert {h["machine"] for h in hammered} == set(WORKERS.names)
    assert 1 <= refreshes.get(200, 0) <= WORKERS.count, "the burst crossed the expiry; at most one refresh a machine"
    assert emulator.counters()["app_oauth"] <= refreshes.get(401, 0), "a new token only after a lost race"
    checked = airflow.xcom_value(STORM, run_id, "check")
    assert checked == {"stored": True, "orders": 45}
