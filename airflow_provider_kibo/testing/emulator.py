"""A local Kibo emulator: a real HTTP server on loopback for testing DAGs offline.

It speaks the developer auth-ticket API (create, refresh, delete) with one developer-scoped
read route (``apppackages/collection``), and the tenant admin-user auth-ticket API with one
tenant-scoped read route (``commerce/orders``, under :meth:`KiboEmulator.tenant_url`). It can
inject faults (429, 5xx, stalls, dropped connections, latency) and exposes a control surface
under ``/_emulator/``.

Example::

    import requests
    from airflow_provider_kibo.testing import KiboEmulator

    with KiboEmulator() as emu:
        ticket = requests.post(
            f"{emu.base_url}/api/platform/developer/authtickets",
            json={"emailAddress": "developer@example.com", "password": "emulator-password"},
        ).json()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

from airflow_provider_kibo.testing.models import (
    DEMO_APPLICATIONS,
    DEMO_USERS,
    EmulatorApplication,
    EmulatorClock,
    EmulatorUser,
    Seconds,
    tenant_domain,
)
from airflow_provider_kibo.testing.server import EmulatorHTTPServer
from airflow_provider_kibo.testing.state import EmulatorState, Fault


class KiboEmulator:
    """A local Kibo server for offline tests: developer and tenant tickets, two read routes, faults.

    :param users: Users who can log in (default: :data:`DEMO_USERS`).
    :param host: Interface to bind, loopback by default.
    :param port: TCP port; 0 picks a free one (see :attr:`base_url`).
    :param access_token_lifetime: Access token lifetime, seconds or timedelta.
    :param refresh_token_lifetime: Refresh token lifetime, seconds or timedelta.
    :param rotate_refresh_tokens: If true a refresh token is single-use: a refresh returns a
        new one and the old one dies at once. If false the same token is returned.
    :param no_access_status: 401 or 403, the status for an account or tenant the user cannot use.
    :param latency: Seconds added to every Kibo response (not to ``/_emulator/`` routes).
    :param applications: Applications that can authenticate with their key and shared secret
        (default: :data:`DEMO_APPLICATIONS`, installed on tenants 100001 and 100002).

    Tenants: one port serves every tenant. A tenant's (and its sites') ``domain`` in a tenant
    ticket is ``{host}:{port}/_tenant/{tenantId}``, so ``http://{domain}/api/commerce/orders``
    reaches the tenant's orders (see :mod:`.orders` for their data, ``filter`` and ``sortBy``).
    That route takes ``Authorization: Bearer <jwtAccessToken or accessToken>`` or
    ``x-vol-user-claims: <accessToken>`` of a tenant ticket for that tenant, requires
    ``x-vol-tenant: {tenantId}`` and accepts ``x-vol-site`` to list one site's orders.
    Developer and tenant tokens are not interchangeable.

    Faults (:meth:`inject`) are consumed in FIFO order by the route they name (``"*"``
    matches any Kibo route):

    - ``rate_limit``: 429, empty body, ``Retry-After: retry_after`` (default 60);
    - ``server_error``: ``status`` 500, 502 or 503 with a Kibo error body;
    - ``stall``: wait ``seconds`` (default 30), then answer; meant to outlast client timeouts;
    - ``drop``: reset the connection without any response;
    - ``latency``: wait ``seconds`` (default 1), then answer.

    Expiry decisions use :attr:`clock` (real time plus an offset you can :meth:`advance
    <.models.EmulatorClock.advance>`). Each request runs in its own daemon thread, so a stall
    never blocks other clients; all state is guarded by a lock. Nothing is logged except at
    ``DEBUG`` level on the ``airflow_provider_kibo.testing.server`` logger.
    """

    def __init__(
        self,
        users: Iterable[EmulatorUser] = DEMO_USERS,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token_lifetime: Seconds = 3600,
        refresh_token_lifetime: Seconds = 86400,
        rotate_refresh_tokens: bool = False,
        no_access_status: int = 403,
        latency: Seconds = 0.0,
        applications: Iterable[EmulatorApplication] = DEMO_APPLICATIONS,
    ) -> None:
        self.clock = EmulatorClock()
        self._state = EmulatorState(
            users,
            self.clock,
            applications=applications,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            no_access_status=no_access_status,
            latency=latency,
        )
        self._address = (host, port)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> KiboEmulator:
        """Bind the port and serve in a background thread.

        :returns: ``self``.
        :raises RuntimeError: If already started.
        """
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = EmulatorHTTPServer(self._address, self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"kibo-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and stalls, and join every thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stop()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> KiboEmulator:  # noqa: PYI034 - start() returns this emulator
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is started."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._running_server().server_address[1])

    @property
    def base_url(self) -> str:
        """The Kibo "home" host, e.g. ``http://127.0.0.1:8123``; the API lives under ``/api``."""
        return f"http://{self._running_server().authority}"

    def tenant_url(self, tenant_id: int) -> str:
        """The tenant host of ``tenant_id``, ``http://`` plus the ``domain`` its tickets name.

        E.g. ``http://127.0.0.1:8123/_tenant/100001``; its API lives under ``/api``.

        :param tenant_id: A tenant id.
        """
        return f"http://{tenant_domain(self._running_server().authority, tenant_id)}"

    def _running_server(self) -> EmulatorHTTPServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server

    @property
    def users(self) -> tuple[EmulatorUser, ...]:
        """The users who can log in."""
        return self._state.users

    # ----------------------------------------------------------------- settings
    @property
    def applications(self) -> tuple[EmulatorApplication, ...]:
        """The applications that can authenticate."""
        return self._state.applications.applications

    @property
    def application_auth_routes(self) -> tuple[str, ...]:
        """The application create routes served: ``oauth``, ``ticket`` or both."""
        return self._state.application_auth_routes

    @application_auth_routes.setter
    def application_auth_routes(self, value: Iterable[str]) -> None:
        self._state.configure(application_auth_routes=list(value))

    @property
    def oauth_expires_in(self) -> bool:
        """Whether the OAuth answer gives ``expires_in``."""
        return self._state.oauth_expires_in

    @oauth_expires_in.setter
    def oauth_expires_in(self, value: bool) -> None:
        self._state.configure(oauth_expires_in=value)

    @property
    def rotate_refresh_tokens(self) -> bool:
        """Whether refresh tokens are single-use."""
        return self._state.rotate_refresh_tokens

    @rotate_refresh_tokens.setter
    def rotate_refresh_tokens(self, value: bool) -> None:
        self._state.configure(rotate_refresh_tokens=value)

    @property
    def no_access_status(self) -> int:
        """Status (401 or 403) for an account or tenant the user cannot use."""
        return self._state.no_access_status

    @no_access_status.setter
    def no_access_status(self, value: int) -> None:
        self._state.configure(no_access_status=value)

    @property
    def access_token_lifetime(self) -> float:
        """Access token lifetime in seconds (set with seconds or a timedelta)."""
        return self._state.access_token_lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, value: Seconds) -> None:
        self._state.configure(access_token_lifetime=value)

    @property
    def refresh_token_lifetime(self) -> float:
        """Refresh token lifetime in seconds (set with seconds or a timedelta)."""
        return self._state.refresh_token_lifetime

    @refresh_token_lifetime.setter
    def refresh_token_lifetime(self, value: Seconds) -> None:
        self._state.configure(refresh_token_lifetime=value)

    @property
    def latency(self) -> float:
        """Seconds added to every Kibo response."""
        return self._state.latency

    @latency.setter
    def latency(self, value: Seconds) -> None:
        self._state.configure(latency=value)

    # ------------------------------------------------------ observation & faults
    def counters(self) -> dict[str, int]:
        """Requests received per route (faulted ones included), every route of :data:`.state.ROUTES`:
        create, refresh, delete, apppackages, tenant_create, tenant_refresh, tenant_delete, orders,
        order_create, app_oauth, app_ticket, app_refresh, app_delete, tenant_lookup."""
        return self._state.counters()

    def status_counts(self) -> dict[str, dict[int, int]]:
        """Answers per route and status; status 0 means the connection was dropped."""
        return self._state.status_counts()

    def calls(self) -> list[dict[str, str | None]]:
        """Every Kibo request since the last reset, oldest first: ``{"route": ..., "user": ...}``, where
        ``user`` is the e-mail address of the user whose password or token it carried, or ``None``."""
        return self._state.calls()

    def reset_counters(self) -> None:
        """Zero :meth:`counters` and :meth:`status_counts`, and empty :meth:`calls`."""
        self._state.reset_counters()

    def inject(
        self,
        route: str,
        kind: str,
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = None,
        seconds: float | None = None,
    ) -> Fault:
        """Queue a fault; see :meth:`EmulatorState.inject <.state.EmulatorState.inject>`.

        :param route: A route of :meth:`counters` (e.g. ``"create"``, ``"tenant_refresh"``,
            ``"orders"``) or ``"*"``.
        :param kind: ``rate_limit``, ``server_error``, ``stall``, ``drop`` or ``latency``.
        :param times: How many requests the fault affects (FIFO per route).
        :param status: ``server_error`` status: 500, 502 or 503.
        :param retry_after: ``rate_limit`` ``Retry-After`` seconds (default 60).
        :param seconds: ``stall`` (default 30) or ``latency`` (default 1) delay.
        """
        return self._state.inject(route, kind, times=times, status=status, retry_after=retry_after, seconds=seconds)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._state.clear_faults()

    def revoke_refresh_tokens(self, email: str | None = None) -> int:
        """Kill all live refresh tokens (of one user, or everyone's).

        :param email: Limit to this user; ``None`` for everyone.
        :returns: How many tokens were revoked.
        """
        return self._state.revoke_refresh_tokens(email)

    def live_refresh_tokens(self, email: str | None = None) -> int:
        """How many refresh tokens (of one user, or everyone's) would still refresh a ticket now.

        :param email: Only this user's tokens; ``None`` for everyone's.
        """
        return self._state.live_refresh_tokens(email)

    def remove_access(self, email: str, *, account_id: int | None = None, tenant_id: int | None = None) -> None:
        """Take a developer account or a tenant away from a user, as an administrator would.

        :param email: The user.
        :param account_id: The developer account the user loses (not the last one: a user has one at least).
        :param tenant_id: The tenant the user loses.
        """
        self._state.remove_access(email, account_id=account_id, tenant_id=tenant_id)

    def orders(self, tenant_id: int) -> list[dict[str, Any]]:
        """A copy of the tenant's orders as they are now, in the order of their update dates."""
        return self._state.orders_of(tenant_id)

    def add_orders(self, tenant_id: int, count: int, updated_at: datetime) -> list[dict[str, Any]]:
        """Place ``count`` orders all last updated at ``updated_at``; return them.

        :param tenant_id: The tenant.
        :param count: How many.
        :param updated_at: Their ``auditInfo.updateDate`` (and submitted date).
        """
        return self._state.add_orders(tenant_id, count, updated_at)

    def change_orders_between_pages(
        self,
        tenant_id: int,
        *,
        pages: int,
        edit: int = 0,
        add: int = 0,
        delete: int = 0,
        seed: int = 0,
        window: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Before each of the next ``pages`` pages of the tenant's orders after the next one, edit ``edit``
        orders (stamped with the time of the change, as Kibo does), delete ``delete`` and place ``add``
        new ones, chosen with ``seed`` among the orders last updated in ``window`` (all when ``None``).
        """
        self._state.change_orders_between_pages(
            tenant_id, pages=pages, edit=edit, add=add, delete=delete, seed=seed, window=window
        )

    def issued_secrets(self) -> set[str]:
        """Every token ever issued, every password, and every application's shared secret."""
        return self._state.issued_secrets()
