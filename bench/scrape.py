"""What the benchmark reads from the service's ``/metrics``: the counters a phase's figures
are made of, and whether every worker holds an assignment."""

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families

from bench.processes import http_get

REBALANCES = "referrals_rebalances_total"


async def scrape(port: int | None) -> dict[str, float]:
    """Sample values of the service's /metrics that the report uses, summed over labels."""
    if port is None:
        return {}
    answer = await http_get(port, "/metrics")
    if answer is None or answer[0] != 200:
        return {}
    wanted = {
        "referrals_batch_processing_seconds_count",
        "referrals_batch_processing_seconds_sum",
        "referrals_batch_stage_seconds_sum",
        "referrals_commands_total",
        "referrals_decisions_total",
        REBALANCES,
    }
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(answer[1].decode()):
        for sample in family.samples:
            if sample.name not in wanted:
                continue
            name = sample.name
            if name == "referrals_commands_total":
                name = f"{name}:{sample.labels.get('outcome', '')}"
            elif name == "referrals_decisions_total":
                name = f"{name}:{sample.labels.get('path', '')}"
            elif name == REBALANCES:
                name = f"{name}:{sample.labels.get('kind', '')}"
            elif name == "referrals_batch_stage_seconds_sum":
                name = f"{name}:{sample.labels.get('stage', '')}"
            values[name] = values.get(name, 0.0) + sample.value
    return values


async def all_assigned(port: int, workers: int) -> bool:
    """Has each of the service's ``workers`` consumers an assignment, none in a rebalance?
    Ready says one worker has partitions; the benchmark waits for all, so that no rebalance
    falls in a measured phase. aiokafka revokes (the empty set on the first join) before it
    assigns, so from the counts summed over the workers: at least one assignment each, and
    no revocation without the assignment that follows it."""
    values = await scrape(port)
    assigned = values.get(f"{REBALANCES}:assigned", 0.0)
    return assigned >= workers and values.get(f"{REBALANCES}:revoked", 0.0) <= assigned


async def scrape_settled(
    port: int, before: dict[str, float], commands: int, within: float = 10.0
) -> dict[str, float]:
    """/metrics once it counts all ``commands`` of the phase: the service reports a batch
    after its outcomes are published, so the last batch may still be in hand."""
    deadline = time.monotonic() + within
    while True:
        after = await scrape(port)
        counted = sum(
            value - before.get(name, 0.0)
            for name, value in after.items()
            if name.startswith("referrals_commands_total:")
        )
        if counted >= commands or time.monotonic() > deadline:
            return after
        await asyncio.sleep(0.05)  # polling the service's counters, not a synchronisation


def batch_stats(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("referrals_batch_processing_seconds_count")
    busy = delta("referrals_batch_processing_seconds_sum")
    outcomes = {
        name.split(":", 1)[1]: after[name] - before.get(name, 0.0)
        for name in after
        if name.startswith("referrals_commands_total:")
    }
    commands = sum(outcomes.values())
    stats = {
        "batches": batches,
        "mean commands/batch": commands / batches if batches else 0.0,
        "mean batch ms": 1000 * busy / batches if batches else 0.0,
        "% of the phase in batches": 100 * busy / seconds if seconds else 0.0,
    }
    # Every outcome is exported from zero; the report names those that happened.
    stats.update({f"{kind} commands": n for kind, n in sorted(outcomes.items()) if n})
    fast, models = (
        delta("referrals_decisions_total:fast"),
        delta("referrals_decisions_total:models"),
    )
    if fast + models:
        stats["% decided by the fast path"] = 100 * fast / (fast + models)
    # Where a batch's time goes, stage by stage (the consume loop times each).
    prefix = "referrals_batch_stage_seconds_sum:"
    for name in after:
        if name.startswith(prefix) and batches:
            stats[f"mean {name.removeprefix(prefix)} ms"] = 1000 * delta(name) / batches
    return stats


#: The stages of a batch the consume loop times, and the batch itself.
STAGES = ("load", "decide", "write", "publish", "commit", "batch")


def stage_means(stats: dict[str, float]) -> dict[str, float]:
    """The mean time of each of ``STAGES`` in a phase's ``batch_stats``, in ms (NaN where
    no batch timed it), and the commands a batch held (``per batch``)."""
    means = {stage: stats.get(f"mean {stage} ms", float("nan")) for stage in STAGES}
    means["per batch"] = stats.get("mean commands/batch", float("nan"))
    return means
