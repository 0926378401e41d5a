"""``KiboTicketHook``: the life of one kind of Kibo auth ticket of a Connection, from login to log-out.

The developer hook (tickets per developer account) and the tenant hook (tickets per tenant) are
this machinery with a :class:`TicketKind` each: the same store, locks, refresh windows, identity
binding and masking, with their own endpoints, slots and errors.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import requests
from airflow.sdk import BaseHook

from airflow_provider_kibo.config import KiboConnectionConfig, validate_min_valid_for
from airflow_provider_kibo.errors import KiboApiError, KiboAuthError, KiboConfigError, KiboError
from airflow_provider_kibo.identity import KiboIdentity
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR, ticket_lock
from airflow_provider_kibo.masking import mask_secrets, mask_ticket
from airflow_provider_kibo.session import KiboBearerAuth, KiboSession
from airflow_provider_kibo.stores import TicketStore, variable_or_memory_store
from airflow_provider_kibo.ticket import KiboAuthTicket, TicketFormatError, TicketRecord
from airflow_provider_kibo.transport import DEFAULT_RETRY_POLICY, KiboTransport, RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection

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
DEFAULT_PAGE_SIZE = 100

T = TypeVar("T", bound=KiboAuthTicket)


@dataclasses.dataclass(frozen=True)
class TicketKind(Generic[T]):
    """
    What sets one kind of Kibo ticket apart from another.

    :param ticket_class: the ticket's type, which parses Kibo's JSON
    :param auth_endpoint: where tickets are created (``POST``) and refreshed or switched (``PUT``)
    :param logout_endpoint: where a refresh token is logged out (``DELETE``)
    :param scope_param: the query parameter naming the scope (account or tenant) on those calls
    :param scope_label: the scope in messages, e.g. ``developer account``
    :param slot_prefix: the prefix of this kind's slots in the ticket store
    :param access_error: builds the error for a scope the user cannot use, from the scope, the
        scopes the user has, and Kibo's error details
    :param uses_seeds: whether the Connection's ``seed_ticket`` and ``refresh_token`` are of this kind
    """

    ticket_class: type[T]
    auth_endpoint: str
    logout_endpoint: str
    scope_param: str
    scope_label: str
    slot_prefix: str
    access_error: Callable[..., KiboAuthError]
    uses_seeds: bool

    def slot(self, scope: int) -> str:
        """The store slot of a scope's ticket."""
        return f"{self.slot_prefix}{scope}"

    @property
    def latest_slot(self) -> str:
        """The store slot of this kind's newest ticket, whose refresh token can switch to any scope."""
        return f"{self.slot_prefix}latest"


def utcnow() -> datetime:
    """The current UTC time: the hooks' clock unless a test passes another."""
    return datetime.now(UTC)


class KiboTicketHook(BaseHook, Generic[T]):
    """
    Keeps one kind of Kibo ticket of a ``kibo_developer`` Connection, shared through a store.

    A valid stored ticket is reused, one near expiry is refreshed by one caller at a time (see the
    README, "Refresh rules"), and the password is used only when no refresh token works. Only tickets
    issued to the Connection's identity are used; those of another identity are logged out and
    removed when the first new ticket is stored.

    :param kibo_conn_id: the Connection with the Kibo home URL, email address and password
    :param clock: returns the current UTC time; tests pass another
    :param lock_dir: the folder of the lock files that serialize refreshes on this machine
    :param retry_policy: retry limits of each request to Kibo
    :param sleep: waits between retries, and for another machine's ticket; tests pass another
    :param store: where tickets are kept; by default chosen for this process (see ``stores``)
    """

    kind: TicketKind[T]

    def __init__(
        self,
        kibo_conn_id: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        lock_dir: Path | str = DEFAULT_LOCK_DIR,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        store: TicketStore | None = None,
    ) -> None:
        super().__init__()
        self.kibo_conn_id = kibo_conn_id
        self._clock = clock
        self._lock_dir = Path(lock_dir)
        self._retry_policy = retry_policy
        self._sleep = sleep
        self._store_override = store
        self._tickets: dict[int, T] = {}
        self._held: dict[str, T] = {}
        """The ticket this hook last read or stored in each slot, which the store may hand back unread."""
        self._saw_other_identity = False
        self._warned_unbound = False
        self.tickets_obtained = 0
        """How many new tickets this hook got from Kibo (logins and refreshes) and stored."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r})"

    # -- configuration, read on first use ---------------------------------------------------------

    @functools.cached_property
    def config(self) -> KiboConnectionConfig:
        """The validated Connection; its secrets are registered for masking."""
        config = self.config_from(self.get_connection(self.kibo_conn_id))
        mask_secrets(config.secrets)
        return config

    @staticmethod
    def config_from(conn: Connection) -> KiboConnectionConfig:
        """
        Validate a Connection without touching Kibo.

        :param conn: a ``kibo_developer`` Connection
        """
        return KiboConnectionConfig.from_connection(conn)

    @functools.cached_property
    def store(self) -> TicketStore:
        """Where this hook reads and writes tickets."""
        if self._store_override is not None:
            return self._store_override
        variables = variable_or_memory_store(self.kibo_conn_id)
        if not self.config.airflow_api_conn_id:
            return variables
        from airflow_provider_kibo.connection_store import (
            AirflowApiClient,
            ConnectionTicketStore,
            WriteBackStore,
        )

        api_conn = self.get_connection(self.config.airflow_api_conn_id)
        api = AirflowApiClient.from_connection(api_conn, timeout=self.config.request_timeout)
        return WriteBackStore(ConnectionTicketStore(self.kibo_conn_id, api), variables, self.identity)

    @property
    def identity(self) -> KiboIdentity:
        """Whom the Connection logs in as; only tickets issued to this identity are used."""
        return self.config.identity

    @functools.cached_property
    def _seed_ticket(self) -> T | None:
        seed = self.config.seed_ticket
        if seed is None or not self.kind.uses_seeds:
            return None
        return seed.issued(self.identity)  # type: ignore[return-value]  # seeds are of the seeded kind

    @property
    def _seed_refresh_token(self) -> str | None:
        return self.config.seed_refresh_token if self.kind.uses_seeds else None

    @functools.cached_property
    def _auth_transport(self) -> KiboTransport:
        return self._transport(self._new_session(self.config.base_url))

    def _new_session(self, base_url: str) -> KiboSession:
        config = self.config
        return KiboSession(base_url, timeout=config.request_timeout, verify=config.verify_tls)

    def _transport(self, session: KiboSession) -> KiboTransport:
        return KiboTransport(session, retry_policy=self._retry_policy, sleep=self._sleep)

    @property
    def scope_id(self) -> int:
        """The developer account or tenant the hook works on when a call names none."""
        raise NotImplementedError

    def scope_description(self) -> str:
        """What the hook's tickets are for, in words, e.g. ``developer account 1001``."""
        return f"{self.kind.scope_label} {self.scope_id}"

    def _home_scope(self) -> int | None:
        """The scope the hook works on when a call names none, if any; also swept with the others."""
        return None

    def now(self) -> datetime:
        """The hook's clock: the current UTC time."""
        return self._clock()

    # -- the ticket lifecycle ---------------------------------------------------------------------

    def _get_ticket(self, scope: int, min_valid_for: timedelta | None) -> T:
        mandatory = max(self.config.refresh_margin, validate_min_valid_for(min_valid_for))
        advisory = mandatory + ADVISORY_REFRESH_HEADSTART
        now = self.now()
        ticket = self._tickets.get(scope)
        if ticket is None or ticket.access_valid_for(now) <= advisory:
            ticket = self._freshest_stored(scope, also=ticket)
        if ticket is not None and ticket.access_valid_for(now) > advisory:
            return self._remember(scope, ticket)
        if ticket is not None and ticket.access_valid_for(now) > mandatory:
            with ticket_lock(self._lock_dir, self._lock_name, blocking=False) as locked:
                if locked:
                    try:
                        return self._renew_locked(scope, valid_beyond=advisory)
                    except KiboError as err:
                        log.warning(
                            "Refreshing ahead the Kibo ticket of %s %s failed (%s); the current one is valid until %s",
                            self.kind.scope_label,
                            scope,
                            err,
                            ticket.access_token_expires_at.isoformat(),
                        )
            return self._remember(scope, ticket)
        with self._locked():
            return self._renew_locked(scope, valid_beyond=mandatory)

    def _refresh_ticket(self, scope: int) -> T:
        with self._locked():
            return self._renew_locked(scope, valid_beyond=None)

    def _revoke_ticket(self, scope: int) -> None:
        latest_slot = self.kind.latest_slot
        with self._locked():
            ticket = self._freshest_stored(scope)
            if ticket is not None:
                self._auth_transport.request(
                    "DELETE", self.kind.logout_endpoint, params={"refreshToken": ticket.refresh_token}
                )
                latest = self._read(latest_slot)
                if latest is not None and latest.refresh_token == ticket.refresh_token:
                    self.store.delete(latest_slot)
            self.store.delete(self.kind.slot(scope))
            self._tickets.pop(scope, None)
        log.info("Logged out the Kibo ticket of %s %s", self.kind.scope_label, scope)

    def _force_login(self, scope: int) -> T:
        if not self.config.password:
            raise KiboConfigError("password", "logging in again needs the Kibo user's password in the Connection")
        with self._locked():
            earlier = self._stored_slots()
            ticket = self._store_new(scope, self._create(scope))
            self._retire(earlier, keep={self.kind.slot(scope), self.kind.latest_slot}, seeds=True)
        log.info("Logged in to Kibo again for %s %s and logged out the earlier tickets", self.kind.scope_label, scope)
        return ticket

    def revoke_all_tickets(self) -> None:
        """
        End every session of this kind of ticket of the Connection now: log out every stored ticket
        (of every scope, whoever it was issued to) and the Connection's seeds, and remove them.

        The next call logs in with the password (or fails with :class:`KiboAuthError` when the
        Connection has none).

        :raises KiboApiError: when Kibo did not log out every session; the tickets are removed all the same
        """
        with self._locked():
            stored = self._stored_slots()
            failed = self._retire(stored, keep=set(), seeds=True)
            self._tickets.clear()
        if failed:
            raise KiboApiError(
                f"Could not log out {failed} Kibo session(s) of Connection {self.kibo_conn_id} (see the warnings "
                "above); they stay valid until their refresh tokens expire"
            )
        log.info("Logged out the %d stored Kibo tickets of Connection %s", len(stored), self.kibo_conn_id)

    @property
    def _lock_name(self) -> str:
        """One lock per Connection and kind: a refresh token of one kind cannot refresh the other."""
        return f"{self.kibo_conn_id}#{self.kind.slot_prefix}" if self.kind.slot_prefix else self.kibo_conn_id

    def _locked(self) -> AbstractContextManager[bool]:
        return ticket_lock(self._lock_dir, self._lock_name)

    def _renew_locked(self, scope: int, *, valid_beyond: timedelta | None) -> T:
        """
        Under the lock: a ticket for the scope that stays valid beyond ``valid_beyond``, stored; with
        ``None`` a new one from Kibo, whatever is stored.

        Locks are per machine, so another machine may be renewing the same tickets meanwhile. Each
        attempt decides on one reading of the store: take a ticket stored since, else refresh with the
        freshest refresh token read. When Kibo refuses it, another machine has most likely just used
        it (refresh tokens may be single-use): wait briefly for the ticket that machine stores, take
        it or refresh with it. Log in with the password only when no refresh token works.
        """
        refused: set[str] = set()
        newest_refused: datetime | None = None
        while len(refused) < MAX_REFRESH_ATTEMPTS:
            known = self._candidates(scope)
            now = self.now()
            if valid_beyond is not None:
                fresh = [
                    t
                    for t in known
                    if t.scope_id == scope
                    and t.access_valid_for(now) > valid_beyond
                    and (newest_refused is None or t.access_token_expires_at > newest_refused)
                ]
                if fresh:
                    return self._remember(scope, fresh[0])
            sources = [t for t in known if t.refresh_valid_for(now) > self.config.refresh_margin]
            source = next((t for t in sources if t.refresh_token not in refused), None)
            token = source.refresh_token if source is not None else self._seed_refresh_token
            if token is None or token in refused:
                break
            try:
                return self._store_new(scope, self._refresh_with(scope, token))
            except KiboAuthError as err:
                if err.status_code == 403:
                    raise self._access_error(scope, err) from None
                log.info(
                    "Kibo refused a stored refresh token (%s); another machine may just have used it",
                    err.error_code or err.status_code,
                )
            refused.add(token)
            self._held.clear()  # the store has most likely moved on: read it whole from now on
            if source is not None:
                expiry = source.access_token_expires_at
                newest_refused = expiry if newest_refused is None else max(newest_refused, expiry)
                self._await_newer_than(scope, newest_refused)
            valid_beyond = self.config.refresh_margin if valid_beyond is None else valid_beyond
        return self._store_new(scope, self._create(scope))

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

    def _freshest_stored(self, scope: int, also: T | None = None) -> T | None:
        """The ticket for the scope that lasts longest, among the store, the seed and ``also``."""
        found = [
            t
            for t in (self._read(self.kind.slot(scope)), also, self._seed_ticket)
            if t is not None and t.scope_id == scope
        ]
        return max(found, key=lambda t: t.access_token_expires_at, default=None)

    def _stored_record(self, scope: int) -> TicketRecord | None:
        """The record of the longest-lasting ticket for the scope, stored (read without its secrets
        where the store can) or seeded; one issued to another identity counts as absent."""
        stored = self.store.read_record(self.kind.slot(scope))
        if stored is not None and stored.issued_to != self.identity:
            stored = None
        found = [r for r in (stored, self._seed_record) if r is not None and r.scope_id == scope]
        return max(found, key=lambda r: r.access_token_expires_at, default=None)

    @functools.cached_property
    def _seed_record(self) -> TicketRecord | None:
        return self._seed_ticket.record() if self._seed_ticket is not None else None

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
                self.kibo_conn_id,
                self.store.description,
            )
        return None

    def _read_any(self, slot: str) -> T | None:
        ticket = self.store.read(slot, self._held.pop(slot, None))
        if not isinstance(ticket, self.kind.ticket_class):
            return None
        mask_ticket(ticket, self.now())
        self._held[slot] = ticket
        return ticket

    def _refresh_with(self, scope: int, refresh_token: str) -> T:
        response = self._auth_transport.request(
            "PUT",
            self.kind.auth_endpoint,
            params={self.kind.scope_param: scope},
            json={"refreshToken": refresh_token},
        )
        log.info("Refreshed the Kibo ticket of %s %s", self.kind.scope_label, scope)
        return self._ticket_from(response, scope)

    def _create(self, scope: int) -> T:
        if not self.config.password:
            known = self._known_tickets()
            if known and scope not in known[0].available_scope_ids:
                raise self._access_error(scope, None)
            if not self.kind.uses_seeds:
                raise KiboAuthError(
                    f"Connection {self.kibo_conn_id} has no password: Kibo issues {self.kind.scope_label} tickets "
                    "only to a login with the password (a seed ticket or refresh token is for developer "
                    "accounts); set the password"
                )
            raise KiboAuthError(
                f"No refresh token of Connection {self.kibo_conn_id} is accepted any more, and it has no "
                "password to log in with. Re-seed it: put a new ticket in extra.seed_ticket or a refresh "
                "token in extra.refresh_token, or set the password"
            )
        try:
            return self._log_in(scope)
        except KiboAuthError as err:
            if err.error_code == "INVALID_CREDENTIALS":
                raise KiboAuthError(
                    f"Kibo refused the email address and password of Connection {self.kibo_conn_id}; "
                    "correct them in the Connection",
                    status_code=err.status_code,
                    error_code=err.error_code,
                    api_message=err.api_message,
                    correlation_id=err.correlation_id,
                ) from None
            raise self._access_error(scope, err) from None

    def _log_in(self, scope: int | None) -> T:
        """``POST`` the credentials; without a scope Kibo picks the user's default one."""
        config = self.config
        response = self._auth_transport.request(
            "POST",
            self.kind.auth_endpoint,
            params={self.kind.scope_param: scope} if scope is not None else None,
            json={"emailAddress": config.email, "password": config.password},
        )
        log.info("Logged in to Kibo with the credentials of Connection %s", self.kibo_conn_id)
        return self._ticket_from(response, scope)

    def _access_error(self, scope: int, err: KiboApiError | None) -> KiboAuthError:
        """The error for a scope Kibo refused, listing the user's scopes (learning them by a login
        to the default scope when no ticket is known yet)."""
        known = self._known_tickets()
        if not known and self.config.password:
            try:
                default = self._log_in(None)
            except KiboError:
                pass
            else:
                known = [self._store_new(default.scope_id, default)]
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
            ticket = self.kind.ticket_class.from_api(response.json())
        except (ValueError, TicketFormatError) as err:
            raise KiboApiError(
                "Kibo answered with an incomplete ticket", api_message=str(err), correlation_id=correlation_id
            ) from None
        mask_ticket(ticket, self.now())
        ticket = ticket.issued(self.identity)
        if scope is not None and ticket.scope_id != scope:
            raise KiboApiError(
                f"Kibo answered with a ticket for {self.kind.scope_label} {ticket.scope_id} instead of {scope}",
                correlation_id=correlation_id,
            )
        return ticket

    def _store_new(self, scope: int, ticket: T) -> T:
        """Under the lock: store a ticket just issued, first retiring what other identities left behind."""
        if self._saw_other_identity:
            self._saw_other_identity = False
            stale = {slot: t for slot, t in self._stored_slots().items() if t.issued_to != self.identity}
            self._retire(stale, keep=set(), seeds=False)
        for slot in (self.kind.slot(scope), self.kind.latest_slot):
            self.store.write(slot, ticket)
            self._held[slot] = ticket
        self.tickets_obtained += 1
        return self._remember(scope, ticket)

    def _log_out(self, refresh_tokens: dict[str, KiboIdentity]) -> int:
        """
        ``DELETE`` each refresh token at the host of the identity it was issued to; return how many
        could not be logged out, each with a warning.

        :param refresh_tokens: the refresh tokens, with whom they were issued to
        """
        failed = 0
        for token, identity in refresh_tokens.items():
            transport = (
                self._auth_transport
                if identity.base_url == self.identity.base_url
                else self._transport(self._new_session(identity.base_url))
            )
            try:
                transport.request("DELETE", self.kind.logout_endpoint, params={"refreshToken": token})
            except KiboError as err:
                failed += 1
                log.warning("Could not log out a Kibo ticket issued to %s: %s", identity, err)
        return failed

    def _stored_slots(self) -> dict[str, T]:
        """
        Every ticket of this kind stored for the Connection, whoever it was issued to: the latest, and
        those of each scope that a stored ticket, this hook or the Connection names.
        """
        found: dict[str, T] = {}
        home = self._home_scope()
        pending = [self.kind.latest_slot, *map(self.kind.slot, self._tickets)]
        if home is not None:
            pending.append(self.kind.slot(home))
        while pending:
            slot = pending.pop()
            if slot in found or (ticket := self._read_any(slot)) is None:
                continue
            found[slot] = ticket
            pending.extend(self.kind.slot(s) for s in (ticket.scope_id, *ticket.available_scope_ids))
        return found

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
                self.kibo_conn_id,
                self.identity,
                ", ".join(others),
            )
        return failed

    def _remember(self, scope: int, ticket: T) -> T:
        self._tickets[scope] = ticket
        return ticket

    # -- calling Kibo -----------------------------------------------------------------------------

    def _signed_session(self, base_url: str, scope: int) -> KiboSession:
        """A session on ``base_url`` that signs each request with the scope's ticket, kept fresh."""
        session = self._new_session(base_url)
        session.auth = KiboBearerAuth(lambda: self._get_ticket(scope, None), lambda: self._refresh_after_401(scope))
        return session

    def _refresh_after_401(self, scope: int) -> T:
        log.info("Kibo rejected the access token of %s %s; refreshing once", self.kind.scope_label, scope)
        return self._refresh_ticket(scope)

    def _paginate(
        self, fetch_page: Callable[[dict[str, Any]], requests.Response], page_size: int, params: dict[str, Any] | None
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a Kibo collection, asking for one page at a time (``startIndex`` / ``pageSize``)."""
        if page_size <= 0:
            raise KiboConfigError("page_size", f"must be a positive number of items, not {page_size!r}")
        start = 0
        while True:
            page = fetch_page({**(params or {}), "startIndex": start, "pageSize": page_size}).json()
            items = page.get("items") or []
            yield from items
            start += len(items)
            total = page.get("totalCount")
            if not items or (total is not None and start >= total):
                return
