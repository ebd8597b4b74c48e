"""Files shipped inside the wheel, in this one folder: notebooks, card templates, policy packs.

``notebooks/`` (``monitor.ipynb``, ``fairness_audit.ipynb``, ``baseline.ipynb``), ``model_cards/``
(Jinja2 templates and the card YAML template), ``policies/`` (shipped policy packs).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["card_templates_dir", "notebook_path", "policies_dir"]


def _folder(name: str) -> Path:
    return Path(str(files(__name__) / name))


def notebook_path(name: str) -> Path:
    """Path of a shipped notebook, e.g. ``notebook_path("monitor.ipynb")``."""
    return _folder("notebooks") / name


def card_templates_dir() -> Path:
    """Directory holding the shipped model-card templates."""
    return _folder("model_cards")


def policies_dir() -> Path:
    """Directory holding the shipped policy packs (``<name>.yaml``)."""
    return _folder("policies")
