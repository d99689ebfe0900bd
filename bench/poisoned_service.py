"""The service with a fault planted for the poison benchmark: deciding a command whose id
starts with ``POISON_PREFIX`` raises, the way a bug would, so the record is a poison record
whatever the rules become.

Run as ``python -m bench.poisoned_service run``; any other command id decides as usual, so
the same process serves the clean run too.
"""

import sys
from typing import Any

import service.consume.decision
from service.cli.main import main

POISON_PREFIX = "poison-"
#: The module whose deciders the consume loop calls, and the names it calls them by: the
#: models' and the fast path's (which hands a command it fails on to the models).
DECIDING_MODULE, DECIDERS = service.consume.decision, ("decide", "decide_fast")


def plant() -> None:
    for name in DECIDERS:
        setattr(DECIDING_MODULE, name, _failing(getattr(DECIDING_MODULE, name)))


def _failing(real: Any) -> Any:
    def decide(current: Any, command: Any, *rest: Any) -> Any:
        if command.command_id.startswith(POISON_PREFIX):
            raise RuntimeError("a fault planted by the benchmark")
        return real(current, command, *rest)

    return decide


if __name__ == "__main__":
    plant()
    sys.exit(main())
