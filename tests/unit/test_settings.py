"""Settings from the environment: Kafka security, masked secrets, durations."""

import json
import logging
import ssl
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.kafka import client_options
from service.logs import JsonFormatter
from service.settings import Settings


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=referrals-test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_plaintext_is_the_default_and_carries_no_credentials() -> None:
    options = client_options(Settings(kafka_bootstrap_servers="kafka:9092"))

    assert options["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in options
    assert "sasl_mechanism" not in options


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_mechanisms_pass_username_and_password(mechanism: str) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="referrals",
        kafka_sasl_password="s3cret",
    )

    options = client_options(settings)

    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "referrals"
    assert options["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.describe())


def test_tls_builds_a_context_with_the_ca_and_the_client_certificate(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="referrals",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=str(cert),
        kafka_ssl_certfile=str(cert),
        kafka_ssl_keyfile=str(key),
    )

    context = client_options(settings)["ssl_context"]

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1


def test_a_missing_ca_file_is_refused_at_start() -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/nonexistent/ca.pem")

    with pytest.raises(FileNotFoundError):
        client_options(settings)


def test_an_unknown_mechanism_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        Settings(kafka_sasl_mechanism="GSSAPI")


def test_database_credentials_are_masked_when_settings_are_described() -> None:
    settings = Settings(database_url="postgresql://referrals:hunter2@db:5432/referrals")

    assert settings.describe()["database_url"] == "postgresql://referrals:***@db:5432/referrals"
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(("text", "days"), [("P14D", 14), ("1209600", 14), ("P1DT12H", 1.5)])
def test_durations_read_as_iso_8601_or_seconds(
    monkeypatch: pytest.MonkeyPatch, text: str, days: float
) -> None:
    monkeypatch.setenv("REFERRALS_DEFAULT_EXPIRY", text)
    monkeypatch.setenv("REFERRALS_PROCESSED_RETENTION", text)

    settings = Settings()

    assert settings.default_expiry.total_seconds() == days * 86400
    assert settings.processed_retention == settings.default_expiry


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://db:5432/referrals?user=r&password=hunter2",
         "postgresql://db:5432/referrals?user=r&password=***"),
        ("postgresql://r:hun/ter@2@db/referrals?sslmode=verify-full&sslpassword=hunter2",
         "postgresql://r:***@db/referrals?sslmode=verify-full&sslpassword=***"),
        ("postgres://db/referrals?PassWord=hunter2&sslkey=/keys/hunter2.key&passfile=/p",
         "postgres://db/referrals?PassWord=***&sslkey=***&passfile=***"),
        ("sqlite:///./referrals.db", "sqlite:///./referrals.db"),
    ],
)  # fmt: skip
def test_every_credential_of_a_database_url_is_masked_wherever_it_sits(
    url: str, shown: str
) -> None:
    assert Settings(database_url=url).describe()["database_url"] == shown


def test_a_log_line_quoting_a_database_url_masks_its_credentials() -> None:
    url = "postgresql://r:hunter2@db/referrals?password=hunter2&sslpassword=hunter2"
    record = logging.LogRecord("service", logging.WARNING, "", 0, f"cannot reach {url}", None, None)
    record.error = f"connection to {url} refused"
    record.settings = Settings(database_url=url).describe()

    line = JsonFormatter().format(record)

    assert "hunter2" not in line
    assert json.loads(line)["error"] == (
        "connection to postgresql://r:***@db/referrals?password=***&sslpassword=*** refused"
    )


def test_the_expiry_secret_is_never_shown() -> None:
    settings = Settings(expiry_secret="hunter2")

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.describe())


def test_tenant_topics_name_each_tenant_its_own_topic() -> None:
    settings = Settings(tenant_topics={"org-a": "commands-org-a", "org-b": "commands-org-b"})

    assert settings.command_topics == ["referral-commands", "commands-org-a", "commands-org-b"]
    assert settings.topic_tenants == {"commands-org-a": "org-a", "commands-org-b": "org-b"}
    assert Settings().command_topics == ["referral-commands"]


def test_tenant_topics_are_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFERRALS_TENANT_TOPICS", '{"org-a": "commands-org-a"}')

    assert Settings().tenant_topics == {"org-a": "commands-org-a"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"org-a": "commands-x", "org-b": "commands-x"}, "a topic of its own"),
        ({"org-a": "referral-commands"}, "cannot be the commands"),
        ({"org-a": "referral-events"}, "cannot be the commands"),
        ({"org-a": "referral-rejections"}, "cannot be the commands"),
        ({"org-a": "referral-commands-dlq"}, "cannot be the commands"),
        ({"": "commands-x"}, "tenant id is empty"),
        ({"org\u0001a": "commands-x"}, "control characters"),
        ({"o" * 300: "commands-x"}, "longer than"),
        ({"org-a": "not a topic"}, "not a Kafka topic name"),
    ],
)
def test_tenant_topics_that_could_be_confused_are_refused(
    mapping: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(tenant_topics=mapping)


def test_the_environment_of_settings_gives_the_same_settings_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        tenant_topics={"org-a": "commands.org-a"},
        kafka_sasl_password="secret",
        database_url="postgresql://u:p@db/referrals",
        default_expiry="P3D",
    )
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)

    assert Settings() == settings


def test_a_childs_environment_holds_these_settings_and_no_inherited_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REFERRALS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("REFERRALS_NOT_A_SETTING", "dropped")
    monkeypatch.setenv("UNRELATED_VARIABLE", "kept")
    environment = Settings(workers=3, log_level="WARNING").child_environment()
    assert environment["UNRELATED_VARIABLE"] == "kept"
    assert environment["REFERRALS_WORKERS"] == "3"
    assert environment["REFERRALS_LOG_LEVEL"] == "WARNING"  # the settings', not inherited
    assert "REFERRALS_NOT_A_SETTING" not in environment
