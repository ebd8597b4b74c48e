"""Model cards on real MLflow, filled by a real baseline and monitoring run (papermill included)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.card_store import CARD_END, CARD_START, collect_card_facts
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.cli import main
from mlflow_monitor.contract import (
    KIND_WINDOW,
    TAG_HEALTH,
    TAG_RUN_NOTE,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
)
from mlflow_monitor.spec import load_spec
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows import monitor_window as monitor
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.model_cards import HumanCard, build_context, refresh_card
from mlflow_monitor.workflows.version_state import settle_version
from mlflow_monitor.workflows.window_history import window_history

pytestmark = [
    pytest.mark.integration,
    # the fixture's model keeps integer inputs on purpose (the card shows the signature as logged)
    pytest.mark.filterwarnings("ignore:.*Inferred schema contains integer:UserWarning"),
]

MODEL = "card-demo"
USER_TEXT = "Owned by retention analytics.\n\nData contract: ticket ML-7."
SECTIONS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
    "Monitoring",
]


@dataclass(frozen=True)
class Monitored:
    uri: str
    root: Path
    spec: Path
    baseline_run: str
    window_run: str


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    """The demo's churn model, spec (gender protected, four-fifths rule, card.yaml) and data:
    baseline + one stable window."""
    root = tmp_path_factory.mktemp("cards")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec = demo.write_demo_spec(root / "monitor.yaml", model=MODEL)

    model = demo.train_churn_model(demo.make_churn(3000, seed=1, start=demo.START))
    reference = demo.score(model, demo.make_churn(2000, seed=2, start=demo.START))
    reference.to_parquet(root / "reference.parquet", index=False)
    features = reference[demo.NUMERICAL + demo.CATEGORICAL].head(20)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("training", artifact_location=(root / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_params({"learning_rate": 0.1})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(features, model.predict(features)),  # type: ignore[attr-defined]
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    client.create_model_version(
        MODEL, info.model_uri, run_id=run.info.run_id, description=USER_TEXT
    )
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]

    baseline = build_baseline_run(spec, "1", root / "reference.parquet", tracking_uri=uri)
    plan, frame = demo.demo_windows(1500)[0]
    window = root / "window.parquet"
    demo.score(model, frame).to_parquet(window, index=False)
    result = monitor.run_window(
        spec,
        "1",
        window,
        tracking_uri=uri,
        window_start=plan.start,
        window_end=plan.start + timedelta(days=7),
    )
    return Monitored(uri, root, spec, baseline.run_id, result.run_id)


def artifact_text(m: Monitored, run_id: str, name: str) -> str:
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, dst_path=str(m.root / "dl" / run_id), tracking_uri=m.uri
    )
    return Path(path).read_text()


def test_card_attached_to_baseline_and_window_runs_with_every_section(monitored: Monitored) -> None:
    card = artifact_text(monitored, monitored.baseline_run, "model_card.md")
    assert card == artifact_text(monitored, monitored.window_run, "model_card.md")
    html = artifact_text(monitored, monitored.baseline_run, "model_card.html")
    for section in SECTIONS:
        assert f"\n## {section}\n" in card and f">{section}</h2>" in html
    assert "**Owners:** Retention analytics <retention-ml@example.com>" in card
    assert "Retention analytics &lt;retention-ml@example.com&gt;" in html
    assert "tenure_months: double" in card  # the logged signature
    assert "| learning_rate | 0.1 |" in card  # the source run's parameters
    assert "Baseline reference: 2,000 rows" in card
    kept = artifact_text(monitored, monitored.baseline_run, "card/card.yaml")
    assert kept == (monitored.root / "card.yaml").read_text()  # the YAML beside the card


def test_disaggregated_tables_and_monitoring_section(monitored: Monitored) -> None:
    card = artifact_text(monitored, monitored.window_run, "model_card.md")
    quantitative = card.split("## Quantitative analyses")[1].split("## Ethical")[0]
    assert "### gender (protected attribute)" in quantitative
    assert "| Group | Rows (baseline → window) |" in quantitative
    for group in ("female", "male"):
        row = next(ln for ln in quantitative.splitlines() if ln.startswith(f"| {group} |"))
        assert " → " in row  # reference → latest window
        cells = row.strip("|").split(" | ")
        assert all(c.strip()[0].isdigit() for c in cells[1].split(" → "))  # rows on both sides
        # both sides' fairness reports give each rate its interval and denominator
        assert " n=" in cells[2].split(" → ")[0] and " n=" in cells[2].split(" → ")[1], row
        assert "[" in cells[2].split(" → ")[1], row
    assert "### region (segment)" in quantitative and "### contract (segment)" in quantitative
    assert (
        "| roc_auc |" in quantitative.split("### region")[1].splitlines()[2]
        or "roc_auc" in quantitative.split("### region")[1].splitlines()[2]
    )
    monitoring = card.split("## Monitoring")[1]
    assert "- **Current health:** healthy" in monitoring
    trend = [ln for ln in monitoring.splitlines() if monitored.window_run in ln]
    assert len(trend) == 1 and "| healthy |" in trend[0]
    header = next(ln for ln in monitoring.splitlines() if ln.startswith("| Window | Health |"))
    assert header.startswith("| Window | Health | perf/roc_auc |")  # the critical check first
    assert "policy/four_fifths_rule/selection_rate_impact_ratio/gender=female" in monitoring
    status = next(ln for ln in monitoring.splitlines() if ln.startswith("- **Policy status:**"))
    assert " rule checks: " in status and "passing" not in status  # counted per status
    rule = next(ln for ln in monitoring.splitlines() if "gender=female |" in ln)
    assert "(95% katz_log, n=" in rule or "not judged: insufficient data (" in rule, rule


def test_description_keeps_the_users_text_on_refresh(monitored: Monitored) -> None:
    client = MlflowClient(monitored.uri, monitored.uri)
    description = client.get_model_version(MODEL, "1").description
    assert description.startswith(USER_TEXT)
    assert description.count(CARD_START) == 1 and description.count(CARD_END) == 1
    assert "Health: **healthy**" in description

    edited = description.replace("ticket ML-7", "ticket ML-8") + "\n\nReviewed 2025-03."
    client.update_model_version(MODEL, "1", description=edited)
    refreshed = refresh_card(
        load_spec(monitored.spec),
        MODEL,
        "1",
        None,
        tracking_uri=monitored.uri,
        card_dir=monitored.root,
    )
    after = client.get_model_version(MODEL, "1").description
    assert after == refreshed.description
    assert after.startswith(USER_TEXT.replace("ML-7", "ML-8"))
    assert after.endswith("Reviewed 2025-03.") and after.count(CARD_START) == 1
    assert (
        client.get_model_version(MODEL, "1").tags["monitor.card_run_id"] == monitored.baseline_run
    )


def test_card_command_renders_on_demand(monitored: Monitored, tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "card",
        "--tracking-uri",
        monitored.uri,
        "--model",
        MODEL,
        "--version",
        "1",
        "--spec",
        str(monitored.spec),
        "--out",
        str(tmp_path),
        "--no-publish",
    ]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    card = (tmp_path / "model_card.md").read_text()
    assert "Rank active customers by churn risk" in card  # the card YAML beside the spec
    assert (tmp_path / "model_card.html").read_text().startswith("<!DOCTYPE html>")
    missing = runner.invoke(main, [*args[:6], "9", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and f"{MODEL}/9 not found" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("owner: typo\n")
    wrong = runner.invoke(main, [*args, "--card", str(bad)])
    assert wrong.exit_code == 2 and "unknown key 'owner'" in wrong.output


INTENDED_USE = "Rank active customers by churn risk"
NOT_PUBLISHED = "card not published: human-written fields are missing"


def card_cli(m: Monitored, version: str, out: Path, *extra: str) -> tuple[int, str]:
    args = ["card", "--tracking-uri", m.uri, "--model", MODEL, "--version", version]
    done = CliRunner().invoke(main, [*args, "--out", str(out), *extra])
    return done.exit_code, done.output


def fresh_artifact(m: Monitored, run_id: str, name: str, dst: Path) -> str:
    """An artifact downloaded into a folder of its own (no stale copy from an earlier read)."""
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, dst_path=str(dst), tracking_uri=m.uri
    )
    return Path(path).read_text()


def test_card_without_spec_uses_what_the_baseline_run_kept(
    monitored: Monitored, tmp_path: Path
) -> None:
    code, output = card_cli(monitored, "1", tmp_path / "out")
    assert code == 0, output
    assert NOT_PUBLISHED not in output
    card = (tmp_path / "out" / "model_card.md").read_text()
    assert INTENDED_USE in card  # card/card.yaml of the baseline run
    assert "**Owners:** Retention analytics <retention-ml@example.com>" in card
    assert "Protected attributes: gender" in card  # monitor.yaml of the baseline run
    assert "roc_auc: max_drop 0.05 — critical" in card
    published = fresh_artifact(monitored, monitored.baseline_run, "model_card.md", tmp_path / "dl")
    assert INTENDED_USE in published and published == card  # republished, not degraded
    description = MlflowClient(monitored.uri, monitored.uri).get_model_version(MODEL, "1")
    assert "Intended use: Rank active customers" in description.description


def new_version(m: Monitored, description: str = "") -> str:
    """Another version of the same logged model (MLflow resolves ``models:/m-...`` globally)."""
    client = MlflowClient(m.uri, m.uri)
    first = client.get_model_version(MODEL, "1")
    mlflow.set_tracking_uri(m.uri)
    try:
        made = client.create_model_version(
            MODEL, first.source, run_id=first.run_id, description=description
        )
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return str(made.version)


@pytest.fixture(scope="module")
def bare_version(monitored: Monitored) -> str:
    """Version 2 of the same model, its baseline built from a spec without a `card:` key."""
    spec = monitored.root / "bare" / "monitor.yaml"
    spec.parent.mkdir()
    text = monitored.spec.read_text()
    assert "card: card.yaml\n" in text
    spec.write_text(text.replace("card: card.yaml\n", ""))
    version = new_version(monitored)
    build_baseline_run(
        spec, version, monitored.root / "reference.parquet", tracking_uri=monitored.uri
    )
    return version


def test_card_without_any_card_yaml_is_not_published_over_the_existing_card(
    monitored: Monitored, bare_version: str, tmp_path: Path
) -> None:
    client = MlflowClient(monitored.uri, monitored.uri)
    before = client.get_model_version(MODEL, bare_version)
    baseline = before.tags["monitor.baseline_run_id"]
    assert before.tags["monitor.card_run_id"] == baseline  # the pipeline published a card
    published = fresh_artifact(monitored, baseline, "model_card.md", tmp_path / "dl0")
    time.sleep(1.1)  # a re-published card would carry a later "Generated ... at" second

    code, output = card_cli(monitored, bare_version, tmp_path / "out")
    assert code == 0, output
    assert NOT_PUBLISHED in output and f"on run {baseline} is kept" in output
    card = (tmp_path / "out" / "model_card.md").read_text()
    assert "**Primary intended uses:** Not provided" in card
    assert "Protected attributes: gender" in card  # the stored spec is still used
    assert card != published
    assert fresh_artifact(monitored, baseline, "model_card.md", tmp_path / "dl1") == published
    after = client.get_model_version(MODEL, bare_version)
    assert after.description == before.description

    # --card publishes, keeps the YAML beside the card; the next bare `card` reuses it.
    code, output = card_cli(
        monitored, bare_version, tmp_path / "out2", "--card", str(monitored.root / "card.yaml")
    )
    assert code == 0 and NOT_PUBLISHED not in output, output
    assert INTENDED_USE in fresh_artifact(monitored, baseline, "model_card.md", tmp_path / "dl2")
    kept = fresh_artifact(monitored, baseline, "card/card.yaml", tmp_path / "dl3")
    assert kept == (monitored.root / "card.yaml").read_text()
    code, output = card_cli(monitored, bare_version, tmp_path / "out3")
    assert code == 0 and NOT_PUBLISHED not in output, output
    assert INTENDED_USE in (tmp_path / "out3" / "model_card.md").read_text()


def test_bare_card_is_published_when_no_card_exists_yet(
    monitored: Monitored, tmp_path: Path
) -> None:
    client = MlflowClient(monitored.uri, monitored.uri)
    version = new_version(monitored, "mine")
    code, output = card_cli(monitored, version, tmp_path / "a", "--no-publish")
    assert code == 0 and NOT_PUBLISHED not in output, output
    assert (
        "**Primary intended uses:** Not provided" in (tmp_path / "a" / "model_card.md").read_text()
    )
    assert client.get_model_version(MODEL, version).description == "mine"

    code, output = card_cli(monitored, version, tmp_path / "b")  # no baseline, no card yet
    assert code == 0 and NOT_PUBLISHED not in output, output
    description = client.get_model_version(MODEL, version).description
    assert description.startswith("mine\n\n" + CARD_START)
    assert "Intended use: Not provided" in description


def test_baseline_description_links_its_notebooks_and_card(monitored: Monitored) -> None:
    client = MlflowClient(monitored.uri)
    run = client.get_run(monitored.baseline_run)
    note = run.data.tags[TAG_RUN_NOTE]
    link = f"#/experiments/{run.info.experiment_id}/runs/{monitored.baseline_run}/artifacts/"
    for path in ("notebooks/baseline.html", "notebooks/baseline.ipynb", "model_card.html"):
        assert f"({link}{path})" in note, note


def _window_run(runs: MonitorRuns, version: str, end: datetime, health: str) -> str:
    """A finished window run as ``run`` leaves it (its tags and description), without the data:
    what the card and the version's state are read from."""
    start = end - timedelta(days=7)
    text = "%Y-%m-%dT%H:%M:%SZ"
    run_id = runs.start_run(
        MODEL,
        version,
        kind=KIND_WINDOW,
        run_name=f"v{version} {end:%Y-%m-%d}",
        tags={
            TAG_WINDOW_START: start.strftime(text),
            TAG_WINDOW_END: end.strftime(text),
            TAG_HEALTH: health,
            TAG_RUN_NOTE: f"**Health: {health}** · {MODEL} v{version}",
        },
    )
    runs.end_run(run_id, "FINISHED")
    time.sleep(0.01)  # the next attempt starts later (attempts are ordered by start)
    return run_id


def test_recent_windows_are_the_last_counting_windows_and_a_superseded_run_says_so(
    monitored: Monitored,
) -> None:
    """Six windows, then a rerun of the third: the card's table lists the last five windows,
    each once (the rerun, not the run it superseded), in window order, as the trend figure does;
    the superseded run's description opens with the line saying so, once."""
    version = new_version(monitored)
    runs = MonitorRuns(monitored.uri)
    ends = [datetime(2025, 3, 3, tzinfo=timezone.utc) + timedelta(days=7 * i) for i in range(6)]
    first = [_window_run(runs, version, end, "healthy") for end in ends]
    rerun = _window_run(runs, version, ends[2], "warning")
    settle_version(runs, MODEL, version)

    expected = [first[1], rerun, first[3], first[4], first[5]]
    facts = collect_card_facts(MODEL, version, tracking_uri=monitored.uri)
    assert [w.run_id for w in facts.windows] == expected
    history = window_history(MODEL, version=version, tracking_uri=monitored.uri)
    assert [w.run_id for w in history.windows][-5:] == expected
    context = build_context(facts, HumanCard(), None, now=datetime.now(timezone.utc))
    assert [w.run_id for w in context.windows] == expected
    assert [w.health for w in context.windows] == ["healthy", "warning", *["healthy"] * 3]

    client = MlflowClient(monitored.uri)
    line = f"**Superseded** by run `{rerun}` (a newer attempt of this window); this run no longer"
    note = client.get_run(first[2]).data.tags[TAG_RUN_NOTE]
    assert note.startswith(line) and note.endswith(f"**Health: healthy** · {MODEL} v{version}")
    settle_version(runs, MODEL, version)  # settled again: the line is not added twice
    assert client.get_run(first[2]).data.tags[TAG_RUN_NOTE] == note
    assert "Superseded" not in client.get_run(rerun).data.tags[TAG_RUN_NOTE]
