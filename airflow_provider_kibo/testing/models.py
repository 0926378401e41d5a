"""Users, developer accounts, tenants and the clock of the Kibo emulator, plus small shared helpers."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Application ids are ``account_id * 100 + i``, so an account holds at most 99 apps.
MAX_APPS_PER_ACCOUNT = 99
#: Largest id Kibo's ``int32`` fields can carry.
MAX_INT32 = 2**31 - 1
#: Orders per tenant the emulator generates at most.
MAX_ORDERS_PER_TENANT = 10_000
#: Customer accounts per tenant at most; they are computed when asked for, never held.
MAX_CUSTOMERS_PER_TENANT = 10_000_000
#: Every tenant has one master catalog holding its sites' catalogs.
MASTER_CATALOG_ID = 1
MASTER_CATALOG_NAME = "Master"

Seconds = int | float | timedelta


def to_seconds(value: Seconds, *, name: str, minimum: float = 0.0) -> float:
    """Convert a number of seconds or a :class:`~datetime.timedelta` to ``float`` seconds.

    :param value: Seconds (int or float) or a timedelta.
    :param name: Name used in the error message.
    :param minimum: Smallest accepted value (inclusive).
    :raises ValueError: If the value is not a number or is below ``minimum``.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name} must be a number of seconds or a timedelta, got {value!r}")  # noqa: TRY004 - every invalid setting is a ValueError (400 on the control routes)
    if not math.isfinite(seconds) or seconds < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {seconds}")
    return seconds


def format_kibo_datetime(moment: datetime) -> str:
    """Format a UTC datetime the way Kibo does: ``2026-11-26T12:00:00.123Z``.

    :param moment: A timezone-aware datetime.
    """
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def truncate_to_ms(moment: datetime) -> datetime:
    """Drop sub-millisecond precision, so stored expiries equal what the wire shows."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def b64url(data: bytes) -> str:
    """Base64url without padding, as used in JWTs."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class EmulatorClock:
    """Real UTC time plus an adjustable offset. The clock keeps running; it is never frozen."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the emulated time, a timezone-aware UTC datetime."""
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def advance(self, delta: Seconds) -> datetime:
        """Move the clock forward (or back, with a negative value).

        :param delta: Seconds or a timedelta.
        :returns: The new emulated time.
        """
        seconds = to_seconds(delta, name="delta", minimum=-math.inf)
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        """Total offset from real time, in seconds."""
        with self._lock:
            return self._offset.total_seconds()


@dataclass(frozen=True)
class EmulatorAccount:
    """A Kibo developer account.

    :param id: Account id (``developerAccountId``).
    :param name: Display name.
    :param app_count: Number of applications listed by the apppackages route (0 to 99).
    """

    id: int
    name: str
    app_count: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or not 0 < self.id <= 21_474_835:
            raise ValueError(f"account id must be an int in 1..21474835, got {self.id!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("account name must be a non-empty string")
        if isinstance(self.app_count, bool) or not isinstance(self.app_count, int):
            raise ValueError(f"app_count must be an int, got {self.app_count!r}")  # noqa: TRY004 - every invalid setting is a ValueError (400 on the control routes)
        if not 0 <= self.app_count <= MAX_APPS_PER_ACCOUNT:
            raise ValueError(f"app_count must be in 0..{MAX_APPS_PER_ACCOUNT}, got {self.app_count}")

    @property
    def slug(self) -> str:
        """Lower-case, dash-separated form of the name, e.g. ``acme-development``."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or f"account-{self.id}"

    def to_json(self) -> dict[str, Any]:
        """Return the ``DeveloperAccount`` JSON object."""
        return {"id": self.id, "name": self.name}

    def applications(self) -> list[dict[str, Any]]:
        """Return the account's ``ApplicationSummary`` objects, deterministic and stable.

        Application ``i`` (1-based) has id ``account.id * 100 + i`` and name ``{slug}-app-{i}``.
        """
        namespace = "".join(part.capitalize() for part in self.slug.split("-"))
        apps = []
        for i in range(1, self.app_count + 1):
            name = f"{self.slug}-app-{i}"
            minor = i % 3
            apps.append(
                {
                    "parentName": name,
                    "applicationId": self.id * 100 + i,
                    "applicationTypeId": 1,
                    "releasePackageId": self.id * 100 + i,
                    "releasePackageName": f"{name} 1.{minor}.0",
                    "name": name,
                    "applicationNamespace": namespace,
                    "applicationVersion": {"majorVersion": 1, "minorVersion": minor, "revision": 0},
                    "applicationStatusId": 1,
                    "appId": f"{namespace}.{name}",
                    "applicationStatusName": "Development",
                    "hasVersions": True,
                    "appSchemeVersion": 2,
                    "appKey": f"{namespace}.{name}.1.{minor}.0.Release",
                    "parentAppKey": None,
                    "updateParentAppKey": None,
                    "updateAvailable": False,
                }
            )
        return apps


def _check_id(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT32:
        raise ValueError(f"{what} must be an int in 1..{MAX_INT32}, got {value!r}")


def _check_text(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")


def tenant_domain(authority: str, tenant_id: int) -> str:
    """The emulator's ``domain`` of a tenant and of its sites: ``{host}:{port}/_tenant/{tenant_id}``.

    One port serves every tenant, so a client building ``http://{domain}/api/...`` reaches it.

    :param authority: The emulator's ``host:port``.
    :param tenant_id: The tenant id.
    """
    return f"{authority}/_tenant/{tenant_id}"


@dataclass(frozen=True)
class EmulatorSite:
    """A site of a tenant.

    :param id: Site id (``x-vol-site``).
    :param name: Display name.
    :param catalog_id: The catalog the site sells from (a catalog of the tenant's master catalog).
    :param locale_code: Locale, e.g. ``en-US``.
    :param currency_code: ISO currency code of the site's orders, e.g. ``USD``.
    """

    id: int
    name: str
    catalog_id: int = 1
    locale_code: str = "en-US"
    currency_code: str = "USD"

    def __post_init__(self) -> None:
        _check_id(self.id, "site id")
        _check_text(self.name, "site name")
        _check_id(self.catalog_id, "catalog_id")
        _check_text(self.locale_code, "locale_code")
        _check_text(self.currency_code, "currency_code")

    def to_json(self, tenant_id: int, domain: str) -> dict[str, Any]:
        """Return the ``Site`` JSON object.

        :param tenant_id: The id of the tenant owning the site.
        :param domain: The site's domain.
        """
        return {
            "id": self.id,
            "name": self.name,
            "tenantId": tenant_id,
            "catalogId": self.catalog_id,
            "localeCode": self.locale_code,
            "countryCode": self.locale_code.rpartition("-")[2].upper(),
            "currencyCode": self.currency_code,
            "domain": domain,
            "primaryCustomDomain": None,
            "attributes": [],
        }


@dataclass(frozen=True)
class EmulatorTenant:
    """A Kibo tenant: its sites, one master catalog, ``order_count`` generated orders and
    ``customer_count`` customer accounts.

    :param id: Tenant id (``tenantId``, ``x-vol-tenant``).
    :param name: Display name.
    :param sites: The tenant's sites (at least one); orders are spread over them round-robin.
    :param order_count: Number of orders listed by the orders route (0 to 10000).
    :param customer_count: Number of customer accounts listed by their route (0 to 10 million).
    :param is_dev_tenant: The ticket's ``isDevTenant``.
    """

    id: int
    name: str
    sites: Sequence[EmulatorSite]
    order_count: int = 0
    is_dev_tenant: bool = False
    customer_count: int = 0

    def __post_init__(self) -> None:
        _check_id(self.id, "tenant id")
        _check_text(self.name, "tenant name")
        sites = tuple(self.sites)
        if not sites or not all(isinstance(s, EmulatorSite) for s in sites):
            raise ValueError(f"tenant {self.id} needs at least one EmulatorSite")
        if len({s.id for s in sites}) != len(sites):
            raise ValueError(f"duplicate site ids in tenant {self.id}")
        object.__setattr__(self, "sites", sites)
        if (
            isinstance(self.order_count, bool)
            or not isinstance(self.order_count, int)
            or not 0 <= self.order_count <= MAX_ORDERS_PER_TENANT
        ):
            raise ValueError(f"order_count must be an int in 0..{MAX_ORDERS_PER_TENANT}, got {self.order_count!r}")
        if (
            isinstance(self.customer_count, bool)
            or not isinstance(self.customer_count, int)
            or not 0 <= self.customer_count <= MAX_CUSTOMERS_PER_TENANT
        ):
            raise ValueError(f"customer_count must be an int in 0..{MAX_CUSTOMERS_PER_TENANT}")
        if not isinstance(self.is_dev_tenant, bool):
            raise ValueError("is_dev_tenant must be a boolean")  # noqa: TRY004 - every invalid setting is a ValueError (400 on the control routes)

    def site(self, site_id: int) -> EmulatorSite | None:
        """Return the tenant's site with that id, else ``None``.

        :param site_id: A site id.
        """
        return next((s for s in self.sites if s.id == site_id), None)

    def to_json(self, authority: str) -> dict[str, Any]:
        """Return the ``AdminUserTenant`` JSON object.

        :param authority: The emulator's ``host:port``, the base of every ``domain``.
        """
        domain = tenant_domain(authority, self.id)
        first = self.sites[0]
        catalogs: list[dict[str, Any]] = []
        for site in self.sites:
            if all(c["id"] != site.catalog_id for c in catalogs):
                catalogs.append(
                    {
                        "id": site.catalog_id,
                        "name": f"Catalog {site.catalog_id}",
                        "tenantId": self.id,
                        "masterCatalogId": MASTER_CATALOG_ID,
                        "defaultLocaleCode": site.locale_code,
                        "defaultCurrencyCode": site.currency_code,
                    }
                )
        master = {
            "id": MASTER_CATALOG_ID,
            "name": MASTER_CATALOG_NAME,
            "tenantId": self.id,
            "defaultLocaleCode": first.locale_code,
            "defaultCurrencyCode": first.currency_code,
            "catalogs": catalogs,
        }
        return {
            "id": self.id,
            "name": self.name,
            "isDevTenant": self.is_dev_tenant,
            "sites": [s.to_json(self.id, domain) for s in self.sites],
            "masterCatalogs": [master],
            "domain": domain,
            "attributes": [],
            "expiry": None,
            "isUnified": True,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmulatorTenant:
        """Build a tenant from ``{"id", "name", "order_count", "customer_count", "is_dev_tenant", "sites": [...]}``.

        Each site is ``{"id", "name", "catalog_id", "locale_code", "currency_code"}``; only ``id``
        and ``name`` are required, in the tenant and in its sites.

        :param data: The decoded JSON object.
        :raises ValueError: On a missing key or an invalid value.
        """
        site_keys = ("catalog_id", "locale_code", "currency_code")
        try:
            sites = [
                EmulatorSite(site["id"], site["name"], **{k: site[k] for k in site_keys if k in site})
                for site in data["sites"]
            ]
            extra = {k: data[k] for k in ("order_count", "customer_count", "is_dev_tenant") if k in data}
            return cls(data["id"], data["name"], sites, **extra)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"invalid tenant entry: missing or malformed {exc}") from None


@dataclass(frozen=True)
class EmulatorUser:
    """A developer user who can log in to the emulator.

    :param email: Login e-mail address (matched case-insensitively).
    :param password: Password (matched exactly; hidden from ``repr``).
    :param accounts: The developer accounts this user may use; the first one is the default.
    :param user_id: Kibo user id; derived from the e-mail address when empty.
    :param first_name: First name shown in the ticket's ``user`` object.
    :param last_name: Last name shown in the ticket's ``user`` object.
    :param tenants: The tenants this user may log in to (tenant admin-user tickets); the first
        one is the default. Users sharing a tenant id must describe it identically.
    """

    email: str
    password: str = field(repr=False)
    accounts: Sequence[EmulatorAccount]
    user_id: str = ""
    first_name: str = "Emulator"
    last_name: str = "Developer"
    tenants: Sequence[EmulatorTenant] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or "@" not in self.email:
            raise ValueError(f"email must look like an e-mail address, got {self.email!r}")
        if not isinstance(self.password, str) or not self.password:
            raise ValueError("password must be a non-empty string")
        accounts = tuple(self.accounts)
        if not accounts or not all(isinstance(a, EmulatorAccount) for a in accounts):
            raise ValueError("a user needs at least one EmulatorAccount")
        if len({a.id for a in accounts}) != len(accounts):
            raise ValueError(f"duplicate account ids for {self.email}")
        object.__setattr__(self, "accounts", accounts)
        tenants = tuple(self.tenants)
        if not all(isinstance(t, EmulatorTenant) for t in tenants):
            raise ValueError("tenants must be EmulatorTenant objects")
        if len({t.id for t in tenants}) != len(tenants):
            raise ValueError(f"duplicate tenant ids for {self.email}")
        object.__setattr__(self, "tenants", tenants)
        if not self.user_id:
            derived = uuid.uuid5(uuid.NAMESPACE_URL, "kibo-emulator:" + self.email.lower()).hex
            object.__setattr__(self, "user_id", derived)

    def account(self, account_id: int) -> EmulatorAccount | None:
        """Return the account with that id if this user may use it, else ``None``.

        :param account_id: A developer account id.
        """
        return next((a for a in self.accounts if a.id == account_id), None)

    def tenant(self, tenant_id: int) -> EmulatorTenant | None:
        """Return the tenant with that id if this user may log in to it, else ``None``.

        :param tenant_id: A tenant id.
        """
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def profile(self) -> dict[str, Any]:
        """Return the ``UserProfile`` JSON object."""
        return {
            "emailAddress": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userName": self.email,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmulatorUser:
        """Build a user from ``{"email", "password", "accounts": [{"id", "name", "app_count"}]}``.

        Optional keys: ``user_id``, ``first_name``, ``last_name`` and ``tenants``, a list of
        :meth:`EmulatorTenant.from_json` objects.

        :param data: The decoded JSON object.
        :raises ValueError: On a missing key or an invalid value.
        """
        try:
            accounts = [
                EmulatorAccount(int(a["id"]), str(a["name"]), int(a.get("app_count", 5))) for a in data["accounts"]
            ]
            tenants = [EmulatorTenant.from_json(t) for t in data.get("tenants", ())]
            extra = {k: str(data[k]) for k in ("user_id", "first_name", "last_name") if k in data}
            return cls(str(data["email"]), str(data["password"]), accounts, tenants=tenants, **extra)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"invalid user entry: missing or malformed {exc}") from None


@dataclass(frozen=True)
class EmulatorApplication:
    """A Kibo application that can authenticate with its key and shared secret (OAuth client credentials).

    :param key: The application key, the OAuth ``client_id`` (e.g. ``Acme.orders_export.1.0.0.Release``).
    :param shared_secret: The shared secret, the ``client_secret`` (hidden from ``repr``).
    :param tenants: The ids of the tenants the application is installed on.
    """

    key: str
    shared_secret: str = field(repr=False)
    tenants: Sequence[int] = ()

    def __post_init__(self) -> None:
        _check_text(self.key, "application key")
        _check_text(self.shared_secret, "shared secret")
        tenants = tuple(self.tenants)
        for tenant_id in tenants:
            _check_id(tenant_id, "tenant id")
        object.__setattr__(self, "tenants", tenants)


def load_users(path: str | Path) -> tuple[EmulatorUser, ...]:
    """Load users from a JSON file holding a list of :meth:`EmulatorUser.from_json` objects.

    For example (``tenants`` and every key of a tenant or site but ``id`` and ``name`` are
    optional)::

        [{"email": "ops@example.com", "password": "...",
          "accounts": [{"id": 5, "name": "Ops", "app_count": 2}],
          "tenants": [{"id": 500001, "name": "Ops Store", "order_count": 30, "is_dev_tenant": false,
                       "sites": [{"id": 500011, "name": "Ops Web", "catalog_id": 1,
                                  "locale_code": "en-US", "currency_code": "USD"}]}]}]

    :param path: Path of the JSON file.
    :raises ValueError: If the file is not a non-empty list of valid users.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise ValueError("the users file must hold a non-empty JSON list")
    return tuple(EmulatorUser.from_json(entry) for entry in data)


#: The default user. The password is documented here on purpose: it only opens the emulator.
DEMO_USERS: tuple[EmulatorUser, ...] = (
    EmulatorUser(
        email="developer@example.com",
        password="emulator-password",
        accounts=[
            EmulatorAccount(1001, "Acme Development", app_count=7),
            EmulatorAccount(1002, "Globex Sandbox", app_count=3),
            EmulatorAccount(1003, "Initech Test", app_count=0),
        ],
        first_name="Demo",
        last_name="Developer",
        tenants=[
            EmulatorTenant(
                100001,
                "Acme Retail",
                order_count=45,
                customer_count=30,
                sites=[
                    EmulatorSite(100011, "Acme US"),
                    EmulatorSite(100012, "Acme CA", catalog_id=2, locale_code="en-CA", currency_code="CAD"),
                ],
            ),
            EmulatorTenant(
                100002, "Globex Outlet", [EmulatorSite(100021, "Globex Main")], order_count=12, customer_count=8
            ),
            EmulatorTenant(100003, "Initech Store", [EmulatorSite(100031, "Initech Web")], order_count=0),
        ],
    ),
)

#: The default application: installed on two of the demo user's tenants, not on the third (100003).
#: Its secret only opens the emulator.
DEMO_APPLICATIONS: tuple[EmulatorApplication, ...] = (
    EmulatorApplication("KiboDemo.orders_export.1.0.0.Release", "emulator-shared-secret", tenants=[100001, 100002]),
)
