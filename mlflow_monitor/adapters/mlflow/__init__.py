"""The MLflow adapter: runs, metrics, artifacts, version tags, aliases, alert state, audit log.

The only package that imports ``mlflow``; every module imports it lazily through ``client``.
"""
