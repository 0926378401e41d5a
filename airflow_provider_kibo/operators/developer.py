"""Deprecated: :class:`KiboRefreshTicketOperator` lives in :mod:`airflow_provider_kibo.operators.tickets`."""

from __future__ import annotations

from airflow_provider_kibo._deprecated import warn_moved
from airflow_provider_kibo.operators.tickets import KiboRefreshTicketOperator

__all__ = ["KiboRefreshTicketOperator"]

warn_moved(__name__, "airflow_provider_kibo.operators.tickets")
