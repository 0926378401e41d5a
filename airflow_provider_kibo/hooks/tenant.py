"""``KiboTenantHook``: a user's admin-user ticket of a Kibo tenant, and calls to that tenant's APIs."""

from __future__ import annotations

from typing import Any, Unpack
from urllib.parse import urlsplit

from airflow_provider_kibo.config import KiboConnectionConfig, validate_id
from airflow_provider_kibo.errors import KiboApiError, KiboConfigError
from airflow_provider_kibo.hooks.base import HookOptions, KiboTicketHook
from airflow_provider_kibo.session import SessionContext
from airflow_provider_kibo.tickets.kinds import TENANT_TICKETS
from airflow_provider_kibo.tickets.values import KiboTenantTicket


def tenant_url(connection_url: str, tenant: dict[str, Any]) -> str:
    """
    A tenant's API host: the domain Kibo names for it, with the scheme of the Connection's host.

    :param connection_url: the Connection's host URL
    :param tenant: the tenant as Kibo describes it (``id``, ``domain``, ``sites``, ``masterCatalogs``)
    :raises KiboApiError: when Kibo names no domain
    """
    domain = tenant.get("domain")
    if not isinstance(domain, str) or not domain:
        raise KiboApiError(f"Kibo names no domain to call tenant {tenant.get('id')} at")
    return f"{urlsplit(connection_url).scheme}://{domain}"


def context_headers(tenant: dict[str, Any], site_id: int | None) -> dict[str, str]:
    """
    The headers that put a tenant API call in its context: ``x-vol-tenant``, and with a site
    ``x-vol-site``, ``x-vol-catalog`` and ``x-vol-master-catalog`` as Kibo describes the site.

    :param tenant: the tenant as Kibo describes it (``id``, ``domain``, ``sites``, ``masterCatalogs``)
    :param site_id: the site, if the call is about one
    :raises KiboConfigError: when the tenant has no such site
    """
    headers = {"x-vol-tenant": str(tenant.get("id"))}
    if site_id is None:
        return headers
    sites = [s for s in tenant.get("sites") or [] if isinstance(s, dict) and isinstance(s.get("id"), int)]
    site = next((s for s in sites if s["id"] == site_id), None)
    if site is None:
        known = ", ".join(str(s["id"]) for s in sites) or "none"
        raise KiboConfigError("site_id", f"tenant {tenant.get('id')} has no site {site_id}; its sites: {known}")
    headers["x-vol-site"] = str(site_id)
    catalog = site.get("catalogId")
    if isinstance(catalog, int):
        headers["x-vol-catalog"] = str(catalog)
        for master in tenant.get("masterCatalogs") or []:
            if isinstance(master, dict) and any(c.get("id") == catalog for c in master.get("catalogs") or []):
                headers["x-vol-master-catalog"] = str(master.get("id"))
    return headers


class KiboTenantHook(KiboTicketHook[KiboTenantTicket, KiboConnectionConfig]):
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
    config_class = KiboConnectionConfig
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

    def task_scope(self) -> dict[str, int | None]:
        return {"developer_account_id": None, "tenant_id": self.tenant_id}

    @property
    def scope_id(self) -> int:
        """The tenant."""
        return self.tenant_id

    def api_context(self) -> SessionContext:
        """The tenant's host and context headers, as its current ticket names them."""
        tenant = self.get_ticket().document[KiboTenantTicket.SCOPE_KEY]
        return tenant_url(self.config.base_url, tenant), context_headers(tenant, self.site_id)
