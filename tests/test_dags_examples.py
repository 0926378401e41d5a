"""The example DAGs parse without import errors and say what they need."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "dags_examples"


@pytest.fixture(scope="module")
def dagbag():
    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=EXAMPLES)
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

        return DagBag(dag_folder=EXAMPLES, include_examples=False)


def test_example_dags_import_cleanly(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"kibo_ticket_rotation", "kibo_per_account_pipeline", "kibo_tenant_orders"}


@pytest.mark.parametrize("dag_id", ["kibo_ticket_rotation", "kibo_per_account_pipeline", "kibo_tenant_orders"])
def test_example_dags_document_their_connection(dagbag, dag_id):
    dag = dagbag.dags[dag_id]

    assert "kibo_developer" in dag.doc_md
    assert dag.params["conn_id"] == "kibo_developer_default"


def test_rotation_refreshes_through_a_one_slot_pool(dagbag):
    refresh = dagbag.dags["kibo_ticket_rotation"].get_task("refresh")

    assert refresh.partial_kwargs["pool"] == "kibo_ticket_refresh"


def test_rotation_does_a_full_credential_rotation_only_when_asked(dagbag):
    dag = dagbag.dags["kibo_ticket_rotation"]
    rotate = dag.get_task("rotate_credentials")

    assert dag.params["full_credential_rotation"] is False
    assert rotate.force_login == "{{ params.full_credential_rotation }}"
    assert rotate.downstream_task_ids == {"refresh"}


def test_tenant_orders_switch_to_each_tenant_before_exporting(dagbag):
    dag = dagbag.dags["kibo_tenant_orders"]

    assert dag.get_task("tenant.switch").downstream_task_ids == {"tenant.wait"}
    assert dag.get_task("tenant.wait").downstream_task_ids == {"tenant.export"}
    assert dag.get_task("summarise").trigger_rule == "all_done"
