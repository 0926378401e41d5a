"""Deprecated: :class:`KiboTicketSensor` lives in :mod:`airflow_provider_kibo.sensors.tickets`."""

from __future__ import annotations

from airflow_provider_kibo._deprecated import warn_moved
from airflow_provider_kibo.sensors.tickets import DEFERRAL_TIMEOUT_GRACE, KiboTicketSensor

__all__ = ["DEFERRAL_TIMEOUT_GRACE", "KiboTicketSensor"]

warn_moved(__name__, "airflow_provider_kibo.sensors.tickets")
