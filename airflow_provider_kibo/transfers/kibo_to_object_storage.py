"""``KiboToObjectStorageOperator``: a tenant's records of a time window, exactly once, written whole to
object storage (``s3://``, ``gs://``, ``file://``, ...)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import AssetAlias, BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kibo.scope import ScopeHook

DEFAULT_SETTLE_DELAY = timedelta(minutes=10)
"""How long after a window's end it is exported at the earliest: Kibo stamps a record when it writes
it, and a write under way at the window's end may land a little later."""
DEFAULT_PAGE_SIZE = 200
"""Records asked for per page: the most a Kibo collection serves in one page."""
DEFAULT_ASSET_ALIAS = "kibo_export"
"""The asset alias through which the operator records an asset event for each object it writes."""
_JSON_LINE = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""One record as one line of the object: keys sorted, no spaces."""


class KiboToObjectStorageOperator(BaseOperator):
    """
    Export the records of one tenant's collection whose timestamp lies in ``[window_start,
    window_end)`` to an object as JSON lines, each record once, also while records are edited, added or
    deleted during the export (see :mod:`airflow_provider_kibo.window`).

    The object is written whole: the records go to a hidden object beside it, which is renamed to the
    destination at the end, so a failed or retried task never leaves a partial or duplicated object,
    and a rerun of the same window writes the same bytes (records in timestamp order, ties in id order,
    keys sorted; gzip without a timestamp). Memory holds one page (and the largest group of records
    sharing one timestamp), whatever the size of the window.

    Works with a user's Connection (``kibo_developer``: the tenant's admin-user ticket) and an
    application's (``kibo_application``). Returns (XCom) the tenant, the count, the window and the
    object's URI, and records an asset event for the object, with them as its extra, through the asset
    alias ``asset_alias``: DAGs scheduled on the alias run on each new object. With the OpenLineage
    provider installed it reports the tenant's collection as input and the object as output.

    Records edited out of the window while it is exported may be in the object or not; the next
    window holds their new version. A window that ended less than ``settle_delay`` ago is refused
    (:class:`~airflow_provider_kibo.errors.KiboWindowOpenError`): records of its last minutes may still
    be being written.

    :param tenant_id: the tenant (templated)
    :param destination: the object, e.g. ``s3://bucket/kibo/orders/{{ ds }}.jsonl.gz``, or a local path
        (templated)
    :param kibo_conn_id: a ``kibo_developer`` or ``kibo_application`` Connection (templated)
    :param destination_conn_id: the storage's own Connection, e.g. ``aws_default`` (templated)
    :param collection: the collection's path, as in Kibo's API reference
    :param timestamp_field: the field Kibo stamps at each change
    :param id_field: the field that tells records apart
    :param window_start: the window's start, included (templated; default: the data interval's)
    :param window_end: the window's end, excluded (templated; default: the data interval's)
    :param filter: a further Kibo ``filter`` clause every record must meet (templated)
    :param site_id: the site of the tenant (``x-vol-site``), if the export is about one (templated)
    :param compression: ``gzip``, ``None``, or ``infer`` (gzip when the destination ends with ``.gz``)
    :param settle_delay: how long after the window's end it is exported at the earliest
    :param page_size: records asked for per page
    :param asset_alias: the asset alias through which the object's asset events are recorded
    """

    template_fields: Sequence[str] = (
        "tenant_id",
        "destination",
        "kibo_conn_id",
        "destination_conn_id",
        "window_start",
        "window_end",
        "filter",
        "site_id",
    )
    ui_color = "#f5e7d8"

    def __init__(
        self,
        *,
        tenant_id: int | str,
        destination: str,
        kibo_conn_id: str = "kibo_developer_default",
        destination_conn_id: str | None = None,
        collection: str = "/commerce/orders",
        timestamp_field: str = "auditInfo.updateDate",
        id_field: str = "id",
        window_start: str | datetime = "{{ data_interval_start }}",
        window_end: str | datetime = "{{ data_interval_end }}",
        filter: str | None = None,
        site_id: int | str | None = None,
        compression: str | None = "infer",
        settle_delay: timedelta = DEFAULT_SETTLE_DELAY,
        page_size: int = DEFAULT_PAGE_SIZE,
        asset_alias: str = DEFAULT_ASSET_ALIAS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{**kwargs, "outlets": [*(kwargs.get("outlets") or []), AssetAlias(asset_alias)]})
        if compression not in ("infer", "gzip", None):
            from airflow_provider_kibo.errors import KiboConfigError

            raise KiboConfigError("compression", f"must be 'infer', 'gzip' or None, not {compression!r}")
        self.tenant_id = tenant_id
        self.destination = destination
        self.kibo_conn_id = kibo_conn_id
        self.destination_conn_id = destination_conn_id
        self.collection = collection
        self.timestamp_field = timestamp_field
        self.id_field = id_field
        self.window_start = window_start
        self.window_end = window_end
        self.filter = filter
        self.site_id = site_id
        self.compression = compression
        self.settle_delay = settle_delay
        self.page_size = page_size
        self.asset_alias = asset_alias
        self._lineage: tuple[str, str] | None = None

    @cached_property
    def hook(self) -> ScopeHook:
        """The tenant's hook for the kind of Connection the task was given, built on first use."""
        from airflow_provider_kibo.scope import scope_hook

        return scope_hook(self.kibo_conn_id, None, self.tenant_id, self.site_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk import Asset, ObjectStoragePath

        from airflow_provider_kibo.window import read_window

        start, end = self._window()
        uri = _plain_uri(self.destination)
        destination = ObjectStoragePath(
            self.destination if "://" in self.destination else uri, conn_id=self.destination_conn_id
        )
        compress = self.compression == "gzip" or (self.compression == "infer" and destination.name.endswith(".gz"))
        partial = destination.parent / f".{destination.name}.partial"
        pages = read_window(
            lambda params: self.hook.run("GET", self.collection, params=params).json(),
            timestamp_field=self.timestamp_field,
            id_field=self.id_field,
            start=start,
            end=end,
            page_size=self.page_size,
            extra_filter=self.filter,
        )
        partial.parent.mkdir(parents=True, exist_ok=True)
        try:
            with partial.open("wb") as raw:
                count = _write_json_lines(pages, raw, compress=compress)
            partial.rename(destination)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self._lineage = (self.hook.api_context()[0], uri)
        written: dict[str, Any] = {
            "tenant_id": self.hook.task_scope()["tenant_id"],
            "collection": self.collection,
            "count": count,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "path": uri,
        }
        context["outlet_events"][AssetAlias(self.asset_alias)].add(Asset(uri=uri), extra=written)
        self.log.info(
            "Wrote %(count)d records of %(collection)s of tenant %(tenant_id)s updated in "
            "[%(window_start)s, %(window_end)s) to %(path)s",
            written,
        )
        return written

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The tenant's collection as the input dataset and the object as the output, for OpenLineage."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage is None:
            return OperatorLineage()
        source, target = (urlsplit(uri) for uri in self._lineage)
        return OperatorLineage(
            inputs=[Dataset(namespace=f"kibo://{source.netloc}{source.path}", name=self.collection.lstrip("/"))],
            outputs=[Dataset(namespace=f"{target.scheme}://{target.netloc}", name=target.path.lstrip("/"))],
        )

    def _window(self) -> tuple[datetime, datetime]:
        """The window, checked: a start before its end, and an end at least ``settle_delay`` ago."""
        from airflow_provider_kibo.errors import KiboConfigError, KiboWindowOpenError

        start, end = _parse_time(str(self.window_start)), _parse_time(str(self.window_end))
        if end <= start:
            raise KiboConfigError(
                "window_end",
                f"the window [{start.isoformat()}, {end.isoformat()}) is empty: give a window_start before the "
                "window_end (a schedule whose data interval has no length, such as a cron trigger's, needs "
                "explicit window templates)",
            )
        if end > datetime.now(UTC) - self.settle_delay:
            raise KiboWindowOpenError(
                f"The window [{start.isoformat()}, {end.isoformat()}) ends less than {self.settle_delay} ago, so "
                f"records of its last minutes may still be being written; export it from "
                f"{(end + self.settle_delay).isoformat()} on"
            )
        return start, end


def _write_json_lines(pages: Iterable[list[dict[str, Any]]], raw: IO[bytes], *, compress: bool) -> int:
    """
    Write the pages' records as JSON lines (keys sorted; gzip without a timestamp when ``compress``) in a
    thread of its own, so that serialising and compressing a page overlap the fetch of the next; at
    most two pages are held. Returns how many records were written.
    """
    out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") if compress else raw

    def write(records: list[dict[str, Any]]) -> None:
        if records:
            out.write(("\n".join(map(_JSON_LINE.encode, records)) + "\n").encode())

    count = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kibo-export-writer") as writer:
        pending: Future[None] | None = None
        for page in pages:
            if pending is not None:
                pending.result()
            pending, count = writer.submit(write, page), count + len(page)
        if pending is not None:
            pending.result()
    if compress:
        out.close()
    return count


def _parse_time(text: str) -> datetime:
    """A window bound as Airflow renders it or as written in ISO-8601, in UTC (UTC when it names no zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        from airflow_provider_kibo.errors import KiboConfigError

        raise KiboConfigError("window", f"{text!r} is not an ISO-8601 date and time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _plain_uri(destination: str) -> str:
    """The destination as a URI: a local path's ``file://`` URI, or the URI given without the storage
    Connection's id it may name (``s3://conn_id@bucket/...``)."""
    from pathlib import Path

    if "://" not in destination:
        return Path(destination).absolute().as_uri()
    parts = urlsplit(destination)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
