"""
The canary of ``airflow_compat``: each Airflow internal the provider relies on is where it expects.

CI runs it on the newest Airflow and on the oldest supported line (3.1). A failure here means a
release moved an internal: update ``airflow_provider_kibo/airflow_compat.py``, nothing else.
"""

from __future__ import annotations

import importlib
import uuid

import pytest

from airflow_provider_kibo import airflow_compat


@pytest.fixture
def maskers():
    """This process's maskers, emptied before and after."""
    found = airflow_compat.loaded_maskers()
    assert found is not None, "the secrets maskers' internals (patterns, replacer, _adaptations) changed"
    for masker in found:
        masker.reset_masker()
    yield found
    for masker in found:
        masker.reset_masker()


def test_the_maskers_can_learn_and_forget_a_secret(maskers):
    secret = f"kibo-canary-{uuid.uuid4().hex}"
    for masker in maskers:
        patterns = airflow_compat.masker_patterns(masker, secret)
        assert patterns, "a secret of this length is masked"

        airflow_compat.update_masker(masker, add=patterns, remove=set())
        assert masker.redact(f"token {secret}") == "token ***"

        airflow_compat.update_masker(masker, add=set(), remove=patterns)
        assert masker.redact(f"token {secret}") == f"token {secret}"


def test_the_maskers_include_the_task_sdks(maskers):
    sdk = importlib.import_module(airflow_compat.MASKER_MODULES[0])

    assert maskers[0] is sdk._secrets_masker()


def test_a_supervisors_comms_are_declared_where_has_supervisor_looks():
    task_runner = importlib.import_module(airflow_compat.TASK_RUNNER_MODULE)

    assert "SUPERVISOR_COMMS" in vars(task_runner).get("__annotations__", {})
    assert airflow_compat.has_supervisor() is False, "a test process has no supervisor"


@pytest.mark.usefixtures("airflow_db")
def test_metadata_variables_are_reached_and_deleted_directly():
    key = f"kibo_canary__{uuid.uuid4().hex}"
    variables = airflow_compat.metadata_variables()
    assert airflow_compat.metadata_db_reachable()

    variables.set(key, "value")
    assert variables.get(key, None) == "value"
    assert airflow_compat.delete_metadata_variables(key, lambda k, v: v == "value") == [key]
    assert variables.get(key, None) is None


def test_the_version_dependent_names_resolve():
    assert issubclass(airflow_compat.AirflowFailException, airflow_compat.AirflowException)
    assert issubclass(airflow_compat.AirflowSensorTimeout, airflow_compat.AirflowException)
    assert issubclass(airflow_compat.AirflowProviderDeprecationWarning, DeprecationWarning)
    assert isinstance(airflow_compat.default_deferrable(), bool)
