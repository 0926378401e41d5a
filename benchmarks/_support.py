"""
Shared setup of the benchmarks: a temp Airflow home with a migrated metadata DB, the emulator, a
Connection in an environment variable, and a few statistics helpers.

Call :func:`bench_env` before anything imports Airflow: it points ``AIRFLOW_HOME`` (and ``TMPDIR``)
at a temp folder, so nothing is written elsewhere, and removes the folder on exit.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kibo.testing import KiboEmulator

sys.dont_write_bytecode = True  # no __pycache__ in the repo from what the benchmarks import

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_ID = 1001
"""The emulator demo user's default developer account."""


@dataclass
class Bench:
    """
    What a benchmark runs against.

    :param tmp: the temp folder (Airflow home, lock folders, worker files live under it)
    :param emulator: the running Kibo emulator, or ``None`` when not asked for
    """

    tmp: Path
    emulator: KiboEmulator | None

    @property
    def lock_dir(self) -> Path:
        """A lock folder inside the temp folder, instead of the hook's default under ``$TMPDIR``."""
        return self.tmp / "locks"

    def add_connection(self, conn_id: str, account_id: int = ACCOUNT_ID) -> str:
        """
        Define a ``kibo_developer`` Connection to the emulator's demo user as ``AIRFLOW_CONN_<ID>``
        (inherited by worker processes started afterwards).

        :param conn_id: the Connection id
        :param account_id: its default developer account
        """
        from airflow_provider_kibo.testing import DEMO_USERS

        assert self.emulator is not None, "bench_env(emulator=False) has no emulator"
        user = DEMO_USERS[0]
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "kibo_developer", "host": self.emulator.base_url, "login": user.email,
             "password": user.password, "extra": {"developer_account_id": account_id}}
        )
        return conn_id


def airflow_env(tmp: Path) -> dict[str, str]:
    """
    Environment variables that keep Airflow, temp files and bytecode out of everywhere but ``tmp``.

    :param tmp: the benchmark's temp folder
    """
    return {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp / "airflow" / "dags"),
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@contextmanager
def bench_env(*, migrate: bool = True, emulator: bool = True, **emulator_options: Any) -> Iterator[Bench]:
    """
    A temp folder set as Airflow home (metadata DB migrated), and a running emulator.

    :param migrate: run ``airflow db migrate`` (about 3 s), so the Variable ticket store works
    :param emulator: start a :class:`KiboEmulator`
    :param emulator_options: passed to :class:`KiboEmulator`
    """
    with tempfile.TemporaryDirectory(prefix="kibo-bench-") as name:
        tmp = Path(name)
        os.environ.update(airflow_env(tmp))
        tempfile.tempdir = None  # re-read TMPDIR
        if migrate:
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, env=os.environ,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not emulator:
            yield Bench(tmp, None)
            return
        from airflow_provider_kibo.testing import KiboEmulator

        with KiboEmulator(**emulator_options) as emu:
            yield Bench(tmp, emu)


def quiet_provider_logs() -> None:
    """Keep the hook's INFO lines ("Refreshed the Kibo ticket ...") out of the figures."""
    logging.getLogger("airflow_provider_kibo").setLevel(logging.WARNING)


def median(values: Sequence[float]) -> float:
    """
    The median.

    :param values: the samples
    """
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """
    The ``q``-th percentile, nearest rank (so p99 of 80 samples is the 80th smallest).

    :param values: the samples
    :param q: 0 to 100
    """
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt_seconds(seconds: float) -> str:
    """
    A duration with a readable unit: ns, µs, ms or s.

    :param seconds: the duration
    """
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}" if unit != "s" else f"{seconds:.2f} s"
    return f"{seconds / 1e-9:.0f} ns"


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """
    Print a Markdown table (so it can be pasted into the README as it is).

    :param header: the column titles
    :param rows: the cells, turned into text with ``str``
    """
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()
