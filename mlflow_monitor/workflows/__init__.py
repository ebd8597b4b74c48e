"""Workflows: the things a user asks for, each a short sequence of named steps.

Monitor a window, build a baseline, dispatch alerts, promote, cards, compliance, status, init and
the demo. Each CLI subcommand and each public API function calls one workflow.
"""

WINDOW_PRELOAD = "mlflow_monitor.workflows.window_preload"
"""The module a warm ``monitor.ipynb`` kernel imports first (named: importing loads pandas)."""
