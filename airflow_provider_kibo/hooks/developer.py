"""``KiboDeveloperHook``: a user's Kibo developer-account tickets, and calls to the developer APIs."""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

from airflow_provider_kibo._deprecated import REMOVED_IN, renamed
from airflow_provider_kibo.airflow_compat import AirflowProviderDeprecationWarning
from airflow_provider_kibo.config import KiboConnectionConfig, validate_id
from airflow_provider_kibo.errors import KiboConfigError
from airflow_provider_kibo.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_kibo.hooks.base import HookOptions, KiboTicketHook
from airflow_provider_kibo.tickets.kinds import DEVELOPER_TICKETS
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket

__all__ = ["KiboDeveloperHook"]

P = ParamSpec("P")
R = TypeVar("R")


def _account_per_call(
    positional: bool,
) -> Callable[[Callable[Concatenate[KiboDeveloperHook, P], R]], Callable[..., R]]:
    """
    Accept, with a deprecation warning, the developer account per call as 0.2.0 did (as the first
    argument when ``positional``, else as ``developer_account_id=``): the call then runs on the hook
    for that account.
    """

    def decorate(method: Callable[Concatenate[KiboDeveloperHook, P], R]) -> Callable[..., R]:
        @functools.wraps(method)
        def call(self: KiboDeveloperHook, *args: Any, **kwargs: Any) -> R:
            account = kwargs.pop("developer_account_id", None)
            if positional and args:
                account, *args = args  # type: ignore[assignment]
            if account is None:
                return method(self, *args, **kwargs)
            warnings.warn(
                f"KiboDeveloperHook.{method.__name__}(developer_account_id) is deprecated and will be removed in "
                f"airflow-provider-kibo {REMOVED_IN}: give the account to the hook, "
                "KiboDeveloperHook(conn_id, developer_account_id=...), or use hook.for_account(...)",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            return method(self.for_account(account), *args, **kwargs)

        return call

    return decorate


class KiboDeveloperHook(KiboTicketHook[KiboDeveloperTicket, KiboConnectionConfig]):
    """
    A Kibo user's developer auth tickets (``kibo_developer`` Connection) for one developer account,
    and calls to Kibo's developer APIs with them.

    Tickets are shared by every task and worker through a store (see the README, "Where tickets
    live"); a valid stored ticket is reused, one near expiry is refreshed by one caller at a time,
    and the password is used only when no refresh token works.

    :param kibo_conn_id: the Connection with the Kibo home URL, email address and password
    :param developer_account_id: the developer account; defaults to the Connection's
        ``developer_account_id``
    :param options: see :class:`~airflow_provider_kibo.hooks.base.HookOptions`
    """

    default_conn_name = "kibo_developer_default"
    conn_type = "kibo_developer"
    hook_name = "Kibo Developer"
    config_class = KiboConnectionConfig
    kind = DEVELOPER_TICKETS
    conn_fields = CONN_FIELDS
    ui_field_behaviour = UI_FIELD_BEHAVIOUR

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
        developer_account_id: int | str | None = None,
        **options: Unpack[HookOptions],
    ) -> None:
        super().__init__(kibo_conn_id, **options)
        self.developer_account_id = developer_account_id
        self._siblings: dict[int, KiboDeveloperHook] = {}

    def for_account(self, developer_account_id: int | str) -> KiboDeveloperHook:
        """
        This hook for another developer account: the same Connection, store and tickets in memory.

        :param developer_account_id: the account
        """
        account = validate_id(developer_account_id, "developer_account_id", "developer account id")
        if account not in self._siblings:
            _ = self.tickets  # built first, so that the two hooks share it
            other = copy.copy(self)
            other.developer_account_id = account
            other._session = None
            self._siblings[account] = other
        return self._siblings[account]

    def account_id(self) -> int:
        """The hook's developer account: the one it was given, else the Connection's."""
        if self.developer_account_id is not None:
            return validate_id(self.developer_account_id, "developer_account_id", "developer account id")
        if self.config.default_account_id is None:
            raise KiboConfigError(
                "extra.developer_account_id",
                "set the default developer account id, or pass developer_account_id to the hook or task",
            )
        return self.config.default_account_id

    def task_scope(self) -> dict[str, int | None]:
        return {"developer_account_id": self.account_id(), "tenant_id": None}

    @property
    def scope_id(self) -> int:
        """The developer account (see :meth:`account_id`)."""
        return self.account_id()

    # 0.2.0 took the account per call; kept for one release.
    get_ticket = _account_per_call(positional=True)(KiboTicketHook.get_ticket)
    stored_ticket = _account_per_call(positional=True)(KiboTicketHook.stored_ticket)
    stored_ticket_record = _account_per_call(positional=True)(KiboTicketHook.stored_ticket_record)
    refresh_ticket = _account_per_call(positional=True)(KiboTicketHook.refresh_ticket)
    revoke_ticket = _account_per_call(positional=True)(KiboTicketHook.revoke_ticket)
    force_login = _account_per_call(positional=True)(KiboTicketHook.force_login)
    get_conn = _account_per_call(positional=True)(KiboTicketHook.get_conn)
    run = _account_per_call(positional=False)(KiboTicketHook.run)
    paginate = _account_per_call(positional=False)(KiboTicketHook.paginate)


__getattr__ = renamed(
    __name__,
    {
        "ADVISORY_REFRESH_HEADSTART": "airflow_provider_kibo.tickets.manager:ADVISORY_REFRESH_HEADSTART",
        "MAX_REFRESH_ATTEMPTS": "airflow_provider_kibo.tickets.manager:MAX_REFRESH_ATTEMPTS",
        "DEVELOPER_TICKETS": "airflow_provider_kibo.tickets.kinds:DEVELOPER_TICKETS",
    },
)
