"""Stand-ins that make the service's own code fail the way a bug would, for chosen records."""

from typing import Any

from state import Command


def failing_for_poison(real: Any, calls: list[str]) -> Any:
    """A stand-in for ``decide`` that fails the way a bug would, for the command named poison."""

    def fake(current: Any, command_: Command, *rest: Any) -> Any:
        if isinstance(command_.data, dict) and command_.data.get("name") == "poison":
            calls.append("poison")
            raise RecursionError("maximum recursion depth exceeded")
        return real(current, command_, *rest)

    return fake


def fast_path_failing_for_poison(real: Any) -> Any:
    """A stand-in for ``decide_fast`` that fails for the command named poison, so that the
    models decide it (where ``failing_for_poison`` makes the bug)."""

    def fake(current: Any, command_: Command, value: Any, data: Any, *rest: Any) -> Any:
        if data is not None and b'"name":"poison"' in data:
            raise RecursionError("maximum recursion depth exceeded")
        return real(current, command_, value, data, *rest)

    return fake


def failing_for_poison_documents(real: Any, calls: list[str]) -> Any:
    """A stand-in for a store's ``referral_document`` that fails the way a bug would, for the
    referral named poison."""

    def document(record: Any) -> bytes:
        if record.referral.name == "poison":
            calls.append("poison")
            raise RecursionError("maximum recursion depth exceeded")
        return real(record)

    return document
