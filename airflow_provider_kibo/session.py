"""A ``requests`` session bound to a Kibo host, and the auth that signs it with a fresh ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from airflow_provider_kibo.tickets.values import KiboAuthTicket

SessionContext = tuple[str, dict[str, str]]
"""Where a session's next request goes: Kibo's host URL without ``/api``, and the context headers
(``x-vol-tenant``, ``x-vol-site``, ...) it carries."""


class KiboSession(requests.Session):
    """
    A session that resolves endpoints against ``{base_url}/api`` and never sends without a timeout.

    :param base_url: Kibo's host URL without ``/api``
    :param timeout: the default ``timeout`` of every request, in seconds
    :param verify: ``requests``' ``verify``
    :param context: when given, asked before each request for the host and context headers, which
        may change from one ticket to the next (a tenant's domain, its sites' catalogs)
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        verify: bool | str = True,
        context: Callable[[], SessionContext] | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout
        self.verify = verify
        self.headers["Accept"] = "application/json"
        self._context = context
        self._context_headers: set[str] = set()

    def update_context(self) -> None:
        """Take the host and the context headers from ``context`` now (each request does it too)."""
        if self._context is None:
            return
        self.base_url, headers = self._context()
        for name in self._context_headers - headers.keys():
            del self.headers[name]
        self.headers.update(headers)
        self._context_headers = set(headers)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send like ``requests.Session.request``; ``url`` may be an endpoint such as ``/platform/...``."""
        self.update_context()
        if isinstance(url, str) and url.startswith("/"):
            url = f"{self.base_url}/api{url}"
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


class KiboBearerAuth(requests.auth.AuthBase):
    """
    Signs each request with ``Authorization: Bearer`` from a ticket fetched just before sending;
    on a 401 it forces one refresh and sends the request once more.

    :param get_ticket: returns a ticket valid beyond the refresh margin
    :param refresh_ticket: forces a new ticket
    """

    def __init__(self, get_ticket: Callable[[], KiboAuthTicket], refresh_ticket: Callable[[], KiboAuthTicket]) -> None:
        self._get_ticket = get_ticket
        self._refresh_ticket = refresh_ticket

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._get_ticket().bearer_token}"
        request.register_hook("response", self._retry_once_on_401)
        return request

    def _retry_once_on_401(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self._refresh_ticket().bearer_token}"
        _ = response.content  # read the body so the connection can be reused
        response.close()
        # The adapter sends without dispatching response hooks, so this retry happens once.
        retried = response.connection.send(retry, **send_kwargs)
        retried.history.append(response)
        retried.request = retry
        return retried
