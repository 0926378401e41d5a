"""The developer account or tenant a task works on, and the hook for it, whichever kind of Connection the
task is given: shared by the operator, the sensor and the trigger."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kibo.hooks.application import KiboApplicationHook
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.hooks.tenant import KiboTenantHook

    ScopeHook = KiboDeveloperHook | KiboTenantHook | KiboApplicationHook

DEFAULT_MIN_VALID_FOR = timedelta(minutes=10)
"""How long a task wants a ticket to stay valid unless it says otherwise: long enough for the tasks
after a switch to start and make their first calls without a refresh, and well inside the hour a
Kibo access token lives."""


def scope_hook(
    kibo_conn_id: str,
    developer_account_id: int | str | None,
    tenant_id: int | str | None,
    site_id: int | str | None = None,
) -> ScopeHook:
    """
    The hook for the task's scope. With a ``kibo_application`` Connection: the application's hook for
    the tenant (``None``: the Connection's). With a user's Connection: the hook of the tenant when one
    is named, else of the developer account (``None``: the Connection's).

    :param kibo_conn_id: the Connection
    :param developer_account_id: the developer account
    :param tenant_id: the tenant, instead of a developer account
    :param site_id: the tenant's site that calls are about, if any
    """
    from airflow.sdk import BaseHook

    from airflow_provider_kibo.get_provider_info import APPLICATION_CONNECTION_TYPE

    if BaseHook.get_connection(kibo_conn_id).conn_type == APPLICATION_CONNECTION_TYPE:
        from airflow_provider_kibo.errors import KiboConfigError
        from airflow_provider_kibo.hooks.application import KiboApplicationHook

        if developer_account_id is not None:
            raise KiboConfigError(
                "developer_account_id", f"Connection {kibo_conn_id} is an application's: it calls tenants, name one"
            )
        return KiboApplicationHook(kibo_conn_id, tenant_id, site_id)
    if tenant_id is not None:
        from airflow_provider_kibo.hooks.tenant import KiboTenantHook

        return KiboTenantHook(kibo_conn_id, tenant_id, site_id)
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    return KiboDeveloperHook(kibo_conn_id, developer_account_id)


class ScopedTicketTask:
    """
    What ``KiboRefreshTicketOperator`` and ``KiboTicketSensor`` share: a Connection, and either a
    developer account or a tenant, checked when the task is built, with a hook built on first use
    (never while the DAG file is parsed) from the rendered values.
    """

    kibo_conn_id: str
    developer_account_id: int | str | None
    tenant_id: int | str | None

    def _set_scope(
        self, kibo_conn_id: str, developer_account_id: int | str | None, tenant_id: int | str | None
    ) -> None:
        if developer_account_id is not None and tenant_id is not None:
            from airflow_provider_kibo.errors import KiboConfigError

            raise KiboConfigError("tenant_id", "give either developer_account_id or tenant_id, not both")
        self.kibo_conn_id = kibo_conn_id
        self.developer_account_id = developer_account_id
        self.tenant_id = tenant_id

    @cached_property
    def hook(self) -> ScopeHook:
        """The hook of the account or tenant, for the kind of Connection the task was given."""
        return scope_hook(self.kibo_conn_id, self.developer_account_id, self.tenant_id)
