"""What a model card is filled from, read out of MLflow; and the card's publication back into it.

``collect_card_facts`` reads the version (description, tags, aliases, signature), its source run
(parameters, metrics), the baseline run (its metrics and ``baseline.json``), the last counting
windows (metrics, tags: the newest finished attempt of each window, in window order, as
``workflows.window_history`` and the card's trend figure read them) and the last window's
``results.json``. ``publish_card`` logs
``model_card.md``/``model_card.html`` on the given runs (and the human card YAML as
``card/card.yaml`` on the card run), points the version tag ``monitor.card_run_id`` at the
baseline run, and rewrites the managed block of the version's description between markers,
leaving the user's own text untouched. ``read_card_inputs`` reads back what a baseline run keeps
for re-rendering a card without local files: the spec copy ``monitor.yaml`` and ``card/card.yaml``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mlflow.exceptions import MlflowException

from mlflow_monitor.adapters.mlflow.client import client, guarded, quiet_downloads
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import TAG_CARD_RUN
from mlflow_monitor.verdicts.window_state import Attempt, settle

__all__ = [
    "CARD_END",
    "CARD_START",
    "CARD_YAML",
    "SPEC_FILE",
    "CardFacts",
    "CardInputs",
    "RunFacts",
    "SignatureFacts",
    "VersionFacts",
    "collect_card_facts",
    "publish_card",
    "read_card_inputs",
    "replace_managed_block",
    "user_description",
]

CARD_START = "<!-- mlflow-monitor:card:start -->"
CARD_END = "<!-- mlflow-monitor:card:end -->"
_BLOCK = re.compile(re.escape(CARD_START) + r".*?" + re.escape(CARD_END), re.DOTALL)
_BASELINE_FILE = "baseline.json"
CARD_YAML = "card/card.yaml"  # the human card YAML, beside the card on the card run
SPEC_FILE = "monitor.yaml"  # the spec copy the pipeline logs at the baseline run's root
T = TypeVar("T")


@dataclass(frozen=True)
class RunFacts:
    """A run's identity, status, parameters, metrics and tags."""

    run_id: str
    name: str
    status: str
    start_time_ms: int
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class VersionFacts:
    """A registered model version as the registry describes it."""

    name: str
    version: str
    description: str
    created_ms: int
    source: str
    source_run_id: str | None
    aliases: tuple[str, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class SignatureFacts:
    """The logged model's flavors and signature columns as ``name: type`` texts."""

    flavors: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class CardFacts:
    """Everything a card is filled from (the human YAML aside)."""

    version: VersionFacts
    signature: SignatureFacts | None
    source_run: RunFacts | None
    baseline_run: RunFacts | None
    baseline_json: object | None
    windows: tuple[RunFacts, ...]
    last_results: object | None


class _Reader:
    def __init__(self, tracking_uri: str | None) -> None:
        self.runs = MonitorRuns(tracking_uri)
        self.uri = self.runs.tracking_uri
        self.client = client(tracking_uri)

    def call(self, what: str, func: Callable[[], T]) -> T:
        return guarded(self.uri, what, func)

    def run(self, run_id: str | None) -> RunFacts | None:
        if not run_id:
            return None
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return None
        return _run_facts(run)


def collect_card_facts(
    model: str, version: str, *, tracking_uri: str | None = None, windows: int = 5
) -> CardFacts:
    """Read every fact a card needs; ``RegistryError`` naming the version when it is unknown."""
    reader = _Reader(tracking_uri)
    state = reader.runs.version(model, str(version))  # names an unknown version
    mv = reader.call(
        f"reading model version {model}/{version}",
        lambda: reader.client.get_model_version(model, str(version)),
    )
    facts = _version_facts(mv)
    baseline = reader.run(state.baseline_run_id)
    recent = _counting_windows(reader, model, str(version))[-windows:] if windows > 0 else []
    window_runs = tuple(r for r in (reader.run(a.run_id) for a in recent) if r is not None)
    last = state.last_run_id
    return CardFacts(
        version=facts,
        signature=_signature(reader, model, str(version)),
        source_run=reader.run(facts.source_run_id),
        baseline_run=baseline,
        baseline_json=_baseline_json(reader, baseline.run_id) if baseline else None,
        windows=window_runs,
        last_results=reader.runs.read_json(last, "results.json") if last else None,
    )


def _counting_windows(reader: _Reader, model: str, version: str) -> list[Attempt]:
    """The result that counts for each window (``verdicts.window_state.settle``: the newest
    finished attempt, never a superseded, failed or running one), in window order (end, start)."""
    attempts = reader.runs.window_attempts(model, version)
    settled = settle(attempts)
    counting = [
        a for a in attempts if a.status == "FINISHED" and a.window_end and settled.counts(a.run_id)
    ]
    return sorted(counting, key=lambda a: (a.window_end or "", a.window_start or ""))


def _version_facts(mv: object) -> VersionFacts:
    return VersionFacts(
        name=str(getattr(mv, "name", "")),
        version=str(getattr(mv, "version", "")),
        description=str(getattr(mv, "description", "") or ""),
        created_ms=int(getattr(mv, "creation_timestamp", 0) or 0),
        source=str(getattr(mv, "source", "") or ""),
        source_run_id=getattr(mv, "run_id", None) or None,
        aliases=tuple(getattr(mv, "aliases", ()) or ()),
        tags=dict(getattr(mv, "tags", {}) or {}),
    )


def _run_facts(run: object) -> RunFacts:
    info, data = getattr(run, "info"), getattr(run, "data")  # noqa: B009
    return RunFacts(
        run_id=str(info.run_id),
        name=str(info.run_name or ""),
        status=str(info.status),
        start_time_ms=int(info.start_time or 0),
        params=dict(data.params),
        metrics={k: float(v) for k, v in data.metrics.items()},
        tags=dict(data.tags),
    )


def _signature(reader: _Reader, model: str, version: str) -> SignatureFacts | None:
    """Flavors and signature from the logged model's MLmodel file; None when unreadable."""
    import mlflow.artifacts
    from mlflow.models import Model

    try:
        root = reader.client.get_model_version_download_uri(model, version)
        with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=root.rstrip("/") + "/MLmodel",
                dst_path=tmp,
                tracking_uri=reader.uri,
            )
            logged = Model.load(path)
    except (MlflowException, OSError, ValueError):
        return None
    signature = logged.signature
    return SignatureFacts(
        flavors=tuple(sorted(logged.flavors)),
        inputs=_schema_texts(signature.inputs) if signature else (),
        outputs=_schema_texts(signature.outputs) if signature else (),
    )


def _schema_texts(schema: object) -> tuple[str, ...]:
    if schema is None:
        return ()
    texts = []
    for item in getattr(schema, "inputs", []):
        name, kind = getattr(item, "name", None), getattr(item, "type", None)
        texts.append(f"{name}: {getattr(kind, 'name', kind)}" if name else str(item))
    return tuple(texts)


def _baseline_json(reader: _Reader, run_id: str) -> object | None:
    """The baseline run's ``baseline.json`` wherever it was logged (top level or one folder)."""
    listing = reader.call(
        f"listing artifacts of run {run_id}", lambda: reader.client.list_artifacts(run_id)
    )
    candidates = [f.path for f in listing if f.path.endswith(_BASELINE_FILE) and not f.is_dir]
    for folder in (f.path for f in listing if f.is_dir):
        inner = reader.call(
            f"listing artifacts of run {run_id}",
            lambda d=folder: reader.client.list_artifacts(run_id, d),  # type: ignore[misc]
        )
        candidates += [f.path for f in inner if f.path.endswith("/" + _BASELINE_FILE)]
    for path in candidates:
        body = reader.runs.read_json(run_id, path)
        if body is not None:
            return body
    return None


@dataclass(frozen=True)
class CardInputs:
    """The texts a baseline run keeps for its card: the spec copy and the human card YAML."""

    run_id: str
    spec_text: str | None
    card_yaml: str | None


def read_card_inputs(run_id: str, *, tracking_uri: str | None = None) -> CardInputs:
    """``monitor.yaml`` and ``card/card.yaml`` of ``run_id``; None for a file the run lacks.

    Only listed files are downloaded, so an unreachable store is an error, not a missing file.
    """
    reader = _Reader(tracking_uri)
    return CardInputs(
        run_id,
        _artifact_text(reader, run_id, SPEC_FILE),
        _artifact_text(reader, run_id, CARD_YAML),
    )


def _artifact_text(reader: _Reader, run_id: str, path: str) -> str | None:
    folder = path.rpartition("/")[0] or None
    listing = reader.call(
        f"listing artifacts of run {run_id}",
        lambda: reader.client.list_artifacts(run_id, folder),
    )
    if not any(f.path == path and not f.is_dir for f in listing):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return reader.runs.download(run_id, path, Path(tmp)).read_text(encoding="utf-8")


# -- publication ---------------------------------------------------------------------------------
def publish_card(
    model: str,
    version: str,
    files: Sequence[Path],
    *,
    run_ids: Sequence[str],
    card_run_id: str | None,
    summary: str,
    card_yaml: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Log the card files on each run, tag the version, update the description's managed block.

    Returns the new description. ``card_run_id`` (the baseline run, usually) is recorded in the
    version tag ``monitor.card_run_id`` so gates can check that a card is attached; the human
    card YAML the card was rendered from (``card_yaml``) is logged there as ``card/card.yaml``.
    """
    reader = _Reader(tracking_uri)
    for run_id in dict.fromkeys(run_ids):
        for file in files:
            reader.runs.log_file(run_id, file)
    if card_run_id and card_yaml is not None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / CARD_YAML.rpartition("/")[2]
            local.write_text(card_yaml, encoding="utf-8")
            reader.runs.log_file(card_run_id, local, CARD_YAML.rpartition("/")[0])
    if card_run_id:
        reader.runs.set_version_tags(model, version, {TAG_CARD_RUN: card_run_id})
    mv = reader.call(
        f"reading model version {model}/{version}",
        lambda: reader.client.get_model_version(model, str(version)),
    )
    description = replace_managed_block(str(mv.description or ""), summary)
    reader.call(
        f"updating the description of {model}/{version}",
        lambda: reader.client.update_model_version(model, str(version), description=description),
    )
    return description


def replace_managed_block(description: str, summary: str) -> str:
    """``description`` with the text between the card markers replaced by ``summary``.

    Text outside the markers is kept byte for byte; without markers the block is appended
    after the user's text, separated by a blank line.
    """
    block = f"{CARD_START}\n{summary.strip()}\n{CARD_END}"
    if _BLOCK.search(description):
        return _BLOCK.sub(lambda _: block, description, count=1)
    if not description.strip():
        return block
    return f"{description.rstrip()}\n\n{block}"


def user_description(description: str) -> str:
    """The user's own part of a description (the managed block removed)."""
    return _BLOCK.sub("", description).strip()
