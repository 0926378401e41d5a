"""
``KiboTicketHook``: the Airflow wiring of a Kibo ticket kind. It reads a Connection, picks the store,
hands both to a :class:`~airflow_provider_kibo.tickets.manager.TicketManager`, and calls Kibo's APIs
with the tickets it keeps.

A hook works on one scope, given when it is built: a developer account, or a tenant (and a site).
Build another hook for another scope; hooks of one Connection share its store and its locks.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypedDict, TypeVar

import requests
from airflow.sdk import BaseHook

from airflow_provider_kibo import airflow_compat
from airflow_provider_kibo._deprecated import REMOVED_IN, renamed
from airflow_provider_kibo.airflow_compat import AirflowProviderDeprecationWarning
from airflow_provider_kibo.config import validate_min_valid_for
from airflow_provider_kibo.errors import KiboConfigError, KiboError
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR
from airflow_provider_kibo.masking import mask_secrets, mask_ticket
from airflow_provider_kibo.session import KiboBearerAuth, KiboSession, SessionContext
from airflow_provider_kibo.stores import MemoryTicketStore, TicketStore, variable_or_memory_store
from airflow_provider_kibo.tickets.kinds import TicketKind
from airflow_provider_kibo.tickets.manager import Credentials, TicketManager, utcnow
from airflow_provider_kibo.tickets.values import KiboAuthTicket, TicketRecord
from airflow_provider_kibo.transport import (
    BEST_EFFORT_ATTEMPT,
    BEST_EFFORT_TIMEOUT,
    DEFAULT_RETRY_POLICY,
    KiboTransport,
    RetryPolicy,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_kibo.tickets.identity import KiboIdentity

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100

T = TypeVar("T", bound=KiboAuthTicket)


class HookConfig(Credentials, Protocol):
    """What a hook needs of its Connection's validated settings, whatever the kind of Connection."""

    @property
    def request_timeout(self) -> float: ...

    @property
    def verify_tls(self) -> bool | str: ...

    @property
    def airflow_api_conn_id(self) -> str | None: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...


C = TypeVar("C", bound=HookConfig)


class HookOptions(TypedDict, total=False):
    """
    What a hook takes besides its Connection and scope: seams for tests and benchmarks, which
    production code leaves at their defaults.

    :param clock: returns the current UTC time
    :param lock_dir: the folder of the lock files that serialize refreshes on this machine
    :param retry_policy: retry limits of each request to Kibo
    :param sleep: waits between retries, and for another machine's ticket
    :param store: where tickets are kept; by default chosen for this process (see :mod:`.stores`)
    """

    clock: Callable[[], datetime]
    lock_dir: Path | str
    retry_policy: RetryPolicy
    sleep: Callable[[float], None]
    store: TicketStore


class KiboTicketHook(BaseHook, Generic[T, C]):
    """
    The Kibo tickets of a Connection for one scope, and calls to Kibo's APIs with them.

    Subclasses declare the kind of ticket (:attr:`kind`), the settings of their kind of Connection
    (:attr:`config_class`) and the scope (:attr:`scope_id`).

    :param kibo_conn_id: the Connection with the Kibo host and the credentials
    :param options: see :class:`HookOptions`
    """

    conn_name_attr = "kibo_conn_id"
    kind: ClassVar[TicketKind[Any]]
    config_class: type[C]
    """Validates the Connection: ``from_connection(conn)``."""
    conn_fields: ClassVar[dict[str, dict[str, Any]]] = {}
    """The extra fields of the Connection form (Airflow 3.2+ reads them from ``get_provider_info``)."""
    ui_field_behaviour: ClassVar[dict[str, Any]] = {}
    """The standard fields of the Connection form: hidden, relabelled, with placeholders."""

    def __init__(self, kibo_conn_id: str, **options: Any) -> None:
        super().__init__()
        self.kibo_conn_id = kibo_conn_id
        self._options: HookOptions = options  # type: ignore[assignment]  # checked by the subclasses' signatures
        self._session: KiboSession | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r})"

    # -- configuration, read on first use -----------------------------------------------------------

    @functools.cached_property
    def config(self) -> C:
        """The validated Connection; its secrets are registered for masking."""
        config = self.config_from(self.get_connection(self.kibo_conn_id))
        mask_secrets(config.secrets)
        return config

    def config_from(self, conn: Connection) -> C:
        """
        Validate a Connection without touching Kibo.

        :param conn: a Connection of the hook's type
        """
        return self.config_class.from_connection(conn)  # type: ignore[attr-defined]

    @functools.cached_property
    def store(self) -> TicketStore:
        """Where this hook reads and writes tickets."""
        if "store" in self._options:
            return self._options["store"]
        variables = variable_or_memory_store(self.kibo_conn_id)
        if not self.config.airflow_api_conn_id:
            return variables
        from airflow_provider_kibo.connection_store import (
            AirflowApiClient,
            ConnectionTicketStore,
            WriteBackStore,
        )
        from airflow_provider_kibo.sealing import TicketSeal
        from airflow_provider_kibo.variables import Variables

        warnings.warn(
            f"Connection {self.kibo_conn_id}: extra.airflow_api_conn_id (tickets written back into the Connection) "
            f"is deprecated and will be removed in airflow-provider-kibo {REMOVED_IN}: Airflow masks a "
            "Connection's whole extra at each read, so each task and trigger reading it learns one more mask "
            "at every rotation. Remove it to keep tickets in sealed Variables.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        api_conn = self.get_connection(self.config.airflow_api_conn_id)
        api = AirflowApiClient.from_connection(api_conn, timeout=self.config.request_timeout)
        seal = TicketSeal(self.kibo_conn_id, Variables(supervised=airflow_compat.has_supervisor()))
        return WriteBackStore(ConnectionTicketStore(self.kibo_conn_id, api, seal), variables, self.identity)

    @functools.cached_property
    def tickets(self) -> TicketManager[T]:
        """The manager of this Connection's tickets of the hook's kind."""
        return self._manager(self.store)

    def _manager(self, store: TicketStore) -> TicketManager[T]:
        return TicketManager(
            self.kind,
            self.config,
            store,
            owner=self.kibo_conn_id,
            transport_for=self._auth_transport,
            clock=self._options.get("clock", utcnow),
            lock_dir=Path(self._options.get("lock_dir", DEFAULT_LOCK_DIR)),
            sleep=self._options.get("sleep", time.sleep),
            on_ticket=mask_ticket,
        )

    @property
    def identity(self) -> KiboIdentity:
        """Whom the Connection logs in as; only tickets issued to this identity are used."""
        return self.config.identity

    @property
    def scope_id(self) -> int:
        """The developer account or tenant the hook works on."""
        raise NotImplementedError

    def task_scope(self) -> dict[str, int | None]:
        """The hook's scope as tasks name it: ``developer_account_id`` and ``tenant_id``, one of them ``None``."""
        raise NotImplementedError

    def summary(self, ticket: T) -> dict[str, Any]:
        """
        What a task reports of the hook's ticket: its summary, without any secret.

        :param ticket: a ticket of the hook's
        """
        return ticket.summary()

    def scope_description(self) -> str:
        """What the hook's tickets are for, in words, e.g. ``developer account 1001``."""
        return self.kind.describe(self.scope_id)

    def now(self) -> datetime:
        """The hook's clock: the current UTC time."""
        return self._options.get("clock", utcnow)()

    @property
    def tickets_obtained(self) -> int:
        """How many new tickets this hook got from Kibo (logins and refreshes) and stored."""
        return len(self.tickets.obtained)

    # -- the ticket lifecycle -----------------------------------------------------------------------

    def get_ticket(self, *, min_valid_for: timedelta | None = None) -> T:
        """
        A ticket for the hook's scope, valid for at least the refresh margin (or ``min_valid_for`` if longer).

        :param min_valid_for: how long the access token must stay valid at least
        """
        return self.tickets.get(self.scope_id, validate_min_valid_for(min_valid_for))

    def stored_ticket(self) -> T | None:
        """The longest-lasting ticket stored (or seeded) for the hook's scope, without calling Kibo."""
        return self.tickets.stored(self.scope_id)

    def stored_ticket_record(self) -> TicketRecord | None:
        """
        What :meth:`stored_ticket` would return, without its secrets: read from the ticket's record
        where the store keeps one, so that a long-lived process (a sensor waiting in the triggerer)
        adds no mask to Airflow's secrets masker for each new ticket.
        """
        return self.tickets.stored_record(self.scope_id)

    def refresh_ticket(self) -> T:
        """Get a new ticket for the hook's scope now (``PUT`` with the freshest refresh token) and store
        it; this is also how to switch to that scope."""
        return self.tickets.refresh(self.scope_id)

    def revoke_ticket(self) -> None:
        """Log the scope's ticket out of Kibo (``DELETE``) and remove it from the store."""
        self.tickets.revoke(self.scope_id)

    def force_login(self) -> T:
        """
        Log in with the Connection's email address and password now, store the new ticket, and log out
        every earlier ticket of this kind of the Connection (and its seeds): a full credential rotation.

        The earlier tickets are logged out only once the login succeeded, so a wrong password leaves
        them as they were.

        :raises KiboConfigError: when the Connection has no password
        """
        return self.tickets.force_login(self.scope_id)

    def revoke_all_tickets(self) -> None:
        """
        End every session of this kind of ticket of the Connection now: log out every stored ticket
        (of every scope, whoever it was issued to) and the Connection's seeds, and remove them.

        The next call logs in with the password (or fails with ``KiboAuthError`` when the
        Connection has none).

        :raises KiboApiError: when Kibo did not log out every session; the tickets are removed all the same
        """
        self.tickets.revoke_all()

    # -- calling Kibo -------------------------------------------------------------------------------

    def api_context(self) -> SessionContext:
        """Where API calls go (the Kibo host, without ``/api``) and the context headers they carry."""
        return self.config.base_url, {}

    def get_conn(self) -> KiboSession:
        """
        A ``requests`` session for the hook's scope, signed with its ticket (kept fresh before each
        request), on the host and with the context headers that ticket names (:meth:`api_context`,
        read again before each request). Endpoints may be given as in Kibo's API reference:
        ``session.get("/platform/appdev/apppackages/collection")``.
        """
        if self._session is None:
            scope = self.scope_id
            session = self._new_session(self.config.base_url, context=self.api_context)
            session.auth = KiboBearerAuth(lambda: self.tickets.get(scope, timedelta(0)), self._refresh_after_401)
            self._session = session
        self._session.update_context()
        return self._session

    def _refresh_after_401(self) -> T:
        log.info("Kibo rejected the access token of %s; refreshing once", self.scope_description())
        return self.refresh_ticket()

    def run(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """
        Call a Kibo API with the scope's ticket. A 429 is retried after ``Retry-After``; a 5xx, a
        timeout or a dropped connection only for ``GET``, ``HEAD`` and ``OPTIONS``, or when
        ``idempotent`` says that sending the request twice does no harm.

        :param method: the HTTP method
        :param endpoint: the path as in Kibo's API reference, e.g. ``/commerce/orders``
        :param params: query parameters
        :param json: the JSON body
        :param idempotent: retry after a 5xx or a network error although the method is a write
        :raises KiboApiError: when Kibo answers with an error
        """
        transport = KiboTransport(
            self.get_conn(),
            retry_policy=self._options.get("retry_policy", DEFAULT_RETRY_POLICY),
            sleep=self._options.get("sleep", time.sleep),
        )
        return transport.request(method, endpoint, params=params, json=json, idempotent=idempotent)

    def paginate(
        self, endpoint: str, *, page_size: int = DEFAULT_PAGE_SIZE, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Yield the items of a Kibo collection, asking for one page at a time (``startIndex`` / ``pageSize``).

        Offset paging misses or repeats items of a collection that changes while it is read; to read a
        window of records each once, use :func:`airflow_provider_kibo.window.read_window` (as
        ``KiboToObjectStorageOperator`` does).

        :param endpoint: the collection's path, e.g. ``/commerce/orders``
        :param page_size: items asked for per page
        :param params: further query parameters, e.g. ``filter`` and ``sortBy``
        """
        if page_size <= 0:
            raise KiboConfigError("page_size", f"must be a positive number of items, not {page_size!r}")
        start = 0
        while True:
            page = self.run("GET", endpoint, params={**(params or {}), "startIndex": start, "pageSize": page_size})
            body = page.json()
            items = body.get("items") or []
            yield from items
            start += len(items)
            total = body.get("totalCount")
            if not items or (total is not None and start >= total):
                return

    def test_connection(self) -> tuple[bool, str]:
        """
        Get a ticket for the hook's scope and say for what and until when, leaving nothing behind: the
        ticket is kept in memory only (Airflow's Test button runs this under a throwaway Connection id)
        and, when Kibo issued it for the test, logged out at once.
        """
        try:
            tickets = self._manager(MemoryTicketStore())
            ticket = tickets.get(self.scope_id, timedelta(0))
        except KiboError as err:
            return False, str(err)
        message = (
            f"Connected to Kibo {self.kind.describe(ticket.scope_id)} ({ticket.scope_name}); "
            f"the access token is valid until {ticket.access_token_expires_at.isoformat()}"
        )
        if tickets.obtained:
            try:
                self.kind.log_out(self._auth_transport(self.config.base_url), ticket.refresh_token)
            except KiboError as err:
                return True, f"{message}; logging the test's ticket out failed ({err})"
        return True, message

    def _auth_transport(self, base_url: str, *, best_effort: bool = False) -> KiboTransport:
        """A transport to a Kibo host for auth calls; ``best_effort`` for one short attempt."""
        timeout = min(self.config.request_timeout, BEST_EFFORT_TIMEOUT) if best_effort else None
        return KiboTransport(
            self._new_session(base_url, timeout=timeout),
            retry_policy=BEST_EFFORT_ATTEMPT
            if best_effort
            else self._options.get("retry_policy", DEFAULT_RETRY_POLICY),
            sleep=self._options.get("sleep", time.sleep),
        )

    def _new_session(
        self,
        base_url: str,
        *,
        timeout: float | None = None,
        context: Callable[[], SessionContext] | None = None,
    ) -> KiboSession:
        config = self.config
        return KiboSession(
            base_url, timeout=timeout or config.request_timeout, verify=config.verify_tls, context=context
        )

    # -- Connection form (Airflow 3.1, through the concrete hooks; 3.2+ reads get_provider_info) ------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the Connection form, as WTForms fields."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, PasswordField, StringField
        from wtforms.validators import Optional

        widgets = {}
        for name, field in cls.conn_fields.items():
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
        behaviour = cls.ui_field_behaviour
        return {
            "hidden_fields": behaviour.get("hidden-fields", []),
            "relabeling": behaviour.get("relabeling", {}),
            "placeholders": behaviour.get("placeholders", {}),
        }


__getattr__ = renamed(
    __name__,
    {
        name: f"airflow_provider_kibo.tickets.manager:{name}"
        for name in (
            "ADVISORY_REFRESH_HEADSTART",
            "MAX_REFRESH_ATTEMPTS",
            "OTHER_MACHINE_GRACE",
            "OTHER_MACHINE_POLL",
            "utcnow",
        )
    }
    | {"TicketKind": "airflow_provider_kibo.tickets.kinds:TicketKind"},
)
