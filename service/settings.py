"""The one settings object, read once at start-up from ``REFERRALS_*`` environment variables.

Secrets are ``SecretStr`` so they never show up in logs or reprs; ``describe()`` is the
masked view the service logs at start. Any setting may also be a file named after its
variable in the directory ``REFERRALS_SECRETS_DIR`` names (``REFERRALS_DATABASE_URL``
holding the URL), as Kubernetes mounts Secrets; an environment variable wins over a file.
"""

import os
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from service.errors import ConfigurationError

#: The directory of settings given as files, one per variable.
SECRETS_DIR_VARIABLE: Final = "REFERRALS_SECRETS_DIR"
#: Room an event needs around its referral document (attributes, paths, previous state).
EVENT_OVERHEAD_BYTES: Final = 65_536


class EventMode(StrEnum):
    BINARY = "binary"
    STRUCTURED = "structured"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str = "referral-lifecycle"
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_key_password: SecretStr | None = None

    consumer_group: str = "referral-lifecycle"
    commands_topic: str = "referral-commands"
    events_topic: str = "referral-events"
    rejections_topic: str = "referral-rejections"
    dlq_topic: str = "referral-commands-dlq"
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    session_timeout_ms: int = Field(default=10_000, ge=1000)
    fetch_max_wait_ms: int = Field(default=100, ge=0, le=60_000)
    max_batch_size: int = Field(default=500, ge=1)
    max_command_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=64, ge=4, le=256)
    max_patch_operations: int = Field(default=100, ge=1)
    max_document_bytes: int = Field(default=262_144, ge=4096)
    max_array_items: int = Field(default=1000, ge=1)
    max_string_length: int = Field(default=32_768, ge=64)
    max_attribute_length: int = Field(default=256, ge=36, le=2000)
    max_record_bytes: int = Field(default=1_000_000, ge=65_536)
    poison_attempts: int = Field(default=3, ge=1, le=20)
    event_mode: EventMode = EventMode.BINARY
    event_source: str = "urn:referral-lifecycle"

    database_url: SecretStr = SecretStr("sqlite:///./referrals.db")
    database_pool_size: int = Field(default=5, ge=1)
    default_expiry: timedelta = timedelta(days=14)
    expiry_interval_seconds: float = Field(default=30.0, gt=0)
    processed_retention: timedelta = timedelta(days=7)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    retry_initial_seconds: float = Field(default=0.2, gt=0)
    retry_max_seconds: float = Field(default=10.0, gt=0)
    stall_seconds: float = Field(default=60.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=25.0, gt=0)
    log_level: str = "INFO"
    #: Read before the other settings (``settings_customise_sources``): where they may be files.
    secrets_dir: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        directory = os.environ.get(SECRETS_DIR_VARIABLE)
        if not directory:
            return init_settings, env_settings, dotenv_settings
        if not os.path.isdir(directory):
            raise ConfigurationError(f"{SECRETS_DIR_VARIABLE} {directory} is not a directory")
        files = SecretsSettingsSource(settings_cls, secrets_dir=directory)
        return init_settings, env_settings, dotenv_settings, files

    @field_validator("default_expiry", "processed_retention", mode="before")
    @classmethod
    def _seconds_or_iso_duration(cls, value: object) -> object:
        # Environment variables arrive as text; "1209600" means seconds, like "P14D" days.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @model_validator(mode="after")
    def _events_fit_in_a_record(self) -> Self:
        # An event carries the whole referral; it must always fit in one outgoing record.
        if self.max_document_bytes + EVENT_OVERHEAD_BYTES > self.max_record_bytes:
            raise ValueError(
                f"max_document_bytes ({self.max_document_bytes}) plus {EVENT_OVERHEAD_BYTES}"
                f" bytes of event envelope must not exceed max_record_bytes"
                f" ({self.max_record_bytes})"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: secrets masked, credentials stripped from the database URL."""
        shown = self.model_dump(mode="json")
        shown["database_url"] = _without_password(self.database_url.get_secret_value())
        return shown


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
