"""The tests' own layout: shared helpers live in ``tests/support``, so no module of
``tests/`` imports a ``conftest`` module or a test module (pytest loads those itself, and a
fixture imported into a second folder is a second fixture); and a PostgreSQL database is
given only to a test marked ``postgres``, so ``pytest -m "not postgres"`` needs no server.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import fresh_postgres_database

TESTS_DIR = Path(__file__).parents[1]


def _is_loaded_by_pytest(dotted: str) -> bool:
    last = dotted.rpartition(".")[2]
    return last == "conftest" or last.startswith("test_")


def imports_of_pytest_modules(source: str) -> Iterator[tuple[int, str]]:
    """Each import of a conftest or test module in ``source``, with its line."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_loaded_by_pytest(alias.name):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _is_loaded_by_pytest(module):
                yield node.lineno, module
            for alias in node.names:
                if _is_loaded_by_pytest(alias.name):
                    yield node.lineno, f"{module}.{alias.name}"


def test_the_tests_folder_has_modules_to_check() -> None:
    assert len(list(TESTS_DIR.rglob("*.py"))) > 50


@pytest.mark.parametrize(
    "path", sorted(TESTS_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS_DIR))
)
def test_no_module_imports_a_conftest_or_test_module(path: Path) -> None:
    found = list(imports_of_pytest_modules(path.read_text(encoding="utf-8")))
    assert found == [], f"{path.relative_to(TESTS_DIR)} imports {found}; use tests/support"


@pytest.mark.parametrize(
    "statement",
    [
        "from tests.integration.conftest import running",
        "from tests.conftest import fresh_postgres_database",
        "import tests.api.conftest",
        "import tests.api.conftest as api",
        "from tests.cli import conftest",
        "from .conftest import settings",
        "from . import conftest",
        "from tests.integration.test_poison_records import failing_for_poison",
        "def helper():\n    from tests.integration.conftest import running\n",
    ],
)
def test_the_checker_finds_an_import_of_a_module_pytest_loads(statement: str) -> None:
    assert list(imports_of_pytest_modules(statement))


@pytest.mark.parametrize(
    "statement",
    [
        "from tests.support.services import running",
        "from tests.support import postgres",
        "import tests.support.kafka_io",
        "from tests.chart.rendering import render_values",
        "import pytest",
    ],
)
def test_the_checker_allows_helper_imports(statement: str) -> None:
    assert list(imports_of_pytest_modules(statement)) == []


async def test_a_test_without_the_postgres_marker_gets_no_database() -> None:
    with pytest.raises(AssertionError, match="postgres marker"):
        async with fresh_postgres_database():
            pass
