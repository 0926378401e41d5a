"""
The kinds of Kibo tickets: a user's developer-account and tenant tickets, and an application's
ticket, and how Kibo is asked for one, refreshes it and logs it out.

A kind is a small declaration (endpoints, the scope and its name, the store slots, the error for a
scope that cannot be used); :class:`~airflow_provider_kibo.tickets.manager.TicketManager` does the
rest the same way for every kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import requests

from airflow_provider_kibo.errors import KiboAccountAccessError, KiboApiError, KiboAuthError, KiboTenantAccessError
from airflow_provider_kibo.tickets.values import (
    KiboApplicationTicket,
    KiboAuthTicket,
    KiboDeveloperTicket,
    KiboTenantTicket,
)

if TYPE_CHECKING:
    from airflow_provider_kibo.transport import KiboTransport

T = TypeVar("T", bound=KiboAuthTicket)
T_co = TypeVar("T_co", bound=KiboAuthTicket, covariant=True)


class TicketKind(Protocol[T_co]):
    """What :class:`~airflow_provider_kibo.tickets.manager.TicketManager` needs of a kind of ticket."""

    @property
    def ticket_class(self) -> type[T_co]:
        """The ticket's type."""

    @property
    def scope_label(self) -> str:
        """The scope in messages, e.g. ``developer account``."""

    @property
    def slot_prefix(self) -> str:
        """The prefix of this kind's slots in the store, which also names its lock."""

    @property
    def uses_seeds(self) -> bool:
        """Whether the Connection's ``seed_ticket`` and ``refresh_token`` are of this kind."""

    @property
    def credentials(self) -> str:
        """What the Connection logs in with, in words, e.g. ``email address and password``."""

    @property
    def latest_slot(self) -> str:
        """The slot of this kind's newest ticket."""

    def slot(self, scope: int) -> str:
        """The store slot of a scope's ticket."""

    def owns(self, slot: str) -> bool:
        """Whether a store slot is one of this kind's."""

    def describe(self, scope: int) -> str:
        """A scope in words, e.g. ``developer account 1001``."""

    def log_in(self, transport: KiboTransport, config: Any, scope: int | None) -> requests.Response:
        """Ask Kibo for a ticket with the Connection's credentials."""

    def refresh(self, transport: KiboTransport, refresh_token: str, scope: int) -> requests.Response:
        """Ask Kibo for a new ticket with a refresh token."""

    def log_out(self, transport: KiboTransport, refresh_token: str) -> None:
        """End a refresh token's session; a token Kibo no longer knows counts as logged out."""

    def parse(self, answer: Any, config: Any, now: datetime) -> T_co:
        """Kibo's answer to a login or a refresh as a ticket."""

    def refused_credentials(self, err: KiboAuthError) -> bool:
        """Whether Kibo's refusal of a login says the credentials are wrong."""

    def denies_scope(self, err: KiboAuthError) -> bool:
        """Whether Kibo's refusal of a refresh or login is about the scope, not the refresh token."""

    def access_error(self, scope: int, available: tuple[int, ...], **details: Any) -> KiboAuthError:
        """The error for a scope that cannot be used."""


@dataclasses.dataclass(frozen=True)
class UserTicketKind(Generic[T]):
    """
    One kind of a Kibo user's ticket, obtained with the user's email address and password.

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
    credentials: str = "email address and password"

    def slot(self, scope: int) -> str:
        return f"{self.slot_prefix}{scope}"

    @property
    def latest_slot(self) -> str:
        return f"{self.slot_prefix}latest"

    def owns(self, slot: str) -> bool:
        rest = slot.removeprefix(self.slot_prefix) if slot.startswith(self.slot_prefix) else ""
        return rest == "latest" or rest.isdigit()

    def describe(self, scope: int) -> str:
        return f"{self.scope_label} {scope}"

    def log_in(self, transport: KiboTransport, config: Any, scope: int | None) -> requests.Response:
        """``POST`` the email address and password; without a scope Kibo picks the user's default one."""
        return transport.request(
            "POST",
            self.auth_endpoint,
            params={self.scope_param: scope} if scope is not None else None,
            json={"emailAddress": config.email, "password": config.password},
            idempotent=True,  # a second login only opens another session
        )

    def refresh(self, transport: KiboTransport, refresh_token: str, scope: int) -> requests.Response:
        """``PUT`` a refresh token: a new ticket for ``scope``, which is also how to switch scopes."""
        return transport.request(
            "PUT",
            self.auth_endpoint,
            params={self.scope_param: scope},
            json={"refreshToken": refresh_token},
            idempotent=True,  # a repeat is refused (rotated token) or issues one more ticket
        )

    def log_out(self, transport: KiboTransport, refresh_token: str) -> None:
        """``DELETE`` a refresh token: the session it belongs to ends."""
        _tolerating_404(
            lambda: transport.request(
                "DELETE",
                self.logout_endpoint,
                params={"refreshToken": refresh_token},
                idempotent=True,
                summary=f"DELETE {self.logout_endpoint}",
            )
        )

    def parse(self, answer: Any, config: Any, now: datetime) -> T:
        return self.ticket_class.from_api(answer)

    def refused_credentials(self, err: KiboAuthError) -> bool:
        return err.error_code == "INVALID_CREDENTIALS"

    def denies_scope(self, err: KiboAuthError) -> bool:
        """
        Kibo answers a scope the user may not use with ``UNAUTHORIZED`` and a 401 or a 403, and a
        refused refresh token with a 401, so the status alone cannot tell them apart: a 403 does, and
        so does a 401 ``UNAUTHORIZED`` whose message speaks of something other than a token. A 401
        without a message counts as a refused token, whose cost is a login that then names the scope.
        """
        if err.status_code == 403:
            return True
        message = (err.api_message or "").lower()
        return err.error_code == "UNAUTHORIZED" and bool(message) and "token" not in message


@dataclasses.dataclass(frozen=True)
class ApplicationTicketKind:
    """
    A Kibo application's ticket, obtained with its key and shared secret: one per Connection, for every
    tenant the application is installed on.

    Kibo's SDKs use two create routes, the OAuth form and an older ticket form, and refresh with
    ``PUT`` (older SDKs) or ``POST`` (newer ones); which a pod serves is not documented, so the
    Connection names the create route or lets the provider try the OAuth route and fall back on a
    404, and a refresh falls back from ``PUT`` to ``POST`` on a 404 or 405.
    """

    ticket_class: type[KiboApplicationTicket] = KiboApplicationTicket
    scope_label: str = "application"
    slot_prefix: str = "application"
    uses_seeds: bool = False
    credentials: str = "application key and shared secret"
    endpoint: str = "/platform/applications/authtickets"

    def slot(self, scope: int) -> str:
        return self.slot_prefix

    @property
    def latest_slot(self) -> str:
        return self.slot_prefix

    def owns(self, slot: str) -> bool:
        return slot == self.slot_prefix

    def describe(self, scope: int) -> str:
        return self.scope_label

    def log_in(self, transport: KiboTransport, config: Any, scope: int | None) -> requests.Response:
        """The OAuth route or the ticket route, as the Connection says (``auto``: OAuth, then ticket on a 404)."""
        key, secret = config.application_key, config.shared_secret
        if config.auth_route != "ticket":
            oauth = {"client_id": key, "client_secret": secret, "grant_type": "client_credentials"}
            try:
                return transport.request("POST", f"{self.endpoint}/oauth", json=oauth, idempotent=True)
            except KiboApiError as err:
                if config.auth_route == "oauth" or err.status_code != 404:
                    raise
        ticket = {"applicationId": key, "sharedSecret": secret}
        return transport.request("POST", self.endpoint, json=ticket, idempotent=True)

    def refresh(self, transport: KiboTransport, refresh_token: str, scope: int) -> requests.Response:
        """``PUT`` the refresh token, or ``POST`` it where the pod answers 404 or 405 to ``PUT``."""
        body = {"refreshToken": refresh_token}
        try:
            return transport.request("PUT", f"{self.endpoint}/refresh-ticket", json=body, idempotent=True)
        except KiboApiError as err:
            if err.status_code not in (404, 405):
                raise
        return transport.request("POST", f"{self.endpoint}/refresh-ticket", json=body, idempotent=True)

    def log_out(self, transport: KiboTransport, refresh_token: str) -> None:
        """``DELETE`` the refresh token, which Kibo takes in the path (never shown in a message)."""
        _tolerating_404(
            lambda: transport.request(
                "DELETE",
                f"{self.endpoint}/{quote(refresh_token, safe='')}",
                idempotent=True,
                summary=f"DELETE {self.endpoint}/<refresh token>",
            )
        )

    def parse(self, answer: Any, config: Any, now: datetime) -> KiboApplicationTicket:
        return KiboApplicationTicket.from_answer(answer, config.application_key, now)

    def refused_credentials(self, err: KiboAuthError) -> bool:
        return True  # the key and secret are the only thing an application's login sends

    def denies_scope(self, err: KiboAuthError) -> bool:
        return False  # an application's token is not tied to a tenant

    def access_error(self, scope: int, available: tuple[int, ...], **details: Any) -> KiboAuthError:
        return KiboAuthError("Kibo refused the application's token", **details)


def _tolerating_404(send: Callable[[], object]) -> None:
    """Send a log-out; a 404, a token Kibo no longer knows (rotated away, expired, logged out before),
    is logged out as well."""
    try:
        send()
    except KiboApiError as err:
        if err.status_code != 404:
            raise


DEVELOPER_TICKETS = UserTicketKind(
    ticket_class=KiboDeveloperTicket,
    auth_endpoint="/platform/developer/authtickets",
    logout_endpoint="/platform/developer/authtickets",
    scope_param="developerAccountId",
    scope_label="developer account",
    slot_prefix="",
    access_error=KiboAccountAccessError,
    uses_seeds=True,
)
"""Developer tickets: one per developer account, in the slots ``<account id>`` and ``latest``."""

TENANT_TICKETS = UserTicketKind(
    ticket_class=KiboTenantTicket,
    auth_endpoint="/platform/adminuser/authtickets/tenants",
    logout_endpoint="/platform/adminuser/authtickets",
    scope_param="tenantId",
    scope_label="tenant",
    slot_prefix="tenant_",
    access_error=KiboTenantAccessError,
    uses_seeds=False,
)
"""Tenant admin-user tickets: one per tenant, in the slots ``tenant_<tenant id>`` and ``tenant_latest``
beside the developer ones. A developer seed cannot refresh them, so they start from the password."""

APPLICATION_TICKETS = ApplicationTicketKind()
"""An application's ticket: one per Connection, in the slot ``application``, under the one scope
:data:`~airflow_provider_kibo.tickets.values.APPLICATION_SCOPE`."""

KINDS: tuple[TicketKind[Any], ...] = (DEVELOPER_TICKETS, TENANT_TICKETS, APPLICATION_TICKETS)
"""Every kind of ticket, each with its slots in a Connection's store."""


def slot_of(ticket: KiboAuthTicket, scope: int) -> str:
    """
    The slot a ticket of ``ticket``'s kind for ``scope`` lives in.

    :param ticket: a ticket, whose class tells its kind
    :param scope: the account or tenant
    """
    return next(kind for kind in KINDS if isinstance(ticket, kind.ticket_class)).slot(scope)
