"""KiboToObjectStorageOperator under ``dag.test()`` against the emulator: whole objects, each record once."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
import pendulum
import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_kibo.errors import KiboConfigError
from airflow_provider_kibo.testing import DEMO_APPLICATIONS, KiboEmulator
from airflow_provider_kibo.transfers.kibo_to_object_storage import KiboToObjectStorageOperator
from tests.e2e.services import free_port, wait_for_port
from tests.support import set_connection
from tests.test_dag_test import load_dag

pytestmark = pytest.mark.usefixtures("airflow_db")
TENANT = 100001


def a_day(emulator: KiboEmulator, days_back: int = 2) -> tuple[datetime, datetime]:
    """A whole UTC day among the 7 before the emulator's start, where its orders lie."""
    midnight = emulator.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days_back), midnight - timedelta(days=days_back - 1)


def orders_in(emulator: KiboEmulator, start: datetime, end: datetime, tenant: int = TENANT) -> list[dict[str, Any]]:
    """The tenant's orders updated in the window, as the emulator holds them, in export order."""
    stamped = [(pendulum.parse(o["auditInfo"]["updateDate"]), o["id"], o) for o in emulator.orders(tenant)]
    return [o for at, _, o in sorted(stamped, key=lambda s: s[:2]) if start <= at < end]


def run_export(conn_id: str, destination: str, start: datetime, end: datetime, tenant: int = TENANT):
    """Run the one-task export DAG; return its state, the task instance and the XCom."""
    run = load_dag("kibo_e2e_export").test(run_conf={
        "conn_id": conn_id, "tenant": tenant, "destination": destination,
        "start": start.isoformat(), "end": end.isoformat(),
    })
    (ti,) = run.get_task_instances()
    return ti.state, ti, ti.xcom_pull(task_ids="export")


def lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def asset_events(uri: str) -> list[dict[str, Any]]:
    """The extras of the asset events recorded for the object, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetModel.uri == uri).order_by(AssetEvent.id))
        return [extra for (extra,) in rows]


@pytest.fixture
def memory_storage():
    """``memory://`` as a second object storage, attached the way Airflow attaches any fsspec filesystem."""
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))
    yield fsspec.filesystem("memory")


@pytest.fixture
def s3_bucket(monkeypatch):
    """
    S3 on loopback (moto's server) with the empty bucket ``exports``, reached through the ``aws``
    Connection ``kibo_s3``; yields an S3 client of the bucket's server.
    """
    import boto3

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=60, alive=lambda: server.poll() is None or pytest.fail("moto's server died"))
        endpoint, keys = f"http://127.0.0.1:{port}", {"login": "testing", "password": "testing"}
        monkeypatch.setenv("AIRFLOW_CONN_KIBO_S3", json.dumps(
            {"conn_type": "aws", **keys, "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}))
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=keys["login"], aws_secret_access_key=keys["password"])
        client.create_bucket(Bucket="exports")
        yield client
    finally:
        server.terminate()
        server.wait()


def test_a_day_of_orders_goes_to_a_gzip_object_whole_and_a_rerun_writes_the_same_bytes(
    kibo_emulator, conn_id, tmp_path
):
    start, end = a_day(kibo_emulator)
    target = tmp_path / "orders" / "100001" / f"{start:%Y-%m-%d}.jsonl.gz"
    expected = orders_in(kibo_emulator, start, end)

    state, _, written = run_export(conn_id, target.as_uri(), start, end)

    assert state == "success"
    first = target.read_bytes()
    assert lines(gzip.decompress(first)) == expected and len(expected) > 0
    assert written == {"tenant_id": TENANT, "collection": "/commerce/orders", "count": len(expected),
                       "window_start": start.isoformat(), "window_end": end.isoformat(), "path": target.as_uri()}
    assert asset_events(target.as_uri()) == [written], "an asset event for the object says what was written"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name], "no partial object is left"

    state, _, _ = run_export(conn_id, str(target), start, end)  # a local path is a file:// URI

    assert state == "success"
    assert target.read_bytes() == first
    assert len(asset_events(target.as_uri())) == 2
    assert not [s for s in kibo_emulator.issued_secrets() if s in gzip.decompress(first).decode() + json.dumps(written)]


def test_the_readmes_daily_schedule_exports_the_day_before_the_run(kibo_emulator, conn_id, tmp_path):
    start, end = a_day(kibo_emulator)

    run = load_dag("kibo_e2e_export_daily").test(logical_date=end + timedelta(minutes=30),
                                                 run_conf={"conn_id": conn_id, "folder": str(tmp_path)})

    assert run.state == "success"
    written = tmp_path / f"{start:%Y-%m-%d}.jsonl.gz"
    assert lines(gzip.decompress(written.read_bytes())) == orders_in(kibo_emulator, start, end)


def test_another_storage_scheme_and_an_uncompressed_object(kibo_emulator, conn_id, memory_storage):
    start, end = a_day(kibo_emulator, 3)
    target = f"memory://kibo-{uuid.uuid4().hex[:8]}/orders/{start:%Y-%m-%d}.jsonl"

    state, _, written = run_export(conn_id, target, start, end)

    assert state == "success"
    assert lines(memory_storage.cat(target)) == orders_in(kibo_emulator, start, end)
    assert written["path"] == target


@pytest.mark.s3
def test_an_s3_object_is_written_whole_and_a_failed_export_leaves_it_as_it_was(kibo_emulator, conn_id, s3_bucket):
    start, end = a_day(kibo_emulator)
    key = f"kibo/orders/{start:%Y-%m-%d}.jsonl.gz"
    target = f"s3://kibo_s3@exports/{key}"  # the storage's Connection named in the URI

    state, _, written = run_export(conn_id, target, start, end)

    earlier = s3_bucket.get_object(Bucket="exports", Key=key)["Body"].read()
    assert state == "success"
    assert lines(gzip.decompress(earlier)) == orders_in(kibo_emulator, start, end)
    assert written["path"] == f"s3://exports/{key}"
    assert [event["count"] for event in asset_events(written["path"])] == [written["count"]]

    kibo_emulator.add_orders(TENANT, 450, start + timedelta(hours=1))  # three more pages
    kibo_emulator.inject("orders", "latency", seconds=0.01)  # the first page is served
    kibo_emulator.inject("orders", "rate_limit", retry_after=3600)  # longer than any retry waits
    state, _, _ = run_export(conn_id, target, start, end)

    assert state == "failed"
    listed = s3_bucket.list_objects_v2(Bucket="exports")["Contents"]
    assert [o["Key"] for o in listed] == [key], "no partial object is left"
    assert s3_bucket.get_object(Bucket="exports", Key=key)["Body"].read() == earlier


def test_records_changing_between_pages_are_each_written_once(kibo_emulator, conn_id, tmp_path):
    start, end = a_day(kibo_emulator)
    before = {o["id"] for o in orders_in(kibo_emulator, start, end)}
    kibo_emulator.change_orders_between_pages(TENANT, pages=5, edit=2, delete=1, add=1, seed=7, window=(start, end))
    target = tmp_path / "orders.jsonl"

    state, _, written = run_export(conn_id, str(target), start, end)

    exported = [o["id"] for o in lines(target.read_bytes())]
    after = {o["id"] for o in orders_in(kibo_emulator, start, end)}
    assert state == "success" and written["count"] == len(exported)
    assert len(exported) == len(set(exported)), "duplicated"
    assert after <= set(exported) <= before, "lost, or never in the window"


def test_kibos_rate_limit_is_waited_out_as_retry_after_says(kibo_emulator, conn_id, tmp_path):
    start, end = a_day(kibo_emulator)
    kibo_emulator.inject("orders", "rate_limit", retry_after=1, times=2)
    began = time.monotonic()

    state, _, written = run_export(conn_id, str(tmp_path / "orders.jsonl"), start, end)

    assert state == "success" and written["count"] == len(orders_in(kibo_emulator, start, end))
    assert kibo_emulator.status_counts()["orders"] == {429: 2, 200: 1}
    assert time.monotonic() - began >= 2


def test_a_failed_export_leaves_the_earlier_object_and_no_partial_one(kibo_emulator, conn_id, tmp_path):
    start, end = a_day(kibo_emulator)
    target = tmp_path / "orders.jsonl.gz"
    assert run_export(conn_id, str(target), start, end)[0] == "success"
    earlier = target.read_bytes()
    kibo_emulator.add_orders(TENANT, 450, start + timedelta(hours=1))  # three more pages
    kibo_emulator.inject("orders", "latency", seconds=0.01)  # the first page is served
    kibo_emulator.inject("orders", "rate_limit", retry_after=3600)  # longer than any retry waits

    state, _, _ = run_export(conn_id, str(target), start, end)

    assert state == "failed"
    assert kibo_emulator.counters()["orders"] == 1 + 2, "the earlier export's one page, then a page and a refusal"
    assert target.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name], "no partial object is left"


@pytest.mark.parametrize(("ended", "lasts"), [(timedelta(minutes=-50), timedelta(hours=1)),
                                              (timedelta(minutes=9), timedelta(days=1))],
                         ids=["still open", "not settled"])
def test_a_window_that_has_not_settled_is_refused_saying_from_when(kibo_emulator, conn_id, tmp_path, capfd,
                                                                   ended, lasts):
    end = datetime.now(UTC).replace(microsecond=0) - ended

    state, _, _ = run_export(conn_id, str(tmp_path / "day.jsonl"), end - lasts, end)

    out = capfd.readouterr().out
    assert state == "failed"
    assert "KiboWindowOpenError" in out and "ends less than 0:10:00 ago" in out
    assert f"export it from {(end + timedelta(minutes=10)).isoformat()} on" in out
    assert list(tmp_path.iterdir()) == [] and kibo_emulator.counters()["orders"] == 0


def test_a_window_without_length_or_with_a_bad_bound_says_what_to_fix(kibo_emulator, conn_id, tmp_path, capfd):
    start, _ = a_day(kibo_emulator)

    empty, _, _ = run_export(conn_id, str(tmp_path / "empty.jsonl"), start, start)
    run = load_dag("kibo_e2e_export").test(run_conf={
        "conn_id": conn_id, "tenant": TENANT, "destination": str(tmp_path / "bad.jsonl"),
        "start": "yesterday", "end": start.isoformat()})

    out = capfd.readouterr().out
    assert (empty, run.state) == ("failed", "failed")
    assert "is empty: give a window_start before the window_end" in out
    assert "'yesterday' is not an ISO-8601 date and time" in out
    assert list(tmp_path.iterdir()) == [] and kibo_emulator.counters()["orders"] == 0


def test_an_application_connection_exports_the_same_records(monkeypatch, kibo_emulator, conn_id, tmp_path):
    app = DEMO_APPLICATIONS[0]
    set_connection(monkeypatch, "kibo_export_app", conn_type="kibo_application", host=kibo_emulator.base_url,
                   login=app.key, password=app.shared_secret)
    start, end = a_day(kibo_emulator)
    by_user, by_app = tmp_path / "user.jsonl", tmp_path / "app.jsonl"

    assert run_export(conn_id, str(by_user), start, end)[0] == "success"
    assert run_export("kibo_export_app", str(by_app), start, end)[0] == "success"

    assert by_app.read_bytes() == by_user.read_bytes()
    assert kibo_emulator.counters()["app_oauth"] == 1


def test_another_collection_by_configuration_customer_accounts(kibo_emulator, conn_id, tmp_path):
    from airflow_provider_kibo.hooks.tenant import KiboTenantHook

    start, end = a_day(kibo_emulator, 7)
    end = end + timedelta(days=6)  # the whole week the emulator's customers were updated in
    target = tmp_path / "customers.jsonl"
    operator = KiboToObjectStorageOperator(task_id="export", kibo_conn_id=conn_id, tenant_id=TENANT,
                                           collection="/commerce/customer/accounts", destination=str(target),
                                           window_start=start.isoformat(), window_end=end.isoformat(), page_size=7)

    written = operator.execute({"outlet_events": OutletEventAccessors()})

    everyone = list(KiboTenantHook(conn_id, TENANT).paginate("/commerce/customer/accounts", page_size=200))
    assert lines(target.read_bytes()) == everyone and len(everyone) == 30
    assert written["count"] == 30 and written["collection"] == "/commerce/customer/accounts"


def test_lineage_names_the_tenants_collection_and_the_object(kibo_emulator, conn_id, tmp_path):
    start, end = a_day(kibo_emulator)
    target = tmp_path / "lineage.jsonl"
    operator = KiboToObjectStorageOperator(task_id="export", kibo_conn_id=conn_id, tenant_id=TENANT,
                                           destination=str(target), window_start=start.isoformat(),
                                           window_end=end.isoformat())
    assert operator.get_openlineage_facets_on_complete(None).outputs == [], "nothing written, nothing claimed"

    operator.execute({"outlet_events": OutletEventAccessors()})
    lineage = operator.get_openlineage_facets_on_complete(None)

    tenant_host = kibo_emulator.tenant_url(TENANT).split("://")[1]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"kibo://{tenant_host}", "commerce/orders")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file://", str(target).lstrip("/"))]


def test_bad_compression_is_refused_when_the_dag_is_written():
    with pytest.raises(KiboConfigError, match=r"compression.*must be 'infer', 'gzip' or None, not 'zip'"):
        KiboToObjectStorageOperator(task_id="export", tenant_id=TENANT, destination="/tmp/x", compression="zip")
