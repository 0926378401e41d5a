"""Apache Airflow provider for Kibo Commerce auth tickets: developer accounts and tenants."""

from __future__ import annotations

__version__ = "0.3.0"
