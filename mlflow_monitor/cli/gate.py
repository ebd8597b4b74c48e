"""CLI subcommands of the gate room (placeholder until that room lands)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
