"""
Every record of a Kibo collection whose timestamp lies in a window ``[start, end)``, each exactly once,
read page by page while records are edited, added and deleted.

Offset paging cannot do that: when a record on an early page leaves the window, every later record
moves up one place and the next page skips one. This module pages by the timestamp itself, with
Kibo's ``filter`` and ``sortBy``:

1. Ask for the first page of the records with ``timestamp >= lower`` (at first ``start``) and
   ``< end``, in timestamp order. A page that holds the whole result is the last.
2. The page is a prefix of that order, so every record timestamped before its last record's
   timestamp ``t`` is on it: emit those, and go on with ``timestamp >= t``. The records timestamped
   ``t`` are read again on the next page, usually one record.
3. A page whose records all share ``t`` cannot go on that way: read the records timestamped ``t`` as
   a group (they fill more than a page), then go on with ``timestamp > t``.

A record whose timestamp is in the window when the export ends was in the window all along, with
that timestamp: Kibo stamps an edited or a new record with the time of the change, after the window
(the caller refuses a window that has not settled). So the records timestamped before ``t`` were on
the page, and a group only loses members while it is read. Its ``totalCount`` tells how many left,
and the read steps back as many places, since those that left ahead of it moved the rest up. A group
read short (Kibo's order among equal timestamps changed) is read again, keeping the members read
before, by id, up to :data:`GROUP_READS` times. A record edited out of the window during the read may
appear or not; the next window holds its new version. No record is emitted twice: each query starts
past the last timestamp emitted. Memory holds one page and the largest group of records sharing one
timestamp, whatever the size of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from airflow_provider_kibo.errors import KiboApiError

Page = dict[str, Any]
"""One page of a Kibo collection: ``items``, ``totalCount``, ``startIndex``, ``pageSize``."""
GROUP_READS = 5
"""How often a group of records sharing one timestamp is read before giving up, when a read misses
members (Kibo's order among equal timestamps not being stable)."""


def field(path: str) -> Callable[[dict[str, Any]], Any]:
    """
    What reads a record's value at a dotted path, e.g. ``auditInfo.updateDate`` (``None`` where the
    record has none).

    :param path: the dotted path
    """
    parts = path.split(".")

    def value_of(record: dict[str, Any]) -> Any:
        value: Any = record
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    return value_of


def read_window(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    timestamp_field: str,
    id_field: str,
    start: datetime,
    end: datetime,
    page_size: int,
    extra_filter: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """
    Yield every record whose ``timestamp_field`` lies in ``[start, end)``, once each, in timestamp order
    (records sharing a timestamp in id order), about a page at a time.

    :param fetch: asks Kibo for one page with the given query parameters (``filter``, ``sortBy``,
        ``startIndex``, ``pageSize``)
    :param timestamp_field: the field Kibo stamps at each change, e.g. ``auditInfo.updateDate``
    :param id_field: the field that tells records apart, e.g. ``id``
    :param start: the window's start, included
    :param end: the window's end, excluded
    :param page_size: records asked for per page
    :param extra_filter: a further ``filter`` clause every record must meet, if any
    """
    stamp_of, id_of = field(timestamp_field), field(id_field)

    def timestamp(record: dict[str, Any]) -> datetime:
        try:
            return datetime.fromisoformat(stamp_of(record))
        except (TypeError, ValueError):
            raise KiboApiError(f"Kibo answered with a record without an ISO-8601 {timestamp_field}") from None

    def order(record: dict[str, Any]) -> tuple[datetime, str]:
        return timestamp(record), str(id_of(record))

    def query(clauses: list[str], start_index: int) -> Page:
        text = " and ".join([*clauses, *([f"({extra_filter})"] if extra_filter else [])])
        params = {"filter": text, "sortBy": f"{timestamp_field} asc", "startIndex": start_index, "pageSize": page_size}
        return fetch(params)

    def group(moment: str) -> list[dict[str, Any]]:
        """Every record timestamped ``moment``, read whole (see the module's notes)."""
        clauses = [f"{timestamp_field} ge {moment}", f"{timestamp_field} le {moment}"]
        found: dict[str, dict[str, Any]] = {}
        for _ in range(GROUP_READS):
            offset, count = 0, None
            while True:
                page = query(clauses, offset)
                items = page.get("items") or []
                total = page.get("totalCount")
                if count is not None and total != count:
                    if not isinstance(total, int) or total > count:
                        break  # members never join a group: Kibo's order changed, read it again
                    offset = max(0, offset - (count - total))  # members left: the rest moved up
                    count = total
                    continue
                count = total
                for record in items:
                    found.setdefault(str(id_of(record)), record)
                offset += len(items)
                if not items or (count is not None and offset >= count):
                    break
            if count is None or len(found) >= count:
                return sorted(found.values(), key=order)
        raise KiboApiError(f"The {len(found)} records timestamped {moment} kept changing while they were read")

    lower = f"{timestamp_field} ge {_kibo_time(start)}"
    upper = f"{timestamp_field} lt {_kibo_time(end)}"
    while True:
        page = query([lower, upper], 0)
        items = page.get("items") or []
        if not items:
            return
        total = page.get("totalCount")
        keyed = sorted(((order(record), record) for record in items), key=itemgetter(0))
        if (len(items) >= total) if isinstance(total, int) else len(items) < page_size:
            yield [record for _, record in keyed]
            return
        (last_moment, _), newest = keyed[-1]
        last = stamp_of(newest)
        before = [record for (moment, _), record in keyed if moment < last_moment]
        if before:
            yield before
            lower = f"{timestamp_field} ge {last}"
        else:
            yield group(last)
            lower = f"{timestamp_field} gt {last}"


def _kibo_time(moment: datetime) -> str:
    """A window bound as Kibo's filters take it: ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
