"""
Where tickets live between tasks: Airflow Variables, sealed, or process memory as a last resort.

A store keeps tickets, with the identity each was issued to, under the *slots* of one Connection. A
kind of ticket names its slots (see :mod:`airflow_provider_kibo.tickets.kinds`): one per developer
account (``1001``) or tenant (``tenant_100001``), and one for the kind's newest ticket (``latest``,
``tenant_latest``), whose refresh token is the freshest known. A store also lists every slot it
ever wrote, so that revoking all tickets reaches each of them. The Connection's own ``extra`` is
another store (:mod:`airflow_provider_kibo.connection_store`).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

from airflow_provider_kibo import airflow_compat
from airflow_provider_kibo._deprecated import renamed
from airflow_provider_kibo.sealing import KEY_PREFIX, TicketSeal, entry_record
from airflow_provider_kibo.tickets.identity import KiboIdentity, normalise_base_url
from airflow_provider_kibo.tickets.kinds import KINDS, slot_of
from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketFormatError, TicketRecord, ticket_from_stored
from airflow_provider_kibo.variables import Variables

log = logging.getLogger(__name__)

LATEST_SLOT = "latest"
VARIABLE_PREFIX = "kibo_ticket"
"""A slot of a Connection is the Variable ``<prefix>__<conn_id>__<slot>``: a sealed entry (see
:mod:`airflow_provider_kibo.sealing`). Airflow does not take that name for a secret, so no Airflow
process adds a mask for it, however many tickets rotate."""
INDEX_PREFIX = "kibo_ticket_index"
"""The Variable ``<prefix>__<conn_id>`` lists the slots the Connection ever stored (no secret)."""
LEGACY_VARIABLE_PREFIX = "kibo_developer_token"
"""0.2.0 kept each ticket in plain JSON in the Variable ``<prefix>__<conn_id>__<slot>``..."""
LEGACY_RECORD_PREFIX = "kibo_developer_ticket_record"
"""...and its record in ``<prefix>__<conn_id>__<slot>``; both are moved into the sealed form."""


class TicketStore(Protocol):
    """Keeps tickets of one Connection by slot."""

    description: str

    def read(self, slot: str) -> KiboAuthTicket | None:
        """The ticket in ``slot``, or ``None``."""

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        """Put ``ticket`` in ``slot``."""

    def delete(self, slot: str) -> None:
        """Empty ``slot``."""

    def read_record(self, slot: str) -> TicketRecord | None:
        """The record of the ticket in ``slot``, reading no secret where the store can, or ``None``."""

    def slots(self) -> list[str]:
        """Every slot the store ever wrote for the Connection (some may be empty now)."""

    def read_note(self, slot: str) -> dict[str, Any] | None:
        """The document without secrets kept in ``slot`` (what an application learnt of a tenant), or ``None``."""

    def write_note(self, slot: str, note: dict[str, Any]) -> None:
        """Keep a document without secrets in ``slot``; it names whom it was learnt for (``issuedTo``)."""


def decode_ticket(raw: Any, where: str) -> KiboAuthTicket | None:
    """
    Parse a ticket stored in plain JSON (0.2.0's Variables, process memory); a damaged one counts
    as absent, so a good ticket is fetched instead.

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


def decode_entry(raw: Any, where: str) -> dict[str, Any] | None:
    """
    Parse a stored sealed entry (JSON text or object); ``None`` when absent or damaged.

    :param raw: the stored value
    :param where: the store and slot, for the warning
    """
    if raw in (None, ""):
        return None
    try:
        entry = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        log.warning("Ignoring the unreadable Kibo ticket in %s", where)
        return None
    return entry


def record_of(ticket: KiboAuthTicket | None) -> TicketRecord | None:
    """The record of a ticket read whole, for stores that keep no separate records."""
    return ticket.record() if ticket is not None else None


class VariableTicketStore:
    """
    Tickets in Airflow Variables, sealed: ``kibo_ticket__<conn_id>__<slot>`` holds each ticket's record
    (no secret) and the ticket encrypted with the Connection's key (:mod:`airflow_provider_kibo.sealing`);
    ``kibo_ticket_index__<conn_id>`` lists the slots.

    The first read of a missing slot of a Connection without an index moves the tickets 0.2.0 kept in
    plain Variables into the sealed form, and removes those Variables (one log line).

    :param conn_id: the Kibo Connection
    :param variables: Airflow's Variables as this process reaches them
    """

    def __init__(self, conn_id: str, variables: Variables) -> None:
        self.conn_id = conn_id
        self.description = f"Airflow Variables {VARIABLE_PREFIX}__{conn_id}__*"
        self.index_key = f"{INDEX_PREFIX}__{conn_id}"
        self._variables = variables
        self._seal = TicketSeal(conn_id, variables)
        self._indexed: set[str] | None = None
        self._legacy_checked = False

    def key(self, slot: str) -> str:
        """The Variable name of a slot."""
        return f"{VARIABLE_PREFIX}__{self.conn_id}__{slot}"

    def read(self, slot: str) -> KiboAuthTicket | None:
        where = f"Variable {self.key(slot)}"
        entry = decode_entry(self._variables.get(self.key(slot)), where)
        if entry is None:
            return self._move_legacy(slot).get(slot)
        return self._seal.open(entry, where)

    def read_record(self, slot: str) -> TicketRecord | None:
        where = f"Variable {self.key(slot)}"
        entry = decode_entry(self._variables.get(self.key(slot)), where)
        if entry is not None:
            return entry_record(entry, where)
        legacy = f"{LEGACY_RECORD_PREFIX}__{self.conn_id}__{slot}"
        raw = self._variables.get(legacy)
        return entry_record({"record": json.loads(raw)}, f"Variable {legacy}") if raw else None

    def write(self, slot: str, ticket: KiboAuthTicket) -> None:
        description = f"A sealed Kibo ticket of Connection {self.conn_id} and its record (airflow-provider-kibo)"
        self._seal.write(ticket, lambda entry: self._variables.set(self.key(slot), json.dumps(entry), description))
        self._index(slot)

    def delete(self, slot: str) -> None:
        self._variables.delete(self.key(slot))

    def slots(self) -> list[str]:
        self._move_legacy(None)
        return sorted(self._read_index() or ())

    def read_note(self, slot: str) -> dict[str, Any] | None:
        entry = decode_entry(self._variables.get(self.key(slot)), f"Variable {self.key(slot)}")
        note = entry.get("note") if entry is not None else None
        return note if isinstance(note, dict) else None

    def write_note(self, slot: str, note: dict[str, Any]) -> None:
        description = f"What a Kibo application of Connection {self.conn_id} learnt (airflow-provider-kibo)"
        self._variables.set(self.key(slot), json.dumps({"note": note}), description)
        self._index(slot)

    def _read_index(self) -> set[str] | None:
        raw = self._variables.get(self.index_key)
        try:
            slots = json.loads(raw)["slots"] if raw else None
        except (ValueError, KeyError, TypeError):
            slots = None
        self._indexed = {s for s in slots if isinstance(s, str)} if isinstance(slots, list) else None
        return self._indexed

    def _index(self, slot: str) -> None:
        """Add ``slot`` to the index, reading it first (another machine may have added others)."""
        if self._indexed is not None and slot in self._indexed:
            return
        slots = (self._read_index() or set()) | {slot}
        description = f"The slots of the Kibo tickets of Connection {self.conn_id} (airflow-provider-kibo)"
        self._variables.set(self.index_key, json.dumps({"slots": sorted(slots)}), description)
        self._indexed = slots

    def _move_legacy(self, slot: str | None) -> dict[str, KiboAuthTicket]:
        """
        Once per store, when the Connection has no index yet (nothing of this version stored for it):
        move the tickets 0.2.0 stored into sealed Variables, from ``slot`` and each kind's latest ticket
        on to the slots of the accounts and tenants they list, and remove 0.2.0's Variables, a record
        without its ticket included. Return the tickets moved, by slot.
        """
        if self._legacy_checked:
            return {}
        self._legacy_checked = True
        if self._indexed is not None or self._read_index() is not None:
            return {}
        moved: dict[str, KiboAuthTicket] = {}
        pending, seen = [kind.latest_slot for kind in KINDS] + ([slot] if slot else []), set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            legacy = f"{LEGACY_VARIABLE_PREFIX}__{self.conn_id}__{current}"
            legacy_record = f"{LEGACY_RECORD_PREFIX}__{self.conn_id}__{current}"
            raw = self._variables.get(legacy)
            if raw is None and self._variables.get(legacy_record) is None:
                continue
            ticket = decode_ticket(raw, f"Variable {legacy}")
            if ticket is not None:
                self.write(current, ticket)
                moved[current] = ticket
                pending.extend(slot_of(ticket, scope) for scope in (ticket.scope_id, *ticket.available_scope_ids))
            self._variables.delete(legacy_record)
            self._variables.delete(legacy)
        if moved:
            log.info(
                "Moved %d Kibo tickets of Connection %s from the plain Variables of airflow-provider-kibo 0.2.0 "
                "into sealed Variables (%s__%s__*), and removed the old ones",
                len(moved),
                self.conn_id,
                VARIABLE_PREFIX,
                self.conn_id,
            )
        return moved


class MemoryTicketStore:
    """Tickets in this process's memory only: for scripts that reach no Airflow metadata DB."""

    def __init__(self) -> None:
        self.description = "this process's memory (not shared with other processes)"
        self._tickets: dict[str, KiboAuthTicket] = {}
        self._notes: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()

    def read(self, slot: str) -> KiboAuthTicket | None:
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

    def slots(self) -> list[str]:
        with self._guard:
            return sorted({*self._tickets, *self._notes})

    def read_note(self, slot: str) -> dict[str, Any] | None:
        with self._guard:
            return self._notes.get(slot)

    def write_note(self, slot: str, note: dict[str, Any]) -> None:
        with self._guard:
            self._notes[slot] = note

    def delete_issued_by(self, base_url: str) -> int:
        """
        Remove the tickets a Kibo host issued; return how many.

        :param base_url: the host, as :func:`~airflow_provider_kibo.tickets.identity.normalise_base_url` gives it
        """
        with self._guard:
            slots = [s for s, t in self._tickets.items() if t.issued_to and t.issued_to.base_url == base_url]
            for slot in slots:
                del self._tickets[slot]
            for slot in [s for s, note in self._notes.items() if _learnt_at(note, base_url)]:
                del self._notes[slot]
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
        return VariableTicketStore(conn_id, Variables(supervised=True))
    if airflow_compat.metadata_db_reachable():
        return VariableTicketStore(conn_id, Variables(supervised=False))
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
    Variables of the metadata DB (when reachable; with the index and sealing key of each Connection
    left without tickets) and process memory. Return how many tickets were removed.

    The emulator's pytest fixture calls it, so a test leaves no ticket behind.

    :param base_url: the Kibo host, e.g. an emulator's ``base_url``
    """
    host = normalise_base_url(base_url)
    with _memory_stores_guard:
        memory = list(_memory_stores.values())
    removed = sum(store.delete_issued_by(host) for store in memory)
    if not airflow_compat.metadata_db_reachable():
        return removed

    def issued_by_host(key: str, value: str) -> bool:
        entry = decode_entry(value, f"Variable {key}")
        if entry is not None and isinstance(entry.get("note"), dict):
            return _learnt_at(entry["note"], host)
        record = entry_record(entry, f"Variable {key}")
        return record is not None and record.issued_to is not None and record.issued_to.base_url == host

    def conn_ids(keys: list[str]) -> set[str]:
        return {key.removeprefix(f"{VARIABLE_PREFIX}__").rpartition("__")[0] for key in keys}

    deleted = airflow_compat.delete_metadata_variables(f"{VARIABLE_PREFIX}__", issued_by_host)
    emptied = conn_ids(deleted) - conn_ids(airflow_compat.metadata_variable_keys(f"{VARIABLE_PREFIX}__"))
    doomed = {f"{prefix}__{conn_id}" for prefix in (INDEX_PREFIX, KEY_PREFIX) for conn_id in emptied}

    def index_or_key_of_an_emptied_connection(key: str, value: str) -> bool:
        return key in doomed

    airflow_compat.delete_metadata_variables("kibo_ticket_", index_or_key_of_an_emptied_connection)
    return removed + len(deleted)


def _learnt_at(note: dict[str, Any], base_url: str) -> bool:
    identity = KiboIdentity.from_json(note.get("issuedTo"))
    return identity is not None and identity.base_url == base_url


__getattr__ = renamed(__name__, {"running_in_task": "airflow_provider_kibo.airflow_compat:has_supervisor"})
