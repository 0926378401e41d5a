"""Deprecated: ticket values live in :mod:`airflow_provider_kibo.tickets.values`; ``KiboTicket`` is now
``KiboDeveloperTicket``."""

from __future__ import annotations

from airflow_provider_kibo._deprecated import warn_moved
from airflow_provider_kibo.tickets.values import (
    ISSUED_TO_KEY,
    KiboAuthTicket,
    KiboTenantTicket,
    TicketFormatError,
    TicketRecord,
    ticket_from_stored,
)
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket as KiboTicket

__all__ = [
    "ISSUED_TO_KEY",
    "KiboAuthTicket",
    "KiboTenantTicket",
    "KiboTicket",
    "TicketFormatError",
    "TicketRecord",
    "ticket_from_stored",
]

warn_moved(__name__, "airflow_provider_kibo.tickets.values")
