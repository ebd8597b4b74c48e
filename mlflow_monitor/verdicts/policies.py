"""Regulatory policy packs: YAML lists of fairness rules, shipped or the user's own.

A pack (``four_fifths_rule.yaml`` ...) names its regulation or guideline and lists rules; each
rule says which group metric it reads (``selection_rate``, ``fnr`` ...), how the group is
compared (``ratio``/``difference``/``abs_difference`` against the spec's reference group or the
highest/lowest-rate group, or the plain ``value``), the bound, the severity, the attributes it
applies to and the minimum group size. Validated with pydantic at the edge: an unknown key is an
error naming the key and the file. The spec names packs (shipped name or path) and may override
a rule's threshold with ``fairness.overrides: {"<pack>.<rule id>": value}``.

A rule is judged on evidence (``verdicts.fairness_checks``): the measured value with its
confidence interval against the threshold, ``parity`` being the value that means no gap. A
``selection_rate`` rule reads the rate of the favourable outcome: the selection rate, or with
``fairness.favorable_outcome: negative`` the share of negative decisions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlflow_monitor.errors import SpecError
from mlflow_monitor.resources import policies_dir
from mlflow_monitor.spec import Severity, first_error
from mlflow_monitor.stats.fairness import GROUP_METRICS, LABEL_FREE_METRICS

__all__ = [
    "Comparison",
    "PolicyPack",
    "PolicyRule",
    "load_pack",
    "load_packs",
    "shipped_packs",
]

Comparison = Literal[">=", ">", "<=", "<"]
Measure = Literal["ratio", "difference", "abs_difference", "value"]
RuleReference = Literal["reference_group", "highest", "lowest"]
AppliesTo = Literal["all", "single", "intersections"]
Layout = Literal["rules", "ll144"]
_PARITY: dict[str, float | None] = {
    "ratio": 1.0,
    "difference": 0.0,
    "abs_difference": 0.0,
    "value": None,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyRule(_Strict):
    """One rule, applied to every group of every attribute it covers."""

    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    title: str
    source: str
    metric: str
    measure: Measure = "ratio"
    reference: RuleReference = "reference_group"
    comparison: Comparison
    threshold: float
    severity: Severity = "critical"
    applies_to: AppliesTo | list[str] = "all"
    min_group_size: int | None = Field(default=None, ge=1)
    explanation: str = ""

    @model_validator(mode="after")
    def _known_metric(self) -> PolicyRule:
        if self.metric not in GROUP_METRICS:
            known = ", ".join(GROUP_METRICS)
            raise ValueError(f"metric {self.metric!r} is not a group metric ({known})")
        return self

    @property
    def needs_labels(self) -> bool:
        return self.metric not in LABEL_FREE_METRICS

    @property
    def parity(self) -> float | None:
        """The measured value that means no gap: 1 for a ratio, 0 for a difference."""
        return _PARITY[self.measure]

    def violated(self, value: float) -> bool:
        """True when ``value`` breaks the rule (``value`` may be +/-inf)."""
        ok = {
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "<=": value <= self.threshold,
            "<": value < self.threshold,
        }[self.comparison]
        return not ok

    def covers(self, attribute: str, is_intersection: bool) -> bool:
        """Whether the rule applies to an attribute (``single``: not an intersection)."""
        if isinstance(self.applies_to, list):
            return attribute in self.applies_to
        if self.applies_to == "single":
            return not is_intersection
        if self.applies_to == "intersections":
            return is_intersection
        return True


class PolicyPack(_Strict):
    """A named list of rules from one regulation or guideline."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    title: str
    source: str
    description: str = ""
    layout: Layout = "rules"
    rules: list[PolicyRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyPack:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule id {dupes[0]!r} is used twice")
        return self

    def with_threshold(self, rule_id: str, threshold: float) -> PolicyPack:
        rules = [
            r.model_copy(update={"threshold": threshold}) if r.id == rule_id else r
            for r in self.rules
        ]
        return self.model_copy(update={"rules": rules})


def shipped_packs() -> list[str]:
    """Names of the packs shipped inside the package."""
    return sorted(f.stem for f in policies_dir().glob("*.yaml"))


def load_pack(name_or_path: str | os.PathLike[str]) -> PolicyPack:
    """A shipped pack by name (``four_fifths_rule``) or a pack file by path."""
    text, source = _read(str(name_or_path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a policy pack must be a mapping")
    try:
        return PolicyPack.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {first_error(exc)}") from None


def load_packs(names: Sequence[str], overrides: dict[str, float] | None = None) -> list[PolicyPack]:
    """The spec's packs with ``fairness.overrides`` applied; a bad override key is an error."""
    packs = {p.name: p for p in (load_pack(n) for n in names)}
    for key, value in (overrides or {}).items():
        pack_name, _, rule_id = key.partition(".")
        pack = packs.get(pack_name)
        if pack is None or rule_id not in {r.id for r in pack.rules}:
            known = ", ".join(f"{p.name}.{r.id}" for p in packs.values() for r in p.rules)
            raise SpecError(
                f"fairness.overrides: {key!r} names no rule of the spec's policy packs"
                f" (known: {known or 'none'})"
            )
        packs[pack_name] = pack.with_threshold(rule_id, value)
    return list(packs.values())


def _read(name: str) -> tuple[str, str]:
    if name in shipped_packs():
        return (policies_dir() / f"{name}.yaml").read_text(), f"{name}.yaml"
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or os.sep in name or "/" in name:
        if not path.is_file():
            raise SpecError(f"{path}: policy pack file not found")
        return path.read_text(), str(path)
    known = ", ".join(shipped_packs())
    raise SpecError(f"fairness.policies: unknown policy pack {name!r} (shipped: {known})")
