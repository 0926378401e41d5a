"""Apache Airflow provider for Kibo Commerce developer auth tickets."""

from __future__ import annotations

__version__ = "0.1.0"
