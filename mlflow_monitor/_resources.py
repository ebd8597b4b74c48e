"""Where the files shipped inside the wheel live: notebooks and model-card templates.

The repository keeps them at the top level (``notebooks/``, ``model_cards/``); pyproject.toml maps
them into the package as ``mlflow_monitor.bundled_notebooks`` and ``mlflow_monitor.model_cards``
(``mlflow_monitor.notebooks`` is the papermill runner module, hence the different name).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["card_templates_dir", "notebook_path"]


def notebook_path(name: str) -> Path:
    """Path of a shipped notebook, e.g. ``notebook_path("monitor.ipynb")``."""
    return Path(str(files("mlflow_monitor.bundled_notebooks") / name))


def card_templates_dir() -> Path:
    """Directory holding the shipped model-card templates."""
    return Path(str(files("mlflow_monitor.model_cards")))
