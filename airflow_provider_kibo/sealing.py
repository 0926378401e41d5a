"""
Tickets sealed at rest: what a store keeps is unreadable without the Connection's sealing key.

A sealed ticket is a JSON *entry*: the ticket's :class:`~airflow_provider_kibo.tickets.values.TicketRecord`
(whom it was issued to, its scope, expiry and summary: no secret), the id of the key
that sealed it, and the ticket itself encrypted and authenticated with Fernet (AES-128-CBC with
HMAC-SHA256, from ``cryptography``, which Airflow already depends on). The key is one Airflow
Variable per Connection, ``kibo_ticket_secret__<conn_id>``, whose name Airflow treats as secret: it
masks the key in its UI, REST API and logs, encrypts it at rest with its own Fernet key when one is
configured, and each Airflow process learns that one mask, however many tickets rotate.

- **Two first writers** (on two machines; one machine's writers take turns) may each create a key:
  Variables have no create-if-absent, so the later write replaces the earlier key. A writer reads
  the key back after setting it, and after writing a sealed ticket checks that the key is still the
  one it sealed with, sealing again otherwise. A writer that had already finished when its key was
  replaced leaves a ticket that no key opens: it counts as absent (one warning) and costs one refresh
  or login. This can only happen while a Connection gets its very first tickets.
- **A lost or deleted key** makes the sealed tickets unreadable: each counts as absent (one warning),
  the next ticket is obtained from Kibo (a refresh token known elsewhere, or the password) and sealed
  under a new key. The unreadable tickets cannot be logged out; they expire at Kibo.
- **A copy** of the metadata database holds the key beside the tickets, as it holds the Connection's
  password: protect it as such. What the UI, the REST API and ``airflow variables export`` show of a
  ticket Variable is ciphertext and a record, neither usable as a token.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketFormatError, TicketRecord, ticket_from_stored

if TYPE_CHECKING:
    from airflow_provider_kibo.variables import Variables

log = logging.getLogger(__name__)

KEY_PREFIX = "kibo_ticket_secret"
"""The sealing key of a Connection is the Variable ``<prefix>__<conn_id>``; "secret" in its name
makes Airflow mask its value."""
SETTLE_ATTEMPTS = 3
"""How often a writer seals again when the key changed under it (a racing first writer)."""


def key_id(key: str) -> str:
    """Names a key without revealing it: 16 hex digits of a SHA-256 of it."""
    return hashlib.sha256(f"kibo-ticket-key:{key}".encode()).hexdigest()[:16]


class TicketSeal:
    """
    Seals and opens the tickets of one Connection with its key.

    :param conn_id: the Kibo Connection
    :param variables: where the key is kept
    """

    def __init__(self, conn_id: str, variables: Variables) -> None:
        self.key_name = f"{KEY_PREFIX}__{conn_id}"
        self._conn_id = conn_id
        self._variables = variables
        self._key: str | None = None
        self._warned = False

    def write(self, ticket: KiboAuthTicket, put: Callable[[dict[str, Any]], None]) -> None:
        """
        Seal ``ticket`` and hand the entry to ``put``, creating the key if there is none; seal and put
        again while another writer changed the key meanwhile (see the module's notes).

        :param ticket: the ticket
        :param put: writes the entry where the store keeps it
        """
        key = self._current(create=True)
        for _ in range(SETTLE_ATTEMPTS):
            assert key is not None  # created when missing
            put(self._entry(ticket, key))
            latest = self._current(create=True, reread=True)
            if latest == key:
                return
            key = latest
        log.warning("The sealing key of Connection %s kept changing while a ticket was written", self._conn_id)

    def open(self, entry: dict[str, Any], where: str) -> KiboAuthTicket | None:
        """
        The ticket of an entry; ``None`` (with one warning) when no current key opens it.

        :param entry: the stored entry
        :param where: the store and slot, for the warning
        """
        sealed_with, sealed = entry.get("sealedWith"), entry.get("sealed")
        if not isinstance(sealed, str):
            return None
        key = self._current(create=False)
        if key is None or key_id(key) != sealed_with:
            key = self._current(create=False, reread=True)
        if key is None or key_id(key) != sealed_with:
            self._warn(where, "it was sealed with a key this Connection no longer has")
            return None
        try:
            return ticket_from_stored(json.loads(Fernet(key.encode()).decrypt(sealed.encode())))
        except (InvalidToken, ValueError, TicketFormatError):
            self._warn(where, "it does not open with the Connection's key")
            return None

    def _entry(self, ticket: KiboAuthTicket, key: str) -> dict[str, Any]:
        payload = json.dumps(ticket.to_stored()).encode()
        return {
            "record": ticket.record().to_stored(),
            "sealedWith": key_id(key),
            "sealed": Fernet(key.encode()).encrypt(payload).decode(),
        }

    def _current(self, *, create: bool, reread: bool = False) -> str | None:
        """The Connection's key (read once, or again with ``reread``), created when asked and missing."""
        if self._key is None or reread:
            self._key = self._variables.get(self.key_name)
        if self._key is None and create:
            self._variables.set(
                self.key_name,
                Fernet.generate_key().decode(),
                f"Seals the Kibo tickets of Connection {self._conn_id} (airflow-provider-kibo)",
            )
            self._key = self._variables.get(self.key_name)  # a racing writer's key if it came last
        return self._key

    def _warn(self, where: str, why: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("Ignoring the Kibo ticket in %s: %s; a new one is obtained", where, why)


def entry_record(entry: Any, where: str) -> TicketRecord | None:
    """
    The record of a stored entry, readable without any key; ``None`` for a damaged entry.

    :param entry: the decoded entry
    :param where: the store and slot, for the warning
    """
    try:
        return TicketRecord.from_stored(entry["record"] if isinstance(entry, dict) else None)
    except (KeyError, TicketFormatError) as err:
        log.warning("Ignoring the unreadable Kibo ticket record in %s: %s", where, err)
        return None
