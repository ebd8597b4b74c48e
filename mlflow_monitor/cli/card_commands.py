"""CLI subcommands of the cards room: ``card`` renders a version's model card on demand."""

from __future__ import annotations

from pathlib import Path

import click

from mlflow_monitor.cli._common import (
    handles_errors,
    resolve_version,
    say,
    spec_option,
    tracking_uri_option,
    version_option,
)

__all__ = ["COMMANDS", "card_command"]


@click.command("card")
@click.option("--model", required=True, help="Registered model name.")
@version_option("Model version.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Directory for model_card.md and model_card.html.",
)
@spec_option("monitor.yaml (task, checks, the card YAML named by its `card` key).", required=False)
@click.option(
    "--card",
    "card_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Card YAML (overrides the spec's `card`).",
)
@click.option(
    "--no-publish",
    is_flag=True,
    help="Only write the files; do not attach the card to the baseline run.",
)
@tracking_uri_option
@handles_errors
def card_command(
    model: str,
    version: str,
    out_dir: str,
    spec_path: str | None,
    card_path: str | None,
    no_publish: bool,
    tracking_uri: str | None,
) -> None:
    """Render MODEL VERSION's model card (Markdown and HTML) from MLflow and the card YAML.

    Without --spec (or --card) the spec (card YAML) kept on the version's baseline run is used.
    """
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.model_cards import write_card

    spec = load_spec(spec_path) if spec_path else None
    version = resolve_version(model, version, tracking_uri=tracking_uri)
    written = write_card(
        spec,
        model,
        version,
        out_dir,
        tracking_uri=tracking_uri,
        card_path=card_path,
        card_dir=Path(spec_path).parent if spec_path else None,
        publish=not no_publish,
    )
    say(f"wrote {written.markdown}")
    say(f"wrote {written.html}")
    if written.kept_card_run:
        say(
            "card not published: human-written fields are missing (give --spec with a `card:` "
            f"key, or --card); the published card on run {written.kept_card_run} is kept"
        )


COMMANDS: list[click.Command] = [card_command]
