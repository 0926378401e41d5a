"""Users, accounts and the clock of the Kibo emulator, plus small shared helpers."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Union

#: Application ids are ``account_id * 100 + i``, so an account holds at most 99 apps.
MAX_APPS_PER_ACCOUNT = 99

Seconds = Union[int, float, timedelta]


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
        raise ValueError(f"{name} must be a number of seconds or a timedelta, got {value!r}")
    if not math.isfinite(seconds) or seconds < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {seconds}")
    return seconds


def format_kibo_datetime(moment: datetime) -> str:
    """Format a UTC datetime the way Kibo does: ``2026-11-26T12:00:00.123Z``.

    :param moment: A timezone-aware datetime.
    """
    moment = moment.astimezone(timezone.utc)
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
        return datetime.now(timezone.utc) + offset

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
            raise ValueError(f"app_count must be an int, got {self.app_count!r}")
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
            apps.append({
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
            })
        return apps


@dataclass(frozen=True)
class EmulatorUser:
    """A developer user who can log in to the emulator.

    :param email: Login e-mail address (matched case-insensitively).
    :param password: Password (matched exactly; hidden from ``repr``).
    :param accounts: The developer accounts this user may use; the first one is the default.
    :param user_id: Kibo user id; derived from the e-mail address when empty.
    :param first_name: First name shown in the ticket's ``user`` object.
    :param last_name: Last name shown in the ticket's ``user`` object.
    """

    email: str
    password: str = field(repr=False)
    accounts: Sequence[EmulatorAccount]
    user_id: str = ""
    first_name: str = "Emulator"
    last_name: str = "Developer"

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
        if not self.user_id:
            derived = uuid.uuid5(uuid.NAMESPACE_URL, "kibo-emulator:" + self.email.lower()).hex
            object.__setattr__(self, "user_id", derived)

    def account(self, account_id: int) -> EmulatorAccount | None:
        """Return the account with that id if this user may use it, else ``None``.

        :param account_id: A developer account id.
        """
        return next((a for a in self.accounts if a.id == account_id), None)

    def profile(self) -> dict[str, Any]:
        """Return the ``UserProfile`` JSON object."""
        return {"emailAddress": self.email, "firstName": self.first_name,
                "lastName": self.last_name, "userId": self.user_id, "userName": self.email}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmulatorUser:
        """Build a user from ``{"email", "password", "accounts": [{"id", "name", "app_count"}]}``.

        Optional keys: ``user_id``, ``first_name``, ``last_name``.

        :param data: The decoded JSON object.
        :raises ValueError: On a missing key or an invalid value.
        """
        try:
            accounts = [EmulatorAccount(int(a["id"]), str(a["name"]), int(a.get("app_count", 5)))
                        for a in data["accounts"]]
            extra = {k: str(data[k]) for k in ("user_id", "first_name", "last_name") if k in data}
            return cls(str(data["email"]), str(data["password"]), accounts, **extra)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"invalid user entry: missing or malformed {exc}") from None


def load_users(path: str | Path) -> tuple[EmulatorUser, ...]:
    """Load users from a JSON file holding a list of :meth:`EmulatorUser.from_json` objects.

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
    ),
)
