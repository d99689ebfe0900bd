"""The domain core stays pure: ``state/`` imports nothing that performs I/O.

Every module of ``state/`` is parsed with ``ast`` and each import is checked against an
allow-list: standard library modules that do no I/O, the validation and state-machine
libraries, and ``state`` itself.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import state

STATE_DIR = Path(state.__file__).parent

ALLOWED = frozenset(
    {
        "__future__",
        "abc",
        "collections",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",
        "hashlib",
        "itertools",
        "json",
        "re",
        "typing",
        "uuid",
        "annotated_types",
        "pydantic",
        "pydantic_core",
        "transitions",
        "state",
    }
)


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """Each module a source imports, absolute, with its line; relative imports are local."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            argument = node.args[0] if node.args else None
            name = argument.value if isinstance(argument, ast.Constant) else "<dynamic>"
            yield node.lineno, str(name)


def forbidden_imports(source: str) -> list[str]:
    return [
        f"line {line}: {module}"
        for line, module in imported_modules(source)
        if module.split(".")[0] not in ALLOWED
    ]


def state_modules() -> list[Path]:
    return sorted(STATE_DIR.rglob("*.py"))


def test_the_domain_package_has_modules_to_check() -> None:
    names = {path.name for path in state_modules()}

    assert {"referral_schema.py", "lifecycle.py", "decide.py", "commands.py", "events.py"} <= names


@pytest.mark.parametrize("path", state_modules(), ids=lambda path: path.name)
def test_a_domain_module_imports_only_pure_modules(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "statement",
    [
        "import aiokafka",
        "from aiokafka import AIOKafkaProducer",
        "import sqlite3",
        "import psycopg",
        "from asyncpg import connect",
        "from prometheus_client import Counter",
        "import http.client",
        "from http import HTTPStatus",
        "import socket",
        "import os",
        "from os import path",
        "from pathlib import Path",
        "import io",
        "import asyncio",
        "import logging",
        "from pydantic_settings import BaseSettings",
        "import service",
        "from service.store import sqlite",
        "import importlib",
        "time = __import__('time')",
        "module = __import__(name)",
    ],
)
def test_the_checker_detects_a_forbidden_import(statement: str) -> None:
    source = f'"""A domain module."""\n\nfrom dataclasses import dataclass\n\n{statement}\n'

    assert forbidden_imports(source) == [f"line 5: {statement_module(statement)}"]


def test_the_checker_finds_a_forbidden_import_inside_a_function() -> None:
    source = "def load():\n    import sqlite3\n    return sqlite3\n"

    assert forbidden_imports(source) == ["line 2: sqlite3"]


@pytest.mark.parametrize(
    "statement",
    [
        "from collections.abc import Mapping",
        "from pydantic.alias_generators import to_camel",
        "from transitions import Machine",
        "from state.enums import ReferralStatus",
        "from . import enums",
        "from .lifecycle import move",
        "import typing as t",
    ],
)
def test_the_checker_allows_pure_imports(statement: str) -> None:
    assert forbidden_imports(statement) == []


def statement_module(statement: str) -> str:
    if "__import__(name)" in statement:
        return "<dynamic>"
    if "__import__" in statement:
        return statement.split("'")[1]
    return statement.split()[1]
