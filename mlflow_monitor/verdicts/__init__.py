"""Pure verdicts: statistics and a spec in, check outcomes and decisions out.

Thresholds (static, relative to the baseline, history and seasonal), window checks, fairness
checks and policy packs, the baseline model, window evaluation, the promotion decision and alert
planning. No MLflow, papermill, Evidently or apprise here (import-linter keeps it so): everything
runs unchanged in a notebook kernel, a test, or a Spark partition.
"""
