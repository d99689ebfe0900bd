"""The PromQL metric-name scan and the exported-name computation it is compared with."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from .metric_references import (
    dashboard_expressions,
    exported_sample_names,
    referenced_metric_names,
    rule_expressions,
)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum by (le) (rate(a_bucket{job="x",le!="+Inf"}[5m]))', {"a_bucket"}),
        ("histogram_quantile(0.99, sum(rate(b_bucket[$__rate_interval])) by (le))", {"b_bucket"}),
        (
            "(x > 0) unless on (namespace, job) (sum by (job) (rate(y_total[5m])) > 0)",
            {"x", "y_total"},
        ),
        ("a / ignoring(code) group_left b offset 1h", {"a", "b"}),
        ('max(c{namespace="$namespace",job=~"${job}"}) > 1e3', {"c"}),
        ('label_replace(d, "dst", "$1", "src", "(.*)")', {"d"}),
        ("deriv(e[15m:1m]) and on() vector(1)", {"e"}),
        ("sum(f @ end())", {"f"}),
    ],
)
def test_referenced_metric_names_skips_functions_labels_and_keywords(
    expr: str, names: set[str]
) -> None:
    assert referenced_metric_names(expr) == names


def test_exported_sample_names_follow_the_exposition_format() -> None:
    registry = CollectorRegistry()
    Counter("jobs", "", ["kind"], registry=registry)
    Gauge("depth", "", registry=registry)
    Histogram("latency_seconds", "", registry=registry)
    Summary("size_bytes", "", registry=registry)
    assert exported_sample_names(registry) == {
        "jobs_total",
        "depth",
        "latency_seconds_bucket",
        "latency_seconds_sum",
        "latency_seconds_count",
        "size_bytes",
        "size_bytes_sum",
        "size_bytes_count",
    }


def test_dashboard_expressions_include_nested_panels_and_query_variables() -> None:
    dashboard = {
        "panels": [
            {"targets": [{"expr": "a"}]},
            {"type": "row", "panels": [{"targets": [{"expr": "b"}, {"expr": ""}]}]},
        ],
        "templating": {
            "list": [
                {"type": "datasource", "query": "prometheus"},
                {"type": "query", "query": {"query": 'label_values(c{x="1,2"}, job)'}},
                {"type": "query", "query": "label_values(namespace)"},
                {"type": "query", "query": "query_result(max(d))"},
            ]
        },
    }
    assert dashboard_expressions(dashboard) == ["a", "b", 'c{x="1,2"}', "max(d)"]


def test_rule_expressions_cover_every_group() -> None:
    groups = [{"rules": [{"alert": "A", "expr": "a"}]}, {"rules": [{"record": "r", "expr": "b"}]}]
    assert rule_expressions(groups) == ["a", "b"]
