"""Deprecated: :class:`KiboIdentity` lives in :mod:`airflow_provider_kibo.tickets.identity`."""

from __future__ import annotations

from airflow_provider_kibo._deprecated import warn_moved
from airflow_provider_kibo.tickets.identity import KiboIdentity, normalise_base_url

__all__ = ["KiboIdentity", "normalise_base_url"]

warn_moved(__name__, "airflow_provider_kibo.tickets.identity")
