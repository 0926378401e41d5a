"""Orders of the emulator's tenants: deterministic documents, Kibo's ``filter`` on update dates, sorting.

A tenant has ``order_count`` orders, spread over its sites round-robin, with the same ids,
numbers, lines and totals in every emulator. Their ``auditInfo.updateDate`` fall in the
:data:`ORDER_WINDOW_DAYS` whole UTC days before the day the emulator was created (at fixed
offsets from midnight, day after day), so a daily pipeline finds orders on each recent day.

Nothing here knows about HTTP or tokens; :class:`~.state.EmulatorState` serves the pages.
"""

from __future__ import annotations

import hashlib
import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_kibo.testing.models import EmulatorSite, EmulatorTenant, format_kibo_datetime

#: Orders are updated on each of the whole UTC days this many days before the emulator's creation.
ORDER_WINDOW_DAYS = 7
#: The ``status`` of order ``n`` (1-based) is ``ORDER_STATUSES[(n - 1) % 5]``.
ORDER_STATUSES: tuple[str, ...] = ("Completed", "Accepted", "Processing", "Completed", "Cancelled")
#: ``createBy`` / ``updateBy`` of every generated order.
ORDER_AUTHOR = "kibo-emulator"
FILTER_SYNTAX = "only 'auditInfo.updateDate ge|gt|le|lt <ISO-8601 date-time>' clauses joined by ' and ' are supported"
SORT_SYNTAX = "sortBy must be 'auditInfo.updateDate', 'submittedDate' or 'orderNumber', then 'asc' or 'desc'"

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "kibo-emulator:orders")


def _number(*parts: object) -> int:
    """A stable pseudo-random non-negative number for ``parts``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def updated_at(order: dict[str, Any]) -> datetime:
    """The ``auditInfo.updateDate`` of an order document, as a datetime.

    :param order: An order document from :func:`tenant_orders`.
    """
    return _parse_moment(order["auditInfo"]["updateDate"])


def _line(tenant_id: int, number: int, line_id: int) -> dict[str, Any]:
    product = _number(tenant_id, number, line_id, "product") % 50 + 1
    quantity = _number(tenant_id, number, line_id, "quantity") % 3 + 1
    cents = quantity * (500 + _number(tenant_id, number, line_id, "price") % 19_501)
    return {
        "id": uuid.uuid5(_NAMESPACE, f"{tenant_id}:{number}:{line_id}").hex,
        "lineId": line_id,
        "product": {"productCode": f"SKU-{product:04d}", "name": f"Product {product}"},
        "quantity": quantity,
        "subtotal": cents / 100,
        "total": cents / 100,
    }


def order_document(
    tenant: EmulatorTenant, number: int, site: EmulatorSite, status: str, created: datetime, updated: datetime
) -> dict[str, Any]:
    """An order document: its id, lines and totals follow from the tenant and the order number alone.

    :param tenant: The tenant.
    :param number: The ``orderNumber``.
    :param site: The site it was placed on.
    :param status: Its ``status``.
    :param created: Its ``submittedDate`` and ``auditInfo.createDate``.
    :param updated: Its ``auditInfo.updateDate``.
    """
    lines = [_line(tenant.id, number, line_id) for line_id in range(1, 2 + (number - 1) % 2)]
    return {
        "id": uuid.uuid5(_NAMESPACE, f"{tenant.id}:{number}").hex,
        "orderNumber": number,
        "tenantId": tenant.id,
        "siteId": site.id,
        "status": status,
        "currencyCode": site.currency_code,
        "total": round(sum(line["total"] for line in lines), 2),
        "submittedDate": format_kibo_datetime(created),
        "auditInfo": {
            "createDate": format_kibo_datetime(created),
            "updateDate": format_kibo_datetime(updated),
            "createBy": ORDER_AUTHOR,
            "updateBy": ORDER_AUTHOR,
        },
        "items": lines,
    }


def _order(tenant: EmulatorTenant, index: int, midnight: datetime) -> dict[str, Any]:
    number = index + 1
    day = midnight - timedelta(days=ORDER_WINDOW_DAYS - index % ORDER_WINDOW_DAYS)
    updated = day + timedelta(milliseconds=_number(tenant.id, number, "updated") % 86_400_000)
    created = updated - timedelta(minutes=_number(tenant.id, number, "created") % 600)
    site = tenant.sites[index % len(tenant.sites)]
    return order_document(tenant, number, site, ORDER_STATUSES[index % len(ORDER_STATUSES)], created, updated)


def update_order(order: dict[str, Any]) -> tuple[datetime, int]:
    """The key that lists a tenant's orders in the order of their update dates, then of their numbers."""
    return updated_at(order), order["orderNumber"]


def tenant_orders(tenant: EmulatorTenant, created: datetime) -> list[dict[str, Any]]:
    """Return the tenant's order documents, ordered by ``auditInfo.updateDate`` then ``orderNumber``.

    :param tenant: The tenant.
    :param created: When the emulator was created; the orders' update dates lie in the
        :data:`ORDER_WINDOW_DAYS` whole UTC days before that date.
    """
    midnight = created.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    orders = [_order(tenant, index, midnight) for index in range(tenant.order_count)]
    return sorted(orders, key=update_order)


def parse_filter(text: str) -> list[tuple[Callable[[Any, Any], bool], datetime]]:
    """Parse Kibo's ``filter`` on update dates, e.g. ``auditInfo.updateDate ge 2026-11-27T00:00:00Z``.

    Clauses ``auditInfo.updateDate <ge|gt|le|lt> <ISO-8601>`` joined by `` and `` (field and
    operators case-insensitive; a value without offset is UTC). An empty filter has no clause.

    :param text: The ``filter`` query parameter.
    :returns: Each clause's comparison and moment.
    :raises ValueError: For anything else; the message does not repeat the filter.
    """
    clauses: list[tuple[Callable[[Any, Any], bool], datetime]] = []
    for clause in _AND.split(text.strip()) if text.strip() else ():
        parts = clause.split()
        if len(parts) != 3 or parts[0].lower() != "auditinfo.updatedate" or parts[1].lower() not in _COMPARISONS:
            raise ValueError(f"Unsupported filter: {FILTER_SYNTAX}.")
        try:
            moment = _parse_moment(parts[2])
        except ValueError:
            raise ValueError(f"Unsupported filter value: {FILTER_SYNTAX}.") from None
        clauses.append((_COMPARISONS[parts[1].lower()], moment))
    return clauses


def order_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """Compile Kibo's ``filter`` for orders (see :func:`parse_filter`).

    :param text: The ``filter`` query parameter.
    :returns: A predicate over order documents.
    :raises ValueError: For a filter :func:`parse_filter` does not take.
    """
    clauses = parse_filter(text)

    def keep(order: dict[str, Any]) -> bool:
        updated = updated_at(order)
        return all(compare(updated, moment) for compare, moment in clauses)

    return keep


def sort_orders(orders: list[dict[str, Any]], sort_by: str) -> list[dict[str, Any]]:
    """Sort orders by Kibo's ``sortBy``, e.g. ``orderNumber desc``; ties go by ``orderNumber``.

    :param orders: Order documents in the default order (see :func:`tenant_orders`).
    :param sort_by: ``auditInfo.updateDate``, ``submittedDate`` or ``orderNumber``, optionally
        followed by ``asc`` or ``desc``; empty keeps the default order.
    :raises ValueError: For any other ``sortBy``.
    """
    parts = sort_by.split()
    if not parts:
        return orders
    field, direction = parts[0].lower(), (parts[1].lower() if len(parts) == 2 else "asc")
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "auditinfo.updatedate": updated_at,
        "submitteddate": lambda order: _parse_moment(order["submittedDate"]),
        "ordernumber": lambda order: order["orderNumber"],
    }
    if len(parts) > 2 or field not in keys or direction not in ("asc", "desc"):
        raise ValueError(f"Unsupported sortBy: {SORT_SYNTAX}.")
    key = keys[field]
    return sorted(orders, key=lambda order: (key(order), order["orderNumber"]), reverse=direction == "desc")
