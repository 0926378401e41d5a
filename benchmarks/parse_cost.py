"""
What importing the provider's DAG-facing modules adds to a DAG file's parse, next to the official
HTTP provider.

Each figure is the median over fresh interpreters of ``time.perf_counter()`` around
``import MODULE`` done right after ``import airflow.sdk`` (which every DAG file pays anyway, and
which is timed in the same interpreters as the baseline). Targets run round-robin, so machine noise
spreads over all of them. ``apache-airflow-providers-http`` is only a baseline here (the ``bench``
extra installs it); without it its row is skipped.

Run: ``python3 scripts/dev.py bench parse_cost.py [RUNS]`` (default 15 interpreters per module)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import _support

HTTP_OPERATOR = "airflow.providers.http.operators.http"
TARGETS = {
    "airflow_provider_kibo.operators.tickets": "our operator (DAG parse)",
    "airflow_provider_kibo.sensors.tickets": "our sensor (DAG parse)",
    "airflow_provider_kibo.hooks.developer": "our hook (first use in a task run, not at parse)",
    HTTP_OPERATOR: "HTTP provider operator (DAG parse; imports its hook)",
}
PROBE = """
import json, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
import {module}
t2 = time.perf_counter()
print(json.dumps({{"sdk": t1 - t0, "module": t2 - t1}}))
"""


def measure(module: str) -> dict[str, float]:
    """
    Import ``airflow.sdk`` then ``module`` in a fresh interpreter; both durations in seconds.

    :param module: the module to import
    """
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=os.environ, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    """Measure every target round-robin and print medians and the ratios to the HTTP operator."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    targets = [m for m in TARGETS if m != HTTP_OPERATOR or importlib.util.find_spec("airflow.providers.http")]
    with _support.bench_env(migrate=False, emulator=False):
        measure("json")  # warm the file cache once, untimed
        samples: dict[str, list[float]] = {m: [] for m in targets}
        sdk: list[float] = []
        for _ in range(runs):
            for module in targets:
                result = measure(module)
                samples[module].append(result["module"])
                sdk.append(result["sdk"])
    http = _support.median(samples[HTTP_OPERATOR]) if HTTP_OPERATOR in samples else None
    print(f"parse_cost: extra import time over `import airflow.sdk`, median of {runs} fresh interpreters each "
          f"(`import airflow.sdk` itself: median {_support.fmt_seconds(_support.median(sdk))} over {len(sdk)})")
    rows = []
    for module in targets:
        mid = _support.median(samples[module])
        ratio = f"{mid / http:.3f}" if http else "n/a"
        rows.append([f"`{module}`", TARGETS[module], _support.fmt_seconds(mid),
                     _support.fmt_seconds(max(samples[module])), ratio])
    _support.print_table(["module", "what", "median extra import", "max", "ratio to HTTP operator"], rows)
    if http is None:
        print("apache-airflow-providers-http is not installed: no baseline (see this script's docstring)")
    else:
        ours = _support.median(samples["airflow_provider_kibo.operators.tickets"]) + _support.median(
            samples["airflow_provider_kibo.sensors.tickets"])
        print(f"operator + sensor medians added: {_support.fmt_seconds(ours)}, {ours / http:.3f} of the HTTP operator")


if __name__ == "__main__":
    main()
