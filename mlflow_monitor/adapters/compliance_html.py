"""The jinja2 template of ``reports/compliance_report.html`` (one self-contained HTML file).

HTML lines are kept whole for readability of the markup, hence the line-length exemption.
"""

# ruff: noqa: E501

from __future__ import annotations

__all__ = ["TEMPLATE"]

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Compliance report - {{ r.model }} v{{ r.model_version }}</title>
<style>
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.verdict { font-size: 1.4em; font-weight: bold; padding: 0.4em 0.8em; display: inline-block; }
.fail, .s-fail { color: #fff; background: #c62828; } .warn, .s-warn { background: #ffe0b2; }
.pass, .s-pass { background: #c8e6c9; } .insufficient_data, .s-insufficient_data { background: #eee; }
.not_evaluated, .s-not_evaluated { background: #eee; }
.summary li { margin: 0.3em 0; } .meta td { text-align: left; }
.note { color: #666; font-size: 0.85em; }
</style></head><body>
<h1>Fairness compliance report</h1>
<table class="meta">
<tr><th class="l">Model</th><td>{{ r.model }} version {{ r.model_version }}</td></tr>
<tr><th class="l">Data window</th><td>{{ r.window_start or "(start of data)" }} to {{ r.window_end or "(end of data)" }}</td></tr>
<tr><th class="l">Rows in window</th><td>{{ "{:,}".format(r.evaluation.report.rows) }}{% if r.evaluation.decision.excluded_rows %} ({{ r.evaluation.decision.excluded_rows }} without a decision excluded){% endif %}</td></tr>
<tr><th class="l">Baseline rows</th><td>{{ "{:,}".format(r.baseline_rows) if r.baseline_rows is not none else "no baseline" }}</td></tr>
<tr><th class="l">Decision</th><td>{% if r.evaluation.decision.source == "score" %}{{ r.evaluation.decision.column }} &ge; {{ r.evaluation.decision.decision_threshold }}{% else %}{{ r.evaluation.decision.column }} (model prediction){% endif %}; a positive decision is {{ words.decision }}</td></tr>
<tr><th class="l">Confidence level</th><td>{{ "{:.0%}".format(r.level) }}</td></tr>
<tr><th class="l">Labels</th><td>{{ "available" if r.evaluation.report.labeled else "not yet available (label-free mode)" }}</td></tr>
<tr><th class="l">Generated</th><td>{{ r.generated_at }}</td></tr>
</table>

<h2>Summary</h2>
<div class="verdict {{ r.status }}">{{ r.verdict }}</div>
<ul class="summary">{% for line in r.summary %}<li>{{ line }}</li>{% endfor %}</ul>
{% if r.evaluation.policies %}
<h3>Adversely affected groups</h3>
{% if r.adverse_groups %}
<p class="note">The groups on which a policy rule warns or fails, with the rate the rule read and the group it was compared with.</p>
<table class="adverse"><tr><th class="l">Attribute</th><th class="l">Group</th><th class="l">Rate read (counts, interval)</th><th class="l">Compared with</th><th class="l">Rules that warn or fail</th><th>Result</th></tr>
{% for a in r.adverse_groups %}<tr><td class="l">{{ a.attribute }}</td><td class="l">{{ a.group }}</td><td class="l">{{ a.rate_name }}: {{ a.rate }}</td><td class="l">{{ a.reference or "n/a" }}</td><td class="l">{{ a.rules | join("; ") }}</td><td class="s-{{ a.status }}">{{ a.status }}</td></tr>{% endfor %}
</table>
{% else %}
<p class="adverse">None: no rule finds a gap.</p>
{% endif %}
{% endif %}
{% if r.rate_ranges %}
<h3>Lowest and highest {{ words.short("selection_rate") }} per attribute</h3>
<p class="note">For information only: a difference between groups is a finding only when a policy rule on it warns or fails.</p>
<table class="ranges"><tr><th class="l">Attribute</th><th class="l">Lowest</th><th class="l">{{ words.short("selection_rate") }} (counts) [interval]</th><th class="l">Highest</th><th class="l">{{ words.short("selection_rate") }} (counts) [interval]</th></tr>
{% for x in r.rate_ranges %}<tr><td class="l">{{ x.attribute }}</td><td class="l">{{ x.lowest }}</td><td class="l">{{ x.lowest_rate }}</td><td class="l">{{ x.highest }}</td><td class="l">{{ x.highest_rate }}</td></tr>{% endfor %}
</table>
{% endif %}

<h2>How to read a rule's status</h2>
<ul class="reading">{% for line in r.reading %}<li>{{ line }}</li>{% endfor %}</ul>

<h2>Policy rules</h2>
<p>{{ r.checks }}.</p>
<table><tr><th class="l">Pack</th><th class="l">Rule</th><th class="l">Source</th><th>Threshold</th><th>Severity</th><th>Result</th><th class="l">Groups</th></tr>
{% for v in rules %}<tr><td class="l">{{ v.result.pack }}</td><td class="l">{{ v.title }}</td>
<td class="l">{{ v.result.rule.source }}</td><td>{{ v.rate_name }} {{ v.result.rule.measure | replace("_", " ") }} {{ v.result.rule.comparison }} {{ v.result.rule.threshold }}</td>
<td>{{ v.result.rule.severity }}</td><td class="s-{{ v.result.status }}">{{ v.result.status }}</td><td class="l">{{ v.counts }}</td></tr>{% endfor %}
</table>

{% for v in rules %}
<h3>{{ v.result.pack }} / {{ v.result.rule.id }}: {{ v.title }} &mdash; <span class="s-{{ v.result.status }}">{{ v.result.status }}</span></h3>
<p>{{ v.explanation }} <span class="note">Source: {{ v.result.rule.source }}. Read on the {{ v.rate_name }}. {{ v.counts }}.</span></p>
{% for attribute, rows in v.tables %}
<h4>{{ attribute }}{% if ":" in attribute %} (intersectional categories){% endif %}</h4>
<table>
<tr><th class="l">Category</th><th>Number of individuals</th><th>{{ words.selected }}</th><th class="l">{{ v.rate_name }} (counts, interval)</th>
<th class="l">Compared with</th><th class="l">Their {{ v.rate_name }}</th><th class="l">{{ v.result.rule.measure | replace("_", " ") }} (interval)</th><th>Result</th><th class="l">Why</th></tr>
{% for row in rows %}<tr><td class="l">{{ row.group }}</td><td>{{ "{:,}".format(row.size) }}</td><td>{{ "{:,}".format(row.selected) if row.selected is not none else "n/a" }}</td><td class="l">{{ row.rate }}</td>
<td class="l">{{ row.reference_group }}</td><td class="l">{{ row.reference_rate }}</td><td class="l">{{ row.measure }}</td>
<td class="s-{{ row.status }}">{{ row.status }}</td><td class="l note">{{ row.why }}</td></tr>{% endfor %}
</table>
{% endfor %}
{% for attribute, svg in v.charts %}<div>{{ svg }}</div>{% endfor %}
{% endfor %}

<h2>Group metrics</h2>
{% for t in groups %}
<h3>{{ t.attribute }} <span class="note">(ratios against {{ t.reference }})</span></h3>
<table><tr><th class="l">Group</th><th>Size</th>{% for m in t.metrics %}<th>{{ m }}</th><th>{{ m }} ratio</th>{% endfor %}</tr>
{% for row in t.rows %}<tr><td class="l">{{ row.group }}</td><td>{{ row.size }}</td>
{% for rate, ratio in row.cells %}<td>{{ rate }}</td><td>{{ ratio }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
<p class="note">Each rate: value (cases / denominator) [{{ "{:.0%}".format(r.level) }} Wilson interval]; each ratio: against the reference group, [{{ "{:.0%}".format(r.level) }} Katz log interval].{% if words.adverse %} Flag rate: the share of positive (adverse) decisions.{% endif %}</p>

<h2>Trend against the baseline</h2>
{% if trend %}
<p class="note">Two-proportion z-tests on each group's own denominators, Benjamini-Hochberg adjusted across all tests of this window. Every significant change is listed (whatever its metric), then the other {{ words.short("selection_rate") }}, FNR and FPR changes. Metrics shown: {{ trend_metrics }}.</p>
<table><tr><th class="l">Attribute</th><th class="l">Group</th><th class="l">Metric</th><th>Baseline</th><th>Window</th><th>Change</th>
<th>{{ "{:.0%}".format(r.level) }} interval of the change</th><th>n (baseline / window)</th><th>Adjusted p</th><th>Significant</th></tr>
{% for c in trend %}<tr><td class="l">{{ c.attribute }}</td><td class="l">{{ c.group }}</td><td class="l">{{ words.short(c.metric) }}</td>
<td>{{ c.baseline_value | pct }}</td><td>{{ c.current_value | pct }}</td><td>{{ c.change | num }}</td><td>{% if c.low is not none %}[{{ c.low | num }}, {{ c.high | num }}]{% else %}n/a{% endif %}</td>
<td>{{ c.baseline_n }} / {{ c.current_n }}</td><td>{{ c.p_adjusted | pvalue }}</td>
<td class="{{ 's-warn' if c.significant else '' }}">{{ "yes" if c.significant else ("not tested" if c.status != "tested" else "no") }}</td></tr>{% endfor %}
</table>
{% else %}<p>No baseline fairness to compare with.</p>{% endif %}
</body></html>
"""
