"""The settings of a Kibo Connection, validated on first use: a user's (``kibo_developer``) or an
application's (``kibo_application``)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import json
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_kibo.errors import KiboConfigError
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket, TicketFormatError

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_REFRESH_MARGIN = timedelta(seconds=180)
"""Refresh this long before the access token expires, as Kibo's own SDKs do."""
MAX_REFRESH_MARGIN = timedelta(minutes=30)
"""Access tokens live one hour; a margin beyond half of that would refresh on almost every call."""
DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds to wait for Kibo to connect or to answer one request."""
MAX_REQUEST_TIMEOUT = 300.0
HOME_POD = "https://home.mozu.com"
"""Kibo's home pod, where every SDK authenticates by default (EU: ``https://home.euw1.kibocommerce.com``)."""
AUTH_ROUTES = ("auto", "oauth", "ticket")
"""How an application asks for its first token: the OAuth route, the older ticket route, or the OAuth
route and, where the pod answers 404, the ticket route."""

KNOWN_EXTRA_KEYS = frozenset(
    {
        "developer_account_id",
        "refresh_margin_seconds",
        "request_timeout_seconds",
        "verify_tls",
        "seed_ticket",
        "refresh_token",
        "airflow_api_conn_id",
        "tickets",
    }
)


@dataclasses.dataclass(frozen=True, repr=False)
class KiboConnectionConfig:
    """
    What the hook needs from its Connection.

    :param base_url: Kibo's home URL without the trailing ``/api``
    :param email: the login, or ``None`` when the Connection works from a seed ticket only
    :param password: the password, or ``None``
    :param default_account_id: ``extra.developer_account_id``
    :param refresh_margin: refresh this long before the access token expires
    :param request_timeout: seconds for each HTTP request
    :param verify_tls: ``requests``' ``verify``: a bool or a CA bundle path
    :param seed_ticket: a ticket an administrator put in ``extra.seed_ticket``
    :param seed_refresh_token: a refresh token an administrator put in ``extra.refresh_token``
    :param airflow_api_conn_id: the Connection of an Airflow API server to write tickets back with
    """

    base_url: str
    email: str | None
    password: str | None
    default_account_id: int | None
    refresh_margin: timedelta
    request_timeout: float
    verify_tls: bool | str
    seed_ticket: KiboDeveloperTicket | None
    seed_refresh_token: str | None
    airflow_api_conn_id: str | None

    @property
    def can_log_in(self) -> bool:
        """Whether the Connection holds a password to log in with."""
        return bool(self.password)

    @functools.cached_property
    def identity(self) -> KiboIdentity:
        """Whom this Connection logs in as: its tickets are issued to this identity and to no other."""
        login = self.email or (self.seed_ticket.user_email if self.seed_ticket else None)
        if login:
            return KiboIdentity.of(self.base_url, login)
        seed = self.seed_refresh_token or (self.seed_ticket.refresh_token if self.seed_ticket else "")
        return KiboIdentity.of_refresh_token(self.base_url, seed)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret strings the Connection holds, for masking."""
        seed = self.seed_ticket.secrets if self.seed_ticket else ()
        return tuple(s for s in (self.password, self.seed_refresh_token, *seed) if s)

    def __repr__(self) -> str:
        return f"KiboConnectionConfig(base_url={self.base_url!r}, email={self.email!r})"

    @classmethod
    def from_connection(cls, conn: Connection) -> KiboConnectionConfig:
        """
        Validate a Connection.

        :param conn: a ``kibo_developer`` Connection
        :raises KiboConfigError: naming the field at fault and what to put there
        """
        extra = parse_extra(conn.extra, KNOWN_EXTRA_KEYS)
        seed_ticket = _seed_ticket(extra.get("seed_ticket"))
        seed_refresh_token = _optional_str(extra, "refresh_token")
        email = conn.login or None
        password = conn.password or None
        if password and not email:
            raise KiboConfigError("login", "put the Kibo user's email address here")
        if seed_ticket and email and seed_ticket.user_email and seed_ticket.user_email.lower() != email.lower():
            raise KiboConfigError(
                "extra.seed_ticket",
                f"was issued to {seed_ticket.user_email}, not to the login {email}: "
                "put a ticket of that user there, or remove it",
            )
        if not password and not (seed_ticket or seed_refresh_token):
            raise KiboConfigError(
                "password",
                "set the Kibo user's password, or give a ticket in extra.seed_ticket "
                "or a refresh token in extra.refresh_token",
            )
        return cls(
            base_url=_base_url(conn.host, conn.port, conn.schema),
            email=email,
            password=password,
            default_account_id=_optional_id(extra, "developer_account_id", "developer account id"),
            refresh_margin=_refresh_margin(extra),
            request_timeout=_request_timeout(extra),
            verify_tls=_verify_tls(extra),
            seed_ticket=seed_ticket,
            seed_refresh_token=seed_refresh_token,
            airflow_api_conn_id=_optional_str(extra, "airflow_api_conn_id"),
        )


APPLICATION_EXTRA_KEYS = frozenset(
    {"tenant_id", "site_id", "auth_route", "refresh_margin_seconds", "request_timeout_seconds", "verify_tls"}
)


@dataclasses.dataclass(frozen=True, repr=False)
class KiboApplicationConfig:
    """
    What the hook needs from a ``kibo_application`` Connection: a Kibo application's key and shared
    secret, for every tenant the application is installed on.

    :param base_url: the auth host without the trailing ``/api`` (the home pod by default)
    :param application_key: the application key, OAuth's ``client_id``
    :param shared_secret: the shared secret, OAuth's ``client_secret``
    :param default_tenant_id: ``extra.tenant_id``, the tenant of tasks that name none
    :param default_site_id: ``extra.site_id``, the site of tasks that name none
    :param auth_route: which create route to ask (see :data:`AUTH_ROUTES`)
    :param refresh_margin: refresh this long before the access token expires
    :param request_timeout: seconds for each HTTP request
    :param verify_tls: ``requests``' ``verify``: a bool or a CA bundle path
    """

    base_url: str
    application_key: str
    shared_secret: str
    default_tenant_id: int | None
    default_site_id: int | None
    auth_route: str
    refresh_margin: timedelta
    request_timeout: float
    verify_tls: bool | str
    can_log_in = True
    seed_ticket = None
    seed_refresh_token = None
    airflow_api_conn_id = None

    @functools.cached_property
    def identity(self) -> KiboIdentity:
        """The auth host and the application key: a change of the shared secret alone keeps the tickets."""
        return KiboIdentity.of_application(self.base_url, self.application_key)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret strings the Connection holds, for masking."""
        return (self.shared_secret,)

    def __repr__(self) -> str:
        return f"KiboApplicationConfig(base_url={self.base_url!r}, application_key={self.application_key!r})"

    @classmethod
    def from_connection(cls, conn: Connection) -> KiboApplicationConfig:
        """
        Validate a Connection.

        :param conn: a ``kibo_application`` Connection
        :raises KiboConfigError: naming the field at fault and what to put there
        """
        extra = parse_extra(conn.extra, APPLICATION_EXTRA_KEYS)
        if not conn.login or not conn.login.strip():
            raise KiboConfigError("login", "put the Kibo application key here (its client_id, as Dev Center shows it)")
        if not conn.password:
            raise KiboConfigError("password", "put the application's shared secret here (from Kibo's Dev Center)")
        auth_route = extra.get("auth_route") or "auto"
        if auth_route not in AUTH_ROUTES:
            raise KiboConfigError("extra.auth_route", f"must be one of {', '.join(AUTH_ROUTES)}, not {auth_route!r}")
        return cls(
            base_url=_base_url(conn.host or HOME_POD, conn.port, conn.schema),
            application_key=conn.login.strip(),
            shared_secret=conn.password,
            default_tenant_id=_optional_id(extra, "tenant_id", "tenant id"),
            default_site_id=_optional_id(extra, "site_id", "site id"),
            auth_route=auth_route,
            refresh_margin=_refresh_margin(extra),
            request_timeout=_request_timeout(extra),
            verify_tls=_verify_tls(extra),
        )


def parse_extra(raw: str | None, known: frozenset[str]) -> dict[str, Any]:
    """
    Decode a Connection's ``extra`` strictly (Airflow's ``extra_dejson`` swallows bad JSON).

    :param raw: the ``extra`` text
    :param known: the keys allowed in it
    """
    if not raw:
        return {}
    try:
        extra = json.loads(raw)
    except json.JSONDecodeError as err:
        raise KiboConfigError("extra", f"must be a JSON object; it does not parse ({err.msg})") from None
    if not isinstance(extra, dict):
        raise KiboConfigError("extra", "must be a JSON object")
    unknown = sorted(set(extra) - known)
    if unknown:
        raise KiboConfigError(
            f"extra.{unknown[0]}", f"is not a known key; the known keys are {', '.join(sorted(known))}"
        )
    return extra


def validate_id(value: Any, field: str, what: str) -> int:
    """
    Return a Kibo id (of a developer account, a tenant, a site) as an int, accepting digit strings
    (templated values arrive as text).

    :param value: the value given
    :param field: where it came from, for the error message
    :param what: what the id names, for the error message
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise KiboConfigError(field, f"must be a positive integer {what}, not {value!r}")
    return value


def validate_flag(value: Any, field: str) -> bool:
    """
    Return a yes/no option as a bool, accepting ``"true"`` and ``"false"`` (templated values arrive as text).

    :param value: the value given
    :param field: where it came from, for the error message
    """
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise KiboConfigError(field, f"must be true or false, not {value!r}")
    return value


def validate_min_valid_for(value: Any) -> timedelta:
    """
    Return how long a ticket must stay valid, refusing anything but a non-negative ``timedelta``.

    :param value: the value given, ``None`` meaning no demand beyond the refresh margin
    """
    if value is None:
        return timedelta(0)
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise KiboConfigError("min_valid_for", f"must be a timedelta of zero or more, not {value!r}")
    return value


def _base_url(host: str | None, port: int | None, schema: str | None) -> str:
    if not host:
        raise KiboConfigError("host", "set the Kibo home URL, e.g. https://home.mozu.com")
    url = host.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise KiboConfigError("host", f"must be an https:// URL such as https://home.mozu.com, not {host!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise KiboConfigError(
            "host", "must use https://; plain http:// is accepted only for loopback hosts (local emulators)"
        )
    if port and not parts.port:
        url = f"{parts.scheme}://{parts.hostname}:{port}{parts.path}"
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def is_loopback(hostname: str) -> bool:
    """
    Whether a host name is this machine: ``localhost`` or a loopback address, where plain ``http://``
    reveals nothing to the network.

    :param hostname: the host part of a URL
    """
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _optional_id(extra: dict[str, Any], key: str, what: str) -> int | None:
    value = extra.get(key)
    if value in (None, ""):
        return None
    return validate_id(value, f"extra.{key}", what)


def _refresh_margin(extra: dict[str, Any]) -> timedelta:
    maximum = MAX_REFRESH_MARGIN.total_seconds()
    return timedelta(
        seconds=_bounded_number(extra, "refresh_margin_seconds", DEFAULT_REFRESH_MARGIN.total_seconds(), maximum)
    )


def _request_timeout(extra: dict[str, Any]) -> float:
    return _bounded_number(extra, "request_timeout_seconds", DEFAULT_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT)


def _bounded_number(extra: dict[str, Any], key: str, default: float, maximum: float) -> float:
    value = extra.get(key)
    if value in (None, ""):
        return default
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= maximum:
        raise KiboConfigError(
            f"extra.{key}", f"must be a number of seconds above 0 and at most {maximum:g}, not {value!r}"
        )
    return float(value)


def _verify_tls(extra: dict[str, Any]) -> bool | str:
    """``true`` or ``false`` (as JSON, or as text, which a URI-form Connection or a template gives), or
    the path of a CA bundle that exists on this machine."""
    value = extra.get("verify_tls", True)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() and os.path.exists(value.strip()):
        return value.strip()
    shown = f"; there is no CA bundle at {value!r}" if isinstance(value, str) and value.strip() else f", not {value!r}"
    raise KiboConfigError("extra.verify_tls", f"must be true, false, or the path of a CA bundle file{shown}")


def _optional_str(extra: dict[str, Any], key: str) -> str | None:
    value = extra.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise KiboConfigError(f"extra.{key}", "must be a string")
    return value


def _seed_ticket(value: Any) -> KiboDeveloperTicket | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise KiboConfigError("extra.seed_ticket", "must be a Kibo auth ticket as JSON") from None
    try:
        return KiboDeveloperTicket.from_api(value)
    except TicketFormatError as err:
        raise KiboConfigError("extra.seed_ticket", f"is not a complete Kibo auth ticket: {err}") from None
