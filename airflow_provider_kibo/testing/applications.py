"""Application tickets of the Kibo emulator: an application's key and shared secret traded for tokens.

Both create routes of Kibo's SDKs are served (each can be switched off, as a pod may serve only one):
the OAuth form (``POST .../authtickets/oauth`` with ``client_id``, ``client_secret`` and
``grant_type``, answered in snake_case with ``expires_in``) and the older ticket form
(``POST .../authtickets`` with ``applicationId`` and ``sharedSecret``, answered in camelCase). A
refresh (``PUT`` or ``POST .../authtickets/refresh-ticket`` with ``refreshToken``) answers in the shape
of the ticket refreshed. An application's token is not tied to a tenant: it may call the tenants the
application is installed on, and ``GET /platform/tenants/{tenantId}`` tells their hosts.

Nothing here touches the network; :class:`~.state.EmulatorState` owns the lock, the clock and the
settings it uses.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_kibo.testing.models import EmulatorApplication, format_kibo_datetime, truncate_to_ms

if TYPE_CHECKING:
    from airflow_provider_kibo.testing.state import EmulatorState

OAUTH = "oauth"
TICKET = "ticket"
AUTH_FORMS: tuple[str, ...] = (OAUTH, TICKET)
"""The application create routes: the OAuth form and the older ticket form."""


@dataclass(eq=False)
class _Grant:
    token: str
    application: EmulatorApplication
    session: str
    form: str  # the shape the ticket was issued in, and refreshed in
    expires_at: datetime
    revoked: bool = False


class ApplicationTickets:
    """
    The applications' tickets, under the lock of the state that owns them.

    :param applications: the applications that can authenticate
    :param state: the emulator state: its lock, clock, token minting and settings
    :param error: builds the emulator's error answer (status, error code, message)
    """

    def __init__(
        self,
        applications: Iterable[EmulatorApplication],
        state: EmulatorState,
        error: Callable[[int, str, str], Exception],
    ) -> None:
        self.applications = tuple(applications)
        self._by_key = {a.key: a for a in self.applications}
        if len(self._by_key) != len(self.applications):
            raise ValueError("duplicate application keys")
        self._state = state
        self._error = error
        self._refresh: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}

    # ------------------------------------------------------------------ tickets
    def create(self, form: str, body: Any) -> dict[str, Any]:
        """Trade a key and secret for a ticket, in the OAuth form or the ticket form.

        :param form: :data:`OAUTH` or :data:`TICKET`.
        :param body: the decoded request body.
        :raises Exception: the state's 404 when the pod serves no such route, 400 for a malformed body,
            401 ``INVALID_CREDENTIALS`` for an unknown key or a wrong secret.
        """
        if form not in self._state.application_auth_routes:
            raise self._error(404, "ITEM_NOT_FOUND", "This route is not served here.")
        body = body if isinstance(body, dict) else {}
        if form == OAUTH:
            if body.get("grant_type") != "client_credentials":
                raise self._error(400, "VALIDATION_CONFLICT", "grant_type must be client_credentials.")
            key, secret = body.get("client_id"), body.get("client_secret")
        else:
            key, secret = body.get("applicationId"), body.get("sharedSecret")
        application = self._by_key.get(key) if isinstance(key, str) else None
        if (
            application is None
            or not isinstance(secret, str)
            or not hmac.compare_digest(secret.encode(), application.shared_secret.encode())
        ):
            raise self._error(401, "INVALID_CREDENTIALS", "Invalid application credentials.")
        with self._state.lock:
            grant = self._new_refresh(application, uuid.uuid4().hex, form)
            return self._issue(grant)

    def refresh(self, refresh_token: Any) -> dict[str, Any]:
        """A new ticket for a live refresh token, in the shape of the ticket refreshed.

        :raises Exception: 401 ``UNAUTHORIZED`` for a missing, unknown, revoked or expired token.
        """
        now = self._state.clock.now()
        with self._state.lock:
            grant = self._refresh.get(refresh_token) if isinstance(refresh_token, str) else None
            if grant is None or grant.revoked or now >= grant.expires_at:
                raise self._error(401, "UNAUTHORIZED", "The refresh token is missing or no longer valid.")
            if self._state.rotate_refresh_tokens:
                grant.revoked = True
                grant = self._new_refresh(grant.application, grant.session, grant.form)
            return self._issue(grant)

    def delete(self, refresh_token: str) -> None:
        """Log out a refresh token's session; 404 for a token no longer valid, nothing for an unknown one."""
        now = self._state.clock.now()
        with self._state.lock:
            grant = self._refresh.get(refresh_token)
            if grant is None:
                return
            if grant.revoked or now >= grant.expires_at:
                raise self._error(404, "ITEM_NOT_FOUND", "The refresh token is no longer valid.")
            for item in (*self._refresh.values(), *self._access.values()):
                if item.session == grant.session:
                    item.revoked = True

    def _new_refresh(self, application: EmulatorApplication, session: str, form: str) -> _Grant:
        now = truncate_to_ms(self._state.clock.now())
        expires = truncate_to_ms(now + timedelta(seconds=self._state.refresh_token_lifetime))
        grant = _Grant(self._state.new_token(), application, session, form, expires)
        self._refresh[grant.token] = grant
        return grant

    def _issue(self, refresh: _Grant) -> dict[str, Any]:
        now = truncate_to_ms(self._state.clock.now())
        lifetime = self._state.access_token_lifetime
        access = _Grant(
            self._state.new_token(),
            refresh.application,
            refresh.session,
            refresh.form,
            now + timedelta(seconds=lifetime),
        )
        self._access[access.token] = access
        if refresh.form == OAUTH:
            answer: dict[str, Any] = {
                "access_token": access.token,
                "token_type": "Bearer",
                "refresh_token": refresh.token,
                "scope": "",
            }
            if self._state.oauth_expires_in:
                answer["expires_in"] = int(lifetime)
            return answer
        return {
            "accessToken": access.token,
            "accessTokenExpiration": format_kibo_datetime(access.expires_at),
            "refreshToken": refresh.token,
            "refreshTokenExpiration": format_kibo_datetime(refresh.expires_at),
        }

    # ------------------------------------------------------------------ access
    def holds(self, token: Any) -> bool:
        """Whether ``token`` is an application access token (live or not)."""
        return isinstance(token, str) and token in self._access

    def application_of(self, token: str) -> EmulatorApplication:
        """The application of a live access token, else 401 ``UNAUTHORIZED``."""
        now = self._state.clock.now()
        with self._state.lock:
            grant = self._access.get(token)
            if grant is None or grant.revoked or now >= grant.expires_at:
                raise self._error(401, "UNAUTHORIZED", "The access token is missing, revoked or expired.")
            return grant.application

    def check_installed(self, token: str, tenant_id: int) -> None:
        """401 for a dead token; 403 ``UNAUTHORIZED`` when its application is not installed on the tenant."""
        application = self.application_of(token)
        if tenant_id not in application.tenants:
            raise self._error(403, "UNAUTHORIZED", f"The application is not installed on tenant {tenant_id}.")

    def owner(self, *, key: Any = None, token: Any = None) -> str | None:
        """The key of the application a request names (by key) or carries a token of."""
        if isinstance(key, str) and key in self._by_key:
            return key
        if not isinstance(token, str):
            return None
        with self._state.lock:
            grant = self._refresh.get(token) or self._access.get(token)
            return grant.application.key if grant is not None else None

    def live(self, key: str | None = None) -> int:
        """How many refresh tokens (of one application, or all) would still refresh a ticket now."""
        now = self._state.clock.now()
        with self._state.lock:
            return sum(
                1
                for grant in self._refresh.values()
                if not grant.revoked and now < grant.expires_at and (key is None or grant.application.key == key)
            )
