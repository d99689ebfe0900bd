"""promtool.py fetches promtool unattended, refreshing apt's lists once, or fails clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import promtool as promtool_module
from .promtool import PromtoolUnavailable, promtool


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / ".cache" / "promtool"
    monkeypatch.setattr(promtool_module, "CACHE_DIR", cache)
    monkeypatch.setattr(promtool_module, "CACHED_BINARY", cache / "usr" / "bin" / "promtool")
    real_which = shutil.which
    monkeypatch.setattr(
        promtool_module.shutil,
        "which",
        lambda name: None if name == "promtool" else real_which(name) or f"/usr/bin/{name}",
    )
    return cache


def test_a_failed_download_refreshes_the_package_lists_and_retries(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[str] = []

    def fake_run(command: list[str], cwd: Path) -> None:
        commands.append(" ".join(command[:2]))
        if command[:2] == ["apt-get", "download"] and "apt-get update" not in commands:
            raise PromtoolUnavailable("E: Unable to locate package prometheus")
        if command[:2] == ["apt-get", "download"]:
            (cwd / "prometheus_2.42.0+ds-5_amd64.deb").write_bytes(b"deb")
        if command[0] == "dpkg-deb":
            binary = Path(command[3]) / "usr" / "bin" / "promtool"
            binary.parent.mkdir(parents=True)
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)

    monkeypatch.setattr(promtool_module, "_run", fake_run)
    path = promtool()
    assert commands == ["apt-get download", "apt-get update", "apt-get download", "dpkg-deb -x"]
    assert path == empty_cache / "usr" / "bin" / "promtool"
    assert path.read_text() == "#!/bin/sh\n"
    # No scratch left beside the cache: only it, and the lock its installs take.
    assert sorted(p.name for p in empty_cache.parent.iterdir()) == [".promtool.lock", "promtool"]


def test_a_cached_promtool_is_used_without_fetching(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = empty_cache / "usr" / "bin" / "promtool"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(promtool_module, "_run", pytest.fail)
    assert promtool() == binary


def test_without_apt_the_failure_says_how_to_provide_promtool(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(promtool_module.shutil, "which", lambda name: None)
    with pytest.raises(PromtoolUnavailable, match="install promtool"):
        promtool()
