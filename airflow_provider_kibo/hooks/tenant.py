"""``KiboTenantHook``: a user's admin-user ticket of a Kibo tenant, and calls to that tenant's APIs."""

from __future__ import annotations

from typing import Unpack
from urllib.parse import urlsplit

from airflow_provider_kibo.config import validate_id
from airflow_provider_kibo.errors import KiboApiError, KiboConfigError
from airflow_provider_kibo.hooks.base import HookOptions, KiboTicketHook
from airflow_provider_kibo.session import SessionContext
from airflow_provider_kibo.tickets.kinds import TENANT_TICKETS
from airflow_provider_kibo.tickets.values import KiboTenantTicket


def context_headers(ticket: KiboTenantTicket, site_id: int | None) -> dict[str, str]:
    """
    The headers that put a tenant API call in its context: ``x-vol-tenant``, and with a site
    ``x-vol-site``, ``x-vol-catalog`` and ``x-vol-master-catalog`` as the ticket describes the site.

    :param ticket: the tenant's ticket
    :param site_id: the site, if the call is about one
    :raises KiboConfigError: when the tenant has no such site
    """
    headers = {"x-vol-tenant": str(ticket.tenant_id)}
    if site_id is None:
        return headers
    if site_id not in ticket.site_ids:
        sites = ", ".join(map(str, ticket.site_ids)) or "none"
        raise KiboConfigError("site_id", f"tenant {ticket.tenant_id} has no site {site_id}; its sites: {sites}")
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
    The admin-user ticket of one Kibo tenant for a ``kibo_developer`` Connection (the same Kibo user
    and password as its developer tickets), and calls to the tenant's APIs with it.

    Tickets are shared, refreshed and bound to the Connection's identity exactly as developer tickets
    are (see the README). API calls go to the tenant's own host, named by its current ticket, with
    the tenant's context headers; endpoints are written as in Kibo's API reference (``/commerce/orders``).

    :param kibo_conn_id: the Connection with the Kibo home URL, email address and password
    :param tenant_id: the tenant
    :param site_id: the site of the tenant that calls are about, if any (``x-vol-site``)
    :param options: see :class:`~airflow_provider_kibo.hooks.base.HookOptions`
    """

    default_conn_name = "kibo_developer_default"
    kind = TENANT_TICKETS

    def __init__(
        self,
        kibo_conn_id: str = default_conn_name,
        tenant_id: int | str | None = None,
        site_id: int | str | None = None,
        **options: Unpack[HookOptions],
    ) -> None:
        super().__init__(kibo_conn_id, **options)
        self.tenant_id = validate_id(tenant_id, "tenant_id", "tenant id")
        self.site_id = None if site_id is None else validate_id(site_id, "site_id", "site id")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r}, tenant_id={self.tenant_id})"

    @property
    def scope_id(self) -> int:
        """The tenant."""
        return self.tenant_id

    def base_url(self, ticket: KiboTenantTicket) -> str:
        """
        The tenant's API host: the domain its ticket names, with the Connection's scheme.

        :param ticket: the tenant's ticket
        :raises KiboApiError: when the ticket names no domain
        """
        if not ticket.domain:
            raise KiboApiError(f"Kibo's ticket for tenant {ticket.tenant_id} names no domain to call the tenant at")
        return f"{urlsplit(self.config.base_url).scheme}://{ticket.domain}"

    def api_context(self) -> SessionContext:
        """The tenant's host and context headers, as its current ticket names them."""
        ticket = self.get_ticket()
        return self.base_url(ticket), context_headers(ticket, self.site_id)
