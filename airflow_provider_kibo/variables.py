"""Airflow Variables as this process can reach them: through the Task SDK under an Airflow supervisor
(a task, the triggerer, the dag-processor), else in the metadata database directly (a script, the CLI)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kibo import airflow_compat


class Variables:
    """
    Read, write and delete Airflow Variables.

    :param supervised: use the Task SDK rather than the metadata database
    """

    def __init__(self, *, supervised: bool) -> None:
        self.supervised = supervised

    def get(self, key: str) -> str | None:
        """The Variable's value, or ``None`` when there is none."""
        value: str | None = self._api().get(key, default=None) if self.supervised else self._api().get(key, None)
        return value  # core names the default `default_var`, the Task SDK `default`

    def set(self, key: str, value: str, description: str) -> None:
        """Create or replace the Variable."""
        self._api().set(key, value, description=description)

    def delete(self, key: str) -> None:
        """Remove the Variable; nothing happens when there is none."""
        self._api().delete(key)

    def _api(self) -> Any:
        if self.supervised:
            from airflow.sdk import Variable

            return Variable
        return airflow_compat.metadata_variables()
