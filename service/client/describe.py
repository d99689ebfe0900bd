"""Records as one readable line each: events, rejections, outcomes and dead letters."""

from collections.abc import Mapping
from typing import Any

from service.codec import REJECTED_TYPE


def describe_event(event: Mapping[str, Any]) -> str:
    data = event.get("data") or {}
    kind = event.get("type", "?")
    if kind == REJECTED_TYPE:
        return (
            f"{event.get('time', '')}  {kind}  {data.get('referralId')}  {data.get('code')}: "
            f"{data.get('message')}"
        )
    before = f"{data.get('previousStatus')}/{data.get('previousSubstatus')}"
    after = f"{data.get('status')}/{data.get('substatus')}"
    move = after if data.get("previousStatus") is None else f"{before} -> {after}"
    changed = ", ".join(data.get("changedPaths") or [])
    return (
        f"{event.get('time', '')}  {kind:<18} {data.get('referralId')}  v{data.get('version')}  "
        f"{move}  changed: {changed}"
    )


def rejection_details(rejection: Mapping[str, Any]) -> list[str]:
    details = (rejection.get("data") or {}).get("details") or []
    return [f"    {detail.get('target')}: {detail.get('message')}" for detail in details]


def describe_dead_letter(summary: Mapping[str, Any]) -> str:
    """A dead letter's ``summary()`` as one line: where, when, why and from where."""
    origin = f"{summary.get('originTopic')}@{summary.get('originPartition')}:" + str(
        summary.get("originOffset")
    )
    cut = " (truncated)" if summary.get("truncated") else ""
    return (
        f"{summary['deadLetter']:<8} {summary['time']} ({age(summary['ageSeconds'])} ago)  "
        f"{summary['reason']:<17} from {origin}  {summary['size']} bytes{cut}  "
        f"{_clipped(summary.get('message') or '')}"
    )


def _clipped(text: str, length: int = 80) -> str:
    return text if len(text) <= length else f"{text[: length - 1]}…"


def age(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: the largest unit that fits."""
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= length:
            return f"{int(seconds // length)}{unit}"
    return f"{int(seconds)}s"
