"""
Every use of Airflow's internals, and of what moved between the supported releases (3.1 to 3.3), in one place.

The rest of the provider uses Airflow's public API only (``airflow.sdk``) and what this module
offers. ``tests/test_airflow_compat.py`` checks each internal below against the installed Airflow,
and CI runs it on the oldest and the newest supported release, so a release that moves one fails
there loudly instead of in a user's deployment.

The internals, and why each is needed:

- The secrets maskers' ``patterns``, ``replacer``, ``_adaptations()`` and ``min_length_to_mask``:
  Airflow has no public way to stop masking a string, and a process that lives for weeks must drop
  the tokens that can no longer be used (see :mod:`airflow_provider_kibo.masking`). Where they are not
  as expected, :func:`loaded_maskers` answers ``None`` and the provider only adds masks.
- ``task_runner.SUPERVISOR_COMMS``: tells whether this process talks to an Airflow supervisor (a
  task, the triggerer, the dag-processor) and so reaches Variables through the Task SDK.
- ``airflow.models.Variable`` with ``create_session``: Variables in the metadata database from a
  process that has no supervisor (a script, the CLI, a test), where the Task SDK cannot reach them.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning

try:  # Airflow 3.2+: the Task SDK owns the exception classes.
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
    )

__all__ = [
    "MASKER_MODULES",
    "AirflowException",
    "AirflowFailException",
    "AirflowProviderDeprecationWarning",
    "AirflowSensorTimeout",
    "default_deferrable",
    "delete_metadata_variables",
    "has_supervisor",
    "loaded_maskers",
    "masker_patterns",
    "metadata_db_reachable",
    "metadata_variable_keys",
    "metadata_variables",
    "update_masker",
]

TASK_RUNNER_MODULE = "airflow.sdk.execution_time.task_runner"
MASKER_MODULES = ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker")
"""Airflow's secrets-masker modules: the Task SDK's (``mask_secret``, task and trigger logs) and
airflow-core's (Variables read from the metadata database, core logging). Each holds one masker."""


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, the default of a sensor's ``deferrable``."""
    try:  # Airflow 3.2+
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def has_supervisor() -> bool:
    """Whether this process talks to an Airflow supervisor: a task (also under ``dag.test()``), the
    triggerer or the dag-processor. Such a process reaches Variables only through the Task SDK."""
    return hasattr(sys.modules.get(TASK_RUNNER_MODULE), "SUPERVISOR_COMMS")


# -- Variables in the metadata database, for processes without a supervisor ------------------------


def metadata_db_reachable() -> bool:
    """Whether this process can use Variables in the metadata database directly."""
    try:
        from airflow.models import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            session.execute(select(Variable.id).limit(1))
    except Exception:  # noqa: BLE001 - any failure (driver, schema, file) means: not usable from here
        return False
    return True


def metadata_variables() -> Any:
    """airflow-core's ``Variable``, which reads and writes the metadata database itself."""
    from airflow.models import Variable

    return Variable


def metadata_variable_keys(prefix: str) -> list[str]:
    """The keys of the metadata database's Variables that start with ``prefix``."""
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(Variable.key).where(Variable.key.startswith(prefix, autoescape=True))))


def delete_metadata_variables(prefix: str, doomed: Callable[[str, str], bool]) -> list[str]:
    """
    Delete, in one transaction, the metadata database's Variables whose key starts with ``prefix``
    and for which ``doomed(key, value)`` holds; return their keys.

    :param prefix: the start of the keys to look at
    :param doomed: decides from a Variable's key and value
    """
    from airflow.models import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    deleted = []
    with create_session() as session:
        for variable in session.scalars(select(Variable).where(Variable.key.startswith(prefix, autoescape=True))):
            if doomed(variable.key, variable.val):
                session.delete(variable)
                deleted.append(variable.key)
    return deleted


# -- the secrets maskers ----------------------------------------------------------------------------


def loaded_maskers() -> list[Any] | None:
    """The Task SDK's masker, then airflow-core's if imported; ``None`` when one is not as expected."""
    try:
        importlib.import_module(MASKER_MODULES[0])
        maskers = [sys.modules[name]._secrets_masker() for name in MASKER_MODULES if name in sys.modules]
    except (ImportError, AttributeError, TypeError):
        return None
    expected = all(
        isinstance(getattr(m, "patterns", None), set)
        and hasattr(m, "replacer")
        and callable(getattr(m, "_adaptations", None))
        and isinstance(getattr(m, "min_length_to_mask", None), int)
        for m in maskers
    )
    return maskers if expected else None


def masker_patterns(masker: Any, secret: str) -> set[str]:
    """The patterns a masker holds (or would hold) for one secret; none when it is too short to mask."""
    return {re.escape(s) for s in masker._adaptations(secret) if len(s) >= masker.min_length_to_mask}


def update_masker(masker: Any, add: set[str], remove: set[str]) -> None:
    """Add and remove a masker's patterns, then compile its regex once."""
    patterns = masker.patterns
    patterns.difference_update(remove)
    patterns.update(add)
    masker.replacer = re.compile("|".join(patterns)) if patterns else None
