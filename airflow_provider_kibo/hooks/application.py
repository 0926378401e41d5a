"""``KiboApplicationHook``: a Kibo application's ticket (its key and shared secret), and calls to the APIs
of a tenant the application is installed on."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import Any, Unpack

from airflow_provider_kibo.config import KiboApplicationConfig, validate_id
from airflow_provider_kibo.errors import KiboApiError, KiboApplicationAccessError, KiboAuthError, KiboConfigError
from airflow_provider_kibo.get_provider_info import APPLICATION_CONN_FIELDS, APPLICATION_UI_FIELD_BEHAVIOUR
from airflow_provider_kibo.hooks.base import HookOptions, KiboTicketHook
from airflow_provider_kibo.hooks.tenant import context_headers, tenant_url
from airflow_provider_kibo.session import KiboBearerAuth, SessionContext
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.kinds import APPLICATION_TICKETS
from airflow_provider_kibo.tickets.values import APPLICATION_SCOPE, KiboApplicationTicket, TicketRecord
from airflow_provider_kibo.transport import DEFAULT_RETRY_POLICY, KiboTransport

TENANT_SLOT_PREFIX = "application_tenant_"
"""What the application learnt of a tenant (its host, sites and catalogs) is kept in the store slot
``<prefix><tenant id>``, for every task of the Connection."""


class KiboApplicationHook(KiboTicketHook[KiboApplicationTicket, KiboApplicationConfig]):
    """
    A Kibo application's ticket (``kibo_application`` Connection: the application key and shared
    secret), and calls to the APIs of one tenant the application is installed on, with its site.

    The ticket is shared, refreshed and bound to the Connection's identity (the auth host and the
    application key) as a user's tickets are, one per Connection. The tenant's host is found once with
    ``GET /platform/tenants/{tenantId}`` and kept with the tickets; calls go there with
    ``x-vol-tenant``, and with a site ``x-vol-site`` and its catalogs. A tenant the application is not
    installed on fails with :class:`~airflow_provider_kibo.errors.KiboApplicationAccessError`.

    :param kibo_conn_id: the Connection with the auth host, the application key and the shared secret
    :param tenant_id: the tenant; defaults to the Connection's ``tenant_id``
    :param site_id: the site of the tenant that calls are about, if any; defaults to the Connection's ``site_id``
    :param options: see :class:`~airflow_provider_kibo.hooks.base.HookOptions`
    """

    default_conn_name = "kibo_application_default"
    conn_type = "kibo_application"
    hook_name = "Kibo Application"
    config_class = KiboApplicationConfig
    kind = APPLICATION_TICKETS
    conn_fields = APPLICATION_CONN_FIELDS
    ui_field_behaviour = APPLICATION_UI_FIELD_BEHAVIOUR

    # Airflow 3.1 builds the Connection form only from these methods defined on the hook class itself.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return super().get_connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return super().get_ui_field_behaviour()

    def __init__(
        self,
        kibo_conn_id: str = default_conn_name,
        tenant_id: int | str | None = None,
        site_id: int | str | None = None,
        **options: Unpack[HookOptions],
    ) -> None:
        super().__init__(kibo_conn_id, **options)
        self.tenant_id = tenant_id
        self.site_id = site_id
        self._tenant: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kibo_conn_id={self.kibo_conn_id!r}, tenant_id={self.tenant_id})"

    def task_scope(self) -> dict[str, int | None]:
        return {"developer_account_id": None, "tenant_id": self.target_tenant()}

    @property
    def scope_id(self) -> int:
        """An application's ticket serves every tenant: its one scope."""
        return APPLICATION_SCOPE

    def target_tenant(self) -> int:
        """The tenant calls go to: the hook's, else the Connection's."""
        if self.tenant_id is not None:
            return validate_id(self.tenant_id, "tenant_id", "tenant id")
        if self.config.default_tenant_id is None:
            raise KiboConfigError(
                "tenant_id", "name the tenant: pass tenant_id, or set extra.tenant_id in the Connection"
            )
        return self.config.default_tenant_id

    def target_site(self) -> int | None:
        """The site calls are about, if any: the hook's, else the Connection's."""
        if self.site_id is not None:
            return validate_id(self.site_id, "site_id", "site id")
        return self.config.default_site_id

    def scope_description(self) -> str:
        return f"tenant {self.target_tenant()} with application {self.config.application_key}"

    def tenant(self) -> dict[str, Any]:
        """
        The tenant as Kibo describes it to the application (``id``, ``name``, ``domain``, ``sites``,
        ``masterCatalogs``): asked once per Connection and tenant, then read from the store.

        :raises KiboApplicationAccessError: when the application is not installed on the tenant
        """
        if self._tenant is None:
            self._tenant = self._stored_tenant() or self._look_up_tenant()
        return self._tenant

    def summary(self, ticket: KiboApplicationTicket) -> dict[str, Any]:
        """The ticket's summary, with the tenant it is used for; no secret."""
        return {**ticket.summary(), **_tenant_summary(self.tenant())}

    def stored_ticket_record(self) -> TicketRecord | None:
        """The record of the stored ticket, with the tenant, once the tenant has been found for this
        application; read from the store only."""
        record = super().stored_ticket_record()
        tenant = self._stored_tenant()
        if record is None or tenant is None:
            return None
        return dataclasses.replace(record, summary={**record.summary, **_tenant_summary(tenant)})

    def api_context(self) -> SessionContext:
        """The tenant's host and context headers, as Kibo described the tenant to the application."""
        tenant = self.tenant()
        return tenant_url(self.config.base_url, tenant), context_headers(tenant, self.target_site())

    def _stored_tenant(self) -> dict[str, Any] | None:
        note = self.store.read_note(f"{TENANT_SLOT_PREFIX}{self.target_tenant()}")
        if note is None or KiboIdentity.from_json(note.get("issuedTo")) != self.identity:
            return None
        tenant = note.get("tenant")
        return tenant if isinstance(tenant, dict) else None

    def _look_up_tenant(self) -> dict[str, Any]:
        tenant_id = self.target_tenant()
        session = self._new_session(self.config.base_url)
        session.auth = KiboBearerAuth(
            lambda: self.tickets.get(APPLICATION_SCOPE, timedelta(0)), self._refresh_after_401
        )
        transport = KiboTransport(
            session,
            retry_policy=self._options.get("retry_policy", DEFAULT_RETRY_POLICY),
            sleep=self._options.get("sleep", time.sleep),
        )
        try:
            tenant = transport.request("GET", f"/platform/tenants/{tenant_id}").json()
        except KiboAuthError as err:
            raise KiboApplicationAccessError(
                tenant_id,
                self.config.application_key,
                status_code=err.status_code,
                error_code=err.error_code,
                api_message=err.api_message,
                correlation_id=err.correlation_id,
            ) from None
        except KiboApiError as err:
            if err.status_code == 404:
                raise KiboConfigError("tenant_id", f"Kibo knows no tenant {tenant_id}") from None
            raise
        if not isinstance(tenant, dict) or tenant.get("id") != tenant_id:
            raise KiboApiError(f"Kibo answered the lookup of tenant {tenant_id} with another tenant or none")
        slot = f"{TENANT_SLOT_PREFIX}{tenant_id}"
        self.store.write_note(slot, {"issuedTo": self.identity.to_json(), "tenant": tenant})
        return tenant


def _tenant_summary(tenant: dict[str, Any]) -> dict[str, Any]:
    sites = [s.get("id") for s in tenant.get("sites") or [] if isinstance(s, dict)]
    return {
        "tenant_id": tenant.get("id"),
        "tenant_name": tenant.get("name"),
        "domain": tenant.get("domain"),
        "site_ids": sites,
    }
