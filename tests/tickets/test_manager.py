"""TicketManager on its own: a fake clock, a memory store, and Kibo's answers from the emulator's state in
this process (no HTTP, no Airflow), so each test runs in about a millisecond."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

import airflow_provider_kibo.tickets
from airflow_provider_kibo.config import KiboConnectionConfig
from airflow_provider_kibo.errors import KiboAccountAccessError, KiboAuthError
from airflow_provider_kibo.stores import LATEST_SLOT, MemoryTicketStore
from airflow_provider_kibo.testing import DEMO_USERS
from airflow_provider_kibo.testing.server import error_body
from airflow_provider_kibo.testing.state import EmulatorState
from airflow_provider_kibo.testing.state import KiboError as KiboAnswer
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.kinds import DEVELOPER_TICKETS
from airflow_provider_kibo.tickets.manager import (
    ADVISORY_REFRESH_HEADSTART,
    OTHER_MACHINE_GRACE,
    OTHER_MACHINE_POLL,
    TicketManager,
)
from airflow_provider_kibo.transport import kibo_error
from tests.support import EMAIL, PASSWORD

HOST = "https://home.kibo.test"
LIFETIME = timedelta(hours=1)
MARGIN = timedelta(seconds=180)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 12, 1, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


class InProcessKibo:
    """Kibo's developer auth routes, answered by the emulator's state without a server."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.calls: list[str] = []

    def request(self, method: str, endpoint: str, *, params: dict | None = None, json: Any = None, **_: Any):
        self.calls.append(method)
        params = params or {}
        try:
            if method == "POST":
                body = self.state.create_ticket(json["emailAddress"], json["password"], params.get("developerAccountId"))
            elif method == "PUT":
                body = self.state.refresh_ticket(json["refreshToken"], params["developerAccountId"])
            else:
                self.state.delete_ticket(params["refreshToken"])
                body = None
        except KiboAnswer as answer:
            raise kibo_error(f"{method} {endpoint}", response(answer.status, error_body(*vars_of(answer)))) from None
        return response(200, body)


def vars_of(answer: KiboAnswer) -> tuple[int, str, str]:
    return answer.status, answer.error_code, answer.message


def response(status: int, body: Any) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = b"" if body is None else json.dumps(body).encode()
    return answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kibo(clock) -> InProcessKibo:
    return InProcessKibo(EmulatorState(DEMO_USERS, clock, access_token_lifetime=LIFETIME))  # type: ignore[arg-type]


@pytest.fixture
def store() -> MemoryTicketStore:
    return MemoryTicketStore()


def config(password: str | None = PASSWORD) -> KiboConnectionConfig:
    return KiboConnectionConfig(
        base_url=HOST, email=EMAIL, password=password, default_account_id=1001, refresh_margin=MARGIN,
        request_timeout=30.0, verify_tls=True, seed_ticket=None, seed_refresh_token=None, airflow_api_conn_id=None,
    )


@pytest.fixture
def manager(kibo, store, clock, tmp_path):
    """Managers of one Connection on one machine: the same store, lock folder and clock."""

    def make(**kwargs: Any) -> TicketManager:
        options: dict[str, Any] = {"transport_for": lambda base_url, best_effort=False: kibo, "clock": clock.now,
                                   "lock_dir": tmp_path, "sleep": lambda seconds: None}
        return TicketManager(DEVELOPER_TICKETS, kwargs.pop("config", config()), store, owner="kibo",
                             **{**options, **kwargs})

    return make


def test_a_stored_ticket_is_reused_without_asking_kibo(manager, kibo):
    first = manager().get(1001, timedelta(0))
    again = manager().get(1001, timedelta(0))

    assert again == first
    assert kibo.calls == ["POST"]


def test_the_advisory_window_refreshes_once_and_the_mandatory_window_waits_for_none(manager, kibo, clock, store):
    first = manager().get(1001, timedelta(0))
    clock.advance(LIFETIME - MARGIN - ADVISORY_REFRESH_HEADSTART / 2)

    ahead = manager()
    renewed = ahead.get(1001, timedelta(0))
    other = manager().get(1001, timedelta(0))

    assert renewed != first and other == renewed == store.read("1001")
    assert kibo.calls == ["POST", "PUT"]
    assert ahead.obtained == ["refresh"]


def test_a_switch_uses_the_latest_refresh_token_and_says_so(manager, kibo, store):
    tickets = manager()
    tickets.get(1001, timedelta(0))

    switched = tickets.get(1002, timedelta(0))

    assert switched.scope_id == 1002 and store.read(LATEST_SLOT) == switched
    assert tickets.obtained == ["login", "switch"]


def test_a_failed_refresh_never_overwrites_the_good_ticket(manager, kibo, store):
    good = manager().get(1001, timedelta(0))
    kibo.state.revoke_refresh_tokens()

    with pytest.raises(KiboAuthError, match="extra.seed_ticket"):
        manager(config=config(password=None)).refresh(1001)

    assert store.read("1001") == good


def test_a_refused_refresh_token_waits_for_another_machines_ticket_then_logs_in(manager, kibo, clock):
    waits: list[float] = []
    manager().get(1001, timedelta(0))
    kibo.state.revoke_refresh_tokens()
    clock.advance(LIFETIME)

    tickets = manager(sleep=waits.append)
    tickets.get(1001, timedelta(0))

    assert waits == [OTHER_MACHINE_POLL.total_seconds()] * round(OTHER_MACHINE_GRACE / OTHER_MACHINE_POLL)
    assert kibo.calls == ["POST", "PUT", "POST"]
    assert tickets.obtained == ["login"]


def test_an_account_kibo_refuses_with_a_401_fails_at_once(manager, kibo):
    kibo.state.configure(no_access_status=401)
    waits: list[float] = []
    tickets = manager(sleep=waits.append)
    tickets.get(1001, timedelta(0))

    with pytest.raises(KiboAccountAccessError) as raised:
        tickets.get(1999, timedelta(0))

    assert raised.value.status_code == 401 and set(raised.value.available_account_ids) == {1001, 1002, 1003}
    assert waits == [], "no wait for another machine"
    assert kibo.calls == ["POST", "PUT"], "no login to find out"


def test_a_ticket_issued_to_another_identity_is_never_used(manager, kibo, store):
    foreign = manager().get(1001, timedelta(0)).issued(KiboIdentity.of(HOST, "someone.else@example.com"))
    store.write("1001", foreign)
    store.write(LATEST_SLOT, foreign)

    ticket = manager().get(1001, timedelta(0))

    assert ticket.refresh_token != foreign.refresh_token
    assert kibo.calls == ["POST", "POST", "DELETE"], "a login, then the foreign ticket is logged out"


def test_the_lifecycle_imports_nothing_of_airflow():
    """The ticket lifecycle is plain Python: no module of ``tickets/`` imports Airflow (its errors are
    the provider's, which subclass AirflowException, in ``errors``)."""
    package = Path(airflow_provider_kibo.tickets.__file__).parent
    imported = {
        name
        for module in package.glob("*.py")
        for node in ast.walk(ast.parse(module.read_text()))
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import)
            else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        )
    }

    assert imported and not [name for name in imported if name.split(".")[0] == "airflow"]
