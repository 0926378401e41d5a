"""``KiboTicketSensor``: wait until a valid ticket for a developer account or a tenant is there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_kibo.airflow_compat import AirflowSensorTimeout, default_deferrable
from airflow_provider_kibo.scope import DEFAULT_MIN_VALID_FOR, ScopedTicketTask
from airflow_provider_kibo.ticket_check import check_ticket, describe_condition

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFERRAL_TIMEOUT_GRACE = timedelta(minutes=1)
"""A deferred sensor's trigger ends at the sensor's ``timeout`` by itself; the deferral timeout the
scheduler enforces comes this much later, so it steps in only when no triggerer delivered the
trigger's own timeout event (and never races it for the message)."""


class KiboTicketSensor(ScopedTicketTask, BaseSensorOperator):
    """
    Wait until the ticket stored for a developer account (or a tenant) stays valid for ``min_valid_for``.

    By default it reads the ticket store only, never calling Kibo, so a DAG can wait for another
    (a rotation DAG, say) to refresh tickets. With ``check_access`` it asks Kibo through the hook and
    succeeds once the user may use the account (for accounts still being provisioned). Returns the
    ticket's summary, without any secret. Works in ``poke`` and ``reschedule`` modes and, with
    ``deferrable``, waits in the triggerer. Every mode ends the same way, also under ``dag.test()``:
    ``timeout`` ends the wait with ``AirflowSensorTimeout`` naming the account and the condition,
    which ``soft_fail`` turns into a skip, and an error that retrying cannot mend (a configuration
    error, ``min_valid_for`` longer than Kibo's tokens live) fails the task without retries.

    :param developer_account_id: the developer account (templated); defaults to the Connection's
    :param tenant_id: a tenant instead of a developer account (templated); give one or the other
    :param kibo_conn_id: the ``kibo_developer`` Connection (templated)
    :param min_valid_for: how long the ticket must stay valid at least
    :param check_access: ask Kibo instead of reading the store only
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``)
    """

    template_fields: Sequence[str] = ("developer_account_id", "tenant_id", "kibo_conn_id")
    ui_color = "#f5e7d8"

    def __init__(
        self,
        *,
        developer_account_id: int | str | None = None,
        tenant_id: int | str | None = None,
        kibo_conn_id: str = "kibo_developer_default",
        min_valid_for: timedelta = DEFAULT_MIN_VALID_FOR,
        check_access: bool = False,
        deferrable: bool = default_deferrable(),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_scope(kibo_conn_id, developer_account_id, tenant_id)
        self.min_valid_for = min_valid_for
        self.check_access = check_access
        self.deferrable = deferrable

    def poke(self, context: Context) -> PokeReturnValue:
        summary = check_ticket(self.hook, self.min_valid_for, self.check_access)
        return PokeReturnValue(is_done=summary is not None, xcom_value=summary)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:
                raise AirflowSensorTimeout(f"Timed out waiting for {self._condition()}: {err}") from err
        checked = self.poke(context)
        if checked.is_done:
            return checked.xcom_value
        from airflow_provider_kibo.triggers.tickets import KiboTicketTrigger

        timeout = timedelta(seconds=self.timeout)
        self.defer(
            trigger=KiboTicketTrigger(
                kibo_conn_id=self.kibo_conn_id,
                **self.hook.task_scope(),
                min_valid_for_seconds=self.min_valid_for.total_seconds(),
                check_access=self.check_access,
                poll_interval=self.poke_interval,
                deadline=(self.hook.now() + timeout).isoformat(),
            ),
            method_name="execute_complete",
            timeout=timeout + DEFERRAL_TIMEOUT_GRACE,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: return the summary, or raise what the trigger reported (an
        error of the class it met, so that one retrying cannot mend fails the task as in poke mode),
        a timeout as a sensor timeout; ``soft_fail`` turns either into a skip."""
        from airflow_provider_kibo.errors import KiboError

        status = event.get("status")
        if status == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if status != "success":
            message = f"Waiting for the Kibo ticket failed: {event.get('message', event)}"
            raise KiboError.reported(str(event.get("error", "KiboError")), message)
        return event["summary"]

    def _condition(self) -> str:
        return describe_condition(self.hook.scope_description(), self.min_valid_for, self.check_access)
