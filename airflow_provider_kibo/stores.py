"""
Where tickets live between tasks: Airflow Variables, or process memory as a last resort.

A store keeps Kibo's ticket JSON, with the identity it was issued to, under a *slot* of one
Connection. A kind of ticket names its slots (see :mod:`airflow_provider_kibo.tickets.kinds`): one per
developer account (``1001``) or tenant (``tenant_100001``), and one for the kind's newest ticket
(``latest``, ``tenant_latest``), whose refresh token is the freshest known. The Connection's own
``extra`` is another store (:mod:`airflow_provider_kibo.connection_store`).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

from airflow_provider_kibo import airflow_compat
from airflow_provider_kibo._deprecated import renamed
from airflow_provider_kibo.tickets.identity import normalise_base_url
from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketFormatError, TicketRecord, ticket_from_stored

log = logging.getLogger(__name__)

LATEST_SLOT = "latest"
VARIABLE_PREFIX = "kibo_developer_token"
"""The name holds "token", so Airflow masks these Variables' values in its UI, API and logs."""
RECORD_PREFIX = "kibo_developer_ticket_record"
"""Beside each ticket Variable, one named ``<prefix>__<conn_id>__<slot>`` holds its
:class:`~airflow_provider_kibo.ticket.TicketRecord`, which has no secret. Airflow does not take that
name for a secret, so reading it adds nothing to any process's secrets masker, while Airflow masks
the value of every ticket Variable it serves for the life of the serving process (a task's or the
triggerer's supervisor, the API server)."""


class TicketStore(Protocol):
    """Keeps tickets of one Connection by slot."""

    description: str

    def read(self, slot: str, held: KiboAuthTicket | None = None) -> KiboAuthTicket | None:
        """The ticket in ``slot``, or ``None``; ``held`` itself where the store can tell, without
        reading a secret, that the slot still holds that ticket."""

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        """Put ``ticket`` in ``slot``."""

    def delete(self, slot: str) -> None:
        """Empty ``slot``."""

    def read_record(self, slot: str) -> TicketRecord | None:
        """The record of the ticket in ``slot``, reading no secret where the store can, or ``None``."""


def decode_ticket(raw: Any, where: str) -> KiboAuthTicket | None:
    """
    Parse a stored ticket; a damaged one counts as absent, so a good ticket is fetched instead.

    :param raw: the stored JSON text or object
    :param where: the store and slot, for the warning
    """
    if raw in (None, ""):
        return None
    try:
        return ticket_from_stored(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, TicketFormatError) as err:
        log.warning("Ignoring the unreadable Kibo ticket in %s: %s", where, err)
        return None


def decode_record(raw: Any, where: str) -> TicketRecord | None:
    """
    Parse a stored ticket record; a damaged one counts as absent.

    :param raw: the stored JSON text
    :param where: the store and slot, for the warning
    """
    if raw in (None, ""):
        return None
    try:
        return TicketRecord.from_stored(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, TicketFormatError) as err:
        log.warning("Ignoring the unreadable Kibo ticket record in %s: %s", where, err)
        return None


def record_of(ticket: KiboAuthTicket | None) -> TicketRecord | None:
    """The record of a ticket read whole, for stores that keep no separate records."""
    return ticket.record() if ticket is not None else None


class VariableTicketStore:
    """
    Tickets in Airflow Variables named ``kibo_developer_token__<conn_id>__<slot>``, each with its
    record in ``kibo_developer_ticket_record__<conn_id>__<slot>`` (see :data:`RECORD_PREFIX`).

    A ticket is written before its record and deleted after it, so a record always has its ticket.
    A caller that already holds the ticket a record names gets it back without a read of the ticket
    Variable, so a process that renews its own ticket again and again makes no Airflow process learn
    a new secret beyond the tokens it masks itself.

    :param conn_id: the Kibo Connection
    :param supervised: use the Task SDK (in a process with an Airflow supervisor: a task, the
        triggerer, the dag-processor) rather than the metadata DB (in a script, the CLI, a test)
    """

    def __init__(self, conn_id: str, *, supervised: bool) -> None:
        self.conn_id = conn_id
        self._supervised = supervised
        self.description = f"Airflow Variables {VARIABLE_PREFIX}__{conn_id}__*"

    def key(self, slot: str) -> str:
        """The Variable name of a slot."""
        return f"{VARIABLE_PREFIX}__{self.conn_id}__{slot}"

    def record_key(self, slot: str) -> str:
        """The Variable name of a slot's record."""
        return f"{RECORD_PREFIX}__{self.conn_id}__{slot}"

    def read(self, slot: str, held: KiboAuthTicket | None = None) -> KiboAuthTicket | None:
        if held is not None:
            record = decode_record(self._get(self.record_key(slot)), f"Variable {self.record_key(slot)}")
            if record is not None and record.fingerprint == held.fingerprint:
                return held
        return decode_ticket(self._get(self.key(slot)), f"Variable {self.key(slot)}")

    def read_record(self, slot: str) -> TicketRecord | None:
        record = decode_record(self._get(self.record_key(slot)), f"Variable {self.record_key(slot)}")
        return record if record is not None else record_of(self.read(slot))

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        variable = self._variable()
        description = f"Kibo auth ticket of Connection {self.conn_id}, kept by airflow-provider-kibo"
        variable.set(self.key(slot), json.dumps(ticket.to_stored()), description=description)
        description = f"When the Kibo auth ticket in {self.key(slot)} expires, and whose it is (no secret)"
        variable.set(self.record_key(slot), json.dumps(ticket.record().to_stored()), description=description)

    def delete(self, slot: str) -> None:
        variable = self._variable()
        variable.delete(self.record_key(slot))
        variable.delete(self.key(slot))

    def _get(self, key: str) -> Any:
        if self._supervised:
            return self._variable().get(key, default=None)
        return self._variable().get(key, None)  # the default: `default_var` in core, `default` in the SDK

    def _variable(self) -> Any:
        """Airflow's ``Variable``: the Task SDK's under a supervisor, the metadata DB's without one."""
        if self._supervised:
            from airflow.sdk import Variable

            return Variable
        return airflow_compat.metadata_variables()


class MemoryTicketStore:
    """Tickets in this process's memory only: for scripts that reach no Airflow metadata DB."""

    def __init__(self) -> None:
        self.description = "this process's memory (not shared with other processes)"
        self._tickets: dict[str, KiboAuthTicket] = {}
        self._guard = threading.Lock()

    def read(self, slot: str, held: KiboAuthTicket | None = None) -> KiboAuthTicket | None:
        with self._guard:
            return self._tickets.get(slot)

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        with self._guard:
            self._tickets[slot] = ticket

    def delete(self, slot: str) -> None:
        with self._guard:
            self._tickets.pop(slot, None)

    def read_record(self, slot: str) -> TicketRecord | None:
        return record_of(self.read(slot))

    def delete_issued_by(self, base_url: str) -> int:
        """
        Remove the tickets a Kibo host issued; return how many.

        :param base_url: the host, as :func:`~airflow_provider_kibo.identity.normalise_base_url` gives it
        """
        with self._guard:
            slots = [s for s, t in self._tickets.items() if t.issued_to and t.issued_to.base_url == base_url]
            for slot in slots:
                del self._tickets[slot]
        return len(slots)


_memory_stores: dict[str, MemoryTicketStore] = {}
_memory_stores_guard = threading.Lock()


def variable_or_memory_store(conn_id: str) -> TicketStore:
    """
    The Variable store this process can use: the Task SDK under an Airflow supervisor, else the
    metadata DB when it is reachable, else process memory (with a one-time warning).

    :param conn_id: the Kibo Connection
    """
    if airflow_compat.has_supervisor():
        return VariableTicketStore(conn_id, supervised=True)
    if airflow_compat.metadata_db_reachable():
        return VariableTicketStore(conn_id, supervised=False)
    with _memory_stores_guard:
        if not _memory_stores:
            log.warning(
                "No Airflow metadata database is reachable from this process: Kibo tickets are kept in "
                "memory and not shared with other processes. Run inside an Airflow task, or set "
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to a migrated database, to share them."
            )
        return _memory_stores.setdefault(conn_id, MemoryTicketStore())


def delete_tickets_issued_by(base_url: str) -> int:
    """
    Remove the tickets a Kibo host issued from every store this process reaches outside a task: the
    Variables of the metadata DB (when reachable) and process memory. Return how many were removed.

    The emulator's pytest fixture calls it, so a test leaves no ticket behind.

    :param base_url: the Kibo host, e.g. an emulator's ``base_url``
    """
    host = normalise_base_url(base_url)
    with _memory_stores_guard:
        memory = list(_memory_stores.values())
    removed = sum(store.delete_issued_by(host) for store in memory)
    if airflow_compat.metadata_db_reachable():

        def issued_by_host(key: str, value: str) -> bool:
            ticket = decode_ticket(value, f"Variable {key}")
            return ticket is not None and ticket.issued_to is not None and ticket.issued_to.base_url == host

        tickets = airflow_compat.delete_metadata_variables(f"{VARIABLE_PREFIX}__", issued_by_host)
        records = {RECORD_PREFIX + key.removeprefix(VARIABLE_PREFIX) for key in tickets}
        airflow_compat.delete_metadata_variables(f"{RECORD_PREFIX}__", lambda key, value: key in records)
        removed += len(tickets)
    return removed


__getattr__ = renamed(__name__, {"running_in_task": "airflow_provider_kibo.airflow_compat:has_supervisor"})
