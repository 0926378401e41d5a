"""End-to-end tests that run against a real Airflow 3 deployment (see ``airflow_deployment.py``)."""
