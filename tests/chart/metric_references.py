"""Metric names referenced by PromQL expressions, and the sample names a registry exports.

The chart's dashboard and alert rules may only use metrics the service exports. The chart
tests compare them with ``service.metrics.Metrics`` on a fresh registry; a live-scrape test
can compare the same references with the names on a real /metrics page.

The PromQL scan is deliberately small: it drops strings, label matchers, range and
subquery brackets, grouping clauses, offsets and Grafana variables, then keeps every
identifier that is not a keyword and not a function or aggregation call. Metric names
given only through ``{__name__=...}`` matchers are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

# Suffixes of the samples each metric family type produces in the text exposition format.
_SAMPLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
     "group_right", "offset", "atan2", "inf", "nan", "start", "end"}
)  # fmt: skip
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_MODIFIERS = re.compile(r"\b(?:offset\s+-?\w+|@\s*[\w.()]+)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<args>.*)\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


def referenced_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads."""
    text = _GRAFANA_VARIABLE.sub("", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _MODIFIERS.sub("", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        is_call = text[match.end() :].lstrip().startswith("(")
        if not is_call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def exported_sample_names(registry: CollectorRegistry) -> set[str]:
    """Names of the samples the registry's metric families expose on /metrics.

    Derived from the family types, so labelled metrics that have not been observed yet
    (and so expose no sample) are included.
    """
    names: set[str] = set()
    for family in registry.collect():
        suffixes = _SAMPLE_SUFFIXES.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def dashboard_expressions(dashboard: Mapping[str, Any]) -> list[str]:
    """PromQL of every panel target and of every query variable of a Grafana dashboard."""
    expressions = [
        target["expr"]
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            expressions.extend(_variable_expressions(variable.get("query")))
    return expressions


def rule_expressions(groups: Iterable[Mapping[str, Any]]) -> list[str]:
    """PromQL of every rule in Prometheus rule groups (``spec.groups`` of a PrometheusRule)."""
    return [rule["expr"] for group in groups for rule in group.get("rules", [])]


def _panels(panels: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _variable_expressions(query: Any) -> list[str]:
    text = query.get("query", "") if isinstance(query, Mapping) else str(query or "")
    if match := _LABEL_VALUES.match(text):
        # label_values(label) or label_values(<series selector>, label)
        selector, comma, _label = match.group("args").rpartition(",")
        return [selector] if comma else []
    if match := _QUERY_RESULT.match(text):
        return [match.group("expr")]
    return []
