"""``KiboDeveloperHook``: the Kibo developer auth ticket of a Connection, from creation to every API call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from airflow_provider_kibo.config import validate_account_id
from airflow_provider_kibo.errors import KiboAccountAccessError, KiboConfigError, KiboError
from airflow_provider_kibo.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_kibo.hooks.base import (
    ADVISORY_REFRESH_HEADSTART,
    DEFAULT_PAGE_SIZE,
    MAX_REFRESH_ATTEMPTS,
    KiboTicketHook,
    TicketKind,
    utcnow,
)
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR
from airflow_provider_kibo.session import KiboSession
from airflow_provider_kibo.stores import TicketStore
from airflow_provider_kibo.ticket import KiboTicket, TicketRecord
from airflow_provider_kibo.transport import DEFAULT_RETRY_POLICY, RetryPolicy

__all__ = ["ADVISORY_REFRESH_HEADSTART", "AUTH_TICKETS_ENDPOINT", "MAX_REFRESH_ATTEMPTS", "KiboDeveloperHook"]

AUTH_TICKETS_ENDPOINT = "/platform/developer/authtickets"

DEVELOPER_TICKETS = TicketKind(
    ticket_class=KiboTicket,
    auth_endpoint=AUTH_TICKETS_ENDPOINT,
    logout_endpoint=AUTH_TICKETS_ENDPOINT,
    scope_param="developerAccountId",
    scope_label="developer account",
    slot_prefix="",
    access_error=KiboAccountAccessError,
    uses_seeds=True,
)
"""Developer tickets: one per developer account, in the slots ``<account id>`` and ``latest``."""


class KiboDeveloperHook(KiboTicketHook[KiboTicket]):
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
    :param sleep: waits between retries, and for another machine's ticket; tests pass another
    :param store: where tickets are kept; by default chosen for this process (see ``stores``)
    """

    conn_name_attr = "kibo_conn_id"
    default_conn_name = "kibo_developer_default"
    conn_type = "kibo_developer"
    hook_name = "Kibo Developer"
    kind = DEVELOPER_TICKETS

    def __init__(
        self,
        kibo_conn_id: str = default_conn_name,
        developer_account_id: int | str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        lock_dir: Path | str = DEFAULT_LOCK_DIR,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        store: TicketStore | None = None,
    ) -> None:
        super().__init__(
            kibo_conn_id, clock=clock, lock_dir=lock_dir, retry_policy=retry_policy, sleep=sleep, store=store
        )
        self.developer_account_id = developer_account_id
        self._sessions: dict[int, KiboSession] = {}

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

    def _home_scope(self) -> int | None:
        return self.config.default_account_id

    @property
    def scope_id(self) -> int:
        """The developer account of calls that name none (see :meth:`account_id`)."""
        return self.account_id()

    # -- the ticket lifecycle ---------------------------------------------------------------------

    def get_ticket(
        self, developer_account_id: int | str | None = None, *, min_valid_for: timedelta | None = None
    ) -> KiboTicket:
        """
        A ticket for the account, valid for at least the refresh margin (or ``min_valid_for`` if longer).

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        :param min_valid_for: how long the access token must stay valid at least
        """
        return self._get_ticket(self.account_id(developer_account_id), min_valid_for)

    def stored_ticket(self, developer_account_id: int | str | None = None) -> KiboTicket | None:
        """
        The longest-lasting ticket stored (or seeded) for the account, without calling Kibo.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        return self._freshest_stored(self.account_id(developer_account_id))

    def stored_ticket_record(self, developer_account_id: int | str | None = None) -> TicketRecord | None:
        """
        What :meth:`stored_ticket` would return, without its secrets: read from the ticket's record
        where the store keeps one, so that a long-lived process (a sensor waiting in the triggerer)
        adds no mask to Airflow's secrets masker for each new ticket.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        return self._stored_record(self.account_id(developer_account_id))

    def refresh_ticket(self, developer_account_id: int | str | None = None) -> KiboTicket:
        """
        Get a new ticket for the account now (``PUT`` with the freshest refresh token) and store it.

        This is also how to switch accounts.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        return self._refresh_ticket(self.account_id(developer_account_id))

    def revoke_ticket(self, developer_account_id: int | str | None = None) -> None:
        """
        Log the account's ticket out of Kibo (``DELETE``) and remove it from the store.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        self._revoke_ticket(self.account_id(developer_account_id))

    def force_login(self, developer_account_id: int | str | None = None) -> KiboTicket:
        """
        Log in with the Connection's email address and password now, store the new ticket, and log out
        every earlier ticket of the Connection (and its seeds): a full credential rotation.

        The earlier tickets are logged out only once the login succeeded, so a wrong password leaves
        them as they were.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        :raises KiboConfigError: when the Connection has no password
        """
        return self._force_login(self.account_id(developer_account_id))

    # -- calling Kibo -----------------------------------------------------------------------------

    def get_conn(self, developer_account_id: int | str | None = None) -> KiboSession:
        """
        A ``requests`` session signed with the account's ticket, kept fresh before each request.

        Endpoints may be given as in Kibo's API reference: ``session.get("/platform/...")``.

        :param developer_account_id: the account; defaults to the hook's, else the Connection's
        """
        account = self.account_id(developer_account_id)
        if account not in self._sessions:
            self._sessions[account] = self._signed_session(self.config.base_url, account)
        return self._sessions[account]

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
        return self._paginate(
            lambda page: self.run("GET", endpoint, params=page, developer_account_id=developer_account_id),
            page_size,
            params,
        )

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
