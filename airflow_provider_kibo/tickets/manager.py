"""
``TicketManager``: the life of one kind of Kibo ticket of one Connection, from login to log-out.

Plain Python, no Airflow: a store, a Kibo auth client (the kind and a transport), a clock and a
lock. :class:`~airflow_provider_kibo.hooks.base.KiboTicketHook` wires it to an Airflow Connection.

The rules (see the README, "Refresh rules"): a stored ticket valid beyond the advisory window is
used as it is; in the advisory window one caller refreshes ahead while the others go on with the
still-valid ticket; inside the mandatory window callers wait for one refresh and share it. The
password is used only when no refresh token works. Only tickets issued to the Connection's identity
are used; those of another identity are logged out and removed when the first new ticket is stored.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import requests

from airflow_provider_kibo.errors import KiboApiError, KiboAuthError, KiboConfigError, KiboError
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR, ticket_lock
from airflow_provider_kibo.tickets.kinds import TicketKind
from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketFormatError, TicketRecord

if TYPE_CHECKING:
    from airflow_provider_kibo.stores import TicketStore
    from airflow_provider_kibo.tickets.identity import KiboIdentity
    from airflow_provider_kibo.transport import KiboTransport

log = logging.getLogger(__name__)

ADVISORY_REFRESH_HEADSTART = timedelta(minutes=2)
"""Before the refresh margin (the mandatory window) comes an advisory window this much longer: in it
one caller refreshes ahead while every other caller goes on with the still-valid ticket."""
MAX_REFRESH_ATTEMPTS = 3
"""Distinct refresh tokens tried before logging in with the password; more means a race with other
workers that keeps rotating them, and the password settles it."""
OTHER_MACHINE_GRACE = timedelta(seconds=2)
"""How long a caller whose refresh token Kibo refused waits for the machine that used it to store
the ticket it got, before trying an older refresh token or the password."""
OTHER_MACHINE_POLL = timedelta(milliseconds=200)

T = TypeVar("T", bound=KiboAuthTicket)
Obtained = Literal["login", "refresh", "switch"]
"""How a new ticket was obtained: a login with the password, a refresh of the same scope's ticket,
or a switch (a refresh with the refresh token of another scope's ticket)."""


class Credentials(Protocol):
    """What the manager needs of a Connection's settings; its kind reads the credentials themselves."""

    @property
    def base_url(self) -> str: ...

    @property
    def identity(self) -> KiboIdentity: ...

    @property
    def refresh_margin(self) -> timedelta: ...

    @property
    def can_log_in(self) -> bool: ...

    @property
    def seed_ticket(self) -> Any: ...

    @property
    def seed_refresh_token(self) -> str | None: ...


def utcnow() -> datetime:
    """The current UTC time: the default clock."""
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class _Refresh:
    """One attempt's decision: refresh with ``token``, taken from ``source`` (``None``: the seed)."""

    token: str
    source: KiboAuthTicket | None


class TicketManager(Generic[T]):
    """
    Keeps one kind of Kibo ticket of a Connection in a store shared by every task and worker.

    :param kind: the kind of ticket
    :param config: the Connection's validated settings (host, credentials, seeds, refresh margin), which
        the kind reads its credentials from
    :param store: where the tickets are kept
    :param owner: the Connection id: the lock's name, and how messages name the Connection
    :param transport_for: a transport to a Kibo host; ``best_effort`` asks for one short attempt
    :param clock: returns the current UTC time
    :param lock_dir: the folder of the lock files that serialize refreshes on this machine
    :param sleep: waits for another machine's ticket
    :param on_ticket: called with each ticket read or obtained and the time (to mask its tokens)
    """

    def __init__(
        self,
        kind: TicketKind[T],
        config: Credentials,
        store: TicketStore,
        *,
        owner: str,
        transport_for: Callable[..., KiboTransport],
        clock: Callable[[], datetime] = utcnow,
        lock_dir: Path = DEFAULT_LOCK_DIR,
        sleep: Callable[[float], None] = time.sleep,
        on_ticket: Callable[[KiboAuthTicket, datetime], None] = lambda ticket, now: None,
    ) -> None:
        self.kind = kind
        self.config = config
        self.store = store
        self.owner = owner
        self._transport_for = transport_for
        self._clock = clock
        self._lock_dir = lock_dir
        self._sleep = sleep
        self._on_ticket = on_ticket
        self._tickets: dict[int, T] = {}
        self._saw_other_identity = False
        self._warned_unbound = False
        self.obtained: list[Obtained] = []
        """Each new ticket this manager got from Kibo and stored, in order."""

    @property
    def identity(self) -> KiboIdentity:
        """Whom the Connection logs in as; only tickets issued to this identity are used."""
        return self.config.identity

    def now(self) -> datetime:
        """The current UTC time, by the manager's clock."""
        return self._clock()

    @functools.cached_property
    def _auth(self) -> KiboTransport:
        return self._transport_for(self.config.base_url)

    @functools.cached_property
    def _seed_ticket(self) -> T | None:
        seed = self.config.seed_ticket
        if seed is None or not self.kind.uses_seeds:
            return None
        return seed.issued(self.identity)

    @property
    def _seed_refresh_token(self) -> str | None:
        return self.config.seed_refresh_token if self.kind.uses_seeds else None

    @functools.cached_property
    def _seed_record(self) -> TicketRecord | None:
        return self._seed_ticket.record() if self._seed_ticket is not None else None

    # -- what callers ask for -----------------------------------------------------------------------

    def get(self, scope: int, min_valid_for: timedelta) -> T:
        """
        A ticket for the scope valid for at least the refresh margin, or ``min_valid_for`` if longer.

        :param scope: the developer account or tenant
        :param min_valid_for: how long the access token must stay valid at least
        """
        mandatory = max(self.config.refresh_margin, min_valid_for)
        advisory = mandatory + ADVISORY_REFRESH_HEADSTART
        now = self.now()
        ticket = self._tickets.get(scope)
        if ticket is None or ticket.access_valid_for(now) <= advisory:
            ticket = self.stored(scope, also=ticket)
        if ticket is not None and ticket.access_valid_for(now) > advisory:
            return self._remember(scope, ticket)
        if ticket is not None and ticket.access_valid_for(now) > mandatory:
            with ticket_lock(self._lock_dir, self._lock_name, blocking=False) as locked:
                if locked:
                    try:
                        return self._renew_locked(scope, valid_beyond=advisory)
                    except KiboError as err:
                        log.warning(
                            "Refreshing ahead the Kibo ticket of %s failed (%s); the current one is valid until %s",
                            self.kind.describe(scope),
                            err,
                            ticket.access_token_expires_at.isoformat(),
                        )
            return self._remember(scope, ticket)
        with self._locked():
            return self._renew_locked(scope, valid_beyond=mandatory)

    def refresh(self, scope: int) -> T:
        """A new ticket for the scope from Kibo now, whatever is stored; also how to switch scopes."""
        with self._locked():
            return self._renew_locked(scope, valid_beyond=None)

    def revoke(self, scope: int) -> None:
        """Log the scope's ticket out of Kibo and empty its slot (and the latest one if it holds the same)."""
        latest_slot = self.kind.latest_slot
        with self._locked():
            ticket = self.stored(scope)
            if ticket is not None:
                self.kind.log_out(self._auth, ticket.refresh_token)
                latest = self._read(latest_slot)
                if latest is not None and latest.refresh_token == ticket.refresh_token:
                    self.store.delete(latest_slot)
            self.store.delete(self.kind.slot(scope))
            self._tickets.pop(scope, None)
        log.info("Logged out the Kibo ticket of %s", self.kind.describe(scope))

    def force_login(self, scope: int) -> T:
        """
        Log in with the password now, store the new ticket, then log out every earlier ticket of the
        Connection (and its seeds); a wrong password leaves them as they were.

        :raises KiboConfigError: when the Connection has no password
        """
        if not self.config.can_log_in:
            raise KiboConfigError("password", f"logging in again needs the {self.kind.credentials} in the Connection")
        with self._locked():
            earlier = self._stored_slots()
            ticket = self._store_new(scope, self._create(scope), "login")
            self._retire(earlier, keep={self.kind.slot(scope), self.kind.latest_slot}, seeds=True)
        log.info("Logged in to Kibo again for %s and logged out the earlier tickets", self.kind.describe(scope))
        return ticket

    def revoke_all(self) -> None:
        """
        Log out every stored ticket of this kind (of every scope, whoever it was issued to) and the
        Connection's seeds, and remove them.

        :raises KiboApiError: when Kibo did not log out every session; the tickets are removed all the same
        """
        with self._locked():
            stored = self._stored_slots()
            failed = self._retire(stored, keep=set(), seeds=True)
            self._tickets.clear()
        if failed:
            raise KiboApiError(
                f"Could not log out {failed} Kibo session(s) of Connection {self.owner} (see the warnings "
                "above); they stay valid until their refresh tokens expire"
            )
        log.info("Logged out the %d stored Kibo tickets of Connection %s", len(stored), self.owner)

    def stored(self, scope: int, also: T | None = None) -> T | None:
        """The ticket for the scope that lasts longest, among the store, the seed and ``also``."""
        found = [
            t
            for t in (self._read(self.kind.slot(scope)), also, self._seed_ticket)
            if t is not None and t.scope_id == scope
        ]
        return max(found, key=lambda t: t.access_token_expires_at, default=None)

    def stored_record(self, scope: int) -> TicketRecord | None:
        """The record of the longest-lasting ticket for the scope, stored (read without its secrets
        where the store can) or seeded; one issued to another identity counts as absent."""
        stored = self.store.read_record(self.kind.slot(scope))
        if stored is not None and stored.issued_to != self.identity:
            stored = None
        found = [r for r in (stored, self._seed_record) if r is not None and r.scope_id == scope]
        return max(found, key=lambda r: r.access_token_expires_at, default=None)

    # -- renewal ------------------------------------------------------------------------------------

    @property
    def _lock_name(self) -> str:
        """One lock per Connection and kind: a refresh token of one kind cannot refresh the other."""
        return f"{self.owner}#{self.kind.slot_prefix}" if self.kind.slot_prefix else self.owner

    def _locked(self) -> AbstractContextManager[bool]:
        return ticket_lock(self._lock_dir, self._lock_name)

    def _renew_locked(self, scope: int, *, valid_beyond: timedelta | None) -> T:
        """
        Under the lock: a ticket for the scope that stays valid beyond ``valid_beyond``, stored; with
        ``None`` a new one from Kibo, whatever is stored.

        Locks are per machine, so another machine may be renewing the same tickets meanwhile. Each
        attempt decides on one reading of the store (:meth:`_decide`). When Kibo refuses the refresh
        token, another machine has most likely just used it (refresh tokens may be single-use): wait
        briefly for the ticket that machine stores, then decide again. Log in with the password only
        when no refresh token works.
        """
        refused: set[str] = set()
        outlast: datetime | None = None
        """After a refusal, a stored ticket must outlast every refused one to be taken."""
        while len(refused) < MAX_REFRESH_ATTEMPTS:
            decision = self._decide(scope, valid_beyond, refused, outlast)
            if decision is None:
                break
            if not isinstance(decision, _Refresh):
                return self._remember(scope, decision)
            try:
                return self._store_new(scope, self._refresh_with(scope, decision.token), self._how(scope, decision))
            except KiboAuthError as err:
                if self.kind.denies_scope(err):
                    raise self._access_error(scope, err) from None
                log.info(
                    "Kibo refused a stored refresh token (%s); another machine may just have used it",
                    err.error_code or err.status_code,
                )
            refused.add(decision.token)
            if decision.source is not None:
                expiry = decision.source.access_token_expires_at
                outlast = expiry if outlast is None else max(outlast, expiry)
                self._await_newer_than(scope, outlast)
            if valid_beyond is None:
                valid_beyond = self.config.refresh_margin  # a ticket stored since will do now
        return self._store_new(scope, self._create(scope), "login")

    def _decide(
        self, scope: int, valid_beyond: timedelta | None, refused: set[str], outlast: datetime | None
    ) -> T | _Refresh | None:
        """
        On one reading of the store: a stored ticket for the scope valid beyond ``valid_beyond`` (and
        outlasting ``outlast``), else the freshest refresh token not yet refused, else ``None``.
        """
        known = self._candidates(scope)
        now = self.now()
        if valid_beyond is not None:
            for ticket in known:
                good = ticket.scope_id == scope and ticket.access_valid_for(now) > valid_beyond
                if good and (outlast is None or ticket.access_token_expires_at > outlast):
                    return ticket
        for ticket in known:
            if ticket.refresh_valid_for(now) > self.config.refresh_margin and ticket.refresh_token not in refused:
                return _Refresh(ticket.refresh_token, ticket)
        seed = self._seed_refresh_token
        return _Refresh(seed, None) if seed is not None and seed not in refused else None

    @staticmethod
    def _how(scope: int, decision: _Refresh) -> Obtained:
        return "switch" if decision.source is not None and decision.source.scope_id != scope else "refresh"

    def _candidates(self, scope: int) -> list[T]:
        """Every ticket within reach, the store read once: the scope's, then :meth:`_known_tickets`;
        the one that lasts longest first."""
        found = [t for t in (self._read(self.kind.slot(scope)), *self._known_tickets()) if t is not None]
        return sorted(found, key=lambda t: (t.access_token_expires_at, t.refresh_token_expires_at), reverse=True)

    def _await_newer_than(self, scope: int, expiry: datetime) -> None:
        """Poll the store (for :data:`OTHER_MACHINE_GRACE` at most) until it holds a ticket of the
        scope, or a latest one, that outlasts ``expiry``."""
        for _ in range(round(OTHER_MACHINE_GRACE / OTHER_MACHINE_POLL)):
            stored = (self._read(self.kind.slot(scope)), self._read(self.kind.latest_slot))
            if any(t is not None and t.access_token_expires_at > expiry for t in stored):
                return
            self._sleep(OTHER_MACHINE_POLL.total_seconds())

    def _known_tickets(self) -> list[T]:
        """Every ticket of this kind within reach: stored (latest first), remembered, seeded."""
        found = [self._read(self.kind.latest_slot), *self._tickets.values(), self._seed_ticket]
        return [t for t in found if t is not None]

    def _read(self, slot: str) -> T | None:
        """The ticket in a slot when it was issued to the Connection's identity; any other counts as absent."""
        ticket = self._read_any(slot)
        if ticket is None or ticket.issued_to == self.identity:
            return ticket
        self._saw_other_identity = True
        if ticket.issued_to is None and not self._warned_unbound:
            self._warned_unbound = True
            log.warning(
                "The Kibo tickets of Connection %s in %s were stored by an earlier version of the provider, "
                "which did not record whom they were issued to; they are replaced by new ones",
                self.owner,
                self.store.description,
            )
        return None

    def _read_any(self, slot: str) -> T | None:
        ticket = self.store.read(slot)
        if not isinstance(ticket, self.kind.ticket_class):
            return None
        self._on_ticket(ticket, self.now())
        return ticket

    # -- asking Kibo --------------------------------------------------------------------------------

    def _refresh_with(self, scope: int, refresh_token: str) -> T:
        response = self.kind.refresh(self._auth, refresh_token, scope)
        log.info("Refreshed the Kibo ticket of %s", self.kind.describe(scope))
        return self._ticket_from(response, scope)

    def _create(self, scope: int) -> T:
        if not self.config.can_log_in:
            known = self._known_tickets()
            if known and scope not in known[0].available_scope_ids:
                raise self._access_error(scope, None)
            if not self.kind.uses_seeds:
                raise KiboAuthError(
                    f"Connection {self.owner} has no password: Kibo issues {self.kind.scope_label} tickets "
                    "only to a login with the password (a seed ticket or refresh token is for developer "
                    "accounts); set the password"
                )
            raise KiboAuthError(
                f"No refresh token of Connection {self.owner} is accepted any more, and it has no "
                "password to log in with. Re-seed it: put a new ticket in extra.seed_ticket or a refresh "
                "token in extra.refresh_token, or set the password"
            )
        try:
            return self._log_in(scope)
        except KiboAuthError as err:
            if self.kind.refused_credentials(err):
                raise KiboAuthError(
                    f"Kibo refused the {self.kind.credentials} of Connection {self.owner}; "
                    "correct them in the Connection",
                    status_code=err.status_code,
                    error_code=err.error_code,
                    api_message=err.api_message,
                    correlation_id=err.correlation_id,
                ) from None
            raise self._access_error(scope, err) from None

    def _log_in(self, scope: int | None) -> T:
        """Log in with the credentials; without a scope Kibo picks the user's default one."""
        response = self.kind.log_in(self._auth, self.config, scope)
        log.info("Logged in to Kibo with the credentials of Connection %s", self.owner)
        return self._ticket_from(response, scope)

    def _access_error(self, scope: int, err: KiboApiError | None) -> KiboAuthError:
        """The error for a scope Kibo refused, listing the user's scopes (learning them by a login
        to the default scope when no ticket is known yet)."""
        known = self._known_tickets()
        if not known and self.config.can_log_in:
            try:
                default = self._log_in(None)
            except KiboError:
                pass
            else:
                known = [self._store_new(default.scope_id, default, "login")]
        available = known[0].available_scope_ids if known else ()
        details = (
            {}
            if err is None
            else {
                "status_code": err.status_code,
                "error_code": err.error_code,
                "api_message": err.api_message,
                "correlation_id": err.correlation_id,
            }
        )
        return self.kind.access_error(scope, available, **details)

    def _ticket_from(self, response: requests.Response, scope: int | None) -> T:
        correlation_id = response.headers.get("x-vol-correlation")
        try:
            ticket = self.kind.parse(response.json(), self.config, self.now())
        except (ValueError, TicketFormatError) as err:
            raise KiboApiError(
                "Kibo answered with an incomplete ticket", api_message=str(err), correlation_id=correlation_id
            ) from None
        self._on_ticket(ticket, self.now())
        ticket = ticket.issued(self.identity)
        if scope is not None and ticket.scope_id != scope:
            raise KiboApiError(
                f"Kibo answered with a ticket for {self.kind.describe(ticket.scope_id)} instead of {scope}",
                correlation_id=correlation_id,
            )
        return ticket

    def _store_new(self, scope: int, ticket: T, how: Obtained) -> T:
        """Under the lock: store a ticket just issued, first retiring what other identities left behind."""
        if self._saw_other_identity:
            self._saw_other_identity = False
            stale = {slot: t for slot, t in self._stored_slots().items() if t.issued_to != self.identity}
            self._retire(stale, keep=set(), seeds=False)
        for slot in dict.fromkeys((self.kind.slot(scope), self.kind.latest_slot)):
            self.store.write(slot, ticket)
        self.obtained.append(how)
        return self._remember(scope, ticket)

    def _remember(self, scope: int, ticket: T) -> T:
        self._tickets[scope] = ticket
        return ticket

    # -- ending sessions ----------------------------------------------------------------------------

    def _log_out(self, refresh_tokens: dict[str, KiboIdentity]) -> int:
        """
        Log out each refresh token at the host of the identity it was issued to; return how many
        could not be, each with a warning. At the Connection's own host the usual retries apply; at
        another (a previous identity's, which may no longer answer) one short attempt.

        :param refresh_tokens: the refresh tokens, with whom they were issued to
        """
        failed = 0
        for token, identity in refresh_tokens.items():
            own_host = identity.base_url == self.identity.base_url
            transport = self._auth if own_host else self._transport_for(identity.base_url, best_effort=True)
            try:
                self.kind.log_out(transport, token)
            except KiboError as err:
                failed += 1
                log.warning("Could not log out a Kibo ticket issued to %s: %s", identity, err)
        return failed

    def _stored_slots(self) -> dict[str, T]:
        """Every ticket of this kind stored for the Connection, whoever it was issued to, in every slot
        the store ever wrote: also those of accounts or tenants the user has lost since."""
        found = {slot: self._read_any(slot) for slot in self.store.slots() if self.kind.owns(slot)}
        return {slot: ticket for slot, ticket in found.items() if ticket is not None}

    def _retire(self, tickets: dict[str, T], *, keep: set[str], seeds: bool) -> int:
        """
        Under the lock: log out stored tickets (and with ``seeds`` the Connection's seeds too), and
        empty their slots except those in ``keep``; return how many refresh tokens could not be
        logged out (each with a warning).

        A ticket is logged out at the host of the identity it was issued to; one stored without its
        identity (by an earlier version) is only removed, as nothing says which host may see its
        refresh token.

        :param tickets: the tickets by slot, as :meth:`_stored_slots` found them
        :param keep: slots not to empty (they already hold a new ticket)
        :param seeds: log out the Connection's seed ticket and seed refresh token too
        """
        refresh_tokens = {t.refresh_token: t.issued_to for t in tickets.values() if t.issued_to is not None}
        if seeds:
            seed_tokens = (self._seed_ticket.refresh_token if self._seed_ticket else None, self._seed_refresh_token)
            refresh_tokens.update((token, self.identity) for token in seed_tokens if token)
        failed = self._log_out(refresh_tokens)
        for slot in tickets.keys() - keep:
            self.store.delete(slot)
        others = sorted({str(t.issued_to) for t in tickets.values() if t.issued_to not in (None, self.identity)})
        if others:
            log.info(
                "Connection %s now logs in as %s; logged out and removed the Kibo tickets issued to %s",
                self.owner,
                self.identity,
                ", ".join(others),
            )
        return failed
