"""``KiboTicketTrigger``: waits in the triggerer until a valid ticket for an account or a tenant is there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from airflow_provider_kibo.errors import KiboError


class KiboTicketTrigger(BaseTrigger):
    """
    Polls for a ticket valid for ``min_valid_for_seconds``, or (``check_access``) for Kibo to grant
    the account, and fires one event: ``{"status": "success", "summary": {...}}``,
    ``{"status": "error", "error": <the error's class name>, "message": ...}``, or
    ``{"status": "timeout", "message": ...}`` once ``deadline`` has passed. Each check runs in a
    worker thread (``sync_to_async``, through which the Task SDK reaches the triggerer's
    supervisor), so the event loop never blocks on HTTP or on the ticket store. The deadline is the
    trigger's own, so it ends wherever it runs: in a triggerer, and inline under ``dag.test()``,
    which enforces no deferral timeout.

    :param kibo_conn_id: the ``kibo_developer`` Connection
    :param developer_account_id: the developer account, or ``None`` with ``tenant_id``
    :param min_valid_for_seconds: how long the ticket must stay valid at least
    :param check_access: ask Kibo (through the hook) instead of reading the store only
    :param poll_interval: seconds between checks
    :param deadline: when to stop waiting, as an ISO-8601 UTC time; ``None`` waits without end
    :param tenant_id: a tenant instead of a developer account
    """

    def __init__(
        self,
        kibo_conn_id: str,
        developer_account_id: int | None,
        min_valid_for_seconds: float,
        check_access: bool,
        poll_interval: float,
        deadline: str | None = None,
        tenant_id: int | None = None,
    ) -> None:
        super().__init__()
        self.kibo_conn_id = kibo_conn_id
        self.developer_account_id = developer_account_id
        self.min_valid_for_seconds = min_valid_for_seconds
        self.check_access = check_access
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.tenant_id = tenant_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kibo_conn_id": self.kibo_conn_id,
                "developer_account_id": self.developer_account_id,
                "min_valid_for_seconds": self.min_valid_for_seconds,
                "check_access": self.check_access,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "tenant_id": self.tenant_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_kibo.scope import scope_hook
        from airflow_provider_kibo.ticket_check import check_ticket, describe_condition

        hook = scope_hook(self.kibo_conn_id, self.developer_account_id, self.tenant_id)
        min_valid_for = timedelta(seconds=self.min_valid_for_seconds)
        deadline = datetime.fromisoformat(self.deadline) if self.deadline else None
        while True:
            try:
                summary = await sync_to_async(check_ticket)(hook, min_valid_for, self.check_access)
            except KiboError as err:
                yield TriggerEvent({"status": "error", "error": type(err).__name__, "message": str(err)})
                return
            if summary is not None:
                yield TriggerEvent({"status": "success", "summary": summary})
                return
            condition = describe_condition(hook.scope_description(), min_valid_for, self.check_access)
            wait = self.poll_interval
            if deadline is not None:
                left = (deadline - hook.now()).total_seconds()
                if left <= 0:
                    message = f"Timed out waiting for {condition}: the sensor's timeout ended at {deadline.isoformat()}"
                    yield TriggerEvent({"status": "timeout", "message": message})
                    return
                wait = min(wait, left)
            self.log.info("Waiting for %s; checking again in %.3g s", condition, wait)
            await asyncio.sleep(wait)
