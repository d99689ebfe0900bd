"""Prometheus metrics of the pipeline and of the referral lifecycle.

Everything lives on an injected ``CollectorRegistry`` so tests get a fresh one. The consume
loop reports what happened through the small methods here; nothing else but the HTTP
exposition imports prometheus_client.

Label values follow one vocabulary: a value the service names itself is lower-case
kebab-case (``dead-lettered``, ``dead-letter``, ``not-json``: a dead letter's ``reason`` is
its ``x-error-code`` header, verbatim); a value taken from a vocabulary outside the service
keeps that vocabulary's spelling (CloudEvents types ``referral.create``, Partner Center
rejection codes ``invalidRequest``, statuses ``Active``). Every label set the service can
know in advance is exported at zero from the start, so rates and alerts work from the
first scrape.

``Metrics`` is longer than a class should be, and the module than a module, because it is
a catalogue: one declaration a metric (name, help, labels, buckets, how several workers
combine a gauge), read as a list; its behaviour is the few short ``report*`` methods at its
end. (``nothing else but the HTTP exposition``: and ``service.workers.metrics``, which sums
the workers' series for the parent's exposition.)
"""

import collections
import contextlib
import platform
import time
from collections.abc import Iterable, Iterator
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from service import dead_letters
from service.codec import REJECTED_TYPE
from service.dead_letter_codes import DeadLetterCode
from service.errors import Component
from service.outcomes import EventFacts, Outcome, OutcomeKind
from service.version import package_version
from state import CommandType, EventType, RejectionCode
from state.lifecycle import LEGAL_STATES, may_move

_CLOSINGS = frozenset({EventType.WON, EventType.LOST, EventType.DECLINED, EventType.EXPIRED})
#: The outcomes of a command that was decided (not a duplicate, not a dead letter).
_DECIDED: Final = frozenset({OutcomeKind.APPLIED, OutcomeKind.NOOP, OutcomeKind.REJECTED})
_POISON = DeadLetterCode.PROCESSING_FAILED
_REFUSED = DeadLetterCode.PUBLISH_REFUSED
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LIFECYCLE_BUCKETS = tuple(
    hours * 3600 for hours in (1, 4, 12, 24, 48, 96, 168, 336, 720, 1440, 2880)
)


#: Where a poison record failed (the ``stage`` label).
POISON_STAGES = ("decide", "store", "publish")
REBALANCE_KINDS = ("assigned", "revoked")


#: The stages of a batch, as ``referrals_batch_stage_seconds`` labels them.
BATCH_STAGES: Final = ("load", "decide", "write", "publish", "commit")


def process_series(registry: CollectorRegistry, store_backend: str) -> Gauge:
    """What every serving process exports of itself: its process, platform and garbage
    collector, and ``referrals_build_info`` (returned): which version runs, on which Python,
    with which store. No ``_created`` series."""
    # prometheus_client's switch for _created series is process-wide; the service
    # exports none (they double the series and no alert or dashboard reads them).
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    gauge = Gauge(
        "referrals_build_info",
        "Always 1; the labels say which version runs, on which Python, with which store.",
        ["version", "python", "store"],
        registry=registry,
        multiprocess_mode="max",
    )
    gauge.labels(package_version(), platform.python_version(), store_backend).set(1)
    return gauge


#: OpenTelemetry's advice for ``http.server.request.duration``, in seconds.
HTTP_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
)  # fmt: skip


def http_request_duration(registry: CollectorRegistry) -> Histogram:
    """The read API's requests: OpenTelemetry's ``http.server.request.duration`` as
    Prometheus names it, its attributes as labels. Requests and errors are its ``_count``
    by status; the route is the template (or empty, unmatched), never the raw path."""
    return Histogram(
        "http_server_request_duration_seconds",
        "Duration of read API requests, by method, route template and status code.",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=HTTP_DURATION_BUCKETS,
        registry=registry,
    )


class Metrics:
    """The consume side's series. A gauge's ``multiprocess_mode`` says how the parent of
    several workers combines it (``service.workers.metrics``): the store-wide gauges and a
    partition's lag as the worker that wrote them last says.

    ``counts_states``: this process counts the referrals per state (one process of a
    service: the first worker), so only it starts ``referrals_current`` at zero.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        store_backend: str = "unknown",
        counts_states: bool = True,
    ) -> None:
        self.registry = registry
        self.counts_states = counts_states
        self.build_info = process_series(registry, store_backend)
        self.commands = Counter(
            "referrals_commands",
            "Commands consumed, by CloudEvents type and outcome "
            "(applied, noop, rejected, dead-lettered, duplicate); code is the rejection code"
            " or the dead letter's x-error-code.",
            ["type", "outcome", "code"],
            registry=registry,
        )
        self.transitions = Counter(
            "referrals_transitions",
            "Lifecycle moves applied, by previous and new status/substatus.",
            ["from_status", "from_substatus", "to_status", "to_substatus"],
            registry=registry,
        )
        self.events_published = Counter(
            "referrals_events_published",
            "Records acknowledged by Kafka, by CloudEvents type (dead-letter for dead letters).",
            ["type"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "referrals_dead_letters",
            f"Records sent to the dead-letter topic, by error code ({', '.join(DeadLetterCode)}).",
            ["reason"],
            registry=registry,
        )
        self.poison_records = Counter(
            "referrals_poison_records",
            "Records that failed on their own after isolation and bounded attempts, and were"
            " dead-lettered (processing-failed) or, for outgoing records the broker refused,"
            " rerouted to the dead-letter topic; by stage (decide, store, publish).",
            ["stage"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "referrals_batch_processing_seconds",
            "Time to read, decide, store and publish one polled batch (its offset commit"
            " follows as the commit stage, while the next batch runs).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "referrals_batch_stage_seconds",
            "Time a batch spends in each stage: load (referrals and seen commands), decide,"
            " write (the store transaction), publish (the outbox), commit (offsets).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        for stage in BATCH_STAGES:
            self.stage_seconds.labels(stage)
        self.command_to_event_seconds = Histogram(
            "referrals_command_to_event_seconds",
            "From the command's Kafka timestamp to its outcome being acknowledged by Kafka.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_accept = Histogram(
            "referrals_time_to_accept_seconds",
            "Referral lifetime from creation to acceptance.",
            buckets=_LIFECYCLE_BUCKETS,
            registry=registry,
        )
        self.time_to_close = Histogram(
            "referrals_time_to_close_seconds",
            "Referral lifetime from creation to closing, by outcome.",
            ["outcome"],
            buckets=_LIFECYCLE_BUCKETS,
            registry=registry,
        )
        self.referrals = Gauge(
            "referrals_current",
            "Referrals in the store, by status and substatus (read from the shared store).",
            ["status", "substatus"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.consumer_lag = Gauge(
            "referrals_consumer_lag",
            "Records behind the partition's high watermark, per assigned partition.",
            ["topic", "partition"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.outbox_backlog = Gauge(
            "referrals_outbox_backlog",
            "Stored events and rejections not yet acknowledged by Kafka.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.rebalances = Counter(
            "referrals_rebalances",
            "Partition assignments and revocations seen by this replica.",
            ["kind"],
            registry=registry,
        )
        self.retries = Counter(
            "referrals_retries",
            "Batch retries, by cause: store or broker failure, or a conflict with another"
            " replica's write.",
            ["component"],
            registry=registry,
        )
        self.decided_ahead = Counter(
            "referrals_decided_ahead",
            "Batches decided while the batch before them was landing (published; on"
            " PostgreSQL, written too), by whether the decision was kept (that batch landed, or"
            " on SQLite this one was written already) or dropped (that batch failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("kept", "dropped"):
            self.decided_ahead.labels(outcome)
        self.batch_loads = Counter(
            "referrals_batch_loads",
            "Batches by how what they name was found: read from the store, partly read (only"
            " the referrals this replica does not hold), or skipped (every referral held);"
            " the write holds what was taken without reading to the store's state.",
            ["kind"],
            registry=registry,
        )
        for kind in ("read", "partial", "skipped"):
            self.batch_loads.labels(kind)
        self.decisions = Counter(
            "referrals_decisions",
            "Commands decided (applied, no-op or rejected), by the path that decided them: the"
            " fast path (commands in the canonical form) or the models (every other).",
            ["path"],
            registry=registry,
        )
        for path in ("fast", "models"):
            self.decisions.labels(path)
        self.ready = Gauge(
            "referrals_ready",
            "1 when the replica is ready (partitions assigned, store and broker reachable).",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.webhooks = WebhookMetrics(registry)
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Export every label set known in advance (consumer lag's partitions are not)."""
        for command_type in CommandType:
            for kind in (OutcomeKind.APPLIED, OutcomeKind.NOOP, OutcomeKind.DUPLICATE):
                self.commands.labels(command_type.value, kind, "")
            for code in RejectionCode:
                self.commands.labels(command_type.value, OutcomeKind.REJECTED, code.value)
            self.commands.labels(command_type.value, OutcomeKind.DEAD_LETTERED, _POISON)
        for reason in DeadLetterCode:
            self.dead_letters.labels(reason)
            if reason != _REFUSED:  # an outgoing record of the service, not a command
                self.commands.labels("", OutcomeKind.DEAD_LETTERED, reason)
        for source in LEGAL_STATES:
            for target in LEGAL_STATES:
                if source != target and may_move(source, target):
                    self.transitions.labels(
                        source.status, source.substatus, target.status, target.substatus
                    )
            if self.counts_states:
                self.referrals.labels(source.status, source.substatus).set(0)
        for kind in (*EventType, REJECTED_TYPE, dead_letters.KIND):
            self.events_published.labels(kind)
        for closing in _CLOSINGS:
            self.time_to_close.labels(_closing_outcome(closing))
        for stage in POISON_STAGES:
            self.poison_records.labels(stage)
        for rebalance in REBALANCE_KINDS:
            self.rebalances.labels(rebalance)
        for component in Component:
            self.retries.labels(component)

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Time the block as a stage of the batch in hand."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(stage).observe(time.perf_counter() - started)

    def report_states(self, counts: dict[tuple[str, str], int]) -> None:
        """Set the referrals-by-state gauge; a state the store has none of reads 0."""
        for state in LEGAL_STATES:
            self.referrals.labels(state.status, state.substatus).set(0)
        for (status, substatus), count in counts.items():
            self.referrals.labels(status, substatus).set(count)

    def report(self, outcomes: Iterable[Outcome], oldest_timestamp_ms: int | None) -> None:
        """Count a processed batch: its outcomes, lifecycle moves and command-to-event time."""
        # Counted per batch first: a labelled child costs a lookup and a lock per call.
        commands: collections.Counter[tuple[str, str, str]] = collections.Counter()
        paths: collections.Counter[str] = collections.Counter()
        moves: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        for outcome in outcomes:
            if outcome.outcome is OutcomeKind.DEAD_LETTERED:
                self.dead_letters.labels(outcome.code).inc()
                if outcome.code == _POISON:
                    self.poison_records.labels("decide").inc()
            commands[outcome.command_type, outcome.outcome, outcome.code] += 1
            if outcome.outcome in _DECIDED:
                paths["fast" if outcome.fast else "models"] += 1
            for event in outcome.events:
                self._report_event(event, moves)
        for kind, count in commands.items():
            self.commands.labels(*kind).inc(count)
        for path, count in paths.items():
            self.decisions.labels(path).inc(count)
        for move, count in moves.items():
            self.transitions.labels(*move).inc(count)
        if oldest_timestamp_ms is not None:
            latency = max(time.time() - oldest_timestamp_ms / 1000, 0.0)
            self.command_to_event_seconds.observe(latency)

    def report_poison(self, stage: str, command_type: str) -> None:
        self.poison_records.labels(stage).inc()
        self.dead_letters.labels(_POISON).inc()
        self.commands.labels(command_type, OutcomeKind.DEAD_LETTERED, _POISON).inc()

    def _report_event(
        self, event: EventFacts, moves: collections.Counter[tuple[str, str, str, str]]
    ) -> None:
        source, sub = event.previous_status, event.previous_substatus
        if (
            source is not None
            and sub is not None
            and (source, sub) != (event.status, event.substatus)
        ):
            moves[source, sub, event.status, event.substatus] += 1
        accepting = event.type is EventType.ACCEPTED
        closing = event.type in _CLOSINGS and event.previous_status != event.status
        if not (accepting or closing):
            return  # the timestamps are parsed only for the events timed
        created, accepted, closed = event.lifetime()
        if created is None:
            return
        if accepting and accepted is not None:
            self.time_to_accept.observe((accepted - created).total_seconds())
        if closing:
            assert closed is not None
            lifetime = (closed - created).total_seconds()
            self.time_to_close.labels(_closing_outcome(event.type)).observe(lifetime)


def _closing_outcome(closing: EventType) -> str:
    """``won`` for referral.won: the ``outcome`` label of the time-to-close histogram."""
    return closing.value.removeprefix("referral.")


class WebhookMetrics:
    """The webhook dispatcher's series (``service.webhooks.dispatcher``)."""

    OUTCOMES: Final = ("delivered", "failed", "parked")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "referrals_webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered; failed, to be retried; parked,"
            " its endpoint failing past the retry period) and event.",
            ["outcome", "event"],
            registry=registry,
        )
        for outcome in self.OUTCOMES:
            for event in ("referral-created", "referral-updated", "test-created"):
                self.deliveries.labels(outcome, event)
        self.latency = Histogram(
            "referrals_webhook_delivery_seconds",
            "Time of one webhook delivery attempt, from the request to the answer.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue = Gauge(
            "referrals_webhook_queue",
            "Webhook deliveries not yet delivered, by state (pending, parked).",
            ["state"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        for state in ("pending", "parked"):
            self.queue.labels(state)
        self.failing_endpoints = Gauge(
            "referrals_webhook_failing_endpoints",
            "Webhook registrations marked failing (their deliveries parked until a replay).",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
