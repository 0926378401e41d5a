"""Reading a window of a Kibo collection exactly once, against the emulator changing records between pages."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import pendulum
import pytest

from airflow_provider_kibo.errors import KiboApiError
from airflow_provider_kibo.hooks.tenant import KiboTenantHook
from airflow_provider_kibo.testing import DEMO_USERS, EmulatorSite, EmulatorTenant, EmulatorUser, KiboEmulator
from airflow_provider_kibo.testing.orders import order_filter
from airflow_provider_kibo.window import GROUP_READS, field, read_window
from tests.support import EMAIL, FAST_RETRIES, PASSWORD, set_connection

TENANT = 300001
BUSY = EmulatorUser(EMAIL, PASSWORD, DEMO_USERS[0].accounts, tenants=[
    EmulatorTenant(TENANT, "Busy Store", [EmulatorSite(300011, "Busy Web")], order_count=2000, customer_count=5000)])
STAMP = "auditInfo.updateDate"
stamp_of = field(STAMP)


@pytest.fixture
def kibo_emulator():
    with KiboEmulator([BUSY]) as emulator:
        yield emulator


@pytest.fixture
def hook(monkeypatch, kibo_emulator, store, tmp_path) -> KiboTenantHook:
    set_connection(monkeypatch, "kibo_window", host=kibo_emulator.base_url, login=EMAIL, password=PASSWORD)
    return KiboTenantHook("kibo_window", TENANT, clock=kibo_emulator.clock.now, lock_dir=tmp_path, store=store,
                          retry_policy=FAST_RETRIES)


def parse(text: str) -> datetime:
    return pendulum.parse(text).astimezone(UTC)


def a_day(emulator: KiboEmulator, days_back: int = 3) -> tuple[datetime, datetime]:
    """A whole UTC day among the 7 before the emulator's start, where its orders lie."""
    midnight = emulator.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days_back), midnight - timedelta(days=days_back - 1)


def in_window(orders: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in orders if start <= parse(o[STAMP.split(".")[0]]["updateDate"]) < end}


def export(hook: KiboTenantHook, start: datetime, end: datetime, page_size: int,
           collection: str = "/commerce/orders") -> list[dict[str, Any]]:
    pages = read_window(lambda params: hook.run("GET", collection, params=params).json(),
                        timestamp_field=STAMP, id_field="id", start=start, end=end, page_size=page_size)
    return list(chain.from_iterable(pages))


def assert_exactly_once(exported: list[dict[str, Any]], before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every record in the window at the end, once and as it is; nothing that was never in the window."""
    ids = Counter(record["id"] for record in exported)
    assert [i for i, n in ids.items() if n > 1] == [], "duplicated"
    assert sorted(set(after) - set(ids)) == [], "lost"
    assert set(ids) <= set(before), "a record that was never in the window"
    assert all(record == after[record["id"]] for record in exported if record["id"] in after)
    assert [(stamp_of(r), r["id"]) for r in exported] == sorted((stamp_of(r), r["id"])
                                                                          for r in exported)


@pytest.mark.parametrize("seed", range(20))
def test_edits_additions_and_deletions_between_pages_lose_and_duplicate_nothing(hook, kibo_emulator, seed):
    start, end = a_day(kibo_emulator)
    before = in_window(kibo_emulator.orders(TENANT), start, end)
    kibo_emulator.change_orders_between_pages(TENANT, pages=20, edit=3, add=2, delete=1, seed=seed,
                                              window=(start, end))

    exported = export(hook, start, end, page_size=25)

    after = in_window(kibo_emulator.orders(TENANT), start, end)
    assert len(after) < len(before) - 20, "the records did change while the export paged"
    assert_exactly_once(exported, before, after)


def test_offset_paging_under_the_same_changes_loses_records(hook, kibo_emulator):
    """Why the export does not page by offset: the same changes make plain paging miss records."""
    start, end = a_day(kibo_emulator)
    kibo_emulator.change_orders_between_pages(TENANT, pages=20, edit=3, seed=1, window=(start, end))
    window = {"filter": f"{STAMP} ge {start:%Y-%m-%dT%H:%M:%SZ} and {STAMP} lt {end:%Y-%m-%dT%H:%M:%SZ}",
              "sortBy": f"{STAMP} asc"}

    paged = {o["id"] for o in hook.paginate("/commerce/orders", page_size=25, params=window)}

    after = in_window(kibo_emulator.orders(TENANT), start, end)
    assert set(after) - paged, "offset paging lost records that never left the window"


@pytest.mark.parametrize("seed", range(5))
def test_three_pages_of_records_sharing_one_timestamp_changing_while_read(hook, kibo_emulator, seed):
    start, end = a_day(kibo_emulator)
    moment = start + timedelta(hours=12, milliseconds=123)
    kibo_emulator.add_orders(TENANT, 3 * 25 + 7, moment)
    before = in_window(kibo_emulator.orders(TENANT), start, end)
    kibo_emulator.change_orders_between_pages(TENANT, pages=40, edit=1, delete=1, add=1, seed=seed,
                                              window=(moment, moment + timedelta(milliseconds=1)))

    exported = export(hook, start, end, page_size=25)

    after = in_window(kibo_emulator.orders(TENANT), start, end)
    tied = [r for r in exported if parse(stamp_of(r)) == moment]
    assert len(tied) >= 3 * 25 + 7 - 2 * 40, "most of the group, read whole"
    assert_exactly_once(exported, before, after)


def test_an_empty_window_and_the_windows_bounds(hook, kibo_emulator):
    start, end = a_day(kibo_emulator, 1)
    quiet = (start + timedelta(hours=5), start + timedelta(hours=5, seconds=1))
    at_start = kibo_emulator.add_orders(TENANT, 2, start)
    at_end = kibo_emulator.add_orders(TENANT, 2, end)

    assert export(hook, *quiet, page_size=10) == [] or all(
        quiet[0] <= parse(stamp_of(r)) < quiet[1] for r in export(hook, *quiet, page_size=10))
    ids = {r["id"] for r in export(hook, start, end, page_size=10)}
    assert {o["id"] for o in at_start} <= ids, "the start is in the window"
    assert not {o["id"] for o in at_end} & ids, "the end is not"
    assert export(hook, end - timedelta(days=30), end - timedelta(days=29), page_size=10) == []


def test_a_second_collection_customer_accounts(hook, kibo_emulator):
    start, end = a_day(kibo_emulator, 2)

    exported = export(hook, start, end, page_size=50, collection="/commerce/customer/accounts")

    stamps = [parse(stamp_of(r)) for r in exported]
    assert 700 <= len(exported) <= 730, "a seventh of the 5000 accounts"
    assert len({r["id"] for r in exported}) == len(exported)
    assert all(start <= s < end for s in stamps) and stamps == sorted(stamps)


class ShufflingKibo:
    """A collection whose order among equal timestamps changes at each query, as nothing promises it does not.
    Kibo's order cannot be made unstable in the emulator, so this stands in for it."""

    def __init__(self, records: list[dict[str, Any]], seed: int, hide: str | None = None) -> None:
        self.records, self.rng, self.hide, self.queries = records, random.Random(seed), hide, 0

    def fetch(self, params: dict[str, Any]) -> dict[str, Any]:
        self.queries += 1
        keep = order_filter(params["filter"])
        matching = [r for r in self.records if keep(r)]
        self.rng.shuffle(matching)
        matching.sort(key=lambda r: r["auditInfo"]["updateDate"])
        shown = [r for r in matching if r["id"] != self.hide]
        start = params["startIndex"]
        return {"items": shown[start:start + params["pageSize"]], "totalCount": len(matching)}


def tied_records(count: int, moment: str) -> list[dict[str, Any]]:
    return [{"id": f"{n:04x}", "auditInfo": {"updateDate": moment}} for n in range(count)]


@pytest.mark.parametrize("seed", range(5))
def test_a_group_whose_order_changes_between_queries_is_read_again_until_whole(seed):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    kibo = ShufflingKibo(tied_records(60, "2026-11-01T06:00:00.000Z"), seed)

    pages = read_window(kibo.fetch, timestamp_field=STAMP, id_field="id", start=start,
                        end=start + timedelta(days=1), page_size=20)
    exported = list(chain.from_iterable(pages))

    assert sorted(r["id"] for r in exported) == [f"{n:04x}" for n in range(60)]


def test_a_group_that_never_reads_whole_is_an_error_not_a_short_export():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    kibo = ShufflingKibo(tied_records(60, "2026-11-01T06:00:00.000Z"), 0, hide="0007")

    with pytest.raises(KiboApiError, match=r"records timestamped 2026-11-01T06:00:00\.000Z kept changing"):
        list(read_window(kibo.fetch, timestamp_field=STAMP, id_field="id", start=start,
                         end=start + timedelta(days=1), page_size=20))
    assert kibo.queries == 1 + GROUP_READS * 4, "bounded: each read is three pages and an empty fourth"


def test_a_record_without_its_timestamp_is_an_error_naming_the_field():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = [{"id": "a", "auditInfo": {"updateDate": "2026-11-01T06:00:00.000Z"}}, {"id": "b", "auditInfo": {}}]

    with pytest.raises(KiboApiError, match=r"a record without an ISO-8601 auditInfo\.updateDate"):
        list(read_window(lambda params: {"items": records, "totalCount": 3}, timestamp_field=STAMP, id_field="id",
                         start=start, end=start + timedelta(days=1), page_size=2))
