"""``KiboRefreshTicketOperator``: make sure a fresh ticket for a developer account is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

DEFAULT_MIN_VALID_FOR = timedelta(minutes=10)
"""How long the ticket must stay valid after the task, unless the task says otherwise."""


class KiboRefreshTicketOperator(BaseOperator):
    """
    Switch the Connection's ticket to a developer account, refreshing it only when needed.

    The stored ticket for the account is reused when it stays valid for ``min_valid_for``;
    otherwise (or with ``force_refresh``) a new one is obtained and stored for downstream tasks.
    Returns a summary without any secret: account id and name, expiries, available accounts, user id
    and whether it refreshed.

    :param developer_account_id: the developer account (templated); defaults to the Connection's
    :param kibo_conn_id: the ``kibo_developer`` Connection (templated)
    :param force_refresh: refresh even when the stored ticket is still good
    :param min_valid_for: how long the ticket must stay valid at least
    """

    template_fields: Sequence[str] = ("developer_account_id", "kibo_conn_id")
    ui_color = "#f5e7d8"

    def __init__(
        self,
        *,
        developer_account_id: int | str | None = None,
        kibo_conn_id: str = "kibo_developer_default",
        force_refresh: bool = False,
        min_valid_for: timedelta = DEFAULT_MIN_VALID_FOR,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.developer_account_id = developer_account_id
        self.kibo_conn_id = kibo_conn_id
        self.force_refresh = force_refresh
        self.min_valid_for = min_valid_for

    @cached_property
    def hook(self) -> KiboDeveloperHook:
        """The hook, built on first use (never while the DAG file is parsed)."""
        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook

        return KiboDeveloperHook(self.kibo_conn_id, self.developer_account_id)

    def execute(self, context: Context) -> dict[str, Any]:
        if self.force_refresh:
            ticket = self.hook.refresh_ticket()
        else:
            ticket = self.hook.get_ticket(min_valid_for=self.min_valid_for)
        refreshed = self.hook.tickets_obtained > 0
        self.log.info(
            "%s the ticket of Kibo developer account %s (%s); valid until %s",
            "Refreshed" if refreshed else "Reused",
            ticket.account_id,
            ticket.account_name,
            ticket.access_token_expires_at.isoformat(),
        )
        return {**ticket.summary(), "refreshed": refreshed}
