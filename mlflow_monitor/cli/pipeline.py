"""CLI subcommands of the pipeline room (placeholder until that room lands)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
