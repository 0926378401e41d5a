"""Kibo auth tickets as immutable values that never show their tokens: a user's developer and tenant
tickets, an application's ticket, and the record of a stored ticket without its secrets."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self, TypeVar

import pendulum

from airflow_provider_kibo.tickets.identity import KiboIdentity

log = logging.getLogger(__name__)

ISSUED_TO_KEY = "issuedTo"
"""The key the provider adds to Kibo's ticket JSON when it stores a ticket: whom it was issued to."""

T = TypeVar("T", bound="KiboAuthTicket")


class TicketFormatError(ValueError):
    """A ticket document lacks a field or holds a value of the wrong kind; the message names it."""


@dataclasses.dataclass(frozen=True, repr=False)
class KiboAuthTicket:
    """
    A Kibo auth ticket of a user, scoped to one developer account or one tenant (its *scope*).

    Build it with :meth:`from_api` from Kibo's ticket JSON and turn it back with :meth:`to_api`.
    Stores keep that JSON plus ``issuedTo``, the identity the ticket was issued to
    (:meth:`to_stored`, :meth:`from_stored`). ``repr`` and ``str`` show no token.
    """

    SCOPE: ClassVar[str]
    """What a ticket is scoped to, as named in summaries: ``account`` or ``tenant``."""
    SCOPE_KEY: ClassVar[str]
    """The key of the scope in Kibo's JSON."""
    AVAILABLE_KEY: ClassVar[str]
    """The key of the scopes the user may switch to in Kibo's JSON."""

    scope_id: int
    scope_name: str | None
    available_scope_ids: tuple[int, ...]
    access_token: str
    jwt_access_token: str | None
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user_id: str | None
    document: dict[str, Any] = dataclasses.field(compare=False, hash=False)
    issued_to: KiboIdentity | None = None

    @classmethod
    def from_api(cls, document: Any) -> Self:
        """
        Parse Kibo's ticket JSON.

        :param document: the decoded JSON of the ticket
        :raises TicketFormatError: naming the first missing or malformed field
        """
        if not isinstance(document, dict):
            raise TicketFormatError("a ticket must be a JSON object")
        scope = document.get(cls.SCOPE_KEY)
        if not isinstance(scope, dict) or not isinstance(scope.get("id"), int):
            raise TicketFormatError(f"'{cls.SCOPE_KEY}.id' must be an integer")
        available = document.get(cls.AVAILABLE_KEY) or []
        if not isinstance(available, list) or not all(
            isinstance(a, dict) and isinstance(a.get("id"), int) for a in available
        ):
            raise TicketFormatError(f"'{cls.AVAILABLE_KEY}' must be a list of {cls.SCOPE}s with integer ids")
        user = document.get("user") or {}
        return cls(
            scope_id=scope["id"],
            scope_name=scope.get("name"),
            available_scope_ids=tuple(a["id"] for a in available),
            access_token=_required_str(document, "accessToken"),
            jwt_access_token=document.get("jwtAccessToken") or None,
            access_token_expires_at=_required_time(document, "accessTokenExpiration"),
            refresh_token=_required_str(document, "refreshToken"),
            refresh_token_expires_at=_required_time(document, "refreshTokenExpiration"),
            user_id=user.get("userId") if isinstance(user, dict) else None,
            document=document,
        )

    @classmethod
    def from_stored(cls, document: Any) -> Self:
        """
        Parse a stored ticket: Kibo's JSON with ``issuedTo`` (absent in tickets stored before it existed).

        :param document: the decoded stored JSON
        :raises TicketFormatError: naming the first missing or malformed field
        """
        ticket = cls.from_api(document)
        return dataclasses.replace(ticket, issued_to=KiboIdentity.from_json(document.get(ISSUED_TO_KEY)))

    def to_api(self) -> dict[str, Any]:
        """Return the ticket as Kibo's JSON, as received."""
        return {k: v for k, v in self.document.items() if k != ISSUED_TO_KEY}

    def to_stored(self) -> dict[str, Any]:
        """Return the ticket as stores keep it: ``issuedTo`` first, then Kibo's JSON."""
        issued_to = {ISSUED_TO_KEY: self.issued_to.to_json()} if self.issued_to else {}
        return {**issued_to, **self.to_api()}

    def issued(self, identity: KiboIdentity) -> Self:
        """
        This ticket, marked as issued to ``identity``.

        :param identity: the Kibo user and host that obtained it
        """
        return dataclasses.replace(self, issued_to=identity)

    @property
    def user_email(self) -> str | None:
        """The email address of the user Kibo issued the ticket to, when the ticket says."""
        user = self.document.get("user")
        email = user.get("emailAddress") if isinstance(user, dict) else None
        return email if isinstance(email, str) and email else None

    @property
    def bearer_token(self) -> str:
        """The token for ``Authorization: Bearer``: the JWT when Kibo issued one, else the access token."""
        return self.jwt_access_token or self.access_token

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret string of the ticket, for masking."""
        return tuple(s for s in (self.access_token, self.jwt_access_token, self.refresh_token) if s)

    @property
    def lifetime(self) -> timedelta | None:
        """How long Kibo made the access token valid for, when the ticket says when it was created."""
        try:
            return self.access_token_expires_at - _required_time(self.document, "createdOn")
        except TicketFormatError:
            return None

    def access_valid_for(self, now: datetime) -> timedelta:
        """How long the access token stays valid after ``now`` (negative once expired)."""
        return self.access_token_expires_at - now

    def refresh_valid_for(self, now: datetime) -> timedelta:
        """How long the refresh token stays valid after ``now`` (negative once expired)."""
        return self.refresh_token_expires_at - now

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description without any secret, for XCom and logs."""
        return {
            f"{self.SCOPE}_id": self.scope_id,
            f"{self.SCOPE}_name": self.scope_name,
            "access_token_expires_at": self.access_token_expires_at.isoformat(),
            "refresh_token_expires_at": self.refresh_token_expires_at.isoformat(),
            f"available_{self.SCOPE}_ids": list(self.available_scope_ids),
            "user_id": self.user_id,
            "issued_to": str(self.issued_to) if self.issued_to else None,
        }

    def record(self) -> TicketRecord:
        """What may be known of this ticket without its secrets: see :class:`TicketRecord`."""
        return TicketRecord(self.issued_to, self.scope_id, self.access_token_expires_at, self.summary())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.SCOPE}_id={self.scope_id}, {self.SCOPE}_name={self.scope_name!r}, "
            f"access_token_expires_at={self.access_token_expires_at.isoformat()}, "
            f"refresh_token_expires_at={self.refresh_token_expires_at.isoformat()}, "
            f"issued_to={str(self.issued_to) if self.issued_to else None!r})"
        )

    __str__ = __repr__


class KiboDeveloperTicket(KiboAuthTicket):
    """A Kibo developer auth ticket (``DeveloperAdminUserAuthTicket``) for one developer account."""

    SCOPE = "account"
    SCOPE_KEY = "account"
    AVAILABLE_KEY = "availableAccounts"

    @property
    def account_id(self) -> int:
        """The developer account the ticket is for."""
        return self.scope_id

    @property
    def account_name(self) -> str | None:
        """That account's name."""
        return self.scope_name

    @property
    def available_account_ids(self) -> tuple[int, ...]:
        """The developer accounts the user may switch to."""
        return self.available_scope_ids


class KiboTenantTicket(KiboAuthTicket):
    """A Kibo admin-user auth ticket (``TenantAdminUserAuthTicket``) for one tenant."""

    SCOPE = "tenant"
    SCOPE_KEY = "tenant"
    AVAILABLE_KEY = "availableTenants"

    @property
    def tenant_id(self) -> int:
        """The tenant the ticket is for."""
        return self.scope_id

    @property
    def tenant_name(self) -> str | None:
        """That tenant's name."""
        return self.scope_name

    @property
    def available_tenant_ids(self) -> tuple[int, ...]:
        """The tenants the user may switch to."""
        return self.available_scope_ids

    @property
    def domain(self) -> str | None:
        """The tenant's host, where its APIs answer (e.g. ``t12345.sandbox.mozu.com``)."""
        domain = self.document[self.SCOPE_KEY].get("domain")
        return domain if isinstance(domain, str) and domain else None

    @property
    def site_ids(self) -> tuple[int, ...]:
        """The ids of the tenant's sites."""
        sites = self.document[self.SCOPE_KEY].get("sites") or []
        return tuple(s["id"] for s in sites if isinstance(s, dict) and isinstance(s.get("id"), int))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description without any secret, for XCom and logs: with the tenant's domain and sites."""
        return {**super().summary(), "domain": self.domain, "site_ids": list(self.site_ids)}


APPLICATION_SCOPE = 0
"""An application's ticket serves every tenant the application is installed on: one ticket per
Connection, under this one scope."""
APPLICATION_LIFETIME_UNKNOWN = timedelta(minutes=10)
"""The life taken for an application's access token when Kibo's answer does not say (no
``expires_in``): short, so that a shorter real life costs a 401 and one refresh at worst."""
APPLICATION_REFRESH_LIFETIME_UNKNOWN = timedelta(hours=24)
"""The life taken for an application's refresh token when Kibo's answer does not say: a longer real
life costs nothing, a shorter one a refused refresh and a new token from the key and secret."""


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


class KiboApplicationTicket(KiboAuthTicket):
    """A Kibo application's ticket: its key and shared secret traded for tokens, for every tenant the
    application is installed on (each call names its tenant)."""

    SCOPE = "application"
    SCOPE_KEY = "application"
    AVAILABLE_KEY = "availableApplications"

    @classmethod
    def from_answer(cls, answer: Any, application_key: str, now: datetime) -> KiboApplicationTicket:
        """
        Parse Kibo's answer in either shape: the OAuth form (``access_token``, ``refresh_token``,
        ``expires_in`` in seconds) or the older ticket (``accessToken``, ``accessTokenExpiration``, ...).

        :param answer: the decoded JSON answer
        :param application_key: the key the ticket was issued for
        :param now: when the answer arrived, from which ``expires_in`` counts
        :raises TicketFormatError: naming the first missing or malformed field
        """
        if not isinstance(answer, dict):
            raise TicketFormatError("a ticket must be a JSON object")
        if "access_token" in answer:
            expires_in = _seconds(answer.get("expires_in"))
            if expires_in is None:
                log.warning(
                    "Kibo's token answer gives no expires_in; the token is taken to live %s",
                    APPLICATION_LIFETIME_UNKNOWN,
                )
                expires_in = APPLICATION_LIFETIME_UNKNOWN.total_seconds()
            refresh_in = _seconds(answer.get("refresh_token_expires_in"))
            answer = {
                "accessToken": answer.get("access_token"),
                "accessTokenExpiration": (now + timedelta(seconds=expires_in)).isoformat(),
                "refreshToken": answer.get("refresh_token"),
                "refreshTokenExpiration": (
                    now + (timedelta(seconds=refresh_in) if refresh_in else APPLICATION_REFRESH_LIFETIME_UNKNOWN)
                ).isoformat(),
            }
        document = {
            "accessToken": answer.get("accessToken"),
            "accessTokenExpiration": answer.get("accessTokenExpiration"),
            "refreshToken": answer.get("refreshToken"),
            "refreshTokenExpiration": answer.get("refreshTokenExpiration")
            or (now + APPLICATION_REFRESH_LIFETIME_UNKNOWN).isoformat(),
            "createdOn": now.isoformat(),
            cls.SCOPE_KEY: {"id": APPLICATION_SCOPE, "name": application_key},
        }
        return cls.from_api(document)

    @property
    def application_key(self) -> str | None:
        """The key the ticket was issued for."""
        return self.scope_name

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description without any secret, for XCom and logs."""
        return {
            "application_key": self.application_key,
            "access_token_expires_at": self.access_token_expires_at.isoformat(),
            "refresh_token_expires_at": self.refresh_token_expires_at.isoformat(),
            "issued_to": str(self.issued_to) if self.issued_to else None,
        }


def _required_str(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise TicketFormatError(f"{key!r} must be a non-empty string")
    return value


def _required_time(document: dict[str, Any], key: str) -> datetime:
    value = document.get(key)
    if not isinstance(value, str):
        raise TicketFormatError(f"{key!r} must be an ISO-8601 date-time string")
    try:
        parsed = pendulum.parse(value, tz="UTC")
    except ValueError:
        raise TicketFormatError(f"{key!r} must be an ISO-8601 date-time string") from None
    if not isinstance(parsed, datetime):
        raise TicketFormatError(f"{key!r} must be a date and time, not only a date or a duration")
    utc = parsed.astimezone(UTC)
    # A plain datetime: pendulum's arithmetic is several times slower, and expiry checks are hot.
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class TicketRecord:
    """
    A stored ticket without its secrets: whom it was issued to, its scope and expiry, and its summary.

    Stores keep it readable beside the sealed ticket (see :mod:`airflow_provider_kibo.sealing`), for
    checks that need no token.
    """

    issued_to: KiboIdentity | None
    scope_id: int
    access_token_expires_at: datetime
    summary: dict[str, Any]

    def to_stored(self) -> dict[str, Any]:
        """Return the record as stores keep it."""
        return {
            ISSUED_TO_KEY: self.issued_to.to_json() if self.issued_to else None,
            "scopeId": self.scope_id,
            "accessTokenExpiration": self.access_token_expires_at.isoformat(),
            "summary": self.summary,
        }

    @classmethod
    def from_stored(cls, document: Any) -> TicketRecord:
        """
        Parse a stored record.

        :param document: the decoded stored JSON
        :raises TicketFormatError: naming the first missing or malformed field
        """
        if not isinstance(document, dict):
            raise TicketFormatError("the record is not a JSON object")
        scope_id, summary = document.get("scopeId"), document.get("summary")
        if not isinstance(scope_id, int) or isinstance(scope_id, bool):
            raise TicketFormatError("scopeId is missing or not a number")
        if not isinstance(summary, dict):
            raise TicketFormatError("summary is missing or not an object")
        return cls(
            KiboIdentity.from_json(document.get(ISSUED_TO_KEY)),
            scope_id,
            _required_time(document, "accessTokenExpiration"),
            summary,
        )


def ticket_from_stored(document: Any) -> KiboAuthTicket:
    """
    Parse a stored ticket of any kind: a tenant ticket names its ``tenant``, an application's its
    ``application``, a developer one its ``account``.

    :param document: the decoded stored JSON
    :raises TicketFormatError: naming the first missing or malformed field
    """
    found = [
        k for k in (KiboTenantTicket, KiboApplicationTicket) if isinstance(document, dict) and k.SCOPE_KEY in document
    ]
    return (found[0] if found else KiboDeveloperTicket).from_stored(document)
