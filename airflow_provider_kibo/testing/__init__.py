"""Offline testing helpers for the Kibo provider: a local Kibo emulator.

:class:`KiboEmulator` is a real HTTP server on loopback that speaks Kibo's developer and
tenant admin-user auth-ticket APIs, lists developer applications and tenant orders, and can
misbehave on demand. Use it from Python, from pytest (fixture
``kibo_emulator`` in :mod:`airflow_provider_kibo.testing.pytest_plugin`) or from a shell
(``kibo-emulator`` / ``python -m airflow_provider_kibo.testing``).

The default user is ``developer@example.com`` with password ``emulator-password``
(see :data:`DEMO_USERS`); it only opens the emulator. It has developer accounts 1001-1003 and
tenants 100001 (45 orders), 100002 (12) and 100003 (none). The default application (see
:data:`DEMO_APPLICATIONS`) is installed on tenants 100001 and 100002.
"""

from __future__ import annotations

from airflow_provider_kibo.testing.emulator import KiboEmulator
from airflow_provider_kibo.testing.models import (
    DEMO_APPLICATIONS,
    DEMO_USERS,
    EmulatorAccount,
    EmulatorApplication,
    EmulatorClock,
    EmulatorSite,
    EmulatorTenant,
    EmulatorUser,
    load_users,
)
from airflow_provider_kibo.testing.state import Fault

__all__ = [
    "DEMO_APPLICATIONS",
    "DEMO_USERS",
    "EmulatorAccount",
    "EmulatorApplication",
    "EmulatorClock",
    "EmulatorSite",
    "EmulatorTenant",
    "EmulatorUser",
    "Fault",
    "KiboEmulator",
    "load_users",
]
