"""``KiboIdentity``: whom a ticket was issued to, so a ticket never outlives a change of credentials."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any
from urllib.parse import urlsplit

REFRESH_TOKEN_LOGIN_PREFIX = "refresh-token:sha256:"
"""The login of a Connection that holds only a refresh token: a fingerprint of it, never the token."""


@dataclasses.dataclass(frozen=True)
class KiboIdentity:
    """
    A Kibo user at a Kibo host: the normalised base URL and the login (an email address, lower case).

    Stored beside every ticket as ``issuedTo``; it holds no secret, so an operator can read whose
    ticket a Variable or a Connection keeps.

    :param base_url: the Kibo host, scheme and host in lower case, without a default port or ``/api``
    :param login: the user's email address in lower case, or the fingerprint of a seed refresh token
    """

    base_url: str
    login: str

    @classmethod
    def of(cls, base_url: str, login: str) -> KiboIdentity:
        """
        The identity of a login at a host, normalised so that spellings of the same user compare equal.

        :param base_url: the Kibo host URL
        :param login: the email address
        """
        return cls(normalise_base_url(base_url), login.strip().lower())

    @classmethod
    def of_refresh_token(cls, base_url: str, refresh_token: str) -> KiboIdentity:
        """
        The identity of a Connection that has no login, only a seed refresh token.

        :param base_url: the Kibo host URL
        :param refresh_token: the seed refresh token; only a fingerprint of it is kept
        """
        fingerprint = hashlib.sha256(refresh_token.encode()).hexdigest()[:16]
        return cls(normalise_base_url(base_url), f"{REFRESH_TOKEN_LOGIN_PREFIX}{fingerprint}")

    @classmethod
    def of_application(cls, base_url: str, application_key: str) -> KiboIdentity:
        """
        The identity of a Kibo application at its auth host; the key is kept as written.

        :param base_url: the auth host URL
        :param application_key: the application key (client id)
        """
        return cls(normalise_base_url(base_url), application_key)

    @classmethod
    def from_json(cls, value: Any) -> KiboIdentity | None:
        """
        Read a stored ``issuedTo``; ``None`` when it is missing or malformed.

        :param value: the decoded ``issuedTo`` object
        """
        if not isinstance(value, dict):
            return None
        base_url, login = value.get("baseUrl"), value.get("login")
        if not isinstance(base_url, str) or not isinstance(login, str) or not base_url or not login:
            return None
        return cls(base_url, login)

    def to_json(self) -> dict[str, str]:
        """The ``issuedTo`` object stored with a ticket."""
        return {"baseUrl": self.base_url, "login": self.login}

    def __str__(self) -> str:
        return f"{self.login} at {self.base_url}"


def normalise_base_url(url: str) -> str:
    """
    A Kibo host URL as identities hold it: scheme and host in lower case, no default port, no ``/api``.

    :param url: the URL as configured
    """
    parts = urlsplit(url.strip().rstrip("/"))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = {"https": 443, "http": 80}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    path = parts.path.rstrip("/").removesuffix("/api")
    return f"{parts.scheme.lower()}://{host}{port}{path}"
