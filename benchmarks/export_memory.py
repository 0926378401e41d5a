"""
Memory and wall time of ``KiboToObjectStorageOperator`` exporting 10k, 100k and 1M records, against
fetching the same window with the hook's plain paging.

The emulator runs in its own process, serving one tenant per size whose customer accounts
(``GET /commerce/customer/accounts``) are spread over the 7 days before it started; every export is
the whole 7-day window, to a gzip JSON lines file. Each measurement runs in a fresh process:

- **export**: the operator's ``execute()``, keyset paging by ``auditInfo.updateDate`` (see
  ``airflow_provider_kibo.window``), each record serialised and compressed to the file;
- **plain paging**: ``hook.paginate()`` over the same window, records counted and dropped.

Memory is the peak of Python allocations during the run (``tracemalloc``, in a run of its own) and
the process's peak RSS (Airflow and the provider imported: about the same in every run). Wall time
is the median of alternating runs (3 at 10k and 100k, 1 at 1M) without ``tracemalloc``, with the
login and the imports done before the clock starts.

On loopback the emulator answers a page in about a millisecond, so the export's own work (JSON
encoding, gzip, ordering each page) is what the ratio shows. A second table repeats 100k with every
Kibo response delayed by ``LATENCY`` seconds, a fast network round trip (Kibo's own pages take
longer), where the writing overlaps the wait for the next page.

Run: ``python3 scripts/dev.py bench export_memory.py [SIZE ...]`` (about 10 min on 2 cores)
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _support
import requests

SIZES = (10_000, 100_000, 1_000_000)
ROUNDS = {10_000: 3, 100_000: 3, 1_000_000: 1}
MODES = ("export", "plain paging")
COLLECTION = "/commerce/customer/accounts"
STAMP = "auditInfo.updateDate"
CONN_ID = "kibo_bench_export"
LATENCY = 0.02
LATENCY_SIZE = 100_000


def tenant_of(size: int) -> int:
    return 400_000 + size // 10_000


def main(sizes: tuple[int, ...]) -> None:
    with _support.bench_env(emulator=False) as bench:
        from airflow_provider_kibo.testing import DEMO_USERS

        demo = DEMO_USERS[0]
        users = bench.tmp / "users.json"
        users.write_text(json.dumps([{
            "email": demo.email, "password": demo.password, "accounts": [{"id": 1001, "name": "Bench"}],
            "tenants": [{"id": tenant_of(size), "name": f"{size} customers", "customer_count": size,
                         "sites": [{"id": tenant_of(size) * 10 + 1, "name": "Web"}]}
                        for size in {*sizes, LATENCY_SIZE}],
        }]))
        emulator = subprocess.Popen([sys.executable, "-m", "airflow_provider_kibo.testing", "--users", str(users),
                                     "--access-token-lifetime", "36000"], stdout=subprocess.PIPE, text=True)
        try:
            url = re.search(r"http://\S+", emulator.stdout.readline()).group(0)
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
                {"conn_type": "kibo_developer", "host": url, "login": demo.email, "password": demo.password})
            measure(bench.tmp, sizes)
            requests.post(f"{url}/_emulator/config", json={"latency": LATENCY}, timeout=10).raise_for_status()
            print(f"\n{LATENCY_SIZE:,} records, each Kibo response {LATENCY * 1000:.0f} ms later:\n")
            measure(bench.tmp, (LATENCY_SIZE,), memory=False)
        finally:
            emulator.terminate()
            emulator.wait()


def measure(tmp: Path, sizes: tuple[int, ...], *, memory: bool = True) -> None:
    rows = []
    for size in sizes:
        traced = {mode: child(mode, size, tmp, traced=True) for mode in MODES} if memory else None
        seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(ROUNDS.get(size, 1)):
            for mode in MODES:
                result = child(mode, size, tmp, traced=False)
                assert result["count"] == size, result
                seconds[mode].append(result["seconds"])
        export, plain = (_support.median(seconds[mode]) for mode in MODES)
        timing = [_support.fmt_seconds(export), _support.fmt_seconds(plain), f"{export / plain:.2f}x"]
        if traced is None:
            rows.append([f"{size:,}", *timing])
            continue
        rows.append([
            f"{size:,}",
            f"{traced['export']['peak_traced'] / 2**20:.1f} MiB",
            f"{traced['plain paging']['peak_traced'] / 2**20:.1f} MiB",
            f"{traced['export']['max_rss'] / 2**20:.0f} MiB",
            f"{traced['plain paging']['max_rss'] / 2**20:.0f} MiB",
            *timing,
            f"{traced['export']['requests']} / {traced['plain paging']['requests']}",
            f"{traced['export']['bytes'] / 2**20:.1f} MiB",
        ])
    timing_header = ["export wall (median)", "plain wall (median)", "export / plain"]
    _support.print_table(
        ["records", "export peak (traced)", "plain peak (traced)", "export peak RSS", "plain peak RSS",
         *timing_header, "pages export / plain", "file (gzip)"] if memory else ["records", *timing_header],
        rows,
    )


def child(mode: str, size: int, tmp: Path, *, traced: bool) -> dict:
    """Run one measurement in a fresh process; return what it printed."""
    args = [sys.executable, __file__, "--child", mode, str(size), str(tmp), "traced" if traced else "timed"]
    done = subprocess.run(args, check=True, capture_output=True, text=True, env=os.environ)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(mode: str, size: int, tmp: Path, traced: bool) -> None:
    _support.quiet_provider_logs()
    from airflow.sdk import Asset, ObjectStoragePath  # noqa: F401  imported before the clock starts, as in a task
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from airflow_provider_kibo.hooks.tenant import KiboTenantHook
    from airflow_provider_kibo.transfers.kibo_to_object_storage import KiboToObjectStorageOperator

    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=7)
    destination = tmp / f"customers-{size}.jsonl.gz"
    hook = KiboTenantHook(CONN_ID, tenant_of(size))
    hook.get_ticket()  # the login is not what is measured
    operator = KiboToObjectStorageOperator(
        task_id="export", kibo_conn_id=CONN_ID, tenant_id=tenant_of(size), destination=str(destination),
        collection=COLLECTION, window_start=start.isoformat(), window_end=end.isoformat(),
        settle_delay=timedelta(0))
    operator.hook = hook
    calls = []
    real_run = hook.run
    hook.run = lambda *a, **k: calls.append(1) or real_run(*a, **k)

    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    if mode == "export":
        count = operator.execute({"outlet_events": OutletEventAccessors()})["count"]
    else:
        window = f"{STAMP} ge {start:%Y-%m-%dT%H:%M:%SZ} and {STAMP} lt {end:%Y-%m-%dT%H:%M:%SZ}"
        count = sum(1 for _ in hook.paginate(COLLECTION, params={"filter": window, "sortBy": f"{STAMP} asc"},
                                             page_size=200))
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    print(json.dumps({
        "count": count, "seconds": seconds, "peak_traced": peak, "requests": len(calls),
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "bytes": destination.stat().st_size if mode == "export" else 0,
    }))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        run_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "traced")
    else:
        main(tuple(int(size) for size in sys.argv[1:]) or SIZES)
