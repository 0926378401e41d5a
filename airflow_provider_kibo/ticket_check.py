"""The condition ``KiboTicketSensor`` and ``KiboTicketTrigger`` wait for: one check, shared by both."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.ticket import KiboTicket


def check_ticket(hook: KiboDeveloperHook, min_valid_for: timedelta, check_access: bool) -> KiboTicket | None:
    """
    One check of the sensor and its trigger: the ticket when the condition holds, else ``None``.

    :param hook: the hook of the Connection and account to check
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: ask Kibo for a ticket (succeeds once the user may use the account) rather
        than reading the store only
    """
    from airflow_provider_kibo.errors import KiboAccountAccessError

    if check_access:
        try:
            ticket = hook.get_ticket(min_valid_for=min_valid_for)
        except KiboAccountAccessError:
            return None
    else:
        ticket = hook.stored_ticket()
    if ticket is None or ticket.access_valid_for(hook.now()) < min_valid_for:
        return None
    return ticket


def describe_condition(account_id: int | str | None, min_valid_for: timedelta, check_access: bool) -> str:
    """
    The condition in words, for log lines and timeout messages.

    :param account_id: the developer account waited for
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: whether Kibo is asked (access to the account) or the store only is read
    """
    ticket = f"a Kibo ticket for developer account {account_id} valid for at least {min_valid_for}"
    return f"Kibo to grant access: {ticket}" if check_access else f"{ticket} in the ticket store"
