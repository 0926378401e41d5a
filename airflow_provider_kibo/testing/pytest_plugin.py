"""Pytest plugin providing a ``kibo_emulator`` fixture.

Enable it in a ``conftest.py``::

    pytest_plugins = ["airflow_provider_kibo.testing.pytest_plugin"]

Then ask for the fixture::

    def test_login(kibo_emulator):
        url = f"{kibo_emulator.base_url}/api/platform/developer/authtickets"
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_kibo.stores import delete_tickets_issued_by
from airflow_provider_kibo.testing.emulator import KiboEmulator
from airflow_provider_kibo.testing.models import DEMO_USERS


@pytest.fixture
def kibo_emulator() -> Iterator[KiboEmulator]:
    """A started :class:`KiboEmulator` with :data:`DEMO_USERS`, stopped after the test.

    Function-scoped: every test gets fresh tokens, counters, faults, clock and settings, and its own
    tickets: the emulator's port is new for each test, so tickets it issued are bound to a host no
    other test's Connection names, and they are removed after the test from the Variables of the
    metadata DB (when reachable) and from process memory.
    """
    with KiboEmulator(DEMO_USERS) as emulator:
        yield emulator
        delete_tickets_issued_by(emulator.base_url)
