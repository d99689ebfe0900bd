"""Every third-party module that ``service/`` and ``state/`` import comes from a distribution
declared in pyproject.toml's runtime dependencies (or the ``embedded`` extra, the broker of
``referrals dev``), never from one that only arrives through another package or with the
dev tools; and every declared runtime dependency is imported somewhere.

Modules are found with ``ast`` (imports inside functions too) and mapped to the installed
distribution that provides them (``importlib.metadata.packages_distributions``); a
namespace shared by several distributions (``opentelemetry``) is mapped by the file of the
imported module.
"""

import ast
import importlib.util
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN_PACKAGES = frozenset({"service", "state"})


def _names(requirements: Iterable[str]) -> frozenset[str]:
    return frozenset(
        canonicalize_name(Requirement(line).name)
        for line in requirements
        if Requirement(line).name != PROJECT["name"]  # the project's own extras
    )


RUNTIME = _names(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["embedded"])
DEV_ONLY = _names(PROJECT["optional-dependencies"]["dev"]) - RUNTIME


def imported_modules(source: str) -> Iterator[str]:
    """Each absolute module a source imports; for ``from a import b``, ``a.b`` as well (``b``
    may be a module of a namespace package)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def third_party(modules: Iterable[str]) -> set[str]:
    return {
        module
        for module in modules
        if module.partition(".")[0] not in sys.stdlib_module_names | OWN_PACKAGES
    }


@cache
def _providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _holding_file(module: str, candidates: list[str]) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # ``from a import name``: name is no module
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin).resolve()
    for name in candidates:
        found = metadata.distribution(name)
        files = (Path(str(found.locate_file(file))).resolve() for file in found.files or ())
        if origin in files:
            return name
    return None


def distribution_of(module: str) -> str | None:
    """The installed distribution providing ``module``; None when it names no module that a
    single distribution provides (``from a import name`` of a namespace ``a``)."""
    candidates = _providers().get(module.partition(".")[0], [])
    if len(set(candidates)) == 1:
        return canonicalize_name(candidates[0])
    held = _holding_file(module, candidates)
    return None if held is None else canonicalize_name(held)


def source_files() -> list[Path]:
    return sorted([*(ROOT / "service").rglob("*.py"), *(ROOT / "state").rglob("*.py")])


@cache
def imported_distributions() -> dict[str, set[str]]:
    """Each distribution the runtime code imports, with the modules that import it."""
    found: dict[str, set[str]] = {}
    for path in source_files():
        for module in third_party(imported_modules(path.read_text(encoding="utf-8"))):
            name = distribution_of(module)
            if name is not None:
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
            elif module.partition(".")[0] not in _providers():
                found.setdefault(f"<not installed: {module}>", set()).add(str(path.name))
    return found


def undeclared(imported: Iterable[str], declared: frozenset[str]) -> list[str]:
    return sorted(
        f"{name} (only a dev tool)" if name in DEV_ONLY else name
        for name in imported
        if name not in declared
    )


def test_there_are_modules_to_check() -> None:
    assert {"fastapi", "pydantic", "aiokafka", "transitions"} <= set(imported_distributions())


def test_every_imported_distribution_is_a_declared_runtime_dependency() -> None:
    missing = undeclared(imported_distributions(), RUNTIME)
    assert missing == [], "declare them in [project] dependencies, then `make lock`"


def test_every_declared_runtime_dependency_is_imported() -> None:
    assert sorted(RUNTIME - set(imported_distributions())) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from starlette.types import ASGIApp", "starlette"),  # arrives with fastapi only
        ("import yaml", "pyyaml (only a dev tool)"),
        ("def later():\n    import hypothesis\n", "hypothesis (only a dev tool)"),
    ],
)
def test_the_check_finds_an_undeclared_import(source: str, expected: str) -> None:
    modules = third_party(imported_modules(source))
    names = {name for module in modules if (name := distribution_of(module)) is not None}
    assert undeclared(names, RUNTIME - {"starlette"}) == [expected]


def test_a_namespace_module_maps_to_the_distribution_holding_it() -> None:
    assert distribution_of("opentelemetry.sdk.trace") == "opentelemetry-sdk"
    assert distribution_of("opentelemetry.trace") == "opentelemetry-api"
    assert distribution_of("opentelemetry.sdk.trace.TracerProvider") is None  # a class
