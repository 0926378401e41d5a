"""The ``kibo-emulator`` command: starts, prints its URL, serves, exits 0 on a signal."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import airflow_provider_kibo.testing

TICKETS = "/api/platform/developer/authtickets"
TENANT_TICKETS = "/api/platform/adminuser/authtickets/tenants"
REPO_ROOT = Path(airflow_provider_kibo.testing.__file__).resolve().parents[2]
URL_PREFIX = "Kibo emulator listening on "


class Cli:
    """A running ``python -m airflow_provider_kibo.testing`` subprocess."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_kibo.testing", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def readline(self, timeout: float = 30) -> str:
        line = self._lines.get(timeout=timeout)
        assert line is not None, f"CLI exited early: {self.process.wait()} {self.process.stderr.read()}"
        return line

    def rest_of_stdout(self) -> str:
        lines = []
        while (line := self._lines.get(timeout=5)) is not None:
            lines.append(line)
        return "\n".join(lines)

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=5)


@pytest.fixture
def run_cli() -> Iterator[type[Cli]]:
    started: list[Cli] = []

    def factory(*args: str) -> Cli:
        cli = Cli(*args)
        started.append(cli)
        return cli

    yield factory  # type: ignore[misc]
    for cli in started:
        if cli.process.poll() is None:
            cli.process.kill()
            cli.process.wait()
        for stream in (cli.process.stdout, cli.process.stderr):
            if stream is not None:
                stream.close()


def _url(cli: Cli) -> str:
    first = cli.readline()
    assert first.startswith(URL_PREFIX), first
    url = first.removeprefix(URL_PREFIX)
    assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
    return url


def test_cli_prints_its_url_serves_logins_and_exits_0_on_sigterm(run_cli) -> None:
    cli = run_cli()
    url = _url(cli)
    credentials_line = cli.readline()
    assert "developer@example.com" in credentials_line
    response = requests.post(url + TICKETS, json={"emailAddress": "developer@example.com",
                                                  "password": "emulator-password"}, timeout=5)
    assert response.status_code == 200
    assert response.json()["account"]["id"] == 1001
    assert cli.stop(signal.SIGTERM) == 0
    output = "\n".join([credentials_line, cli.rest_of_stdout(), cli.process.stderr.read()])
    assert "emulator-password" not in output
    assert response.json()["accessToken"] not in output


def test_cli_exits_0_on_sigint(run_cli) -> None:
    cli = run_cli()
    _url(cli)
    assert cli.stop(signal.SIGINT) == 0


def test_cli_users_file_and_flags_configure_the_emulator(run_cli, tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"email": "ops@example.com", "password": "ops-secret-pw",
                                  "accounts": [{"id": 5, "name": "Ops", "app_count": 2}]}]))
    cli = run_cli("--users", str(users), "--rotate-refresh-tokens", "--no-access-status", "401",
                  "--access-token-lifetime", "120", "--refresh-token-lifetime", "600")
    url = _url(cli)
    assert "ops@example.com" in cli.readline()
    assert requests.get(url + "/_emulator/config", timeout=5).json() == {
        "rotate_refresh_tokens": True, "no_access_status": 401, "access_token_lifetime": 120,
        "refresh_token_lifetime": 600, "latency": 0, "application_auth_routes": ["oauth", "ticket"],
        "oauth_expires_in": True}
    login = {"emailAddress": "ops@example.com", "password": "ops-secret-pw"}
    assert requests.post(url + TICKETS, json=login, timeout=5).json()["account"] == {"id": 5, "name": "Ops"}
    assert requests.post(url + TICKETS, params={"developerAccountId": 1001}, json=login,
                         timeout=5).status_code == 401
    demo = {"emailAddress": "developer@example.com", "password": "emulator-password"}
    assert requests.post(url + TICKETS, json=demo, timeout=5).status_code == 401
    assert cli.stop(signal.SIGTERM) == 0
    assert "ops-secret-pw" not in cli.rest_of_stdout()


def test_cli_users_file_with_tenants_serves_tenant_tickets_and_orders(run_cli, tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{
        "email": "ops@example.com", "password": "ops-secret-pw", "accounts": [{"id": 5, "name": "Ops"}],
        "tenants": [{"id": 500001, "name": "Ops Store", "order_count": 9, "is_dev_tenant": True,
                     "sites": [{"id": 500011, "name": "Ops Web"},
                               {"id": 500012, "name": "Ops EU", "catalog_id": 2, "currency_code": "EUR"}]},
                    {"id": 500002, "name": "Ops Lab", "sites": [{"id": 500021, "name": "Lab"}]}]}]))
    cli = run_cli("--users", str(users))
    url = _url(cli)
    login = {"emailAddress": "ops@example.com", "password": "ops-secret-pw"}
    ticket = requests.post(url + TENANT_TICKETS, json=login, timeout=5).json()
    assert (ticket["tenant"]["id"], ticket["tenant"]["isDevTenant"]) == (500001, True)
    assert [t["id"] for t in ticket["availableTenants"]] == [500001, 500002]
    assert ticket["tenant"]["domain"] == url.removeprefix("http://") + "/_tenant/500001"
    response = requests.get(f"http://{ticket['tenant']['domain']}/api/commerce/orders", timeout=5, headers={
        "Authorization": f"Bearer {ticket['jwtAccessToken']}", "x-vol-tenant": "500001", "x-vol-site": "500012"})
    assert response.status_code == 200
    assert [(o["siteId"], o["currencyCode"]) for o in response.json()["items"]] == [(500012, "EUR")] * 4
    assert requests.post(url + TENANT_TICKETS, params={"tenantId": 100001}, json=login, timeout=5).status_code == 403
    assert cli.stop(signal.SIGTERM) == 0


def test_cli_help_documents_the_users_file_with_tenants(run_cli) -> None:
    cli = run_cli("--help")
    assert cli.process.wait(timeout=30) == 0
    help_text = cli.rest_of_stdout()
    assert '"tenants": [{"id"' in help_text and '"sites": [{"id"' in help_text and "order_count" in help_text


def test_cli_rejects_an_invalid_users_file_with_exit_status_2(run_cli, tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"email": "ops@example.com"}]))
    cli = run_cli("--users", str(users))
    assert cli.process.wait(timeout=30) == 2
    assert "invalid user entry" in cli.process.stderr.read()


def test_cli_rejects_a_users_file_with_an_invalid_tenant_with_exit_status_2(run_cli, tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"email": "ops@example.com", "password": "pw", "accounts": [{"id": 5, "name": "Ops"}],
                                  "tenants": [{"id": 500001, "name": "No sites", "sites": []}]}]))
    cli = run_cli("--users", str(users))
    assert cli.process.wait(timeout=30) == 2
    assert "tenant 500001 needs at least one EmulatorSite" in cli.process.stderr.read()
