"""The HTTP front of the Kibo emulator: routing, faults, and the ``/_emulator/`` control surface.

Use :class:`airflow_provider_kibo.testing.KiboEmulator` rather than this module directly.

Kibo routes (counted, faultable, delayed by ``latency``):

- ``POST /api/platform/developer/authtickets?developerAccountId=N``: create (``"create"``)
- ``PUT /api/platform/developer/authtickets?developerAccountId=N``: refresh (``"refresh"``)
- ``DELETE /api/platform/developer/authtickets?refreshToken=R``: log out (``"delete"``)
- ``GET /api/platform/appdev/apppackages/collection?startIndex=&pageSize=`` (``"apppackages"``)
- ``POST /api/platform/adminuser/authtickets/tenants?tenantId=N``: tenant login (``"tenant_create"``)
- ``PUT /api/platform/adminuser/authtickets/tenants?tenantId=N``: tenant refresh or switch
  (``"tenant_refresh"``)
- ``DELETE /api/platform/adminuser/authtickets?refreshToken=R``: tenant log out (``"tenant_delete"``)
- ``GET /_tenant/{tenantId}/api/commerce/orders?startIndex=&pageSize=&sortBy=&filter=`` with
  ``x-vol-tenant`` (required) and ``x-vol-site`` (optional) headers (``"orders"``). One port
  serves every tenant: a tenant's ``domain`` is ``{host}:{port}/_tenant/{tenantId}``.
- ``POST /api/platform/applications/authtickets/oauth`` ``{client_id, client_secret, grant_type}``: an
  application's OAuth token (``"app_oauth"``); ``POST /api/platform/applications/authtickets``
  ``{applicationId, sharedSecret}``: its ticket in the older form (``"app_ticket"``)
- ``PUT`` or ``POST /api/platform/applications/authtickets/refresh-ticket`` ``{refreshToken}``
  (``"app_refresh"``); ``DELETE /api/platform/applications/authtickets/{refreshToken}`` (``"app_delete"``)
- ``GET /api/platform/tenants/{tenantId}`` with an application's token: the tenant, its domain and
  sites (``"tenant_lookup"``); 403 where the application is not installed
- ``GET /_tenant/{tenantId}/api/commerce/customer/accounts`` with the same paging, ``filter`` and
  ``sortBy`` on ``auditInfo.updateDate`` (``"customer_accounts"``)
- ``POST /_tenant/{tenantId}/api/commerce/orders`` with the same headers: place an order now, on the
  ``x-vol-site`` site or the tenant's first (``"order_create"``, 201 with the order)

A developer token is refused by the tenant routes and a tenant token by the developer routes. A
tenant's routes take an application's token where the application is installed.

Control routes (JSON bodies; never counted, faulted or delayed):

- ``GET /_emulator/counters``, ``POST /_emulator/counters/reset``, ``GET /_emulator/status_counts``,
  ``GET /_emulator/calls`` (each Kibo request: its route and the user whose credential it carried)
- ``GET /_emulator/clock``, ``POST /_emulator/clock`` ``{"advance_seconds": x}``
- ``POST /_emulator/faults`` ``{"route", "kind", "times", "status", "retry_after", "seconds"}``,
  ``POST /_emulator/faults/clear``
- ``GET /_emulator/config``, ``POST /_emulator/config`` with any subset of
  ``rotate_refresh_tokens``, ``no_access_status``, ``access_token_lifetime``,
  ``refresh_token_lifetime``, ``latency``, ``application_auth_routes``, ``oauth_expires_in``
- ``POST /_emulator/revoke`` ``{"email": optional}``

Invalid control input answers 400 ``VALIDATION_CONFLICT``. Every response carries
``x-vol-correlation``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_kibo.testing.applications import OAUTH, TICKET
from airflow_provider_kibo.testing.models import format_kibo_datetime
from airflow_provider_kibo.testing.state import (
    DEFAULT_PAGE_SIZE,
    DROPPED,
    TENANT,
    EmulatorState,
    Fault,
    KiboError,
)

log = logging.getLogger(__name__)

AUTHTICKETS_PATH = "/api/platform/developer/authtickets"
APPPACKAGES_PATH = "/api/platform/appdev/apppackages/collection"
TENANT_AUTHTICKETS_PATH = "/api/platform/adminuser/authtickets/tenants"
ADMINUSER_AUTHTICKETS_PATH = "/api/platform/adminuser/authtickets"
APPLICATION_AUTHTICKETS_PATH = "/api/platform/applications/authtickets"
_KIBO_ROUTES: dict[tuple[str, str], str] = {
    ("POST", AUTHTICKETS_PATH): "create",
    ("PUT", AUTHTICKETS_PATH): "refresh",
    ("DELETE", AUTHTICKETS_PATH): "delete",
    ("GET", APPPACKAGES_PATH): "apppackages",
    ("POST", TENANT_AUTHTICKETS_PATH): "tenant_create",
    ("PUT", TENANT_AUTHTICKETS_PATH): "tenant_refresh",
    ("DELETE", ADMINUSER_AUTHTICKETS_PATH): "tenant_delete",
    ("POST", f"{APPLICATION_AUTHTICKETS_PATH}/oauth"): "app_oauth",
    ("POST", APPLICATION_AUTHTICKETS_PATH): "app_ticket",
    ("PUT", f"{APPLICATION_AUTHTICKETS_PATH}/refresh-ticket"): "app_refresh",
    ("POST", f"{APPLICATION_AUTHTICKETS_PATH}/refresh-ticket"): "app_refresh",
}
#: Routes whose last path segment is a parameter: ``DELETE .../authtickets/{refreshToken}`` and
#: ``GET /platform/tenants/{tenantId}``.
_PARAMETER_ROUTES: dict[tuple[str, str], str] = {
    ("DELETE", APPLICATION_AUTHTICKETS_PATH): "app_delete",
    ("GET", "/api/platform/tenants"): "tenant_lookup",
}
#: A tenant host's API below the emulator's one port: ``/_tenant/{tenantId}/api/...``.
_TENANT_PREFIX = re.compile(r"^/_tenant/(\d+)(/.*)$")
#: An application's log-out takes its refresh token in the path: the access log shows it redacted.
_TOKEN_IN_PATH = re.compile(r"(/api/platform/applications/authtickets/)(?!oauth\b|refresh-ticket\b)[^/?\s\"]+")
_TENANT_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/commerce/orders"): "orders",
    ("POST", "/api/commerce/orders"): "order_create",
    ("GET", "/api/commerce/customer/accounts"): "customer_accounts",
}
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnauthorizedException",
    403: "ForbiddenException",
    404: "ItemNotFoundException",
    405: "MethodNotAllowedException",
    500: "InternalServerErrorException",
    502: "BadGatewayException",
    503: "ServiceUnavailableException",
}
_SERVER_ERROR_CODES = {500: "INTERNAL_SERVER_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE"}


def error_body(status: int, error_code: str, message: str) -> dict[str, Any]:
    """Build a Kibo error document.

    :param status: HTTP status (selects ``exceptionDetail.type``).
    :param error_code: Kibo ``errorCode``.
    :param message: Message without secrets.
    """
    exc_type = "Kibo.Emulator." + _ERROR_TYPES.get(status, "ApplicationException")
    return {
        "message": message,
        "errorCode": error_code,
        "applicationName": "Kibo Emulator",
        "additionalErrorData": [],
        "exceptionDetail": {"message": message, "type": exc_type},
        "items": [],
    }


def http_authority(host: str, port: int) -> str:
    """The ``host:port`` clients use to reach a server bound to ``host`` (wildcards mean loopback).

    :param host: The interface the server binds, e.g. ``127.0.0.1``, ``0.0.0.0`` or ``::``.
    :param port: The bound port.
    """
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _int_param(query: dict[str, str], name: str, default: int | None) -> int | None:
    raw = query.get(name.lower(), "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise KiboError(400, "VALIDATION_CONFLICT", f"{name} must be an integer.") from None


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks open connections so ``stop()`` can end them.

    :param address: ``(host, port)`` to bind; port 0 picks a free port.
    :param state: The emulator state answering the requests.
    """

    daemon_threads = True
    block_on_close = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._dropped: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)
        #: ``host:port`` of this server as clients reach it; the base of the tenants' ``domain``.
        self.authority = http_authority(address[0], int(self.server_address[1]))

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def drop(self, request: socket.socket) -> None:
        """Mark a connection to be reset (RST, no response) when its handler finishes."""
        request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._conn_lock:
            self._dropped.add(request)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
            dropped = request in self._dropped
            self._dropped.discard(request)
        if dropped:
            request.close()
        else:
            super().shutdown_request(request)

    def stop(self) -> None:
        """Stop serving, end stalls and open connections, close the socket, join the threads."""
        with contextlib.suppress(OSError):  # wakes serve_forever's select() at once, not after its poll interval
            self.socket.shutdown(socket.SHUT_RDWR)
        self.shutdown()
        self.stopping.set()
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive handlers are blocked reading: end them
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (after a timeout, a stall, a drop) are normal here: stay quiet.
        # socketserver calls this from inside its ``except`` block, so the exception is there to show.
        log.debug("emulator connection error from %s", client_address, exc_info=True)  # noqa: LOG014


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the control surface or to the Kibo routes."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK wait
    server_version = "KiboEmulator/1.0"
    server: EmulatorHTTPServer
    _route: str = ""  # the counted Kibo route of the current request, "" for others
    _tenant_id: int = 0  # the tenant of a /_tenant/{tenantId}/... request
    _parameter: str = ""  # the last path segment of a route in _PARAMETER_ROUTES
    _body: bytes
    _query: dict[str, str]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), _TOKEN_IN_PATH.sub(r"\1<refresh token>", format % args))

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _json_body(self) -> Any:
        if not self._body.strip():
            return {}
        try:
            return json.loads(self._body)
        except ValueError:
            raise KiboError(400, "VALIDATION_CONFLICT", "The request body is not valid JSON.") from None

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        if self._route:
            self.server.state.record_status(self._route, status)
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-vol-correlation", uuid.uuid4().hex)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, error: KiboError, headers: dict[str, str] | None = None) -> None:
        self._send(error.status, error_body(error.status, error.error_code, error.message), headers)

    def _dispatch(self) -> None:
        self._route = self._parameter = ""
        self._body = self._read_body()
        url = urlsplit(self.path)
        path = url.path.rstrip("/").lower() or "/"
        self._query = {k.lower(): v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            if path == "/_emulator" or path.startswith("/_emulator/"):
                self._control(path)
            else:
                self._kibo(path)
        except KiboError as error:
            self._send_error(error)

    # ------------------------------------------------------------------ kibo side
    def _kibo(self, path: str) -> None:
        state = self.server.state
        routes, route_path = _KIBO_ROUTES, path
        if tenant_path := _TENANT_PREFIX.match(path):
            routes, route_path, self._tenant_id = _TENANT_ROUTES, tenant_path[2], int(tenant_path[1])
        route = routes.get((self.command, route_path))
        head = route_path.rpartition("/")[0]
        if route is None and routes is _KIBO_ROUTES and (self.command, head) in _PARAMETER_ROUTES:
            route = _PARAMETER_ROUTES[(self.command, head)]
            self._parameter = urlsplit(self.path).path.rpartition("/")[2]  # as sent, not lower-cased
        if route is None:
            self._wait(state.latency)
            allowed = ", ".join(method for method, known in routes if known == route_path)
            if not allowed:
                raise KiboError(404, "ITEM_NOT_FOUND", f"No route matches {path}.")
            error = KiboError(405, "METHOD_NOT_ALLOWED", f"{self.command} is not allowed here.")
            self._send_error(error, {"Allow": allowed})
            return
        self._route = route
        state.record_request(route, self._credential_owner(route))
        fault = state.next_fault(route)
        if fault is not None and self._apply_fault(fault):
            return
        self._wait(state.latency)
        handler: Callable[[], None] = getattr(self, f"_kibo_{route}")
        handler()

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; return True when the response has been handled."""
        if fault.kind == "drop":
            self.server.state.record_status(self._route, DROPPED)
            self.server.drop(self.connection)
            self.close_connection = True
            return True
        if fault.kind in ("stall", "latency"):
            self._wait(fault.seconds)
            return False
        self._wait(self.server.state.latency)
        if fault.kind == "rate_limit":
            self._send(429, None, {"Retry-After": str(fault.retry_after)})
        else:
            status = fault.status or 500
            self._send_error(
                KiboError(
                    status, _SERVER_ERROR_CODES[status], "The server could not handle the request (injected fault)."
                )
            )
        return True

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.server.stopping.wait(seconds)

    def _credential_owner(self, route: str) -> str | None:
        """The user whose e-mail address or token this request carries (``None`` if nobody's)."""
        state = self.server.state
        try:
            body = self._json_body()
        except KiboError:
            body = None
        body = body if isinstance(body, dict) else {}
        if route in ("create", "tenant_create"):
            return state.credential_owner(email=body.get("emailAddress") or body.get("userName"))
        if route in ("app_oauth", "app_ticket"):
            return state.credential_owner(key=body.get("client_id") or body.get("applicationId"))
        if route == "app_delete":
            return state.credential_owner(token=self._parameter)
        if route in ("refresh", "tenant_refresh", "app_refresh"):
            return state.credential_owner(token=body.get("refreshToken"))
        if route in ("delete", "tenant_delete"):
            return state.credential_owner(token=self._query.get("refreshtoken"))
        return state.credential_owner(token=self._bearer_token())

    def _bearer_token(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        claims = self.headers.get("x-vol-user-claims", "").strip() or self.headers.get("x-vol-app-claims", "").strip()
        return claims or None

    def _credentials(self) -> tuple[Any, Any]:
        """The ``emailAddress`` and ``password`` of a login body."""
        body = self._json_body()
        if not isinstance(body, dict):
            raise KiboError(400, "VALIDATION_CONFLICT", "The request body must be a JSON object.")
        return body.get("emailAddress") or body.get("userName"), body.get("password")

    def _refresh_token(self) -> Any:
        """The ``refreshToken`` of a refresh body (a ticket), or ``None``."""
        body = self._json_body()
        return body.get("refreshToken") if isinstance(body, dict) else None

    def _kibo_create(self) -> None:
        email, password = self._credentials()
        account_id = _int_param(self._query, "developerAccountId", None)
        self._send(200, self.server.state.create_ticket(email, password, account_id))

    def _kibo_refresh(self) -> None:
        account_id = _int_param(self._query, "developerAccountId", None)
        self._send(200, self.server.state.refresh_ticket(self._refresh_token(), account_id))

    def _kibo_delete(self) -> None:
        self.server.state.delete_ticket(self._query.get("refreshtoken"))
        self._send(200)

    def _kibo_tenant_create(self) -> None:
        email, password = self._credentials()
        tenant_id = _int_param(self._query, "tenantId", None)
        self._send(200, self.server.state.create_tenant_ticket(email, password, tenant_id, self.server.authority))

    def _kibo_tenant_refresh(self) -> None:
        tenant_id = _int_param(self._query, "tenantId", None)
        self._send(
            200, self.server.state.refresh_tenant_ticket(self._refresh_token(), tenant_id, self.server.authority)
        )

    def _kibo_tenant_delete(self) -> None:
        self.server.state.delete_ticket(self._query.get("refreshtoken"), TENANT)
        self._send(200)

    def _kibo_app_oauth(self) -> None:
        self._send(200, self.server.state.applications.create(OAUTH, self._json_body()))

    def _kibo_app_ticket(self) -> None:
        self._send(200, self.server.state.applications.create(TICKET, self._json_body()))

    def _kibo_app_refresh(self) -> None:
        self._send(200, self.server.state.applications.refresh(self._refresh_token()))

    def _kibo_app_delete(self) -> None:
        self.server.state.applications.delete(self._parameter)
        self._send(200)

    def _kibo_tenant_lookup(self) -> None:
        try:
            tenant_id = int(self._parameter)
        except ValueError:
            raise KiboError(400, "VALIDATION_CONFLICT", "tenantId must be an integer.") from None
        self._send(200, self.server.state.lookup_tenant(self._bearer_token(), tenant_id, self.server.authority))

    def _page(self) -> tuple[int, int]:
        """The ``startIndex`` and ``pageSize`` a collection is asked for."""
        start = _int_param(self._query, "startIndex", 0)
        size = _int_param(self._query, "pageSize", DEFAULT_PAGE_SIZE)
        assert start is not None and size is not None
        return start, size

    def _kibo_apppackages(self) -> None:
        token = self._bearer_token()
        start, size = self._page()
        self._send(200, self.server.state.list_applications(token, start, size))

    def _kibo_orders(self) -> None:
        start, size = self._page()
        self._send(
            200,
            self.server.state.list_orders(
                self._bearer_token(),
                self._tenant_id,
                tenant_header=self.headers.get("x-vol-tenant"),
                site_header=self.headers.get("x-vol-site"),
                start_index=start,
                page_size=size,
                sort_by=self._query.get("sortby", ""),
                filter_text=self._query.get("filter", ""),
            ),
        )

    def _kibo_customer_accounts(self) -> None:
        start, size = self._page()
        self._send(
            200,
            self.server.state.list_customers(
                self._bearer_token(),
                self._tenant_id,
                tenant_header=self.headers.get("x-vol-tenant"),
                start_index=start,
                page_size=size,
                sort_by=self._query.get("sortby", ""),
                filter_text=self._query.get("filter", ""),
            ),
        )

    def _kibo_order_create(self) -> None:
        self._send(
            201,
            self.server.state.create_order(
                self._bearer_token(),
                self._tenant_id,
                tenant_header=self.headers.get("x-vol-tenant"),
                site_header=self.headers.get("x-vol-site"),
            ),
        )

    # --------------------------------------------------------------- control side
    def _control(self, path: str) -> None:
        state = self.server.state
        action = (self.command, path.removeprefix("/_emulator"))
        body = self._json_body() if self.command == "POST" else {}
        if not isinstance(body, dict):
            raise KiboError(400, "VALIDATION_CONFLICT", "The request body must be a JSON object.")
        try:
            if action == ("GET", "/counters"):
                result: Any = state.counters()
            elif action == ("POST", "/counters/reset"):
                state.reset_counters()
                result = state.counters()
            elif action == ("GET", "/calls"):
                result = state.calls()
            elif action == ("GET", "/status_counts"):
                result = {r: {str(s): n for s, n in c.items()} for r, c in state.status_counts().items()}
            elif action in (("GET", "/clock"), ("POST", "/clock")):
                if self.command == "POST":
                    state.clock.advance(body.get("advance_seconds", 0))
                result = {"now": format_kibo_datetime(state.clock.now()), "offset_seconds": state.clock.offset_seconds}
            elif action == ("POST", "/faults"):
                times = body.get("times")
                fault = state.inject(
                    body.get("route", ""),
                    body.get("kind", ""),
                    times=1 if times is None else times,
                    status=body.get("status"),
                    retry_after=body.get("retry_after"),
                    seconds=body.get("seconds"),
                )
                result = {"queued": asdict(fault), "pending": len(state.pending_faults())}
            elif action == ("POST", "/faults/clear"):
                state.clear_faults()
                result = {"pending": 0}
            elif action in (("GET", "/config"), ("POST", "/config")):
                result = state.configure(**body)
            elif action == ("POST", "/revoke"):
                result = {"revoked": state.revoke_refresh_tokens(body.get("email"))}
            else:
                raise KiboError(404, "ITEM_NOT_FOUND", f"No control route {self.command} {path}.")
        except (ValueError, TypeError) as exc:
            raise KiboError(400, "VALIDATION_CONFLICT", str(exc)) from None
        self._send(200, result)
