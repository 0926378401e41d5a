"""Command line entry point: run a Kibo emulator until SIGINT or SIGTERM.

Usage::

    kibo-emulator [--host 127.0.0.1] [--port 0] [--users FILE.json]
                  [--rotate-refresh-tokens] [--no-access-status {401,403}]
                  [--access-token-lifetime S] [--refresh-token-lifetime S]

The first line printed is ``Kibo emulator listening on http://HOST:PORT``. Passwords are
never printed; the demo user's password is documented in
:data:`airflow_provider_kibo.testing.DEMO_USERS`.

The users file (``--users``) is a JSON list of users with their developer accounts and,
optionally, their tenants; ``--help`` shows its format (:data:`USERS_FILE_HELP`, the same as
:func:`~airflow_provider_kibo.testing.models.load_users` reads).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_kibo.testing.emulator import KiboEmulator
from airflow_provider_kibo.testing.models import DEMO_USERS, load_users

USERS_FILE_HELP = """\
users file (--users): a JSON list of users, e.g.
  [{"email": "ops@example.com", "password": "...",
    "accounts": [{"id": 5, "name": "Ops", "app_count": 2}],
    "tenants": [{"id": 500001, "name": "Ops Store", "order_count": 30, "is_dev_tenant": false,
                 "sites": [{"id": 500011, "name": "Ops Web", "catalog_id": 1,
                            "locale_code": "en-US", "currency_code": "USD"}]}]}]
"tenants" and every tenant or site key but "id" and "name" are optional."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kibo-emulator",
        description="Run a local Kibo emulator for offline DAG tests.",
        epilog=USERS_FILE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--users", metavar="FILE.json", help="users file (format below)")
    parser.add_argument(
        "--rotate-refresh-tokens",
        action="store_true",
        help="make refresh tokens single-use (default: a refresh keeps the token)",
    )
    parser.add_argument(
        "--no-access-status",
        type=int,
        choices=(401, 403),
        default=403,
        help="status for an account or tenant the user cannot use (default 403)",
    )
    parser.add_argument(
        "--access-token-lifetime",
        type=float,
        default=3600.0,
        metavar="S",
        help="access token lifetime in seconds (default 3600)",
    )
    parser.add_argument(
        "--refresh-token-lifetime",
        type=float,
        default=86400.0,
        metavar="S",
        help="refresh token lifetime in seconds (default 86400)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print its URL, serve until SIGINT/SIGTERM.

    :param argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.
    :returns: The exit status, 0 after a clean shutdown.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        users = load_users(args.users) if args.users else DEMO_USERS
        emulator = KiboEmulator(
            users,
            host=args.host,
            port=args.port,
            access_token_lifetime=args.access_token_lifetime,
            refresh_token_lifetime=args.refresh_token_lifetime,
            rotate_refresh_tokens=args.rotate_refresh_tokens,
            no_access_status=args.no_access_status,
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))

    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        emulator.start()
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc}")
    try:
        print(f"Kibo emulator listening on {emulator.base_url}", flush=True)
        source = f"see {args.users}" if args.users else "see DEMO_USERS in airflow_provider_kibo.testing"
        emails = ", ".join(user.email for user in emulator.users)
        print(f"Users: {emails} (passwords: {source})", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
