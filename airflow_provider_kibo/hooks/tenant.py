"""``KiboTenantHook``: a Kibo tenant's admin-user ticket, and calls to that tenant's commerce APIs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from airflow_provider_kibo.config import validate_account_id
from airflow_provider_kibo.errors import KiboApiError, KiboConfigError, KiboTenantAccessError
from airflow_provider_kibo.hooks.base import DEFAULT_PAGE_SIZE, KiboTicketHook, TicketKind, utcnow
from airflow_provider_kibo.locks import DEFAULT_LOCK_DIR
from airflow_provider_kibo.session import KiboSession
from airflow_provider_kibo.stores import TicketStore
from airflow_provider_kibo.ticket import KiboTenantTicket, TicketRecord
from airflow_provider_kibo.transport import DEFAULT_RETRY_POLICY, RetryPolicy

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


def context_headers(ticket: KiboTenantTicket, site_id: int | None) -> dict[str, str]:
    """
    The headers that put a tenant API call in its context: ``x-vol-tenant``, and with a site
    ``x-vol-site``, ``x-vol-catalog`` and ``x-vol-master-catalog`` as the ticket describes the site.

    :param ticket: the tenant's ticket
    :param site_id: the site, if the call is about one
    """
    headers = {"x-vol-tenant": str(ticket.tenant_id)}
    if site_id is None:
        return headers
    headers["x-vol-site"] = str(site_id)
    tenant = ticket.document[ticket.SCOPE_KEY]
    site = next((s for s in tenant.get("sites") or [] if isinstance(s, dict) and s.get("id") == site_id), {})
    catalog = site.get("catalogId")
    if isinstance(catalog, int):
        headers["x-vol-catalog"] = str(catalog)
        for master in tenant.get("masterCatalogs") or []:
            if isinstance(master, dict) and any(c.get("id") == catalog for c in master.get("catalogs") or []):
                headers["x-vol-master-catalog"] = str(master.get("id"))
    return headers


class KiboTenantHook(KiboTicketHook[KiboTenantTicket]):
    """
    Keeps the admin-user ticket of a Kibo tenant for a ``kibo_developer`` Connection (the same Kibo
    user and secret as its developer tickets) and calls the tenant's APIs with it.

    Tickets are shared, refreshed and bound to the Connection's identity exactly as developer tickets
    are (see the README). API calls go to the tenant's own host, named by its ticket, with the
    tenant's context headers; endpoints are written as in Kibo's API reference (``/commerce/orders``).

    :param kibo_conn_id: the Connection with the Kibo home URL, email address and password
    :param tenant_id: the tenant
    :param site_id: the site of the tenant that calls are about, if any (``x-vol-site``)
    :param clock: returns the current UTC time; tests pass another
    :param lock_dir: the folder of the lock files that serialize refreshes on this machine
    :param retry_policy: retry limits of each request to Kibo
    :param sleep: waits between retries, and for another machine's ticket; tests pass another
    :param store: where tickets are kept; by default chosen for this process (see ``stores``)
    """

    kind = TENANT_TICKETS

    def __init__(
        self,
        kibo_conn_id: str = "kibo_developer_default",
        tenant_id: int | str | None = None,
        site_id: int | str | None = None,
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
        self.tenant_id = validate_account_id(tenant_id, "tenant_id", "tenant id")
        self.site_id = None if site_id is None else validate_account_id(site_id, "site_id", "site id")
        self._session: KiboSession | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r}, tenant_id={self.tenant_id})"

    def _home_scope(self) -> int | None:
        return self.tenant_id

    @property
    def scope_id(self) -> int:
        """The tenant."""
        return self.tenant_id

    # -- the ticket lifecycle ---------------------------------------------------------------------

    def get_ticket(self, *, min_valid_for: timedelta | None = None) -> KiboTenantTicket:
        """
        A ticket for the tenant, valid for at least the refresh margin (or ``min_valid_for`` if longer).

        :param min_valid_for: how long the access token must stay valid at least
        """
        return self._get_ticket(self.tenant_id, min_valid_for)

    def stored_ticket(self) -> KiboTenantTicket | None:
        """The longest-lasting ticket stored for the tenant, without calling Kibo."""
        return self._freshest_stored(self.tenant_id)

    def stored_ticket_record(self) -> TicketRecord | None:
        """What :meth:`stored_ticket` would return, without its secrets (see
        :meth:`KiboDeveloperHook.stored_ticket_record <.developer.KiboDeveloperHook.stored_ticket_record>`)."""
        return self._stored_record(self.tenant_id)

    def refresh_ticket(self) -> KiboTenantTicket:
        """Get a new ticket for the tenant now (``PUT`` with the freshest refresh token) and store it; this
        is also how to switch tenants."""
        return self._refresh_ticket(self.tenant_id)

    def revoke_ticket(self) -> None:
        """Log the tenant's ticket out of Kibo (``DELETE``) and remove it from the store."""
        self._revoke_ticket(self.tenant_id)

    def force_login(self) -> KiboTenantTicket:
        """
        Log in with the Connection's email address and password now, store the new tenant ticket, and
        log out every earlier tenant ticket of the Connection.

        :raises KiboConfigError: when the Connection has no password
        """
        return self._force_login(self.tenant_id)

    # -- calling the tenant -----------------------------------------------------------------------

    def base_url(self, ticket: KiboTenantTicket) -> str:
        """
        The tenant's API host: the domain its ticket names, with the Connection's scheme.

        :param ticket: the tenant's ticket
        :raises KiboApiError: when the ticket names no domain
        """
        if not ticket.domain:
            raise KiboApiError(f"Kibo's ticket for tenant {ticket.tenant_id} names no domain to call the tenant at")
        return f"{urlsplit(self.config.base_url).scheme}://{ticket.domain}"

    def get_conn(self) -> KiboSession:
        """
        A ``requests`` session on the tenant's host, with its context headers, signed with the tenant's
        ticket (kept fresh before each request). Endpoints may be given as in Kibo's API reference:
        ``session.get("/commerce/orders")``.
        """
        if self._session is None:
            ticket = self.get_ticket()
            if self.site_id is not None and self.site_id not in ticket.site_ids:
                sites = ", ".join(map(str, ticket.site_ids)) or "none"
                raise KiboConfigError(
                    "site_id", f"tenant {self.tenant_id} has no site {self.site_id}; its sites: {sites}"
                )
            session = self._signed_session(self.base_url(ticket), self.tenant_id)
            session.headers.update(context_headers(ticket, self.site_id))
            self._session = session
        return self._session

    def run(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> requests.Response:
        """
        Call one of the tenant's APIs with its ticket, retrying within the retry policy.

        :param method: the HTTP method
        :param endpoint: the path as in Kibo's API reference, e.g. ``/commerce/orders``
        :param params: query parameters
        :param json: the JSON body
        :raises KiboApiError: when Kibo answers with an error
        """
        return self._transport(self.get_conn()).request(method, endpoint, params=params, json=json)

    def paginate(
        self, endpoint: str, *, page_size: int = DEFAULT_PAGE_SIZE, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Yield the items of one of the tenant's collections page by page (``startIndex`` / ``pageSize``).

        :param endpoint: the collection's path, e.g. ``/commerce/orders``
        :param page_size: items asked for per page
        :param params: further query parameters, e.g. ``filter`` and ``sortBy``
        """
        return self._paginate(lambda page: self.run("GET", endpoint, params=page), page_size, params)
