"""
What the hook costs per call on top of the HTTP it does.

(a) ``get_ticket()`` answered from the hook's own cache (the common case inside a task), and the
first ``get_ticket()`` of a new hook, which reads the stored ticket (a task run's first call).
(b) a forced ``refresh_ticket()``: locks, the store read, one ``PUT``, parsing, masking and the
store write, with the metadata-DB Variable store (the default outside tasks) and with
``MemoryTicketStore``, against the bare ``PUT`` with ``requests.put`` (new connection each time, as
the baseline asked for) and with a keep-alive ``requests.Session`` (as the hook sends). The four
refresh variants run interleaved, so machine noise hits them alike. Airflow's secrets maskers are
emptied (untimed) before each hook sample, as a new task process starts with few masks.
(c) the same refresh repeated in one long-lived process without emptying the maskers, each followed
by one log line redacted as Airflow redacts it, the emulator's clock (and the hook's) moving
``ROTATION_EVERY`` between refreshes, as the ``kibo_ticket_rotation`` DAG runs: 1000 rotations are
three weeks of a triggerer's life. Airflow's ``SecretsMasker.add_mask`` recompiles one regex of
every secret masked so far for each new one, and every log line is matched against it; each refresh
meets three new tokens (and, with the Variable store, airflow-core masks each new ticket JSON it
reads). The provider keeps only the tokens that can still be used (``airflow_provider_kibo.masking``),
so the figure stays flat; without that it grew with every refresh.

Run: ``python3 scripts/dev.py bench hook_overhead.py``
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from datetime import timedelta

import _support

CACHED_CALLS = 20_000
NEW_HOOK_CALLS = 200
REFRESHES = 50
GROWTH_REFRESHES = 1000
ROTATION_EVERY = timedelta(minutes=30)


def reset_masker() -> None:
    """Empty Airflow's two secrets maskers: the Task SDK's (``mask_secret``) and airflow-core's, which
    masks each Variable value read from the metadata DB (private helpers of Airflow 3.3; benchmarks only)."""
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        importlib.import_module(module).reset_secrets_masker()


def timed(call: Callable[[], object], times: int) -> list[float]:
    """
    Seconds per call of ``call``, one sample per call.

    :param call: what to time
    :param times: how many calls
    """
    samples = []
    for _ in range(times):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e9)
    return samples


def row(name: str, samples: list[float], baseline: float | None = None) -> list[str]:
    """
    A table row: calls, median, p99, and (given a baseline) the ratio of the median to it.

    :param name: what was measured
    :param samples: seconds per call
    :param baseline: the median to compare with, if any
    """
    mid = _support.median(samples)
    cells = [name, str(len(samples)), _support.fmt_seconds(mid), _support.fmt_seconds(_support.percentile(samples, 99))]
    return cells + ([f"{mid / baseline:.2f}x"] if baseline else [])


def main() -> None:
    """Measure and print the three tables."""
    with _support.bench_env() as bench:
        _support.quiet_provider_logs()
        import requests

        from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
        from airflow_provider_kibo.stores import MemoryTicketStore, VariableTicketStore
        from airflow_provider_kibo.variables import Variables
        from airflow_provider_kibo.testing import DEMO_USERS

        assert bench.emulator is not None
        conn_id = bench.add_connection("kibo_overhead")
        variables = VariableTicketStore(conn_id, Variables(supervised=False))
        memory = MemoryTicketStore()

        def hook(store: VariableTicketStore | MemoryTicketStore) -> KiboDeveloperHook:
            return KiboDeveloperHook(conn_id, lock_dir=bench.lock_dir, store=store)

        # (a) cached, and first call of a new hook
        cached_hook = hook(variables)
        cached_hook.get_ticket()
        cached = timed(cached_hook.get_ticket, CACHED_CALLS)
        first_call = timed(lambda: hook(variables).get_ticket(), NEW_HOOK_CALLS)

        # (b) forced refresh against the bare PUT
        user, api = DEMO_USERS[0], f"{bench.emulator.base_url}/api/platform/developer/authtickets"
        params = {"developerAccountId": _support.ACCOUNT_ID}
        login = requests.post(api, params=params, json={"emailAddress": user.email, "password": user.password},
                              timeout=30)
        login.raise_for_status()
        body = {"refreshToken": login.json()["refreshToken"]}
        session = requests.Session()
        hooks = {"variables": hook(variables), "memory": hook(memory)}
        hooks["memory"].get_ticket()
        variants: dict[str, Callable[[], object]] = {
            "raw": lambda: requests.put(api, params=params, json=body, timeout=30).raise_for_status(),
            "session": lambda: session.put(api, params=params, json=body, timeout=30).raise_for_status(),
            "variables": hooks["variables"].refresh_ticket,
            "memory": hooks["memory"].refresh_ticket,
        }
        for call in variants.values():  # warm up each path once
            call()
        refresh: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(REFRESHES):
            for name, call in variants.items():
                if name in hooks:
                    reset_masker()
                refresh[name] += timed(call, 1)
        session.close()

        # (c) one process, many rotations over simulated weeks, the maskers kept
        from airflow.sdk._shared.secrets_masker import redact

        growth: dict[str, list[float]] = {}
        log_lines: dict[str, list[float]] = {}
        for name, store in (("variables", variables), ("memory", MemoryTicketStore())):
            reset_masker()
            rotating = KiboDeveloperHook(conn_id, lock_dir=bench.lock_dir, store=store, clock=bench.emulator.clock.now)
            growth[name], log_lines[name] = [], []
            for _ in range(GROWTH_REFRESHES):
                bench.emulator.clock.advance(ROTATION_EVERY)
                start = time.perf_counter_ns()
                ticket = rotating.refresh_ticket()
                logged = time.perf_counter_ns()
                redact(f"Refreshed the Kibo ticket of account {ticket.account_id}: {ticket.summary()}")
                done = time.perf_counter_ns()
                growth[name].append((done - start) / 1e9)
                log_lines[name].append((done - logged) / 1e9)

    print("hook_overhead (a): get_ticket(), default 180 s margin, ticket valid for ~1 h")
    _support.print_table(
        ["call", "calls", "median", "p99"],
        [row("cached `get_ticket()` on one hook", cached),
         row("first `get_ticket()` of a new hook (Connection from env, Variable store read)", first_call)],
    )
    raw = _support.median(refresh["raw"])
    print(f"\nhook_overhead (b): forced refresh, {REFRESHES} each, interleaved; "
          "ratio = median / median of the raw requests.put")
    _support.print_table(
        ["call", "calls", "median", "p99", "ratio to raw PUT"],
        [row("raw `requests.put` (new connection)", refresh["raw"], raw),
         row("`requests.Session().put` (keep-alive)", refresh["session"], raw),
         row("hook `refresh_ticket()`, Variable store (metadata DB, SQLite)", refresh["variables"], raw),
         row("hook `refresh_ticket()`, MemoryTicketStore", refresh["memory"], raw)],
    )
    print(f"\nhook_overhead (c): {GROWTH_REFRESHES} hook refreshes in one process, one every {ROTATION_EVERY} "
          "of the emulator's clock, each with one log line redacted by Airflow's masker, secrets maskers kept; "
          "median of each group of 10 (ratio to raw PUT), and of the log line alone")
    groups = (0, GROWTH_REFRESHES // 2 - 10, GROWTH_REFRESHES - 10)

    def tenth(samples: list[float], first: int) -> float:
        return _support.median(samples[first:first + 10])

    _support.print_table(
        ["store", *(f"refreshes {first + 1}-{first + 10}" for first in groups), "last 10 / first 10",
         "log line, first 10", "log line, last 10"],
        [[name, *(f"{_support.fmt_seconds(tenth(growth[name], first))} ({tenth(growth[name], first) / raw:.1f}x)"
                  for first in groups),
          f"{tenth(growth[name], groups[-1]) / tenth(growth[name], 0):.2f}x",
          _support.fmt_seconds(tenth(log_lines[name], 0)), _support.fmt_seconds(tenth(log_lines[name], groups[-1]))]
         for name in growth],
    )


if __name__ == "__main__":
    main()
