"""The condition ``KiboTicketSensor`` and ``KiboTicketTrigger`` wait for: one check, shared by both."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_kibo._deprecated import renamed

if TYPE_CHECKING:
    from airflow_provider_kibo.scope import ScopeHook
    from airflow_provider_kibo.tickets.values import TicketRecord


def check_ticket(hook: ScopeHook, min_valid_for: timedelta, check_access: bool) -> dict[str, Any] | None:
    """
    One check of the sensor and its trigger: the ticket's summary when the condition holds, else ``None``.

    :param hook: the hook of the Connection and the account (or tenant) to check
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: ask Kibo for a ticket (succeeds once the user may use the account, or the
        application the tenant) rather than reading the store only; the store-only check reads the
        ticket's record, no secret
    :raises KiboConfigError: with ``check_access``, when even a ticket Kibo has just issued is valid
        for less than ``min_valid_for``, which no later check could change
    """
    from airflow_provider_kibo.errors import KiboConfigError, KiboNoAccessError

    record: TicketRecord | None
    if check_access:
        try:
            ticket = hook.get_ticket(min_valid_for=min_valid_for)
            summary = hook.summary(ticket)  # type: ignore[arg-type]  # the hook's own ticket
        except KiboNoAccessError:
            return None
        # The hook renews a ticket valid for less than min_valid_for, so a shorter one is brand new.
        if ticket.access_valid_for(hook.now()) < min_valid_for:
            lifetime = ticket.lifetime or ticket.access_valid_for(hook.now())
            raise KiboConfigError(
                "min_valid_for",
                f"asks for a ticket valid for {min_valid_for}, but Kibo issues access tokens valid for "
                f"{timedelta(seconds=round(lifetime.total_seconds()))} only; ask for less",
            )
        record = dataclasses.replace(ticket.record(), summary=summary)
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


__getattr__ = renamed(__name__, {"ticket_hook": "airflow_provider_kibo.scope:scope_hook"})
