"""CLI subcommands of the alerts room (placeholder until that room lands)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
