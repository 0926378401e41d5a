"""Customer accounts of the emulator's tenants: computed from their index when asked for, never held.

A tenant's ``customer_count`` accounts have ids ``tenant_id * 10_000_000 + n`` (``n`` from 1) and
``auditInfo.updateDate`` spread evenly, in the order of ``n``, over the
:data:`~.orders.ORDER_WINDOW_DAYS` whole UTC days before the emulator's creation, so a page of a
window is found by bisection and a tenant of a million accounts costs nothing until read. They never
change. Nothing here knows about HTTP or tokens.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from airflow_provider_kibo.testing.models import EmulatorTenant, format_kibo_datetime, truncate_to_ms
from airflow_provider_kibo.testing.orders import ORDER_WINDOW_DAYS, parse_filter

_SORTS = ("", "auditinfo.updatedate", "auditinfo.updatedate asc", "auditinfo.updatedate desc")


class TenantCustomers:
    """
    One tenant's customer accounts.

    :param tenant: the tenant, whose ``customer_count`` says how many
    :param created: when the emulator was created; the update dates lie in the days before it
    """

    def __init__(self, tenant: EmulatorTenant, created: datetime) -> None:
        self.tenant = tenant
        midnight = created.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self._first = midnight - timedelta(days=ORDER_WINDOW_DAYS)
        self._step = timedelta(days=ORDER_WINDOW_DAYS) / max(tenant.customer_count, 1)

    def updated(self, index: int) -> datetime:
        """The ``auditInfo.updateDate`` of the account at ``index`` (0-based), to the millisecond."""
        return truncate_to_ms(self._first + self._step * index)

    def account(self, index: int) -> dict[str, Any]:
        """The ``CustomerAccount`` document at ``index`` (0-based)."""
        number = index + 1
        updated = format_kibo_datetime(self.updated(index))
        return {
            "id": self.tenant.id * 10_000_000 + number,
            "userName": f"customer{number}",
            "emailAddress": f"customer{number}@tenant{self.tenant.id}.example",
            "firstName": "Customer",
            "lastName": str(number),
            "isActive": True,
            "auditInfo": {
                "createDate": updated,
                "updateDate": updated,
                "createBy": "kibo-emulator",
                "updateBy": "kibo-emulator",
            },
        }

    def query(self, filter_text: str, sort_by: str) -> Sequence[dict[str, Any]]:
        """The accounts a ``filter`` on ``auditInfo.updateDate`` keeps, in the order ``sort_by`` asks for,
        each made when read.

        :raises ValueError: for a filter or a ``sortBy`` it cannot serve.
        """
        if sort_by.strip().lower() not in _SORTS:
            raise ValueError("sortBy must be 'auditInfo.updateDate' then 'asc' or 'desc'")
        low, high = 0, self.tenant.customer_count
        bounds: dict[Callable[[Any, Any], bool], Callable[[datetime], int]] = {
            operator.ge: lambda moment: self._first_at_or_after(moment, inclusive=True),
            operator.gt: lambda moment: self._first_at_or_after(moment, inclusive=False),
        }
        for compare, moment in parse_filter(filter_text):
            if compare in bounds:
                low = max(low, bounds[compare](moment))
            else:
                high = min(high, self._first_at_or_after(moment, inclusive=compare is operator.lt))
        indices = range(low, max(low, high))
        return _Accounts(self, indices[::-1] if sort_by.strip().lower().endswith("desc") else indices)

    def _first_at_or_after(self, moment: datetime, *, inclusive: bool) -> int:
        """The first index whose date is at or after ``moment`` (``inclusive``), else after it."""
        search = bisect.bisect_left if inclusive else bisect.bisect_right
        return search(range(self.tenant.customer_count), moment, key=self.updated)


class _Accounts(Sequence[dict[str, Any]]):
    """The accounts of a tenant at ``indices``, each made when read."""

    def __init__(self, customers: TenantCustomers, indices: range) -> None:
        self._customers = customers
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, at: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, at: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, at: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(at, slice):
            return [self._customers.account(i) for i in self._indices[at]]
        return self._customers.account(self._indices[at])
