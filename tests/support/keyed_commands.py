"""Commands as producers really key them: by referral id, not at all (on a partition of the
producer's choosing), or by something else than the referral (a tenant, a session), so one
referral's commands reach several partitions and so several consumers."""

import random
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaProducer

from service.codec import STRUCTURED_CONTENT_TYPE
from service.jsonio import dumps
from service.settings import Settings
from tests.support.kafka_io import command


class Keying(StrEnum):
    REFERRAL = "referral"
    NONE = "none"
    OTHER = "other"


#: Keys a producer keying by something else than the referral uses (say, its sessions).
OTHER_KEYS = [f"session-{n}".encode() for n in range(7)]


class CommandsProducer:
    """Publishes commands keyed as each send says; unkeyed ones on a random partition."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        self.topic = settings.commands_topic
        self.partitions = settings.topic_partitions
        self.rng = rng

    async def __aenter__(self) -> "CommandsProducer":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, envelope: dict[str, Any], keying: Keying) -> None:
        headers = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
        value = dumps(envelope)
        if keying is Keying.NONE:
            partition = self.rng.randrange(self.partitions)
            await self._producer.send(self.topic, value=value, partition=partition, headers=headers)
            return
        key = (
            envelope["subject"].encode()
            if keying is Keying.REFERRAL
            else self.rng.choice(OTHER_KEYS)
        )
        await self._producer.send(self.topic, value=value, key=key, headers=headers)

    async def flush(self) -> None:
        await self._producer.flush()


def patch_stream(
    rng: random.Random, ids: list[str], patches: int, keyings: list[Keying]
) -> list[tuple[dict[str, Any], Keying]]:
    """Patches that each change their referral whatever the order they are applied in (a
    value of their own), each keyed one of ``keyings`` ways, with producer retries of
    earlier ones mixed in."""
    stream: list[tuple[dict[str, Any], Keying]] = []
    for n in range(patches):
        rid = rng.choice(ids)
        note = [{"op": "replace", "path": "/details/notes", "value": f"note {n}"}]
        stream.append((command("referral.patch", rid, note), rng.choice(keyings)))
        if rng.random() < 0.05:
            earlier, _ = rng.choice(stream)
            stream.append((earlier, rng.choice(keyings)))
    return stream
