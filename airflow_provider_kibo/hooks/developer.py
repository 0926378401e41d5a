"""``KiboDeveloperHook``: the Kibo developer auth ticket of a Connection, from creation to every API call."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk import BaseHook

from airflow_provider_kibo.config import KiboConnectionConfig, validate_account_id, validate_min_valid_for
from airflow_provider_kibo.errors import (
    KiboAccountAccessError,
    KiboApiError,
    KiboAuthError,
    KiboConfigError,
    KiboError,
)
from airflow_provider_kibo.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR, ticket_lock
from airflow_provider_kibo.session import KiboBearerAuth, KiboSession
from airflow_provider_kibo.stores import LATEST_SLOT, TicketStore, variable_or_memory_store
from airflow_provider_kibo.ticket import KiboTicket, TicketFormatError
from airflow_provider_kibo.transport import DEFAULT_RETRY_POLICY, KiboTransport, RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

AUTH_TICKETS_ENDPOINT = "/platform/developer/authtickets"
ADVISORY_REFRESH_HEADSTART = timedelta(minutes=2)
"""Before the refresh margin (the mandatory window) comes an advisory window this much longer: in it
one caller refreshes ahead while every other caller goes on with the still-valid ticket."""
MAX_REFRESH_ATTEMPTS = 3
"""Distinct refresh tokens tried before logging in with the password; more means a race with other
workers that keeps rotating them, and the password settles it."""
DEFAULT_PAGE_SIZE = 100


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class KiboDeveloperHook(BaseHook):
    """
    Keeps the Kibo developer auth ticket of a ``kibo_developer`` Connection and calls Kibo with it.

    Tickets are shared by every task and worker through a store (see the README, "Where tickets
    live"); a valid stored ticket is reused, one near expiry is refreshed by one caller at a time,
    and the password is used only when no refresh token works.

    :param kibo_conn_id: the Connection with the Kibo home URL, email address and password
    :param developer_account_id: the developer account to use when a call names none; defaults to
        the Connection's ``developer_account_id``
    :param clock: returns the current UTC time; tests pass another
    :param lock_dir: the folder of the lock files that serialize refreshes on this machine
    :param retry_policy: retry limits of each request to Kibo
    :param sleep: waits between retries; tests pass another
    :param store: where tickets are kept; by default chosen for this process (see ``stores``)
    """

    conn_name_attr = "kibo_conn_id"
    default_conn_name = "kibo_developer_default"
    conn_type = "kibo_developer"
    hook_name = "Kibo Developer"

    def __init__(
        self,
        kibo_conn_id: str = default_conn_name,
        developer_account_id: int | str | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        lock_dir: Path | str = DEFAULT_LOCK_DIR,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        store: TicketStore | None = None,
    ) -> None:
        super().__init__()
        self.kibo_conn_id = kibo_conn_id
        self.developer_account_id = developer_account_id
        self._clock = clock
        self._lock_dir = Path(lock_dir)
        self._retry_policy = retry_policy
        self._sleep = sleep
        self._store_override = store
        self._tickets: dict[int, KiboTicket] = {}
        self._sessions: dict[int, KiboSession] = {}
        self.tickets_obtained = 0
        """How many new tickets this hook got from Kibo (logins and refreshes) and stored."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r})"

    # -- Connection form (Airflow 3.1; 3.2+ reads the same fields from get_provider_info) ----------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the Connection form, as WTForms fields."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, PasswordField, StringField
        from wtforms.validators import Optional

        widgets = {}
        for name, field in CONN_FIELDS.items():
            schema = field["schema"]
            kind = schema["type"][0]
            if schema.get("format") == "password":
                field_class, widget = PasswordField, BS3PasswordFieldWidget()
            else:
                field_class = {"integer": IntegerField, "boolean": BooleanField}.get(kind, StringField)
                widget = None if kind == "boolean" else BS3TextFieldWidget()
            widgets[name] = field_class(
                lazy_gettext(field["label"]),
                description=field.get("description", ""),
                default=schema.get("default"),
                validators=[Optional()],
                **({"widget": widget} if widget else {}),
            )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide the standard Connection fields."""
        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    # -- configuration, read on first use ---------------------------------------------------------

    @functools.cached_property
    def config(self) -> KiboConnectionConfig:
        """The validated Connection; its secrets are registered for masking."""
        config = self.config_from(self.get_connection(self.kibo_conn_id))
        _mask(config.secrets)
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
        return WriteBackStore(ConnectionTicketStore(self.kibo_conn_id, api), variables)

    @functools.cached_property
    def _auth_transport(self) -> KiboTransport:
        return self._transport(self._new_session())

    def _new_session(self) -> KiboSession:
        config = self.config
        return KiboSession(config.base_url, timeout=config.request_timeout, verify=config.verify_tls)

    def _transport(self, session: KiboSession) -> KiboTransport:
        return KiboTransport(session, retry_policy=self._retry_policy, sleep=self._sleep)

    def account_id(self, developer_account_id: int | str | None = None) -> int:
        """
        The developer account a call means: the one given, else the hook's, else the Connection's.

        :param developer_account_id: the account named by the call, if any
        """
        if developer_account_id is not None:
            return validate_account_id(developer_account_id, "developer_account_id")
        if self.developer_account_id is not None:
            return validate_account_id(self.developer_account_id, "developer_account_id")
        if self.config.default_account_id is None:
            raise KiboConfigError(
                "extra.developer_account_id",
                "set the default developer account id, or pass developer_account_id to the hook or task",
            )
        return self.config.default_account_id

    def now(self) -> datetime:
        """The hook's clock: the current UTC time."""
        return self._clock()

    # -- the ticket lifecycle ---------------------------------------------------------------------

    def get_ticket(
        self, developer_account_id: int | str | None = None, *, min_valid_for: timedelta | None = None
    ) -> KiboTicket:
        """
        A ticket for the account, valid for at least the refresh margin (or ``min_valid_for`` if longer).

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        :param min_valid_for: how long the access token must stay valid at least
        """
        account = self.account_id(developer_account_id)
        mandatory = max(self.config.refresh_margin, validate_min_valid_for(min_valid_for))
        advisory = mandatory + ADVISORY_REFRESH_HEADSTART
        now = self.now()
        ticket = self._tickets.get(account)
        if ticket is None or ticket.access_valid_for(now) <= advisory:
            ticket = self._freshest_stored(account, also=ticket)
        valid_for = ticket.access_valid_for(now) if ticket is not None else timedelta.min
        if valid_for > advisory:
            return self._remember(account, ticket)
        if valid_for > mandatory:
            with ticket_lock(self._lock_dir, self.kibo_conn_id, blocking=False) as locked:
                if locked:
                    try:
                        return self._renew_locked(account, valid_beyond=advisory)
                    except KiboError as err:
                        log.warning(
                            "Refreshing ahead the Kibo ticket of account %s failed (%s); "
                            "the current one is valid until %s",
                            account,
                            err,
                            ticket.access_token_expires_at.isoformat(),
                        )
            return self._remember(account, ticket)
        with self._locked():
            return self._renew_locked(account, valid_beyond=mandatory)

    def stored_ticket(self, developer_account_id: int | str | None = None) -> KiboTicket | None:
        """
        The longest-lasting ticket stored (or seeded) for the account, without calling Kibo.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        return self._freshest_stored(self.account_id(developer_account_id))

    def refresh_ticket(self, developer_account_id: int | str | None = None) -> KiboTicket:
        """
        Get a new ticket for the account now (``PUT`` with the freshest refresh token) and store it.

        This is also how to switch accounts.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        account = self.account_id(developer_account_id)
        with self._locked():
            return self._store_new(account, self._obtain(account))

    def revoke_ticket(self, developer_account_id: int | str | None = None) -> None:
        """
        Log the account's ticket out of Kibo (``DELETE``) and remove it from the store.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        account = self.account_id(developer_account_id)
        with self._locked():
            ticket = self._freshest_stored(account)
            if ticket is not None:
                self._auth_transport.request(
                    "DELETE", AUTH_TICKETS_ENDPOINT, params={"refreshToken": ticket.refresh_token}
                )
                latest = self._read(LATEST_SLOT)
                if latest is not None and latest.refresh_token == ticket.refresh_token:
                    self.store.delete(LATEST_SLOT)
            self.store.delete(str(account))
            self._tickets.pop(account, None)
        log.info("Logged out the Kibo ticket of developer account %s", account)

    def _locked(self) -> AbstractContextManager[bool]:
        return ticket_lock(self._lock_dir, self.kibo_conn_id)

    def _renew_locked(self, account: int, *, valid_beyond: timedelta) -> KiboTicket:
        """Under the lock: take a ticket another caller stored meanwhile, else obtain and store one."""
        stored = self._freshest_stored(account)
        if stored is not None and stored.access_valid_for(self.now()) > valid_beyond:
            return self._remember(account, stored)
        return self._store_new(account, self._obtain(account))

    def _obtain(self, account: int) -> KiboTicket:
        """
        A new ticket for the account from Kibo: refresh with the freshest refresh token known,
        then with the next freshest if Kibo refuses it (another worker may have rotated it), and
        log in with the password only when none works.
        """
        refused: set[str] = set()
        while len(refused) < MAX_REFRESH_ATTEMPTS:
            source = self._freshest_refresh_source(account, exclude=refused)
            if source is None:
                break
            try:
                return self._refresh_with(account, source)
            except KiboAuthError as err:
                if err.status_code == 403:
                    raise self._access_error(account, err) from None
                log.info(
                    "Kibo refused a stored refresh token (%s); trying %s",
                    err.error_code or err.status_code,
                    "the next one" if len(refused) + 1 < MAX_REFRESH_ATTEMPTS else "the password",
                )
                refused.add(source)
        return self._create(account)

    def _freshest_refresh_source(self, account: int, exclude: set[str]) -> str | None:
        """The refresh token of the newest ticket known for this Connection that is neither refused
        nor near expiry; the seed refresh token comes last, as its expiry is unknown."""
        now = self.now()
        known = [
            t
            for t in [*self._known_tickets(), self._read(str(account))]
            if t is not None and t.refresh_valid_for(now) > self.config.refresh_margin
        ]
        known.sort(key=lambda t: (t.access_token_expires_at, t.refresh_token_expires_at), reverse=True)
        candidates = [t.refresh_token for t in known]
        if self.config.seed_refresh_token:
            candidates.append(self.config.seed_refresh_token)
        return next((c for c in candidates if c not in exclude), None)

    def _known_tickets(self) -> list[KiboTicket]:
        """Every ticket of this Connection within reach: stored (latest first), remembered, seeded."""
        found = [self._read(LATEST_SLOT), *self._tickets.values(), self.config.seed_ticket]
        return [t for t in found if t is not None]

    def _freshest_stored(self, account: int, also: KiboTicket | None = None) -> KiboTicket | None:
        """The ticket for the account that lasts longest, among the store, the seed and ``also``."""
        found = [
            t
            for t in (self._read(str(account)), also, self.config.seed_ticket)
            if t is not None and t.account_id == account
        ]
        return max(found, key=lambda t: t.access_token_expires_at, default=None)

    def _read(self, slot: str) -> KiboTicket | None:
        ticket = self.store.read(slot)
        if ticket is not None:
            _mask_ticket(ticket, self.now())
        return ticket

    def _refresh_with(self, account: int, refresh_token: str) -> KiboTicket:
        response = self._auth_transport.request(
            "PUT",
            AUTH_TICKETS_ENDPOINT,
            params={"developerAccountId": account},
            json={"refreshToken": refresh_token},
        )
        log.info("Refreshed the Kibo ticket of developer account %s", account)
        return self._ticket_from(response, account)

    def _create(self, account: int) -> KiboTicket:
        if not self.config.password:
            known = self._known_tickets()
            if known and account not in known[0].available_account_ids:
                raise self._access_error(account, None)
            raise KiboAuthError(
                f"No refresh token of Connection {self.kibo_conn_id} is accepted any more, and it has no "
                "password to log in with. Re-seed it: put a new ticket in extra.seed_ticket or a refresh "
                "token in extra.refresh_token, or set the password"
            )
        try:
            return self._log_in(account)
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
            raise self._access_error(account, err) from None

    def _log_in(self, account: int | None) -> KiboTicket:
        """``POST`` the credentials; without an account Kibo picks the user's default one."""
        config = self.config
        response = self._auth_transport.request(
            "POST",
            AUTH_TICKETS_ENDPOINT,
            params={"developerAccountId": account} if account is not None else None,
            json={"emailAddress": config.email, "password": config.password},
        )
        log.info("Logged in to Kibo with the credentials of Connection %s", self.kibo_conn_id)
        return self._ticket_from(response, account)

    def _access_error(self, account: int, err: KiboApiError | None) -> KiboAccountAccessError:
        """The error for an account Kibo refused, listing the user's accounts (learning them by a
        login to the default account when no ticket is known yet)."""
        known = self._known_tickets()
        if not known and self.config.password:
            try:
                default = self._log_in(None)
            except KiboError:
                pass
            else:
                known = [self._store_new(default.account_id, default)]
        available = known[0].available_account_ids if known else ()
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
        return KiboAccountAccessError(account, available, **details)

    def _ticket_from(self, response: requests.Response, account: int | None) -> KiboTicket:
        correlation_id = response.headers.get("x-vol-correlation")
        try:
            ticket = KiboTicket.from_api(response.json())
        except (ValueError, TicketFormatError) as err:
            raise KiboApiError(
                "Kibo answered with an incomplete ticket", api_message=str(err), correlation_id=correlation_id
            ) from None
        _mask_ticket(ticket, self.now())
        if account is not None and ticket.account_id != account:
            raise KiboApiError(
                f"Kibo answered with a ticket for account {ticket.account_id} instead of {account}",
                correlation_id=correlation_id,
            )
        return ticket

    def _store_new(self, account: int, ticket: KiboTicket) -> KiboTicket:
        for slot in (str(account), LATEST_SLOT):
            self.store.write(slot, ticket)
        self.tickets_obtained += 1
        return self._remember(account, ticket)

    def _remember(self, account: int, ticket: KiboTicket) -> KiboTicket:
        self._tickets[account] = ticket
        return ticket

    # -- calling Kibo -----------------------------------------------------------------------------

    def get_conn(self, developer_account_id: int | str | None = None) -> KiboSession:
        """
        A ``requests`` session signed with the account's ticket, kept fresh before each request.

        Endpoints may be given as in Kibo's API reference: ``session.get("/platform/...")``.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        account = self.account_id(developer_account_id)
        if account not in self._sessions:
            session = self._new_session()
            session.auth = KiboBearerAuth(
                lambda: self.get_ticket(account), lambda: self._refresh_after_401(account)
            )
            self._sessions[account] = session
        return self._sessions[account]

    def _refresh_after_401(self, account: int) -> KiboTicket:
        log.info("Kibo rejected the access token of account %s; refreshing once", account)
        return self.refresh_ticket(account)

    def run(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        developer_account_id: int | str | None = None,
    ) -> requests.Response:
        """
        Call a Kibo API with the account's ticket, retrying within the retry policy.

        :param method: the HTTP method
        :param endpoint: the path as in Kibo's API reference, e.g. ``/platform/appdev/apppackages/collection``
        :param params: query parameters
        :param json: the JSON body
        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        :raises KiboApiError: when Kibo answers with an error
        """
        transport = self._transport(self.get_conn(developer_account_id))
        return transport.request(method, endpoint, params=params, json=json)

    def paginate(
        self,
        endpoint: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        params: dict[str, Any] | None = None,
        developer_account_id: int | str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield the items of a Kibo collection page by page (``startIndex`` / ``pageSize``).

        :param endpoint: the collection's path, e.g. ``/platform/appdev/apppackages/collection``
        :param page_size: items asked for per page
        :param params: further query parameters
        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        if page_size <= 0:
            raise KiboConfigError("page_size", f"must be a positive number of items, not {page_size!r}")
        start = 0
        while True:
            page = self.run(
                "GET",
                endpoint,
                params={**(params or {}), "startIndex": start, "pageSize": page_size},
                developer_account_id=developer_account_id,
            ).json()
            items = page.get("items") or []
            yield from items
            start += len(items)
            total = page.get("totalCount")
            if not items or (total is not None and start >= total):
                return

    def test_connection(self) -> tuple[bool, str]:
        """Get a ticket for the default account and say for which account and until when."""
        try:
            ticket = self.get_ticket()
        except KiboError as err:
            return False, str(err)
        return True, (
            f"Connected to Kibo developer account {ticket.account_id} ({ticket.account_name}); "
            f"the access token is valid until {ticket.access_token_expires_at.isoformat()}"
        )


def _mask(secrets: Iterable[str]) -> None:
    """Register secret strings with Airflow's masker, and inside a task with its supervisor too."""
    from airflow_provider_kibo.masking import mask_secrets

    mask_secrets(secrets)


def _mask_ticket(ticket: KiboTicket, now: datetime) -> None:
    """Mask a ticket's tokens while they can be used (see ``masking``)."""
    from airflow_provider_kibo.masking import mask_ticket

    mask_ticket(ticket, now)
