"""
What one more ticket Variable served costs an Airflow process that has served many: the API server.

Airflow masks the value of every sensitive-named Variable it loads from the metadata database
(``Variable.on_db_load``), keeps the mask for the life of the process and recompiles one regex of
all its masks for each new one; every log line is then matched against that regex. The API server
loads a ticket Variable whenever a task reads a ticket it does not hold, so each new ticket adds a
mask there. This script fills airflow-core's secrets masker with N stored tickets of the emulator
(each masked whole, as the API server masks them), then times the mask of one more and one log line
redacted after it. A rotation every 30 minutes over 50 accounts is about 2,400 new tickets a day.

Run: ``python3 scripts/dev.py bench api_server_masks.py`` (about 2 min)
"""

from __future__ import annotations

import json
import re
import time

import _support
import requests

SERVED = (0, 100, 1000, 2400, 7200)
SAMPLES = 5
VARIABLE = "kibo_developer_token__kibo__1001"
LOG_LINE = 'GET /execution/variables/kibo_developer_ticket_record__kibo__1001 HTTP/1.1" 200'


def main() -> None:
    """Issue tickets from the emulator, then time one more mask and one log line at each count."""
    with _support.bench_env(migrate=False, rotate_refresh_tokens=True) as bench:
        from airflow._shared.secrets_masker import _secrets_masker

        from airflow_provider_kibo.testing import DEMO_USERS
        from airflow_provider_kibo.tickets.values import KiboDeveloperTicket

        assert bench.emulator is not None
        url = f"{bench.emulator.base_url}/api/platform/developer/authtickets"
        params = {"developerAccountId": _support.ACCOUNT_ID}
        credentials = {"emailAddress": DEMO_USERS[0].email, "password": DEMO_USERS[0].password}
        document = requests.post(url, params=params, json=credentials, timeout=5).json()
        stored: list[str] = []
        while len(stored) < SERVED[-1] + SAMPLES:
            document = requests.put(url, params=params, json={"refreshToken": document["refreshToken"]}, timeout=5).json()
            stored.append(json.dumps(KiboDeveloperTicket.from_api(document).to_stored()))

    masker = _secrets_masker()
    rows = []
    for served in SERVED:
        masker.reset_masker()
        masker.patterns.update(re.escape(value) for value in stored[:served])  # served earlier: already masked
        masks, lines = [], []
        for value in stored[served : served + SAMPLES]:
            start = time.perf_counter()
            masker.add_mask(value, VARIABLE)
            middle = time.perf_counter()
            masker.redact(LOG_LINE)
            masks.append(middle - start)
            lines.append(time.perf_counter() - middle)
        rows.append((served, _support.median(masks), _support.median(lines)))
    masker.reset_masker()

    print(f"api_server_masks: airflow-core's secrets masker after N stored tickets of about "
          f"{_support.median([len(v) for v in stored]):.0f} characters, each masked whole; median of {SAMPLES}:")
    base = rows[0]
    _support.print_table(
        ["tickets served before", "mask one more", "ratio", "one log line after", "ratio"],
        [
            [served, _support.fmt_seconds(mask), f"{mask / base[1]:.0f}x", _support.fmt_seconds(line),
             f"{line / base[2]:.0f}x"]
            for served, mask, line in rows
        ],
    )


if __name__ == "__main__":
    main()
