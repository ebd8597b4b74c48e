"""Adapters: the outside world, one module or folder each.

``sources/`` (data files), ``mlflow/`` (the only code that knows MLflow's API), ``notebooks/``
(papermill and kernels), ``apprise_delivery`` (alert channels), ``evidently_reports`` (visual
reports in a child process), ``compliance_html`` (HTML rendering), ``processes`` (process
liveness). Adapters may use verdicts and statistics, never a workflow.
"""
