"""The condition ``KiboTicketSensor`` and ``KiboTicketTrigger`` wait for: one check, shared by both."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.hooks.tenant import KiboTenantHook
    from airflow_provider_kibo.ticket import KiboAuthTicket


def ticket_hook(
    kibo_conn_id: str, developer_account_id: int | str | None, tenant_id: int | str | None
) -> KiboDeveloperHook | KiboTenantHook:
    """
    The hook of a tenant when one is named, else of the developer account.

    :param kibo_conn_id: the ``kibo_developer`` Connection
    :param developer_account_id: the developer account; ``None`` for the Connection's
    :param tenant_id: the tenant, instead of a developer account
    """
    if tenant_id is not None:
        from airflow_provider_kibo.hooks.tenant import KiboTenantHook

        return KiboTenantHook(kibo_conn_id, tenant_id)
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

    return KiboDeveloperHook(kibo_conn_id, developer_account_id)


def check_ticket(
    hook: KiboDeveloperHook | KiboTenantHook, min_valid_for: timedelta, check_access: bool
) -> KiboAuthTicket | None:
    """
    One check of the sensor and its trigger: the ticket when the condition holds, else ``None``.

    :param hook: the hook of the Connection and the account (or tenant) to check
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: ask Kibo for a ticket (succeeds once the user may use the account) rather
        than reading the store only
    """
    from airflow_provider_kibo.errors import KiboNoAccessError

    ticket: KiboAuthTicket | None
    if check_access:
        try:
            ticket = hook.get_ticket(min_valid_for=min_valid_for)
        except KiboNoAccessError:
            return None
    else:
        ticket = hook.stored_ticket()
    if ticket is None or ticket.access_valid_for(hook.now()) < min_valid_for:
        return None
    return ticket


def describe_condition(scope: str, min_valid_for: timedelta, check_access: bool) -> str:
    """
    The condition in words, for log lines and timeout messages.

    :param scope: what the ticket is for, e.g. ``developer account 1001`` or ``tenant 100001``
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: whether Kibo is asked (access to the account) or the store only is read
    """
    ticket = f"a Kibo ticket for {scope} valid for at least {min_valid_for}"
    return f"Kibo to grant access: {ticket}" if check_access else f"{ticket} in the ticket store"
