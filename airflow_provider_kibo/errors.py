"""Typed errors of the Kibo provider. None of them ever carries a token or a password."""

from __future__ import annotations

import sys
from typing import Any

from airflow_provider_kibo.airflow_compat import AirflowException, AirflowFailException


class KiboError(AirflowException):
    """Base class of every error raised by this provider."""

    @classmethod
    def reported(cls, name: str, message: str) -> KiboError:
        """
        An error that another process reported by its class name and message (a trigger's error event):
        of that class when this module defines it, with the message only.

        :param name: the class name, e.g. ``KiboConfigError``
        :param message: ``str()`` of the original error
        """
        found = getattr(sys.modules[__name__], name, None)
        error_class = found if isinstance(found, type) and issubclass(found, cls) else cls
        error = error_class.__new__(error_class)
        AirflowException.__init__(error, message)
        return error


class KiboConfigError(KiboError, AirflowFailException):
    """
    The Connection (or an argument) is invalid; retrying cannot help.

    :param field: the Connection field or extra key at fault, e.g. ``extra.refresh_margin_seconds``
    :param problem: what is wrong and what to put there instead
    """

    field = ""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"Kibo connection field {field!r}: {problem}")


class KiboApiError(KiboError):
    """
    Kibo answered with an error, or could not be reached.

    :param summary: what the provider was doing, e.g. ``PUT /platform/developer/authtickets``
    :param status_code: the HTTP status, or ``None`` when no response arrived
    :param error_code: Kibo's ``errorCode``
    :param api_message: Kibo's ``message``
    :param correlation_id: the ``x-vol-correlation`` header, to quote to Kibo support
    """

    status_code: int | None = None  # type: ignore[assignment]  # Kibo's status, not AirflowException's
    error_code: str | None = None
    api_message: str | None = None
    correlation_id: str | None = None

    def __init__(
        self,
        summary: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        api_message: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.error_code = error_code
        self.api_message = api_message
        self.correlation_id = correlation_id
        details = [
            f"status {status_code}" if status_code is not None else None,
            error_code,
            api_message,
            f"x-vol-correlation {correlation_id}" if correlation_id else None,
        ]
        text = "; ".join(d for d in details if d)
        super().__init__(f"{summary}: {text}" if text else summary)


class KiboAuthError(KiboApiError):
    """Kibo refused the credentials or every refresh token known, or none is configured."""


class KiboNoAccessError(KiboAuthError, AirflowFailException):
    """
    The user has no access to the developer account or tenant asked for; retrying cannot help.

    :param scope: what was asked for, e.g. ``developer account 1999``
    :param noun: what the scope is, in one word, e.g. ``account``
    :param available: the ids of the user's accounts (or tenants), as last reported by Kibo
    :param remedy: how the user gets access, e.g. ``invite the user``
    :param api_error: Kibo's error details, as :class:`KiboApiError` takes them
    """

    def __init__(self, scope: str, noun: str, available: tuple[int, ...], remedy: str, **api_error: Any) -> None:
        listed = ", ".join(str(a) for a in available) or "none known"
        super().__init__(
            f"No access to Kibo {scope}; the user's {noun}s are: {listed}. "
            f"Use one of them, or ask an administrator of that {noun} to {remedy}",
            **api_error,
        )


class KiboAccountAccessError(KiboNoAccessError):
    """
    The user has no access to the requested developer account; retrying cannot help.

    :param account_id: the account asked for
    :param available_account_ids: the accounts the user does have, as last reported by Kibo
    """

    def __init__(self, account_id: int, available_account_ids: tuple[int, ...], **api_error: Any) -> None:
        self.account_id = account_id
        self.available_account_ids = available_account_ids
        super().__init__(
            f"developer account {account_id}", "account", available_account_ids, "invite the user", **api_error
        )


class KiboTenantAccessError(KiboNoAccessError):
    """
    The user has no access to the requested tenant; retrying cannot help.

    :param tenant_id: the tenant asked for
    :param available_tenant_ids: the tenants the user does have, as last reported by Kibo
    """

    def __init__(self, tenant_id: int, available_tenant_ids: tuple[int, ...], **api_error: Any) -> None:
        self.tenant_id = tenant_id
        self.available_tenant_ids = available_tenant_ids
        super().__init__(f"tenant {tenant_id}", "tenant", available_tenant_ids, "add the user", **api_error)


class KiboApplicationAccessError(KiboNoAccessError):
    """
    The Kibo application may not call the tenant: it is not installed there; retrying cannot help.

    :param tenant_id: the tenant asked for
    :param application_key: the application's key
    :param api_error: Kibo's error details, as :class:`KiboApiError` takes them
    """

    def __init__(self, tenant_id: int, application_key: str, **api_error: Any) -> None:
        self.tenant_id = tenant_id
        self.application_key = application_key
        KiboAuthError.__init__(
            self,
            f"Kibo application {application_key} may not call tenant {tenant_id}: it is not installed there. "
            "Install it on that tenant in Kibo's Dev Center (or ask the tenant's administrator to), "
            "or remove the tenant from the task",
            **api_error,
        )


class KiboWindowOpenError(KiboError):
    """An export's window has not ended: records are still being written in it. A retry after its end and
    the settle delay succeeds."""


class KiboTicketStoreError(KiboError):
    """A ticket could not be written where the Connection says tickets are kept."""


class KiboLockTimeout(KiboError):
    """Another thread or process held the refresh lock longer than the wait allowed."""
