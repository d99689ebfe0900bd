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
