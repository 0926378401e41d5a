"""
Kibo secrets in Airflow's secrets masker while they can be used, and only then.

Airflow's masker keeps every string it is given for the life of the process, recompiles one regex
of all of them for each new one, and matches every log line against it. A long-lived process (the
triggerer, a long task, a ``dag.test()`` session) meets a new ticket at each rotation, so both costs
would grow without end. Here each secret is registered once with the time until which it can be
used: the access token (and its JWT) until the access token expires, the refresh token until the
refresh token expires, the password for ever, each with :data:`EXPIRY_GRACE` for clock skew.
At each new ticket this process's maskers lose the tokens that can no longer be used, and the masks
Airflow adds by itself for a stored ticket as a whole (the value of a sensitive-named Variable, a
Connection's extra): each holds tokens that are masked on their own, so it is redundant. A secret
is passed to Airflow's public ``mask_secret`` only when this process's masker lacks it, which also
tells a task's or the triggerer's supervisor, once; a supervisor cannot be told to forget one.

Airflow has no public API to remove a mask: the maskers' internals are reached through
:mod:`airflow_provider_kibo.airflow_compat`, and where they are not as expected the provider falls
back to the public ``mask_secret`` alone, never removing.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_kibo import airflow_compat

if TYPE_CHECKING:
    from airflow_provider_kibo.tickets.values import KiboAuthTicket

EXPIRY_GRACE = timedelta(minutes=5)
"""A token stays masked this long after it expires, in case Kibo's clock is behind ours."""


class _Registry:
    """The Kibo secrets this process masks, each with the time until which it can be used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._until: dict[str, datetime | None] = {}
        self._seen: dict[int, set[str]] = {}

    def mask(self, secrets: dict[str, datetime | None], now: datetime | None) -> None:
        """
        Mask ``secrets`` (secret -> usable until, ``None`` for ever); forget what has expired by ``now``.

        :param secrets: the secrets to mask
        :param now: the current time, or ``None`` to forget nothing
        """
        secrets = {s: until for s, until in secrets.items() if s}
        maskers = airflow_compat.loaded_maskers()
        if maskers is None:
            _public_mask(secrets)
            return
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
            for secret, until in secrets.items():
                known = self._until.get(secret, until)
                self._until[secret] = None if known is None or until is None else max(known, until)
            expired = {
                s
                for s, until in self._until.items()
                if now is not None and until is not None and until + EXPIRY_GRACE < now
            }
            for secret in expired:
                del self._until[secret]
            live = [s for s in secrets if s not in expired]
            unknown_to_sdk = [
                s for s in live if not airflow_compat.masker_patterns(maskers[0], s) <= maskers[0].patterns
            ]
            for masker in maskers:
                add = {p for s in live for p in airflow_compat.masker_patterns(masker, s)} - masker.patterns
                remove = {p for s in expired for p in airflow_compat.masker_patterns(masker, s)} | self._redundant(
                    masker
                )
                if add or remove & masker.patterns:
                    airflow_compat.update_masker(masker, add, remove)
                self._seen[id(masker)] = set(masker.patterns)
        _public_mask(unknown_to_sdk)

    def _redundant(self, masker: Any) -> set[str]:
        """The masker's new patterns that contain a registered secret: whole stored tickets."""
        fresh = masker.patterns - self._seen.get(id(masker), set())
        secrets = [re.escape(s) for s in self._until]
        return {p for p in fresh if any(s in p and s != p for s in secrets)}


def _public_mask(secrets: Iterable[str]) -> None:
    """Airflow's public ``mask_secret``: this process's masker, and a supervisor's if there is one."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        mask_secret(secret)


_registry = _Registry()


def mask_secrets(secrets: Iterable[str]) -> None:
    """
    Mask secrets that never expire (a password, a seed refresh token of unknown expiry).

    :param secrets: the secret strings
    """
    _registry.mask(dict.fromkeys(secrets), None)


def mask_ticket(ticket: KiboAuthTicket, now: datetime) -> None:
    """
    Mask a ticket's tokens until they expire, and stop masking those of tickets expired by ``now``.

    :param ticket: the ticket
    :param now: the current time, from the caller's clock
    """
    access = ticket.access_token_expires_at
    _registry.mask(
        {
            ticket.access_token: access,
            ticket.jwt_access_token or "": access,
            ticket.refresh_token: ticket.refresh_token_expires_at,
        },
        now,
    )
