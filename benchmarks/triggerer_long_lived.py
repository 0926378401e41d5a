"""
A real triggerer (and a real task) through hundreds of ticket rotations: memory and time per poll.

A throw-away Airflow deployment (api-server, scheduler with LocalExecutor, dag-processor,
triggerer; SQLite) runs against the emulator with 20 s access tokens. ``WAITERS`` deferred
``KiboTicketSensor``s wait in the triggerer for a ticket valid for two hours, which never comes,
so each reads the ticket store every second for the whole run. Meanwhile a rotation DAG
refreshes the ticket they read ``REFRESHES`` times (one log line each), ``BATCH`` refreshes per task,
one task after the other, so every poll after a rotation meets a new ticket, as a triggerer does
for weeks with a rotation DAG. Printed: the triggerer's memory (supervisor and trigger runner), the
time the triggers' polls took (the gap between two of a trigger's log lines, less the 1 s it
sleeps), and the rotation tasks' refresh plus log line, each by tenth of the run, with the last
tenth's ratio to the first.

Run: ``python3 scripts/dev.py bench triggerer_long_lived.py [REFRESHES [BATCH]]`` (about 3 min for
100, 7 min for 1000 in batches of 100, on a 2-core machine)
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import _support

WAITERS = 20
REFRESHES = 100
BATCH = 100
"""Refreshes per rotation task: a task's supervisor keeps every token it is told to mask, three per
new ticket, so one task that rotates a thousand times slows down by itself; the rotation DAG
rotates each ticket once per run."""
ACCESS_TOKEN_SECONDS = 20
ROTATION_PAUSE = 0.1
"""Seconds the rotation task waits between refreshes."""
TENTHS = 10

WAITERS_DAG = f'''
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_kibo.sensors.tickets import KiboTicketSensor

with DAG("kibo_bench_waiters", schedule=None, params={{"conn_id": "kibo"}}):
    for i in range({WAITERS}):
        KiboTicketSensor(task_id=f"wait_{{i}}", kibo_conn_id="{{{{ params.conn_id }}}}", deferrable=True,
                         min_valid_for=timedelta(hours=2), poke_interval=1, timeout=3600)
'''

ROTATION_DAG = f'''
import logging, time
from airflow.sdk import DAG, task

log = logging.getLogger("kibo_bench_rotation")

with DAG("kibo_bench_rotation", schedule=None, params={{"conn_id": "kibo", "refreshes": 10, "batches": 1}}):

    @task(max_active_tis_per_dag=1)
    def rotate(batch, params=None):
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        hook = KiboDeveloperHook(params["conn_id"])
        seconds = []
        for _ in range(params["refreshes"]):
            start = time.perf_counter()
            ticket = hook.refresh_ticket()
            log.info("Rotated the ticket of account %s; valid until %s", ticket.account_id,
                     ticket.access_token_expires_at.isoformat())
            seconds.append(time.perf_counter() - start)
            time.sleep({ROTATION_PAUSE})
        return seconds

    @task
    def batches(params=None):
        return list(range(params["batches"]))

    rotate.expand(batch=batches())
'''


def process_tree(root: int) -> list[int]:
    """
    A process and all its descendants, from ``/proc``.

    :param root: the pid at the top
    """
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def rss_mib(pid: int) -> float:
    """
    Resident memory of one process, in MiB (0 when it is gone).

    :param pid: the process
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemorySampler(threading.Thread):
    """
    Samples the resident memory of the triggerer's supervisor (the ``airflow triggerer`` process)
    and of its trigger runner (its child processes together) every second.

    :param triggerer: the triggerer component's pid
    """

    def __init__(self, triggerer: int) -> None:
        super().__init__(daemon=True)
        self.triggerer = triggerer
        self.samples: list[tuple[float, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            runner = sum(rss_mib(pid) for pid in process_tree(self.triggerer)[1:])
            self.samples.append((time.time(), rss_mib(self.triggerer), runner))


def poll_seconds(log_dir: Path) -> list[tuple[float, float]]:
    """
    ``(time, seconds)`` of every trigger poll but the first: the gap between two consecutive
    "Waiting for ..." lines of one trigger, less the second it sleeps.

    :param log_dir: the deployment's task log folder
    """
    polls = []
    for path in log_dir.glob("dag_id=kibo_bench_waiters/**/*.trigger.*.log"):
        stamps = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("event", "")).startswith("Waiting for"):
                stamps.append(datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp())
        polls += [(later, later - earlier - 1.0) for earlier, later in zip(stamps, stamps[1:])]
    return sorted(polls)


def by_tenth(samples: list[tuple[float, float]], start: float, end: float) -> list[float]:
    """
    Median of the values whose time falls in each tenth of ``[start, end]``.

    :param samples: ``(time, value)`` pairs
    :param start: the beginning of the run
    :param end: its end
    """
    width = (end - start) / TENTHS
    groups: list[list[float]] = [[] for _ in range(TENTHS)]
    for when, value in samples:
        if start <= when < end:
            groups[min(int((when - start) / width), TENTHS - 1)].append(value)
    return [_support.median(g) if g else float("nan") for g in groups]


def main(refreshes: int, batch: int) -> None:
    """
    Start the deployment, defer the waiters, rotate, and print the figures.

    :param refreshes: rotations in all
    :param batch: rotations per rotation task
    """
    sys.path.insert(0, str(_support.REPO))
    with _support.bench_env(migrate=False, access_token_lifetime=ACCESS_TOKEN_SECONDS) as bench:
        from tests.e2e.airflow_deployment import AirflowDeployment, write_dag_file
        from tests.support import EMAIL, PASSWORD

        assert bench.emulator is not None
        dags = bench.tmp / "dags"
        write_dag_file(dags, "kibo_bench_waiters.py", WAITERS_DAG)
        write_dag_file(dags, "kibo_bench_rotation.py", ROTATION_DAG)
        with AirflowDeployment(bench.tmp / "home", dags, env={"AIRFLOW__CORE__PARALLELISM": "4"}) as airflow:
            airflow.create_connection("kibo_bench", "kibo_developer", host=bench.emulator.base_url, login=EMAIL,
                                      password=PASSWORD, extra={"developer_account_id": _support.ACCOUNT_ID})
            for dag_id in ("kibo_bench_waiters", "kibo_bench_rotation"):
                airflow.wait_for_dag(dag_id)
            waiters = airflow.trigger("kibo_bench_waiters", conf={"conn_id": "kibo_bench"})
            while sum(s == "deferred" for s in airflow.task_states("kibo_bench_waiters", waiters).values()) < WAITERS:
                time.sleep(1)
            sampler = MemorySampler(airflow.pids["triggerer"])
            sampler.start()
            time.sleep(10)  # the triggers' first polls, before any rotation
            start = time.time()
            tasks = -(-refreshes // batch)
            conf = {"conn_id": "kibo_bench", "refreshes": batch, "batches": tasks}
            rotation = airflow.trigger("kibo_bench_rotation", conf=conf)
            state = airflow.wait_for_run("kibo_bench_rotation", rotation, timeout=3600, poll_interval=2)
            end = time.time()
            sampler.done.set()
            sampler.join()
            task_seconds = [
                s
                for i in range(tasks if state == "success" else 0)
                for s in airflow.xcom_value("kibo_bench_rotation", rotation, "rotate", map_index=i)
            ]
            polls = poll_seconds(airflow.task_log_dir)
            counters = bench.emulator.counters()

    print(f"triggerer_long_lived: {WAITERS} deferred sensors polling every 1 s while tasks rotate the ticket they "
          f"read {refreshes} times, {batch} per task ({state}, {end - start:.0f} s, {counters['refresh']} refreshes, "
          f"{counters['create']} logins); {ACCESS_TOKEN_SECONDS} s access tokens. Median of each tenth of the run:")
    memory = sampler.samples
    rows = [
        ["trigger poll (check + store read)", by_tenth(polls, start, end), _support.fmt_seconds],
        ["triggerer supervisor memory (MiB)", by_tenth([(t, s) for t, s, _ in memory], start, end), "{:.0f}".format],
        ["trigger runner memory (MiB)", by_tenth([(t, r) for t, _, r in memory], start, end), "{:.0f}".format],
    ]
    header = ["figure", *(f"{10 * i}-{10 * i + 10} %" for i in range(TENTHS)), "last / first"]
    table = [[name, *(fmt(v) for v in values), f"{values[-1] / values[0]:.2f}x"] for name, values, fmt in rows]
    if task_seconds:
        per_tenth = len(task_seconds) // TENTHS
        tenths = [_support.median(task_seconds[i * per_tenth:(i + 1) * per_tenth]) for i in range(TENTHS)]
        table.append(["rotation tasks: refresh + log line", *map(_support.fmt_seconds, tenths),
                      f"{tenths[-1] / tenths[0]:.2f}x"])
        first, last = _support.median(task_seconds[:10]), _support.median(task_seconds[-10:])
        print(f"rotation task: refreshes 1-10 {_support.fmt_seconds(first)}, refreshes {len(task_seconds) - 9}-"
              f"{len(task_seconds)} {_support.fmt_seconds(last)} ({last / first:.2f}x)")
    _support.print_table(header, table)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REFRESHES, int(sys.argv[2]) if len(sys.argv) > 2 else BATCH)
