"""
The kinds of Kibo user tickets: what sets a developer-account ticket apart from a tenant ticket, and
how Kibo is asked for one, refreshes it and logs it out.

A kind is a small declaration (endpoints, the scope's query parameter and name, the store slots, the
error for a scope the user cannot use); :class:`~airflow_provider_kibo.tickets.manager.TicketManager`
does the rest the same way for every kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Generic, TypeVar

import requests

from airflow_provider_kibo.errors import KiboAccountAccessError, KiboApiError, KiboAuthError, KiboTenantAccessError
from airflow_provider_kibo.tickets.values import KiboAuthTicket, KiboDeveloperTicket, KiboTenantTicket
from airflow_provider_kibo.transport import KiboTransport

T = TypeVar("T", bound=KiboAuthTicket)


@dataclasses.dataclass(frozen=True)
class TicketKind(Generic[T]):
    """
    One kind of Kibo user ticket.

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

    def owns(self, slot: str) -> bool:
        """Whether a store slot is one of this kind's."""
        rest = slot.removeprefix(self.slot_prefix) if slot.startswith(self.slot_prefix) else ""
        return rest == "latest" or rest.isdigit()

    def describe(self, scope: int) -> str:
        """A scope in words, e.g. ``developer account 1001``."""
        return f"{self.scope_label} {scope}"

    def log_in(self, transport: KiboTransport, email: str, password: str, scope: int | None) -> requests.Response:
        """``POST`` the credentials; without a scope Kibo picks the user's default one."""
        return transport.request(
            "POST",
            self.auth_endpoint,
            params={self.scope_param: scope} if scope is not None else None,
            json={"emailAddress": email, "password": password},
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
        """``DELETE`` a refresh token: the session it belongs to ends. A 404, a token Kibo no longer
        knows (rotated away, expired, logged out before), is logged out as well."""
        try:
            transport.request(
                "DELETE",
                self.logout_endpoint,
                params={"refreshToken": refresh_token},
                idempotent=True,
                summary=f"DELETE {self.logout_endpoint}",
            )
        except KiboApiError as err:
            if err.status_code != 404:
                raise


def denies_scope(err: KiboAuthError) -> bool:
    """
    Whether Kibo refused the scope itself (the user may not use that account or tenant) rather than
    the refresh token. Kibo answers the first with ``UNAUTHORIZED`` and a 401 or a 403, and the
    second with a 401, so the status alone cannot tell them apart: a 403 does, and so does a 401
    ``UNAUTHORIZED`` whose message speaks of something other than a token. A 401 without a message
    counts as a refused token, whose cost is a login that then names the scope at fault.

    :param err: Kibo's refusal of a refresh (or switch) or a login
    """
    if err.status_code == 403:
        return True
    message = (err.api_message or "").lower()
    return err.error_code == "UNAUTHORIZED" and bool(message) and "token" not in message


DEVELOPER_TICKETS = TicketKind(
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

TENANT_TICKETS = TicketKind(
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

KINDS = (DEVELOPER_TICKETS, TENANT_TICKETS)
"""Every kind of user ticket, each with its slots in a Connection's store."""


def slot_of(ticket: KiboAuthTicket, scope: int) -> str:
    """
    The slot a ticket of ``ticket``'s kind for ``scope`` lives in.

    :param ticket: a ticket, whose class tells its kind
    :param scope: the account or tenant
    """
    return next(kind for kind in KINDS if isinstance(ticket, kind.ticket_class)).slot(scope)
