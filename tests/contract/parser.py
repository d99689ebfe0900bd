"""The official AsyncAPI parser (npm ``@asyncapi/parser``, pinned by package-lock.json),
installed on first use with ``npm ci`` into the project cache ``.cache/asyncapi-parser``.

Like promtool for the chart tests: when node or npm is missing or the install fails,
:class:`ParserUnavailable` says why and the test that needs the parser fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE.parents[1] / ".cache" / "asyncapi-parser"
_FILES = ("package.json", "package-lock.json", "validate.mjs")
_TIMEOUT_SECONDS = 300


class ParserUnavailable(RuntimeError):
    """node or the AsyncAPI parser is not installed and could not be."""


def validator() -> Path:
    """The validating script, next to an installed parser."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise ParserUnavailable("the AsyncAPI parser needs node and npm on PATH")
    current = all(
        (CACHE_DIR / name).exists()
        and (CACHE_DIR / name).read_bytes() == (HERE / name).read_bytes()
        for name in _FILES
    )
    if not current or not (CACHE_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            shutil.copyfile(HERE / name, CACHE_DIR / name)
        try:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=CACHE_DIR,
                check=True,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            output = getattr(error, "stderr", None) or ""
            raise ParserUnavailable(
                f"npm ci of the AsyncAPI parser failed: {error}\n{output}"
            ) from error
    return CACHE_DIR / "validate.mjs"
