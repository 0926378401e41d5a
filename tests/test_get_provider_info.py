"""Airflow sees the provider, its connection type and the Kibo form, on every supported Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_kibo import __version__
from airflow_provider_kibo.get_provider_info import APPLICATION_CONN_FIELDS, CONN_FIELDS, get_provider_info

HOOK_META = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
meta = [h.model_dump(mode="json") for h in HookMetaService.hook_meta_data() if h.connection_type.startswith("kibo_")]
print(json.dumps(meta))
"""

HOOK_INFO = """
import json, warnings
warnings.simplefilter("ignore")
from airflow.providers_manager import ProvidersManager
manager = ProvidersManager()
info = manager.hooks["kibo_developer"]
print(json.dumps({"provider": manager.providers["airflow-provider-kibo"].version,
                  "hook": info.hook_class_name, "conn_id_attribute": info.connection_id_attribute_name,
                  "testable": info.connection_testable}))
"""


def run_python(code: str) -> str:
    """Run in a fresh interpreter: the providers manager is a process-wide singleton."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_package_name_matches_the_distribution():
    from importlib.metadata import distribution

    assert get_provider_info()["package-name"] == distribution("airflow-provider-kibo").metadata["Name"]


def test_the_package_ships_its_type_information():
    from pathlib import Path

    import airflow_provider_kibo

    assert (Path(airflow_provider_kibo.__file__).parent / "py.typed").is_file()


def test_the_version_is_kept_in_one_place():
    from importlib.metadata import distribution

    metadata = distribution("airflow-provider-kibo").metadata

    assert get_provider_info()["versions"] == [__version__] == [metadata["Version"]]
    assert "Framework :: Apache Airflow :: Provider" in metadata.get_all("Classifier")
    assert any(url.startswith("Documentation, https://") for url in metadata.get_all("Project-URL"))


def test_airflow_providers_list_shows_the_provider():
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True, text=True, env=os.environ, check=True,
    )

    packages = {p["package_name"]: p for p in json.loads(done.stdout[done.stdout.index("[") :])}
    assert packages["airflow-provider-kibo"]["description"].startswith("Kibo Commerce")


def test_providers_manager_registers_the_hook_for_the_connection_type():
    info = json.loads(run_python(HOOK_INFO))

    assert info == {
        "provider": __version__,
        "hook": "airflow_provider_kibo.hooks.developer.KiboDeveloperHook",
        "conn_id_attribute": "kibo_conn_id",
        "testable": True,
    }


def test_connection_forms_read_as_kibo_forms():
    forms = {meta["connection_type"]: meta for meta in json.loads(run_python(HOOK_META))}

    developer = forms["kibo_developer"]["standard_fields"]
    assert developer["host"]["title"] == "Kibo home URL"
    assert developer["host"]["placeholder"] == "https://home.mozu.com"
    assert developer["login"]["title"] == "Email address"
    assert developer["password"]["title"] == "Password"
    assert developer["port"]["hidden"] and developer["url_schema"]["hidden"]
    extra = forms["kibo_developer"]["extra_fields"]
    assert set(extra) == set(CONN_FIELDS)
    assert extra["developer_account_id"]["schema"]["type"][0] == "integer"
    assert extra["refresh_margin_seconds"]["value"] == 180
    assert extra["refresh_token"]["schema"]["format"] == "password"
    application = forms["kibo_application"]["standard_fields"]
    assert (application["host"]["title"], application["login"]["title"], application["password"]["title"]) == (
        "Kibo auth host", "Application key", "Shared secret")
    assert set(forms["kibo_application"]["extra_fields"]) == set(APPLICATION_CONN_FIELDS)


def test_the_provider_info_meets_airflows_schema_and_every_module_it_names_imports():
    import importlib
    from pathlib import Path

    import airflow
    import jsonschema

    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())

    jsonschema.validate(info, schema)
    modules = [m for kind in ("hooks", "operators", "sensors", "triggers") for entry in info[kind]
               for m in entry["python-modules"]] + [t["python-module"] for t in info["transfers"]]
    assert "airflow_provider_kibo.transfers.kibo_to_object_storage" in modules
    assert all(importlib.import_module(module) for module in modules)
