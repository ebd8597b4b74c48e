"""Policy packs: shipped packs, user packs, validation at the edge, overrides, parity, wording."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlflow_monitor.errors import SpecError
from mlflow_monitor.verdicts.policies import PolicyPack, load_pack, load_packs, shipped_packs

SHIPPED = ["equal_opportunity", "equalized_odds", "four_fifths_rule", "nyc_ll144_bias_audit"]

USER_PACK = """
name: lender_internal
title: Internal lending standard
source: Credit policy 4.2
rules:
  - id: precision_floor
    title: Precision at least 0.5 in every group
    source: Credit policy 4.2.1
    metric: precision
    measure: value
    comparison: ">="
    threshold: 0.5
    severity: warning
    applies_to: [sex]
    min_group_size: 100
"""


def test_every_shipped_pack_loads() -> None:
    assert shipped_packs() == SHIPPED
    packs = {name: load_pack(name) for name in SHIPPED}
    four_fifths = packs["four_fifths_rule"].rules[0]
    assert (four_fifths.metric, four_fifths.measure, four_fifths.reference) == (
        "selection_rate",
        "ratio",
        "highest",
    )
    assert four_fifths.comparison == ">=" and four_fifths.threshold == 0.8
    assert "1607.4" in four_fifths.source
    eo = packs["equal_opportunity"].rules[0]
    assert (eo.metric, eo.threshold, eo.severity) == ("fnr", 0.1, "critical")
    assert {r.metric for r in packs["equalized_odds"].rules} == {"fpr", "fnr"}
    ll144 = packs["nyc_ll144_bias_audit"]
    assert ll144.layout == "ll144"
    assert {r.applies_to for r in ll144.rules} == {"single", "intersections"}


def test_user_pack_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "internal.yaml"
    path.write_text(USER_PACK)
    pack = load_pack(str(path))
    rule = pack.rules[0]
    assert pack.name == "lender_internal" and rule.min_group_size == 100
    assert rule.covers("sex", False) and not rule.covers("race", False)
    assert rule.violated(0.4) and not rule.violated(0.5)


def test_unknown_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(USER_PACK.replace("    min_group_size: 100", "    min_group: 100"))
    with pytest.raises(SpecError, match=r"bad.yaml: unknown key 'rules.0.min_group'"):
        load_pack(str(path))


def test_unknown_metric_and_duplicate_ids_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(USER_PACK.replace("metric: precision", "metric: accuracy"))
    with pytest.raises(SpecError, match=r"metric 'accuracy' is not a group metric"):
        load_pack(str(path))
    rule = USER_PACK.split("rules:\n", 1)[1]
    path.write_text(USER_PACK + rule)
    with pytest.raises(SpecError, match=r"rule id 'precision_floor' is used twice"):
        load_pack(str(path))


def test_unknown_pack_name_lists_the_shipped_ones() -> None:
    with pytest.raises(SpecError, match=r"unknown policy pack 'four_fifth'.*four_fifths_rule"):
        load_pack("four_fifth")
    with pytest.raises(SpecError, match=r"missing.yaml: policy pack file not found"):
        load_pack("missing.yaml")


def test_overrides_replace_a_rule_threshold() -> None:
    packs = load_packs(
        ["four_fifths_rule", "equalized_odds"],
        {
            "four_fifths_rule.selection_rate_impact_ratio": 0.75,
            "equalized_odds.fpr_difference": 0.2,
        },
    )
    by_id = {(p.name, r.id): r.threshold for p in packs for r in p.rules}
    assert by_id[("four_fifths_rule", "selection_rate_impact_ratio")] == 0.75
    assert by_id[("equalized_odds", "fpr_difference")] == 0.2
    assert by_id[("equalized_odds", "fnr_difference")] == 0.1


def test_override_for_an_unknown_rule_names_the_key() -> None:
    with pytest.raises(SpecError, match=r"fairness.overrides: 'four_fifths_rule.nope'"):
        load_packs(["four_fifths_rule"], {"four_fifths_rule.nope": 0.7})


def test_parity_is_the_value_meaning_no_gap() -> None:
    packs = {name: load_pack(name) for name in SHIPPED}
    assert packs["four_fifths_rule"].rules[0].parity == 1.0
    assert packs["equal_opportunity"].rules[0].parity == 0.0  # abs_difference
    user = USER_PACK.replace("measure: value", "measure: difference")
    assert load_pack_text(user).rules[0].parity == 0.0
    assert load_pack_text(USER_PACK).rules[0].parity is None


def test_selection_rate_packs_speak_of_the_favourable_outcome_not_of_approval() -> None:
    for name in ("four_fifths_rule", "nyc_ll144_bias_audit"):
        rule = load_pack(name).rules[0]
        assert rule.metric == "selection_rate"
        assert "favourable outcome" in rule.explanation
        assert "fairness.favorable_outcome" in rule.explanation
    for name in SHIPPED:
        pack = load_pack(name)
        texts = [pack.description, *(r.explanation for r in pack.rules)]
        assert not any("approv" in t and "favourable" not in t for t in texts), name


def load_pack_text(text: str) -> PolicyPack:
    """A pack from YAML text (validated like a file)."""
    return PolicyPack.model_validate(yaml.safe_load(text))
