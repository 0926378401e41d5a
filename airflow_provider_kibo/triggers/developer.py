"""Deprecated: :class:`KiboTicketTrigger` lives in :mod:`airflow_provider_kibo.triggers.tickets`.

Triggers serialized by 0.2.0 name this module; the triggerer still finds them here.
"""

from __future__ import annotations

from airflow_provider_kibo._deprecated import warn_moved
from airflow_provider_kibo.triggers.tickets import KiboTicketTrigger

__all__ = ["KiboTicketTrigger"]

warn_moved(__name__, "airflow_provider_kibo.triggers.tickets")
