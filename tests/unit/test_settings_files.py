"""Settings given as files in REFERRALS_SECRETS_DIR, as Kubernetes mounts Secrets."""

from pathlib import Path

import pytest

from service.errors import ConfigurationError
from service.settings import Settings

URL = "postgresql://referrals:s3cret@db:5432/referrals"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DATABASE_URL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(f"REFERRALS_{name}", raising=False)
    monkeypatch.setenv("REFERRALS_SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_a_setting_is_read_from_the_file_named_after_its_variable(secrets: Path) -> None:
    (secrets / "REFERRALS_DATABASE_URL").write_text(URL + "\n")
    (secrets / "REFERRALS_KAFKA_SASL_PASSWORD").write_text("pw")

    settings = Settings()

    assert settings.database_url.get_secret_value() == URL
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "pw"
    assert "s3cret" not in str(settings.describe())


def test_an_environment_variable_wins_over_a_file(
    secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (secrets / "REFERRALS_KAFKA_SASL_USERNAME").write_text("from-file")
    monkeypatch.setenv("REFERRALS_KAFKA_SASL_USERNAME", "from-env")

    assert Settings().kafka_sasl_username == "from-env"


def test_a_missing_secrets_directory_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFERRALS_SECRETS_DIR", str(tmp_path / "absent"))

    with pytest.raises(ConfigurationError, match="REFERRALS_SECRETS_DIR"):
        Settings()
