"""
What one more ticket Variable served costs an Airflow process that has served many: the API server.

Airflow masks the value of every sensitive-named Variable it loads from the metadata database
(``Variable.on_db_load``), keeps the mask for the life of the process and recompiles one regex of
all its masks for each new one; every log line is then matched against that regex. The API server
loads a ticket Variable whenever a task reads one. This script fills airflow-core's secrets masker as
the API server's would be after serving N tickets, then times the mask of one more and one log line
redacted after it, for the two forms of stored tickets:

- **0.2.0**: plain JSON under ``kibo_developer_token__<conn>__<slot>``, a sensitive name, so each new
  ticket adds one mask for the life of the process;
- **sealed (0.3.0)**: ``kibo_ticket__<conn>__<slot>``, which Airflow does not mask, and the one key
  Variable ``kibo_ticket_secret__<conn>``, read with every ticket: one mask in all.

A rotation every 30 minutes over 50 accounts is about 2,400 new tickets a day.

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
LEGACY_VARIABLE = "kibo_developer_token__kibo__1001"
SEALED_VARIABLE = "kibo_ticket__kibo__1001"
KEY_VARIABLE = "kibo_ticket_secret__kibo"
LOG_LINE = 'GET /execution/variables/kibo_ticket__kibo__1001 HTTP/1.1" 200'


class DictVariables:
    """Variables in a dict, for sealing outside Airflow."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str, description: str) -> None:
        self.values[key] = value


def main() -> None:
    """Issue tickets from the emulator, then time one more mask and one log line at each count."""
    with _support.bench_env(migrate=False, rotate_refresh_tokens=True) as bench:
        from airflow._shared.secrets_masker import _secrets_masker

        from airflow_provider_kibo.sealing import TicketSeal
        from airflow_provider_kibo.testing import DEMO_USERS
        from airflow_provider_kibo.tickets.values import KiboDeveloperTicket

        assert bench.emulator is not None
        url = f"{bench.emulator.base_url}/api/platform/developer/authtickets"
        params = {"developerAccountId": _support.ACCOUNT_ID}
        credentials = {"emailAddress": DEMO_USERS[0].email, "password": DEMO_USERS[0].password}
        document = requests.post(url, params=params, json=credentials, timeout=5).json()
        variables = DictVariables()
        seal = TicketSeal("kibo", variables)
        legacy: list[str] = []
        sealed: list[str] = []
        while len(legacy) < SERVED[-1] + SAMPLES:
            document = requests.put(url, params=params, json={"refreshToken": document["refreshToken"]}, timeout=5).json()
            ticket = KiboDeveloperTicket.from_api(document)
            legacy.append(json.dumps(ticket.to_stored()))
            seal.write(ticket, lambda entry: sealed.append(json.dumps(entry)))
        key = variables.values[KEY_VARIABLE]

    masker = _secrets_masker()
    tables = {}
    for form, values, name in (("0.2.0", legacy, LEGACY_VARIABLE), ("sealed", sealed, SEALED_VARIABLE)):
        rows = []
        for served in SERVED:
            masker.reset_masker()
            if form == "0.2.0":
                masker.patterns.update(re.escape(value) for value in values[:served])  # served earlier: already masked
            else:
                for value in values[:served]:
                    masker.add_mask(value, name)
                    masker.add_mask(key, KEY_VARIABLE)
            masks, lines = [], []
            for value in values[served : served + SAMPLES]:
                start = time.perf_counter()
                masker.add_mask(value, name)
                if form == "sealed":
                    masker.add_mask(key, KEY_VARIABLE)
                middle = time.perf_counter()
                masker.redact(LOG_LINE)
                masks.append(middle - start)
                lines.append(time.perf_counter() - middle)
            rows.append((served, _support.median(masks), _support.median(lines), len(masker.patterns)))
        tables[form] = rows
    masker.reset_masker()

    for form, rows in tables.items():
        print(f"api_server_masks ({form}): airflow-core's secrets masker after N ticket Variables of about "
              f"{_support.median([len(v) for v in (legacy if form == '0.2.0' else sealed)]):.0f} characters "
              f"served; median of {SAMPLES}:")
        base = rows[0]
        _support.print_table(
            ["tickets served before", "masks held", "mask one more", "ratio", "one log line after", "ratio"],
            [
                [served, patterns, _support.fmt_seconds(mask), f"{mask / base[1]:.2f}x", _support.fmt_seconds(line),
                 f"{line / base[2]:.2f}x"]
                for served, mask, line, patterns in rows
            ],
        )


if __name__ == "__main__":
    main()
