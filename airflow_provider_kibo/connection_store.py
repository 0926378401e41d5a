"""
Tickets written back into the Kibo Connection's own ``extra``, through Airflow's REST API.

Deprecated: Airflow masks a Connection's whole ``extra`` each time a process reads it, so every task
and trigger that reads this Connection learns one more mask at each rotation, sealed tickets or not
(``benchmarks/connection_store_masks.py``). Keep tickets in Variables, the default.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests

from airflow_provider_kibo.config import is_loopback
from airflow_provider_kibo.errors import KiboConfigError, KiboTicketStoreError
from airflow_provider_kibo.sealing import TicketSeal
from airflow_provider_kibo.stores import TicketStore, decode_entry, decode_ticket
from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketRecord
from airflow_provider_kibo.transport import RetryPolicy, send_with_retries

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_kibo.tickets.identity import KiboIdentity

log = logging.getLogger(__name__)

TICKETS_EXTRA_KEY = "tickets"
"""The key of ``extra`` that holds the tickets by slot; every other key is left as it is."""
AIRFLOW_API_RETRIES = RetryPolicy(
    max_attempts=4, backoff_base=0.5, backoff_max=5.0, retry_after_default=5.0, retry_after_max=30.0
)
"""Retries of one request to the Airflow API server."""
LEASE_PREFIX = "kibo_connection_lease"
"""Connections ``<prefix>__<conn_id>`` exist while one process writes that Connection's tickets."""
LEASE_DURATION = timedelta(seconds=30)
"""How long a lease holds when its holder does not remove it (a process that died while writing)."""
LEASE_WAIT = timedelta(seconds=60)
"""How long a writer waits for the lease before giving up."""


class AirflowApiClient:
    """
    A minimal client of Airflow's public REST API that logs in with a username and password.

    :param base_url: the API server's URL, e.g. ``https://airflow.example.com``
    :param username: an Airflow user allowed to create, edit and delete Connections
    :param password: that user's password
    :param timeout: seconds for each request
    """

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = timeout
        self._session = requests.Session()

    @classmethod
    def from_connection(cls, conn: Connection, *, timeout: float) -> AirflowApiClient:
        """
        A client for the API server a Connection points at: host (a URL, or a name with the scheme in
        ``schema`` and the port in ``port``), login and password. The password travels to that server,
        so plain ``http://`` is refused except on this machine (a loopback host).

        :param conn: the Connection named by ``extra.airflow_api_conn_id``
        :param timeout: seconds for each request
        """
        field = "extra.airflow_api_conn_id"
        if not conn.host or not conn.login or not conn.password:
            raise KiboConfigError(
                field, f"Connection {conn.conn_id!r} needs the Airflow API server URL as host, and a login and password"
            )
        url = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise KiboConfigError(
                field, f"Connection {conn.conn_id!r} needs an https:// URL as host, not {conn.host!r}"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise KiboConfigError(
                field,
                f"Connection {conn.conn_id!r} would send its password over plain http:// to {parts.hostname}: "
                "use https:// (plain http:// is accepted only for a loopback host)",
            )
        if conn.port and not parts.port:
            url = f"{parts.scheme}://{parts.hostname}:{conn.port}{parts.path}"
        return cls(url, conn.login, conn.password, timeout=timeout)

    def __repr__(self) -> str:
        return f"AirflowApiClient(base_url={self.base_url!r}, username={self._username!r})"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """
        Send a request with a bearer token, logging in again once if the token has expired, and
        retry within :data:`AIRFLOW_API_RETRIES`: every method, since each call of this client is
        safe to repeat (a lease's create answers 409 the second time, a ``PATCH`` writes the same
        value), and a busy SQLite database answers 500. Return the last response.
        """
        return send_with_retries(
            lambda: self._send(method, path, **kwargs),
            AIRFLOW_API_RETRIES,
            summary=f"The Airflow API call {method} {path}",
            idempotent=True,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if "Authorization" not in self._session.headers:
            self._log_in()
        response = self._session.request(method, f"{self.base_url}{path}", timeout=self._timeout, **kwargs)
        if response.status_code == 401:
            self._log_in()
            response = self._session.request(method, f"{self.base_url}{path}", timeout=self._timeout, **kwargs)
        return response

    def _log_in(self) -> None:
        from airflow.sdk.log import mask_secret

        response = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": self._username, "password": self._password},
            timeout=self._timeout,
        )
        if not response.ok:
            raise KiboTicketStoreError(
                f"Logging in to the Airflow API at {self.base_url} as {self._username!r} failed with "
                f"status {response.status_code}; check the login and password of that Connection"
            )
        token = response.json()["access_token"]
        mask_secret(token)
        self._session.headers["Authorization"] = f"Bearer {token}"


class ConnectionLease:
    """
    One writer at a time for a Connection, across every machine: a Connection that Airflow's REST API
    refuses to create while it exists (``409`` from the database's unique key; a Variable would not
    do, as the API creates one by an upsert). The holder removes it when done; a lease left by a
    process that died expires after :data:`LEASE_DURATION` and the next writer removes it. (Two
    writers removing the same expired lease at the same moment can both go on, once: without
    compare-and-swap in Airflow's API that window cannot be closed, only kept to milliseconds.)

    :param conn_id: the Connection whose writes the lease serializes
    :param api: a client of the Airflow API server, allowed to create and delete Connections
    """

    def __init__(self, conn_id: str, api: AirflowApiClient) -> None:
        self.key = f"{LEASE_PREFIX}__{conn_id}"
        self._conn_id = conn_id
        self._api = api
        self._path = f"/api/v2/connections/{quote(self.key, safe='')}"
        self._holder = f"{socket.gethostname()} pid {os.getpid()}"

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lease for the block; :class:`KiboTicketStoreError` when it stays taken too long."""
        nonce = self._take()
        try:
            yield
        finally:
            current = self._current()
            if current is not None and current.get("nonce") == nonce:
                self._api.request("DELETE", self._path)

    def _take(self) -> str:
        """Create the lease Connection, waiting while another holds it; return this holding's nonce."""
        nonce = uuid.uuid4().hex
        deadline = time.monotonic() + LEASE_WAIT.total_seconds()
        pause = 0.05
        while True:
            until = (datetime.now(UTC) + LEASE_DURATION).isoformat()
            lease = {
                "connection_id": self.key,
                "conn_type": "generic",
                "description": f"Held while Kibo tickets are written to Connection {self._conn_id}",
                "extra": json.dumps({"holder": self._holder, "until": until, "nonce": nonce}),
            }
            response = self._api.request("POST", "/api/v2/connections", json=lease)
            if response.ok:
                return nonce
            if response.status_code != 409:
                raise KiboTicketStoreError(
                    f"Taking the lease {self.key} through the Airflow API at {self._api.base_url} failed with "
                    f"status {response.status_code}; its user must be allowed to create and delete Connections"
                )
            current = self._current()
            if current is not None and current.get("nonce") == nonce:
                return nonce  # a retried POST whose first attempt had created it
            if current is not None and not _holds_at(current, datetime.now(UTC)):
                log.warning("Removing the lease %s that %s left behind", self.key, current.get("holder"))
                self._api.request("DELETE", self._path)
                continue
            if time.monotonic() >= deadline:
                held_by = current.get("holder") if current else "another writer"
                raise KiboTicketStoreError(f"The lease {self.key} stayed held by {held_by} for {LEASE_WAIT}")
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, 1.0)

    def _current(self) -> dict[str, Any] | None:
        """The lease's value (holder, until, nonce), or ``None`` when there is none."""
        response = self._api.request("GET", self._path)
        if not response.ok:
            return None
        try:
            current = json.loads(response.json()["extra"])
        except (ValueError, KeyError, TypeError):
            return {}
        return current if isinstance(current, dict) else {}


def _holds_at(lease: dict[str, Any], now: datetime) -> bool:
    """Whether a lease's ``until`` is still ahead of ``now``; a value without one never holds."""
    try:
        return datetime.fromisoformat(lease["until"]) > now
    except (KeyError, TypeError, ValueError):
        return False


class ConnectionTicketStore:
    """
    Tickets in ``extra.tickets`` of the Kibo Connection itself, sealed as in Variables (the key is the
    same Variable, see :mod:`airflow_provider_kibo.sealing`); plain tickets of 0.2.0 are still read.

    Reads go through the Task SDK (which sees ``extra`` unredacted). A write holds the Connection's
    :class:`ConnectionLease`, re-reads the Connection and ``PATCH``es only its ``extra``, keeping
    every key other than ``tickets``: Airflow's API cannot update one key of ``extra`` atomically,
    so without the lease two machines writing different slots at once would lose one of them.

    :param conn_id: the Kibo Connection; it must live in the metadata DB, not in an environment
        variable or a secrets backend, which are read-only
    :param api: a client of the Airflow API server that stores that Connection
    :param seal: seals and opens the Connection's tickets
    """

    def __init__(self, conn_id: str, api: AirflowApiClient, seal: TicketSeal) -> None:
        self.conn_id = conn_id
        self._api = api
        self._seal = seal
        self._lease = ConnectionLease(conn_id, api)
        self.description = f"extra.{TICKETS_EXTRA_KEY} of Connection {conn_id} (via {api.base_url})"

    def read(self, slot: str) -> KiboAuthTicket | None:
        where = f"Connection {self.conn_id} extra.{TICKETS_EXTRA_KEY}.{slot}"
        stored = self._tickets(self._extra()[1]).get(slot)
        entry = decode_entry(stored, where)
        if entry is None or "sealed" not in entry:
            return decode_ticket(stored, where)  # as 0.2.0 kept it
        return self._seal.open(entry, where)

    def read_record(self, slot: str) -> TicketRecord | None:
        ticket = self.read(slot)
        return ticket.record() if ticket is not None else None

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        self._seal.write(ticket, lambda entry: self._put(slot, entry))

    def slots(self) -> list[str]:
        return sorted(self._tickets(self._extra()[1]))

    def _put(self, slot: str, entry: dict[str, Any]) -> None:
        with self._lease.held():
            conn_type, extra = self._extra()
            tickets = self._tickets(extra)
            tickets[slot] = entry
            self._patch(conn_type, {**extra, TICKETS_EXTRA_KEY: tickets})

    def delete(self, slot: str) -> None:
        with self._lease.held():
            conn_type, extra = self._extra()
            tickets = self._tickets(extra)
            if tickets.pop(slot, None) is not None:
                self._patch(conn_type, {**extra, TICKETS_EXTRA_KEY: tickets})

    def _extra(self) -> tuple[str, dict[str, Any]]:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.conn_id)
        try:
            extra = json.loads(conn.extra or "{}")
        except ValueError:
            extra = {}
        return str(conn.conn_type), extra if isinstance(extra, dict) else {}

    @staticmethod
    def _tickets(extra: dict[str, Any]) -> dict[str, Any]:
        tickets = extra.get(TICKETS_EXTRA_KEY)
        return dict(tickets) if isinstance(tickets, dict) else {}

    def _patch(self, conn_type: str, extra: dict[str, Any]) -> None:
        response = self._api.request(
            "PATCH",
            f"/api/v2/connections/{quote(self.conn_id, safe='')}",
            params={"update_mask": "extra"},
            json={"connection_id": self.conn_id, "conn_type": conn_type, "extra": json.dumps(extra)},
        )
        if response.status_code == 404:
            raise KiboTicketStoreError(
                f"Connection {self.conn_id} is not in Airflow's metadata database (it may come from an "
                "environment variable or a secrets backend, which are read-only): store it in the "
                "database, or remove extra.airflow_api_conn_id to keep tickets in Variables"
            )
        if not response.ok:
            raise KiboTicketStoreError(
                f"Writing the ticket back to Connection {self.conn_id} through the Airflow API at "
                f"{self._api.base_url} failed with status {response.status_code}"
            )


class WriteBackStore:
    """
    Writes tickets into the Connection, falling back to Variables when that fails; reads both.

    :param connection: the Connection write-back store
    :param variables: the Variable store (or the memory one outside Airflow)
    :param identity: the Connection's identity: of the two tickets in a slot, one issued to it wins
        over one issued to anybody else, however long that one lasts
    """

    def __init__(self, connection: ConnectionTicketStore, variables: TicketStore, identity: KiboIdentity) -> None:
        self._connection = connection
        self._variables = variables
        self._identity = identity
        self.description = f"{connection.description}, else {variables.description}"

    def read(self, slot: str) -> KiboAuthTicket | None:
        found = [t for t in (self._connection.read(slot), self._variables.read(slot)) if t is not None]
        return max(found, key=lambda t: (t.issued_to == self._identity, t.access_token_expires_at), default=None)

    def read_record(self, slot: str) -> TicketRecord | None:
        ticket = self.read(slot)
        return ticket.record() if ticket is not None else None

    def slots(self) -> list[str]:
        return sorted({*self._connection.slots(), *self._variables.slots()})

    def read_note(self, slot: str) -> dict[str, Any] | None:
        return self._variables.read_note(slot)

    def write_note(self, slot: str, note: dict[str, Any]) -> None:
        self._variables.write_note(slot, note)

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        try:
            self._connection.write(slot, ticket)
        except (KiboTicketStoreError, requests.RequestException) as err:
            reason = err if isinstance(err, KiboTicketStoreError) else type(err).__name__
            log.warning("Keeping the Kibo ticket in %s instead: %s", self._variables.description, reason)
            self._variables.write(slot, ticket)

    def delete(self, slot: str) -> None:
        self._connection.delete(slot)
        self._variables.delete(slot)
