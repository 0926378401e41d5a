"""A loopback HTTP proxy in front of the Kibo emulator that records every auth-ticket call.

The emulator counts requests per route; the distributed workloads also need them per developer
account and in time order, so the Connections point at this proxy, which forwards every request
unchanged and records ``(time, route, account, status)`` for the auth-ticket routes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import requests

AUTH_TICKETS_PATH = "/api/platform/developer/authtickets"
ROUTES = {"POST": "create", "PUT": "refresh", "DELETE": "delete"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class AuthCall:
    """
    One auth-ticket request and Kibo's answer.

    :param at: ``time.time()`` when the answer came back
    :param route: ``create``, ``refresh`` or ``delete``
    :param account: the ``developerAccountId`` asked for, or ``None``
    :param status: the answer's HTTP status
    """

    at: float
    route: str
    account: int | None
    status: int


class KiboTally:
    """
    The proxy: start it with ``with KiboTally(emulator.base_url) as tally:``, use :attr:`base_url` as
    the Connection's host, read :meth:`calls`.

    :param upstream: the emulator's base URL
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._calls: list[AuthCall] = []
        self._guard = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="kibo-tally", daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to use instead of the emulator's."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, since: float = 0.0) -> list[AuthCall]:
        """
        The auth calls recorded at or after ``since``, oldest first.

        :param since: a ``time.time()`` value
        """
        with self._guard:
            return [call for call in self._calls if call.at >= since]

    def issued(self, since: float = 0.0) -> dict[int | None, Counter[str]]:
        """
        Successful creates and refreshes per account since ``since``: ``{account: Counter(route)}``.

        :param since: a ``time.time()`` value
        """
        issued: dict[int | None, Counter[str]] = {}
        for call in self.calls(since):
            if call.status == 200 and call.route in ("create", "refresh"):
                issued.setdefault(call.account, Counter())[call.route] += 1
        return issued

    def _record(self, call: AuthCall) -> None:
        with self._guard:
            self._calls.append(call)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tally = self

        class Forward(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                answer = requests.request(self.command, tally.upstream + self.path, headers=headers,
                                          data=body or None, timeout=120, allow_redirects=False)
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") == AUTH_TICKETS_PATH and self.command in ROUTES:
                    account = parse_qs(parts.query).get("developerAccountId", [None])[0]
                    tally._record(AuthCall(time.time(), ROUTES[self.command],
                                           int(account) if account else None, answer.status_code))
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: nothing about requests on the test's output."""

        return Forward

    def __enter__(self) -> KiboTally:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
