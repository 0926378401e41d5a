"""``KiboTicket``: an immutable developer auth ticket that never shows its tokens."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum

from airflow_provider_kibo.identity import KiboIdentity

ISSUED_TO_KEY = "issuedTo"
"""The key the provider adds to Kibo's ticket JSON when it stores a ticket: whom it was issued to."""


class TicketFormatError(ValueError):
    """A ticket document lacks a field or holds a value of the wrong kind; the message names it."""


@dataclasses.dataclass(frozen=True, repr=False)
class KiboTicket:
    """
    A Kibo developer auth ticket for one developer account.

    Build it with :meth:`from_api` from Kibo's ``DeveloperAdminUserAuthTicket`` JSON and turn it back
    with :meth:`to_api`. Stores keep that JSON plus ``issuedTo``, the identity the ticket was issued
    to (:meth:`to_stored`, :meth:`from_stored`). ``repr`` and ``str`` show no token.
    """

    account_id: int
    account_name: str | None
    available_account_ids: tuple[int, ...]
    access_token: str
    jwt_access_token: str | None
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user_id: str | None
    document: dict[str, Any] = dataclasses.field(compare=False, hash=False)
    issued_to: KiboIdentity | None = None

    @classmethod
    def from_api(cls, document: Any) -> KiboTicket:
        """
        Parse Kibo's ticket JSON.

        :param document: the decoded JSON of a ``DeveloperAdminUserAuthTicket``
        :raises TicketFormatError: naming the first missing or malformed field
        """
        if not isinstance(document, dict):
            raise TicketFormatError("a ticket must be a JSON object")
        account = document.get("account")
        if not isinstance(account, dict) or not isinstance(account.get("id"), int):
            raise TicketFormatError("'account.id' must be an integer")
        available = document.get("availableAccounts") or []
        if not isinstance(available, list) or not all(
            isinstance(a, dict) and isinstance(a.get("id"), int) for a in available
        ):
            raise TicketFormatError("'availableAccounts' must be a list of accounts with integer ids")
        user = document.get("user") or {}
        return cls(
            account_id=account["id"],
            account_name=account.get("name"),
            available_account_ids=tuple(a["id"] for a in available),
            access_token=_required_str(document, "accessToken"),
            jwt_access_token=document.get("jwtAccessToken") or None,
            access_token_expires_at=_required_time(document, "accessTokenExpiration"),
            refresh_token=_required_str(document, "refreshToken"),
            refresh_token_expires_at=_required_time(document, "refreshTokenExpiration"),
            user_id=user.get("userId") if isinstance(user, dict) else None,
            document=document,
        )

    @classmethod
    def from_stored(cls, document: Any) -> KiboTicket:
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

    def issued(self, identity: KiboIdentity) -> KiboTicket:
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

    def access_valid_for(self, now: datetime) -> timedelta:
        """How long the access token stays valid after ``now`` (negative once expired)."""
        return self.access_token_expires_at - now

    def refresh_valid_for(self, now: datetime) -> timedelta:
        """How long the refresh token stays valid after ``now`` (negative once expired)."""
        return self.refresh_token_expires_at - now

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description without any secret, for XCom and logs."""
        return {
            "account_id": self.account_id,
            "account_name": self.account_name,
            "access_token_expires_at": self.access_token_expires_at.isoformat(),
            "refresh_token_expires_at": self.refresh_token_expires_at.isoformat(),
            "available_account_ids": list(self.available_account_ids),
            "user_id": self.user_id,
            "issued_to": str(self.issued_to) if self.issued_to else None,
        }

    def __repr__(self) -> str:
        return (
            f"KiboTicket(account_id={self.account_id}, account_name={self.account_name!r}, "
            f"access_token_expires_at={self.access_token_expires_at.isoformat()}, "
            f"refresh_token_expires_at={self.refresh_token_expires_at.isoformat()}, "
            f"issued_to={str(self.issued_to) if self.issued_to else None!r})"
        )

    __str__ = __repr__


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
    utc = parsed.astimezone(timezone.utc)
    # A plain datetime: pendulum's arithmetic is several times slower, and expiry checks are hot.
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=timezone.utc)
