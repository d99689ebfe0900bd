"""What the consumer reports about itself: lag per partition, and whether the broker answers."""

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError, KafkaError

from service.health import Health
from service.metrics import Metrics

BROKER_PROBE_SECONDS = 5.0


async def report_lag(consumer: AIOKafkaConsumer, metrics: Metrics, health: Health) -> None:
    """Records behind the high watermark, from the consumer's own view (Tansu's ListOffsets
    "latest" can be wrong)."""
    total = 0
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await consumer.position(tp)
        except IllegalStateError:
            continue
        lag = max(highwater - position, 0)
        total += lag
        metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
    health.lag = total


async def probe_broker(consumer: AIOKafkaConsumer, health: Health) -> None:
    """Ask the cluster for its metadata; getmany alone hides a broker that went away."""
    try:
        await asyncio.wait_for(consumer.topics(), BROKER_PROBE_SECONDS)
        health.broker_ok = True
    except (KafkaError, TimeoutError):
        health.broker_ok = False
