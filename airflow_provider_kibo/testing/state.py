"""In-memory state of the Kibo emulator: tickets, faults, counters and settings.

Two kinds of tickets share one machinery (lifetimes, rotation, revocation, the clock):
developer tickets, scoped to a developer account, and tenant admin-user tickets, scoped to a
tenant. A token of one kind is refused wherever the other kind is expected.

Nothing in this module touches the network; :mod:`airflow_provider_kibo.testing.server`
puts an HTTP server in front of it. Every public method of :class:`EmulatorState` is
thread-safe.
"""

from __future__ import annotations

import copy
import hmac
import json
import math
import random
import secrets
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_kibo.testing.applications import AUTH_FORMS, ApplicationTickets
from airflow_provider_kibo.testing.customers import TenantCustomers
from airflow_provider_kibo.testing.models import (
    EmulatorAccount,
    EmulatorApplication,
    EmulatorClock,
    EmulatorTenant,
    EmulatorUser,
    Seconds,
    b64url,
    format_kibo_datetime,
    to_seconds,
    truncate_to_ms,
)
from airflow_provider_kibo.testing.orders import (
    order_document,
    order_filter,
    sort_orders,
    tenant_orders,
    update_order,
    updated_at,
)

#: Routes that are counted and can be faulted.
ROUTES: tuple[str, ...] = (
    "create",
    "refresh",
    "delete",
    "apppackages",
    "tenant_create",
    "tenant_refresh",
    "tenant_delete",
    "orders",
    "order_create",
    "customer_accounts",
    "app_oauth",
    "app_ticket",
    "app_refresh",
    "app_delete",
    "tenant_lookup",
)
#: Ticket kinds: developer tickets (per developer account) and tenant admin-user tickets.
DEVELOPER = "developer"
TENANT = "tenant"
_KIND_LABELS = {DEVELOPER: "developer", TENANT: "tenant admin-user"}
#: Fault kinds accepted by :meth:`EmulatorState.inject`.
FAULT_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "stall", "drop", "latency")
SERVER_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)
NO_ACCESS_STATUSES: tuple[int, ...] = (401, 403)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
#: Status recorded in :meth:`EmulatorState.status_counts` for a dropped connection.
DROPPED = 0
GRANTED_BEHAVIORS: tuple[int, ...] = (1, 2, 3, 4, 20, 21, 22, 23, 24, 25)


def _tenants_of(users: tuple[EmulatorUser, ...]) -> dict[int, EmulatorTenant]:
    """Every tenant of the users by id; users sharing a tenant must describe it identically."""
    tenants: dict[int, EmulatorTenant] = {}
    for user in users:
        for tenant in user.tenants:
            if tenants.setdefault(tenant.id, tenant) != tenant:
                raise ValueError(f"tenant {tenant.id} is described differently by two users")
    return tenants


def _header_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value else None
    except ValueError:
        return None


class KiboError(Exception):
    """A Kibo error answer: an HTTP status, an ``errorCode`` and a message without secrets.

    :param status: HTTP status code.
    :param error_code: Kibo ``errorCode``, e.g. ``"UNAUTHORIZED"``.
    :param message: Human-readable message; never contains a token or a password.
    """

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def page(items: Sequence[dict[str, Any]], start_index: int, page_size: int) -> dict[str, Any]:
    """Return one page of ``items`` as Kibo's paged collections do.

    :param items: Every item of the collection, in order.
    :param start_index: Zero-based index of the first item.
    :param page_size: Items per page (capped at :data:`MAX_PAGE_SIZE`).
    :returns: ``{"startIndex", "pageSize", "pageCount", "totalCount", "items"}``.
    :raises KiboError: 400 ``VALIDATION_CONFLICT`` for a negative start or a size below 1.
    """
    if start_index < 0:
        raise KiboError(400, "VALIDATION_CONFLICT", "startIndex must be >= 0.")
    if page_size < 1:
        raise KiboError(400, "VALIDATION_CONFLICT", "pageSize must be >= 1.")
    page_size = min(page_size, MAX_PAGE_SIZE)
    return {
        "startIndex": start_index,
        "pageSize": page_size,
        "pageCount": math.ceil(len(items) / page_size),
        "totalCount": len(items),
        "items": items[start_index : start_index + page_size],
    }


@dataclass
class Fault:
    """A queued fault: the next ``remaining`` requests to ``route`` misbehave as ``kind``.

    :param route: A route name from :data:`ROUTES`, or ``"*"`` for any.
    :param kind: One of :data:`FAULT_KINDS`.
    :param remaining: Requests still to affect.
    :param status: ``server_error`` status.
    :param retry_after: ``rate_limit`` ``Retry-After`` seconds.
    :param seconds: ``stall`` / ``latency`` delay.
    """

    route: str
    kind: str
    remaining: int
    status: int | None = None
    retry_after: int = 60
    seconds: float = 0.0


@dataclass
class _PageChanges:
    """Changes to a tenant's orders made before each of the next ``pages`` pages after the first."""

    pages: int
    edit: int
    add: int
    delete: int
    rng: random.Random
    window: tuple[datetime, datetime] | None
    served: int = 0


@dataclass(eq=False)
class _RefreshGrant:
    token: str
    user: EmulatorUser
    session: str
    kind: str
    scope_id: int  # the developer account or tenant a refresh without a target keeps
    expires_at: datetime
    revoked: bool = False


@dataclass(eq=False)
class _AccessGrant:
    user: EmulatorUser
    kind: str
    scope: EmulatorAccount | EmulatorTenant
    session: str
    expires_at: datetime
    revoked: bool = False


class EmulatorState:
    """Users, tickets, faults, counters and settings of one emulator.

    :param users: The users who can log in.
    :param clock: The clock used for every expiry decision.
    :param access_token_lifetime: Access token lifetime (seconds or timedelta).
    :param refresh_token_lifetime: Refresh token lifetime (seconds or timedelta).
    :param rotate_refresh_tokens: If true a refresh token is single-use.
    :param no_access_status: 401 or 403, the answer for an account or tenant the user cannot use.
    :param latency: Seconds added to every Kibo response.
    :param applications: The applications that can authenticate with their key and shared secret.
    """

    def __init__(
        self,
        users: Iterable[EmulatorUser],
        clock: EmulatorClock,
        *,
        applications: Iterable[EmulatorApplication] = (),
        access_token_lifetime: Seconds = 3600,
        refresh_token_lifetime: Seconds = 86400,
        rotate_refresh_tokens: bool = False,
        no_access_status: int = 403,
        latency: Seconds = 0.0,
    ) -> None:
        self.users: tuple[EmulatorUser, ...] = tuple(users)
        if not self.users:
            raise ValueError("the emulator needs at least one user")
        self._by_email = {u.email.lower(): u for u in self.users}
        if len(self._by_email) != len(self.users):
            raise ValueError("duplicate user e-mail addresses")
        self.clock = clock
        self._tenants = _tenants_of(self.users)
        created = clock.now()
        self._orders = {tenant.id: tenant_orders(tenant, created) for tenant in self._tenants.values()}
        self._customers = {tenant.id: TenantCustomers(tenant, created) for tenant in self._tenants.values()}
        self._changes: dict[int, _PageChanges] = {}
        self._lock = threading.RLock()
        self.applications = ApplicationTickets(applications, self, KiboError)
        self._refresh: dict[str, _RefreshGrant] = {}
        self._access: dict[str, _AccessGrant] = {}
        self._sessions: dict[str, list[_RefreshGrant | _AccessGrant]] = {}
        self._secrets: set[str] = {u.password for u in self.users}
        self._secrets.update(a.shared_secret for a in self.applications.applications)
        self._faults: list[Fault] = []
        self._counters: dict[str, int] = {}
        self._calls: list[dict[str, str | None]] = []
        self._status_counts: dict[str, dict[int, int]] = {}
        self.reset_counters()
        self.access_token_lifetime = 0.0
        self.refresh_token_lifetime = 0.0
        self.rotate_refresh_tokens = False
        self.no_access_status = 403
        self.latency = 0.0
        self.application_auth_routes: tuple[str, ...] = AUTH_FORMS
        self.oauth_expires_in = True
        self.configure(
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            no_access_status=no_access_status,
            latency=latency,
        )

    # ----------------------------------------------------------------- settings
    def configure(self, **settings: Any) -> dict[str, Any]:
        """Validate and apply any subset of the runtime settings.

        :param settings: ``rotate_refresh_tokens``, ``no_access_status``,
            ``access_token_lifetime``, ``refresh_token_lifetime``, ``latency``,
            ``application_auth_routes`` (the application create routes served: ``oauth``, ``ticket``),
            ``oauth_expires_in`` (whether the OAuth answer gives ``expires_in``).
        :returns: The full configuration after the change.
        :raises ValueError: On an unknown key or invalid value (nothing is applied then).
        """
        values: dict[str, Any] = {}
        for key, value in settings.items():
            if key in ("access_token_lifetime", "refresh_token_lifetime"):
                values[key] = to_seconds(value, name=key, minimum=0.001)
            elif key == "latency":
                values[key] = to_seconds(value, name=key)
            elif key in ("rotate_refresh_tokens", "oauth_expires_in"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
                values[key] = value
            elif key == "application_auth_routes":
                if not isinstance(value, list | tuple) or not value or not set(value) <= set(AUTH_FORMS):
                    raise ValueError(f"application_auth_routes must be a non-empty list of {AUTH_FORMS}")
                values[key] = tuple(value)
            elif key == "no_access_status":
                if isinstance(value, bool) or value not in NO_ACCESS_STATUSES:
                    raise ValueError("no_access_status must be 401 or 403")
                values[key] = int(value)
            else:
                raise ValueError(f"unknown setting {key!r}")
        with self._lock:
            for key, value in values.items():
                setattr(self, key, value)
            return self.config()

    def config(self) -> dict[str, Any]:
        """Return the current runtime settings as a JSON-ready dict."""
        with self._lock:
            return {
                "rotate_refresh_tokens": self.rotate_refresh_tokens,
                "no_access_status": self.no_access_status,
                "access_token_lifetime": self.access_token_lifetime,
                "refresh_token_lifetime": self.refresh_token_lifetime,
                "latency": self.latency,
                "application_auth_routes": list(self.application_auth_routes),
                "oauth_expires_in": self.oauth_expires_in,
            }

    # ----------------------------------------------------------------- counters
    def record_request(self, route: str, user: str | None = None) -> None:
        """Count one request received on ``route``, and log whose credential it carried.

        :param route: The route name.
        :param user: The e-mail address of the user whose password or token the request carried.
        """
        with self._lock:
            self._counters[route] += 1
            self._calls.append({"route": route, "user": user})

    def credential_owner(self, *, email: Any = None, token: Any = None, key: Any = None) -> str | None:
        """The e-mail address of the user, or the key of the application, that a login's e-mail
        address or key, or an issued token, belongs to.

        Revoked and expired tokens still have their owner; unknown ones have none.

        :param email: An ``emailAddress`` sent to log in.
        :param token: A refresh, access or JWT access token.
        :param key: An application key sent to authenticate.
        """
        with self._lock:
            if isinstance(email, str) and (user := self._by_email.get(email.lower())) is not None:
                return user.email
            grant = (self._refresh.get(token) or self._access.get(token)) if isinstance(token, str) else None
            if grant is not None:
                return grant.user.email
            return self.applications.owner(key=key, token=token)

    def calls(self) -> list[dict[str, str | None]]:
        """Return every Kibo request since the last reset, oldest first: its route and its user."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def record_status(self, route: str, status: int) -> None:
        """Count one answer with ``status`` on ``route`` (:data:`DROPPED` for a dropped one)."""
        with self._lock:
            by_status = self._status_counts[route]
            by_status[status] = by_status.get(status, 0) + 1

    def counters(self) -> dict[str, int]:
        """Return requests received per route; every route of :data:`ROUTES` is always present."""
        with self._lock:
            return dict(self._counters)

    def status_counts(self) -> dict[str, dict[int, int]]:
        """Return answers per route and status, e.g. ``{"create": {200: 1, 429: 2}, ...}``."""
        with self._lock:
            return {route: dict(counts) for route, counts in self._status_counts.items()}

    def reset_counters(self) -> None:
        """Zero the request counters and the status counts, and empty the call log."""
        with self._lock:
            self._counters = dict.fromkeys(ROUTES, 0)
            self._status_counts = {route: {} for route in ROUTES}
            self._calls = []

    # ------------------------------------------------------------------- faults
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
        """Queue a fault for the next ``times`` requests to ``route`` (FIFO per route).

        :param route: A route of :data:`ROUTES` (e.g. ``"create"``, ``"tenant_refresh"``,
            ``"orders"``) or ``"*"``.
        :param kind: One of :data:`FAULT_KINDS`.
        :param times: How many requests the fault affects.
        :param status: For ``server_error``: 500, 502 or 503 (default 500).
        :param retry_after: For ``rate_limit``: the ``Retry-After`` value (default 60).
        :param seconds: For ``stall`` (default 30) and ``latency`` (default 1): the delay.
        :raises ValueError: On an invalid combination.
        """
        if route not in ROUTES and route != "*":
            raise ValueError(f"route must be one of {(*ROUTES, '*')}, got {route!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, got {kind!r}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError("times must be a positive int")
        if status is not None and kind != "server_error":
            raise ValueError("status only applies to server_error")
        if retry_after is not None and kind != "rate_limit":
            raise ValueError("retry_after only applies to rate_limit")
        if seconds is not None and kind not in ("stall", "latency"):
            raise ValueError("seconds only applies to stall and latency")
        fault = Fault(route, kind, times)
        if kind == "server_error":
            fault.status = 500 if status is None else status
            if fault.status not in SERVER_ERROR_STATUSES:
                raise ValueError(f"status must be one of {SERVER_ERROR_STATUSES}")
        elif kind == "rate_limit":
            fault.retry_after = 60 if retry_after is None else retry_after
            if isinstance(fault.retry_after, bool) or not isinstance(fault.retry_after, int) or fault.retry_after < 0:
                raise ValueError("retry_after must be a non-negative int")
        elif kind in ("stall", "latency"):
            default = 30.0 if kind == "stall" else 1.0
            fault.seconds = default if seconds is None else to_seconds(seconds, name="seconds")
        with self._lock:
            self._faults.append(fault)
        return fault

    def next_fault(self, route: str) -> Fault | None:
        """Consume one use of the oldest fault matching ``route`` (or ``"*"``)."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.route in (route, "*"):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None

    def pending_faults(self) -> list[Fault]:
        """Return copies of the queued faults, oldest first."""
        with self._lock:
            return [Fault(**vars(f)) for f in self._faults]

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ tickets
    @property
    def lock(self) -> threading.RLock:
        """The lock every change of this state holds."""
        return self._lock

    def new_token(self) -> str:
        """A new random token, remembered among the issued secrets."""
        return self._new_token()

    def _new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        while token in self._secrets:  # pragma: no cover - astronomically unlikely
            token = secrets.token_urlsafe(32)
        self._secrets.add(token)
        return token

    def _new_refresh(self, user: EmulatorUser, session: str, kind: str, scope_id: int, now: datetime) -> _RefreshGrant:
        expires = truncate_to_ms(now + timedelta(seconds=self.refresh_token_lifetime))
        grant = _RefreshGrant(self._new_token(), user, session, kind, scope_id, expires)
        self._refresh[grant.token] = grant
        self._sessions[session].append(grant)
        return grant

    def _jwt(
        self, user: EmulatorUser, kind: str, scope: EmulatorAccount | EmulatorTenant, now: datetime, expires: datetime
    ) -> str:
        header = {"alg": "HS256", "typ": "JWT", "kid": "kibo-emulator"}
        scope_claim = "developerAccountId" if kind == DEVELOPER else "tenant"
        claims = {
            "iss": "kibo-emulator",
            "aud": f"kibo-{kind}",
            "sub": user.user_id,
            "email": user.email,
            scope_claim: scope.id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)]
        token = ".".join([*parts, b64url(secrets.token_bytes(32))])
        self._secrets.add(token)
        return token

    @staticmethod
    def _scope_fields(user: EmulatorUser, scope: EmulatorAccount | EmulatorTenant, authority: str) -> dict[str, Any]:
        """The ticket fields naming its scope: the account or tenant, and the user's others."""
        if isinstance(scope, EmulatorAccount):
            return {"account": scope.to_json(), "availableAccounts": [a.to_json() for a in user.accounts]}
        return {
            "tenant": scope.to_json(authority),
            "availableTenants": [t.to_json(authority) for t in user.tenants],
            "redirect": None,
            "ssoSession": None,
            "ssoNameId": None,
        }

    def _issue(
        self, refresh: _RefreshGrant, scope: EmulatorAccount | EmulatorTenant, now: datetime, authority: str
    ) -> dict[str, Any]:
        user = refresh.user
        expires = truncate_to_ms(now + timedelta(seconds=self.access_token_lifetime))
        access, jwt = self._new_token(), self._jwt(user, refresh.kind, scope, now, expires)
        grant = _AccessGrant(user, refresh.kind, scope, refresh.session, expires)
        self._access[access] = self._access[jwt] = grant
        self._sessions[refresh.session].append(grant)
        return {
            "accessToken": access,
            "jwtAccessToken": jwt,
            "accessTokenExpiration": format_kibo_datetime(expires),
            "refreshToken": refresh.token,
            "refreshTokenExpiration": format_kibo_datetime(refresh.expires_at),
            "createdOn": format_kibo_datetime(now),
            **self._scope_fields(user, scope, authority),
            "grantedBehaviors": list(GRANTED_BEHAVIORS),
            "user": user.profile(),
        }

    def _scope_for(self, user: EmulatorUser, kind: str, scope_id: int | None) -> EmulatorAccount | EmulatorTenant:
        """The account or tenant ``scope_id`` of the user (``None``: the first), or the no-access answer."""
        scopes: Sequence[EmulatorAccount | EmulatorTenant]
        scopes, what = (user.accounts, "developer account") if kind == DEVELOPER else (user.tenants, "tenant")
        if scope_id is None:
            if scopes:
                return scopes[0]
            raise KiboError(self.no_access_status, "UNAUTHORIZED", f"The user has no {what}.")
        scope = next((item for item in scopes if item.id == scope_id), None)
        if scope is None:
            raise KiboError(
                self.no_access_status, "UNAUTHORIZED", f"The user does not have access to {what} {scope_id}."
            )
        return scope

    def _login(self, kind: str, email: Any, password: Any, scope_id: int | None, authority: str) -> dict[str, Any]:
        user = self._by_email.get(email.lower()) if isinstance(email, str) else None
        if (
            user is None
            or not isinstance(password, str)
            or not hmac.compare_digest(password.encode(), user.password.encode())
        ):
            raise KiboError(401, "INVALID_CREDENTIALS", "Invalid Credentials: Invalid credentials.")
        now = truncate_to_ms(self.clock.now())
        with self._lock:
            scope = self._scope_for(user, kind, scope_id)
            session = uuid.uuid4().hex
            self._sessions[session] = []
            return self._issue(self._new_refresh(user, session, kind, scope.id, now), scope, now, authority)

    def _renew(self, kind: str, refresh_token: Any, scope_id: int | None, authority: str) -> dict[str, Any]:
        now = truncate_to_ms(self.clock.now())
        with self._lock:
            grant = self._refresh.get(refresh_token) if isinstance(refresh_token, str) else None
            if grant is None:
                raise KiboError(401, "UNAUTHORIZED", "The refresh token is missing or invalid.")
            if grant.kind != kind:
                raise KiboError(401, "UNAUTHORIZED", f"The refresh token is not a {_KIND_LABELS[kind]} refresh token.")
            if grant.revoked:
                raise KiboError(401, "UNAUTHORIZED", "The refresh token is no longer valid.")
            if now >= grant.expires_at:
                raise KiboError(401, "UNAUTHORIZED", "The refresh token has expired.")
            scope = self._scope_for(grant.user, kind, grant.scope_id if scope_id is None else scope_id)
            if self.rotate_refresh_tokens:
                grant.revoked = True
                grant = self._new_refresh(grant.user, grant.session, kind, scope.id, now)
            grant.scope_id = scope.id
            return self._issue(grant, scope, now, authority)

    def create_ticket(self, email: Any, password: Any, account_id: int | None) -> dict[str, Any]:
        """Log in with credentials (``POST developer/authtickets``).

        :param email: The ``emailAddress`` sent by the client.
        :param password: The ``password`` sent by the client.
        :param account_id: ``developerAccountId``, or ``None`` for the user's first account.
        :returns: A ``DeveloperAdminUserAuthTicket``.
        :raises KiboError: 401 ``INVALID_CREDENTIALS`` or the no-access answer.
        """
        return self._login(DEVELOPER, email, password, account_id, "")

    def create_tenant_ticket(self, email: Any, password: Any, tenant_id: int | None, authority: str) -> dict[str, Any]:
        """Log in to a tenant with credentials (``POST adminuser/authtickets/tenants``).

        :param email: The ``emailAddress`` sent by the client.
        :param password: The ``password`` sent by the client.
        :param tenant_id: ``tenantId``, or ``None`` for the user's first tenant.
        :param authority: The emulator's ``host:port``, the base of the tenants' ``domain``.
        :returns: A ``TenantAdminUserAuthTicket``.
        :raises KiboError: 401 ``INVALID_CREDENTIALS`` or the no-access answer.
        """
        return self._login(TENANT, email, password, tenant_id, authority)

    def refresh_ticket(self, refresh_token: Any, account_id: int | None) -> dict[str, Any]:
        """Refresh a developer ticket, optionally switching account (``PUT developer/authtickets``).

        :param refresh_token: The ``refreshToken`` of the ticket sent by the client.
        :param account_id: Target account, or ``None`` to keep the ticket's current account.
        :returns: A new ``DeveloperAdminUserAuthTicket``.
        :raises KiboError: 401 ``UNAUTHORIZED`` for a bad refresh token (or a tenant one), or the
            no-access answer.
        """
        return self._renew(DEVELOPER, refresh_token, account_id, "")

    def refresh_tenant_ticket(self, refresh_token: Any, tenant_id: int | None, authority: str) -> dict[str, Any]:
        """Refresh a tenant ticket, optionally switching tenant (``PUT adminuser/authtickets/tenants``).

        :param refresh_token: The ``refreshToken`` of the ticket sent by the client.
        :param tenant_id: Target tenant, or ``None`` to keep the ticket's current tenant.
        :param authority: The emulator's ``host:port``, the base of the tenants' ``domain``.
        :returns: A new ``TenantAdminUserAuthTicket``.
        :raises KiboError: 401 ``UNAUTHORIZED`` for a bad refresh token (or a developer one), or
            the no-access answer.
        """
        return self._renew(TENANT, refresh_token, tenant_id, authority)

    def delete_ticket(self, refresh_token: str | None, kind: str = DEVELOPER) -> None:
        """Log out: revoke the refresh token's session (its refresh and access tokens).

        Unknown or missing tokens, and tokens of the other kind, are ignored, like Kibo ignores
        unknown ones. A token that is no longer valid (rotated away, expired, logged out) answers 404,
        as Kibo does, and ends nothing.

        :param refresh_token: The refresh token to revoke.
        :param kind: :data:`DEVELOPER` (``DELETE developer/authtickets``) or :data:`TENANT`
            (``DELETE adminuser/authtickets``).
        :raises KiboError: 404 ``ITEM_NOT_FOUND`` for a token that is no longer valid.
        """
        now = self.clock.now()
        with self._lock:
            grant = self._refresh.get(refresh_token) if refresh_token else None
            if grant is None or grant.kind != kind:
                return
            if grant.revoked or now >= grant.expires_at:
                raise KiboError(404, "ITEM_NOT_FOUND", "The refresh token is no longer valid.")
            for item in self._sessions.get(grant.session, ()):
                item.revoked = True

    def revoke_refresh_tokens(self, email: str | None = None) -> int:
        """Kill every live refresh token, or only those of one user.

        Access tokens already issued stay valid until they expire.

        :param email: Only revoke this user's tokens (case-insensitive); ``None`` for everyone.
        :returns: How many live tokens were revoked.
        """
        if email is not None and not isinstance(email, str):
            raise ValueError("email must be a string")
        count = 0
        with self._lock:
            for grant in self._refresh.values():
                if not grant.revoked and (email is None or grant.user.email.lower() == email.lower()):
                    grant.revoked = True
                    count += 1
        return count

    def live_refresh_tokens(self, email: str | None = None) -> int:
        """How many refresh tokens (of one user or application, or everyone's) would still refresh a ticket now.

        :param email: Only this user's tokens (case-insensitive), or this application key's; ``None`` for all.
        """
        now = self.clock.now()
        with self._lock:
            users = sum(
                1
                for grant in self._refresh.values()
                if not grant.revoked
                and now < grant.expires_at
                and (email is None or grant.user.email.lower() == email.lower())
            )
            return users + self.applications.live(email)

    def remove_access(self, email: str, *, account_id: int | None = None, tenant_id: int | None = None) -> None:
        """Take a developer account or a tenant away from a user (tickets already issued stay as they are).

        :param email: The user.
        :param account_id: The developer account the user loses.
        :param tenant_id: The tenant the user loses.
        :raises ValueError: For an unknown user.
        """
        with self._lock:
            user = self._by_email.get(email.lower())
            if user is None:
                raise ValueError(f"no user {email!r}")
            changed = replace(
                user,
                accounts=[a for a in user.accounts if a.id != account_id],
                tenants=[t for t in user.tenants if t.id != tenant_id],
            )
            self.users = tuple(changed if u is user else u for u in self.users)
            self._by_email[email.lower()] = changed
            grants: list[_RefreshGrant | _AccessGrant] = [*self._refresh.values(), *self._access.values()]
            for grant in grants:
                if grant.user is user:
                    grant.user = changed

    def list_applications(self, token: str | None, start_index: int, page_size: int) -> dict[str, Any]:
        """Return one page of the token's account applications (``apppackages/collection``).

        :param token: An access token or JWT access token.
        :param start_index: Zero-based index of the first item.
        :param page_size: Items per page (capped at :data:`MAX_PAGE_SIZE`).
        :returns: An ``ApplicationSummaryCollection``.
        :raises KiboError: 401 ``UNAUTHORIZED`` or 400 ``VALIDATION_CONFLICT``.
        """
        account = self._access_scope(token, DEVELOPER)
        assert isinstance(account, EmulatorAccount)
        return page(account.applications(), start_index, page_size)

    def list_orders(
        self,
        token: str | None,
        tenant_id: int,
        *,
        tenant_header: str | None,
        site_header: str | None,
        start_index: int,
        page_size: int,
        sort_by: str,
        filter_text: str,
    ) -> dict[str, Any]:
        """Return one page of a tenant's orders (``GET /_tenant/{tenantId}/api/commerce/orders``).

        :param token: A tenant access token or JWT access token for that tenant.
        :param tenant_id: The tenant of the path.
        :param tenant_header: The ``x-vol-tenant`` header: required, the path's tenant.
        :param site_header: The ``x-vol-site`` header: optional, a site of the tenant whose orders
            alone are listed.
        :param start_index: Zero-based index of the first item.
        :param page_size: Items per page (capped at :data:`MAX_PAGE_SIZE`).
        :param sort_by: Kibo's ``sortBy`` (see :func:`.orders.sort_orders`); empty for
            ``auditInfo.updateDate`` then ``orderNumber``.
        :param filter_text: Kibo's ``filter`` (see :func:`.orders.order_filter`).
        :returns: An ``OrderCollection``.
        :raises KiboError: 404 ``ITEM_NOT_FOUND`` for an unknown tenant, 401 ``UNAUTHORIZED`` for
            a token that is not a live tenant token of that tenant, 400 ``VALIDATION_CONFLICT`` for
            bad context headers, paging, ``sortBy`` or ``filter``.
        """
        tenant = self._tenant_context(token, tenant_id, tenant_header)
        with self._lock:
            self._change_between_pages(tenant_id)
            orders = list(self._orders[tenant_id])
        if site_header:
            site_id = _header_int(site_header)
            if site_id is None or tenant.site(site_id) is None:
                raise KiboError(
                    400, "VALIDATION_CONFLICT", f"The x-vol-site header must name a site of tenant {tenant_id}."
                )
            orders = [order for order in orders if order["siteId"] == site_id]
        try:
            keep = order_filter(filter_text)
            orders = sort_orders([order for order in orders if keep(order)], sort_by)
        except ValueError as exc:
            raise KiboError(400, "VALIDATION_CONFLICT", str(exc)) from None
        return page(orders, start_index, page_size)

    def list_customers(
        self,
        token: str | None,
        tenant_id: int,
        *,
        tenant_header: str | None,
        start_index: int,
        page_size: int,
        sort_by: str,
        filter_text: str,
    ) -> dict[str, Any]:
        """Return one page of a tenant's customer accounts (``GET .../api/commerce/customer/accounts``).

        :param token: A token for that tenant (a user's tenant ticket or an installed application's).
        :param tenant_id: The tenant of the path.
        :param tenant_header: The ``x-vol-tenant`` header: required, the path's tenant.
        :param start_index: Zero-based index of the first item.
        :param page_size: Items per page (capped at :data:`MAX_PAGE_SIZE`).
        :param sort_by: ``auditInfo.updateDate`` (``asc``, the default, or ``desc``), or empty.
        :param filter_text: Kibo's ``filter`` on ``auditInfo.updateDate`` (see :func:`.orders.parse_filter`).
        :returns: A ``CustomerAccountCollection``.
        :raises KiboError: as :meth:`list_orders` does.
        """
        self._tenant_context(token, tenant_id, tenant_header)
        try:
            accounts = self._customers[tenant_id].query(filter_text, sort_by)
        except ValueError as exc:
            raise KiboError(400, "VALIDATION_CONFLICT", str(exc)) from None
        return page(accounts, start_index, page_size)

    def orders_of(self, tenant_id: int) -> list[dict[str, Any]]:
        """A copy of the tenant's orders as they are now."""
        with self._lock:
            return copy.deepcopy(self._orders[tenant_id])

    def add_orders(self, tenant_id: int, count: int, updated_at: datetime) -> list[dict[str, Any]]:
        """Place ``count`` orders all last updated at ``updated_at`` (for records sharing one timestamp).

        :returns: The orders placed.
        """
        with self._lock:
            added = self._place_orders(tenant_id, count, "Completed", truncate_to_ms(updated_at))
            self._orders[tenant_id].sort(key=update_order)
            return added

    def _place_orders(self, tenant_id: int, count: int, status: str, moment: datetime) -> list[dict[str, Any]]:
        """Under the lock: append ``count`` new orders of the tenant updated at ``moment``, on its sites in
        turn; return them."""
        tenant, orders = self._tenants[tenant_id], self._orders[tenant_id]
        first = max((order["orderNumber"] for order in orders), default=0) + 1
        added = [
            order_document(tenant, n, tenant.sites[n % len(tenant.sites)], status, moment, moment)
            for n in range(first, first + count)
        ]
        orders.extend(added)
        return added

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
        """Before each of the next ``pages`` pages of the tenant's orders after the next one, change
        some orders as Kibo users do: edit some (Kibo stamps them with the time of the change), delete
        some, place new ones.

        :param tenant_id: The tenant.
        :param pages: How many pages are preceded by changes.
        :param edit: Orders edited each time.
        :param add: Orders placed each time.
        :param delete: Orders deleted each time.
        :param seed: Seeds the choice of the orders edited and deleted.
        :param window: Choose them among the orders last updated in ``[start, end)``; all when ``None``.
        """
        with self._lock:
            self._changes[tenant_id] = _PageChanges(pages, edit, add, delete, random.Random(seed), window)

    def _change_between_pages(self, tenant_id: int) -> None:
        """Under the lock: apply the tenant's pending changes, if a page was served since they were asked for."""
        changes = self._changes.get(tenant_id)
        if changes is None:
            return
        changes.served += 1
        if changes.served == 1 or changes.pages <= 0:
            return
        changes.pages -= 1
        orders = self._orders[tenant_id]
        now = truncate_to_ms(self.clock.now())
        start, end = changes.window or (
            datetime.min.replace(tzinfo=now.tzinfo),
            datetime.max.replace(tzinfo=now.tzinfo),
        )
        chosen = [i for i, o in enumerate(orders) if start <= updated_at(o) < end]
        picked = changes.rng.sample(chosen, min(len(chosen), changes.edit + changes.delete))
        for i in picked[: changes.edit]:
            edited = copy.deepcopy(orders[i])
            edited["status"] = "Processing" if edited["status"] != "Processing" else "Completed"
            edited["auditInfo"]["updateDate"] = format_kibo_datetime(now)
            orders[i] = edited
        for i in sorted(picked[changes.edit :], reverse=True):
            del orders[i]
        self._place_orders(tenant_id, changes.add, "Pending", now)
        orders.sort(key=update_order)

    def create_order(
        self, token: str | None, tenant_id: int, *, tenant_header: str | None, site_header: str | None
    ) -> dict[str, Any]:
        """Place an order now (``POST /_tenant/{tenantId}/api/commerce/orders``) and return it.

        :param token: A tenant access token or JWT access token for that tenant.
        :param tenant_id: The tenant of the path.
        :param tenant_header: The ``x-vol-tenant`` header: required, the path's tenant.
        :param site_header: The ``x-vol-site`` header: the site it is placed on (default: the first).
        :raises KiboError: as :meth:`list_orders` does.
        """
        tenant = self._tenant_context(token, tenant_id, tenant_header)
        site = tenant.sites[0] if not site_header else tenant.site(_header_int(site_header) or 0)
        if site is None:
            raise KiboError(
                400, "VALIDATION_CONFLICT", f"The x-vol-site header must name a site of tenant {tenant_id}."
            )
        now = truncate_to_ms(self.clock.now())
        with self._lock:
            orders = self._orders[tenant_id]
            number = max((order["orderNumber"] for order in orders), default=0) + 1
            order = order_document(tenant, number, site, "Pending", now, now)
            orders.append(order)
            orders.sort(key=update_order)
            return order

    def _tenant_context(self, token: str | None, tenant_id: int, tenant_header: str | None) -> EmulatorTenant:
        """The tenant of a tenant API call, once its token and ``x-vol-tenant`` header are checked."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise KiboError(404, "ITEM_NOT_FOUND", f"Tenant {tenant_id} does not exist.")
        if self.applications.holds(token):
            self.applications.check_installed(str(token), tenant_id)
        elif self._access_scope(token, TENANT).id != tenant_id:
            raise KiboError(401, "UNAUTHORIZED", f"The access token is not valid for tenant {tenant_id}.")
        if _header_int(tenant_header) != tenant_id:
            raise KiboError(
                400,
                "VALIDATION_CONFLICT",
                f"The x-vol-tenant header is required and must be {tenant_id}, the tenant of the URL.",
            )
        return tenant

    def lookup_tenant(self, token: str | None, tenant_id: int, authority: str) -> dict[str, Any]:
        """A tenant, its host and sites, for an application installed on it (``GET /platform/tenants/{id}``).

        :param token: An application access token.
        :param tenant_id: The tenant of the path.
        :param authority: The emulator's ``host:port``, the base of the tenant's ``domain``.
        :raises KiboError: 401 for a token that is not a live application token, 404 for an unknown
            tenant, 403 ``UNAUTHORIZED`` when the application is not installed on it.
        """
        if not self.applications.holds(token):
            raise KiboError(401, "UNAUTHORIZED", "An application access token is required.")
        self.applications.application_of(str(token))
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise KiboError(404, "ITEM_NOT_FOUND", f"Tenant {tenant_id} does not exist.")
        self.applications.check_installed(str(token), tenant_id)
        return tenant.to_json(authority)

    def _access_scope(self, token: str | None, kind: str) -> EmulatorAccount | EmulatorTenant:
        """The account or tenant of a live access token of ``kind``, else a 401 ``UNAUTHORIZED``."""
        now = self.clock.now()
        with self._lock:
            grant = self._access.get(token) if token else None
            if grant is None:
                raise KiboError(401, "UNAUTHORIZED", "Missing or invalid access token.")
            if grant.kind != kind:
                raise KiboError(401, "UNAUTHORIZED", f"The access token is not a {_KIND_LABELS[kind]} access token.")
            if grant.revoked:
                raise KiboError(401, "UNAUTHORIZED", "The access token has been revoked.")
            if now >= grant.expires_at:
                raise KiboError(401, "UNAUTHORIZED", "The access token has expired.")
            return grant.scope

    def issued_secrets(self) -> set[str]:
        """Return every token ever issued, every user password and every shared secret (for leak tests)."""
        with self._lock:
            return set(self._secrets)
