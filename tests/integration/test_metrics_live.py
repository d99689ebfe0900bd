"""The dashboard and the alert rules read only metrics a live service really exports."""

import json
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from tests.chart.metric_references import (
    dashboard_expressions,
    exported_sample_names,
    referenced_metric_names,
    rule_expressions,
)
from tests.chart.rendering import CHART_DIR, render_values
from tests.chart.scenarios import SCENARIOS
from tests.support.http_probes import http_get
from tests.support.kafka_io import Producer, collect, command

pytestmark = pytest.mark.broker


class _Scraped:
    """A /metrics page, shaped like a registry for ``exported_sample_names``."""

    def __init__(self, page: str) -> None:
        self.families = list(text_string_to_metric_families(page))

    def collect(self) -> list[Any]:
        return self.families


async def test_dashboard_and_alerts_reference_only_metrics_of_a_live_scrape(
    service: Settings,
) -> None:
    rid = f"ref-{uuid.uuid4()}"
    async with Producer(service) as producer:
        await producer.structured(command("referral.create", rid, {"name": "scraped"}))
        await producer.structured(command("referral.accept", rid))
        await producer.structured(command("referral.win", rid))
        await producer.structured(command("referral.accept", rid))  # illegal: rejected
        await producer.raw(b"not a command")
    await collect(service, [service.events_topic], lambda got: len(got) == 3)
    await collect(service, [service.rejections_topic, service.dlq_topic], lambda g: len(g) == 2)

    status, page = await http_get(service.http_port, "/metrics")
    scraped = _Scraped(page.decode())
    exported = exported_sample_names(scraped)
    dashboard = json.loads((CHART_DIR / "files/dashboards/referral-lifecycle.json").read_text())
    rules = render_values(SCENARIOS["monitoring-values"]).one("PrometheusRule")["spec"]["groups"]
    referenced = set().union(
        *map(referenced_metric_names, dashboard_expressions(dashboard) + rule_expressions(rules))
    )

    assert status == 200
    assert referenced - exported == set()
    samples = {s.name for family in scraped.families for s in family.samples}
    assert {
        "referrals_commands_total",
        "referrals_transitions_total",
        "referrals_events_published_total",
        "referrals_dead_letters_total",
        "referrals_time_to_accept_seconds_count",
        "referrals_time_to_close_seconds_count",
        "referrals_consumer_lag",
    } <= samples
