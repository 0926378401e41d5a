"""``KiboRefreshTicketOperator``: make sure a fresh ticket for a developer account or a tenant is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kibo.scope import DEFAULT_MIN_VALID_FOR, ScopedTicketTask

if TYPE_CHECKING:
    from airflow.sdk import Context

OBTAINED = {"login": "Logged in to Kibo for", "refresh": "Refreshed the Kibo ticket of", "switch": "Switched to Kibo"}
"""The log line's start, by how the last new ticket was obtained."""


class KiboRefreshTicketOperator(ScopedTicketTask, BaseOperator):
    """
    Switch the Connection's ticket to a developer account or a tenant, refreshing it only when needed.

    The stored ticket for the account (or tenant) is reused when it stays valid for
    ``min_valid_for``; otherwise (or with ``force_refresh``) a new one is obtained and stored for
    downstream tasks. With ``force_login`` it logs in with the Connection's current password and logs
    out every earlier ticket of that kind: a full credential rotation. Returns a summary without any
    secret: the account's (or tenant's) id and name, expiries, the available accounts (or tenants),
    user id, whom the ticket was issued to and whether it refreshed; for a tenant also its domain and
    site ids.

    :param developer_account_id: the developer account (templated); defaults to the Connection's
    :param tenant_id: a tenant instead of a developer account (templated); give one or the other
    :param kibo_conn_id: the ``kibo_developer`` Connection (templated)
    :param force_refresh: refresh even when the stored ticket is still good
    :param force_login: log in with the password and log out every earlier ticket (templated: a
        template may render ``"True"`` or ``"False"``)
    :param min_valid_for: how long the ticket must stay valid at least
    """

    template_fields: Sequence[str] = ("developer_account_id", "tenant_id", "kibo_conn_id", "force_login")
    ui_color = "#f5e7d8"

    def __init__(
        self,
        *,
        developer_account_id: int | str | None = None,
        tenant_id: int | str | None = None,
        kibo_conn_id: str = "kibo_developer_default",
        force_refresh: bool = False,
        force_login: bool | str = False,
        min_valid_for: timedelta = DEFAULT_MIN_VALID_FOR,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_scope(kibo_conn_id, developer_account_id, tenant_id)
        self.force_refresh = force_refresh
        self.force_login = force_login
        self.min_valid_for = min_valid_for

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_kibo.config import validate_flag

        if validate_flag(self.force_login, "force_login"):
            ticket = self.hook.force_login()
        elif self.force_refresh:
            ticket = self.hook.refresh_ticket()
        else:
            ticket = self.hook.get_ticket(min_valid_for=self.min_valid_for)
        summary = self.hook.summary(ticket)  # type: ignore[arg-type]  # the hook's own ticket
        obtained = self.hook.tickets.obtained
        self.log.info(
            "%s %s (%s); valid until %s",
            OBTAINED[obtained[-1]] if obtained else "Reused the stored Kibo ticket of",
            self.hook.scope_description(),
            ticket.scope_name,
            ticket.access_token_expires_at.isoformat(),
        )
        return {**summary, "refreshed": bool(obtained)}
