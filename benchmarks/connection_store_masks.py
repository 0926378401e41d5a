"""
Why the Connection write-back store is deprecated: what one more rotation costs a process reading it.

A task or a trigger reads a Connection through the Task SDK, which masks the Connection's whole
``extra`` (``mask_secret(conn.extra)``, no key name to tell it from a harmless value) in the
process and, through it, in its supervisor, for their life. With tickets written back into
``extra.tickets``, the extra changes at every rotation, so every reader learns one more mask each
time, sealed tickets or not. This script masks N successive extras (two slots of sealed tickets each,
as the write-back store keeps them), as a long-lived reader would after N rotations, then times
the mask of one more and one log line after it; and, for comparison, the same reader with tickets
in sealed Variables, whose Connection does not change.

Run: ``python3 scripts/dev.py bench connection_store_masks.py`` (about a minute)
"""

from __future__ import annotations

import json
import re
import time

import _support
import requests

ROTATIONS = (0, 100, 1000, 2400)
SAMPLES = 5
LOG_LINE = "Waiting for a Kibo ticket for developer account 1001 valid for at least 0:10:00"


class DictVariables:
    """Variables in a dict, for sealing outside Airflow."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str, description: str) -> None:
        self.values[key] = value


def main() -> None:
    """Issue tickets from the emulator, build the Connection extras, time one more read's mask."""
    with _support.bench_env(migrate=False, rotate_refresh_tokens=True) as bench:
        from airflow.sdk._shared.secrets_masker import _secrets_masker

        from airflow_provider_kibo.sealing import TicketSeal
        from airflow_provider_kibo.testing import DEMO_USERS
        from airflow_provider_kibo.tickets.values import KiboDeveloperTicket

        assert bench.emulator is not None
        url = f"{bench.emulator.base_url}/api/platform/developer/authtickets"
        params = {"developerAccountId": _support.ACCOUNT_ID}
        credentials = {"emailAddress": DEMO_USERS[0].email, "password": DEMO_USERS[0].password}
        document = requests.post(url, params=params, json=credentials, timeout=5).json()
        seal = TicketSeal("kibo", DictVariables())
        extras: list[str] = []
        while len(extras) < ROTATIONS[-1] + SAMPLES:
            document = requests.put(url, params=params, json={"refreshToken": document["refreshToken"]}, timeout=5).json()
            entries: list[dict] = []
            seal.write(KiboDeveloperTicket.from_api(document), entries.append)
            tickets = {"1001": entries[-1], "latest": entries[-1]}
            extras.append(json.dumps({"developer_account_id": 1001, "tickets": tickets}))
        fixed = json.dumps({"developer_account_id": 1001})

    masker = _secrets_masker()
    rows = []
    for rotations in ROTATIONS:
        figures = []
        for store, values in (("Connection write-back", extras), ("sealed Variables", [fixed] * len(extras))):
            masker.reset_masker()
            # What the Task SDK's mask_secret(conn.extra) left after each earlier read (set at once here).
            masker.patterns.update(re.escape(extra) for extra in set(values[:rotations]))
            masks, lines = [], []
            for extra in values[rotations : rotations + SAMPLES]:
                start = time.perf_counter()
                masker.add_mask(extra)
                middle = time.perf_counter()
                masker.redact(LOG_LINE)
                masks.append(middle - start)
                lines.append(time.perf_counter() - middle)
            figures.append((store, len(masker.patterns), _support.median(masks), _support.median(lines)))
        rows.extend([rotations, *figure] for figure in figures)
    masker.reset_masker()

    print(f"connection_store_masks: the Task SDK's secrets masker of a process that read the Kibo Connection "
          f"after each of N rotations; median of {SAMPLES}:")
    _support.print_table(
        ["rotations", "tickets kept in", "masks held", "one more read's mask", "one log line after"],
        [[n, store, held, _support.fmt_seconds(mask), _support.fmt_seconds(line)] for n, store, held, mask, line in rows],
    )


if __name__ == "__main__":
    main()
