"""The import paths and names of 0.2.0 that moved, kept working for one release with a deprecation warning."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

from airflow_provider_kibo.airflow_compat import AirflowProviderDeprecationWarning

REMOVED_IN = "0.4.0"


def warn_moved(old: str, new: str) -> None:
    """
    Warn, when an old module is imported, that its content now lives in ``new``.

    :param old: the old module's name
    :param new: the module to import instead
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in airflow-provider-kibo {REMOVED_IN}: import from {new}",
        AirflowProviderDeprecationWarning,
        stacklevel=3,
    )


def renamed(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """
    A module ``__getattr__`` that serves names which moved, each with a warning.

    :param module: the module the names used to live in
    :param names: old name -> ``"new.module:NewName"``
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, _, new_name = names[name].partition(":")
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in airflow-provider-kibo {REMOVED_IN}: "
            f"use {new_module}.{new_name}",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__
