"""What ``referrals dev`` prints at start names only what it serves."""

from service.cli.dev_state import FreshStart
from service.cli.serve import _banner
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
