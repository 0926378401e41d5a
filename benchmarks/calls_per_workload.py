"""
Kibo auth calls for 100 task runs spread evenly over 4 simulated hours with 1-hour access tokens.

Each task run is a new ``KiboDeveloperHook`` (as separate tasks are) sharing the metadata-DB
Variable store, calling ``get_ticket()`` and one ``GET`` of the applications. The emulator's clock
moves 144 s before each run. The baseline logs in (``POST``) in every task run, as a provider
without a shared ticket would. Run once with kept and once with rotating refresh tokens.

Run: ``python3 scripts/dev.py bench calls_per_workload.py``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import _support

TASK_RUNS = 100
WORKLOAD_SECONDS = 4 * 3600
TOKEN_LIFETIME = 3600
APPS = "/platform/appdev/apppackages/collection"


@dataclass
class Counts:
    """
    Requests the emulator received for one workload.

    :param creates: logins (``POST`` authtickets)
    :param refreshes: refreshes (``PUT`` authtickets)
    :param api_calls: ``GET`` apppackages
    :param errors: answers with a status of 400 or more (or dropped)
    """

    creates: int
    refreshes: int
    api_calls: int
    errors: int

    @property
    def auth_calls(self) -> int:
        """Creates plus refreshes."""
        return self.creates + self.refreshes


def run_times() -> list[float]:
    """Seconds since the start of the workload at which each task run starts."""
    return [i * WORKLOAD_SECONDS / TASK_RUNS for i in range(TASK_RUNS)]


def floor_auth_calls(times: Sequence[float], lifetime: float, early: float) -> int:
    """
    The fewest auth calls that give every run a valid token, replacing a token at the first run
    that finds it valid for ``early`` seconds or less.

    :param times: the run start times, in seconds
    :param lifetime: the access token lifetime, in seconds
    :param early: how long before expiry a token counts as used up (0: the strict floor)
    """
    calls, expires = 0, None
    for t in times:
        if expires is None or expires - t <= early:
            calls, expires = calls + 1, t + lifetime
    return calls


def counts(bench: _support.Bench) -> Counts:
    """
    The emulator's counters since the last reset.

    :param bench: the benchmark environment
    """
    assert bench.emulator is not None
    seen = bench.emulator.counters()
    errors = sum(n for route in bench.emulator.status_counts().values() for status, n in route.items()
                 if status >= 400 or status == 0)
    return Counts(seen.get("create", 0), seen.get("refresh", 0), seen.get("apppackages", 0), errors)


def provider_workload(bench: _support.Bench, conn_id: str) -> Counts:
    """
    The workload through the provider: a new hook per task run, one shared Variable store.

    :param bench: the benchmark environment
    :param conn_id: a Connection with nothing stored for it yet
    """
    from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
    from airflow_provider_kibo.stores import VariableTicketStore
    from airflow_provider_kibo.variables import Variables

    assert bench.emulator is not None
    store = VariableTicketStore(conn_id, Variables(supervised=False))
    bench.emulator.reset_counters()
    previous = 0.0
    for t in run_times():
        bench.emulator.clock.advance(t - previous)
        previous = t
        hook = KiboDeveloperHook(conn_id, clock=bench.emulator.clock.now, lock_dir=bench.lock_dir, store=store)
        hook.get_ticket()
        hook.run("GET", APPS)
    return counts(bench)


def naive_workload(bench: _support.Bench) -> Counts:
    """
    The baseline: every task run logs in with the password, then makes its call.

    :param bench: the benchmark environment
    """
    import requests

    from airflow_provider_kibo.testing import DEMO_USERS

    assert bench.emulator is not None
    user, api = DEMO_USERS[0], f"{bench.emulator.base_url}/api"
    bench.emulator.reset_counters()
    previous = 0.0
    for t in run_times():
        bench.emulator.clock.advance(t - previous)
        previous = t
        login = requests.post(f"{api}/platform/developer/authtickets",
                              params={"developerAccountId": _support.ACCOUNT_ID},
                              json={"emailAddress": user.email, "password": user.password}, timeout=30)
        login.raise_for_status()
        ticket = login.json()
        bearer = ticket.get("jwtAccessToken") or ticket["accessToken"]
        requests.get(f"{api}{APPS}", headers={"Authorization": f"Bearer {bearer}"}, timeout=30).raise_for_status()
    return counts(bench)


def main() -> None:
    """Run both workloads with kept and with rotating refresh tokens and print the table."""
    with _support.bench_env(access_token_lifetime=TOKEN_LIFETIME) as bench:
        _support.quiet_provider_logs()
        assert bench.emulator is not None
        strict = floor_auth_calls(run_times(), TOKEN_LIFETIME, early=0)
        with_margin = floor_auth_calls(run_times(), TOKEN_LIFETIME, early=180)
        rows = []
        for rotate in (False, True):
            bench.emulator.rotate_refresh_tokens = rotate
            conn_id = bench.add_connection(f"kibo_workload_{'rotating' if rotate else 'kept'}")
            ours = provider_workload(bench, conn_id)
            naive = naive_workload(bench)
            rows.append([
                "rotating" if rotate else "kept", ours.creates, ours.refreshes, ours.auth_calls,
                f"{ours.api_calls} / {ours.errors}", naive.auth_calls, f"{naive.api_calls} / {naive.errors}",
                f"{naive.auth_calls / ours.auth_calls:.1f}x", f"{ours.auth_calls / strict:.2f}x",
            ])
    print(f"calls_per_workload: {TASK_RUNS} task runs, one every {WORKLOAD_SECONDS / TASK_RUNS:.0f} s over "
          f"{WORKLOAD_SECONDS // 3600} h, access tokens last {TOKEN_LIFETIME // 60} min, new hook per run, "
          "metadata-DB Variable store")
    print(f"floor: {strict} auth calls (1 create + {strict - 1} refreshes, each token used until it expires); "
          f"{with_margin} (1 + {with_margin - 1}) if each token is replaced within the default 180 s refresh margin")
    _support.print_table(
        ["refresh tokens", "creates", "refreshes", "provider auth calls", "API calls / errors",
         "naive auth calls (login per run)", "naive API calls / errors", "naive / provider", "provider / floor"],
        rows,
    )


if __name__ == "__main__":
    main()
