"""What ``referrals dev`` prints at start names only what it serves."""

import pytest

from service.cli.dev_state import FreshStart
from service.cli.serve import _banner, _for_development
from service.settings import Settings


def test_the_banner_shows_the_api_it_serves() -> None:
    banner = _banner(Settings(api_port=8123), FreshStart())
    assert "API:             http://127.0.0.1:8123/v1.0/engagements/referrals/" in banner
    assert "WITHOUT AUTHENTICATION" in banner


def test_the_banner_says_the_api_is_off_when_it_is() -> None:
    banner = _banner(Settings(api_port=8123, api_enabled=False), FreshStart())
    assert "API:             off (REFERRALS_API_ENABLED=false)" in banner
    assert "8123" not in banner
    assert "WITHOUT AUTHENTICATION" not in banner


def test_development_accepts_a_local_http_webhook_receiver_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = _for_development(Settings(), "127.0.0.1:19092")
    assert chosen.webhook_allow_http
    assert chosen.webhook_allow_private_targets
    assert chosen.kafka_bootstrap_servers == "127.0.0.1:19092"
    # The workers read what the parent chose.
    assert chosen.child_environment()["REFERRALS_WEBHOOK_ALLOW_HTTP"] == "true"
    monkeypatch.setenv("REFERRALS_WEBHOOK_ALLOW_HTTP", "false")
    told = _for_development(Settings(), "127.0.0.1:19092")
    assert not told.webhook_allow_http
    assert told.webhook_allow_private_targets
