"""Monitoring notebooks shipped with mlflow-monitor (executed by papermill)."""
