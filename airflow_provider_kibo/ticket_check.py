"""The condition ``KiboTicketSensor`` and ``KiboTicketTrigger`` wait for: one check, shared by both."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.hooks.tenant import KiboTenantHook
    from airflow_provider_kibo.ticket import TicketRecord


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
) -> dict[str, Any] | None:
    """
    One check of the sensor and its trigger: the ticket's summary when the condition holds, else ``None``.

    :param hook: the hook of the Connection and the account (or tenant) to check
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: ask Kibo for a ticket (succeeds once the user may use the account) rather
        than reading the store only; the store-only check reads the ticket's record, no secret
    """
    from airflow_provider_kibo.errors import KiboNoAccessError

    record: TicketRecord | None
    if check_access:
        try:
            record = hook.get_ticket(min_valid_for=min_valid_for).record()
        except KiboNoAccessError:
            return None
    else:
        record = hook.stored_ticket_record()
    if record is None or record.access_token_expires_at - hook.now() < min_valid_for:
        return None
    return record.summary


def describe_condition(scope: str, min_valid_for: timedelta, check_access: bool) -> str:
    """
    The condition in words, for log lines and timeout messages.

    :param scope: what the ticket is for, e.g. ``developer account 1001`` or ``tenant 100001``
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: whether Kibo is asked (access to the account) or the store only is read
    """
    ticket = f"a Kibo ticket for {scope} valid for at least {min_valid_for}"
    return f"Kibo to grant access: {ticket}" if check_access else f"{ticket} in the ticket store"
