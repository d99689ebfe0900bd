"""The one settings object, read once at start-up from ``REFERRALS_*`` environment variables.

Secrets are ``SecretStr`` so they never show up in logs or reprs; ``describe()`` is the
masked view the service logs at start. Any setting may also be a file named after its
variable in the directory ``REFERRALS_SECRETS_DIR`` names (``REFERRALS_DATABASE_URL``
holding the URL), as Kubernetes mounts Secrets; an environment variable wins over a file.

``tenant_topics`` switches on multi-tenant mode: one command topic per tenant (protected by
Kafka ACLs), whose commands act as that tenant whatever they declare.

``Settings`` is longer than a class should be because it is the list of every setting, one
line each (with its bounds), which the README's configuration table follows.
"""

import json
import os
import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from service.errors import ConfigurationError
from service.redaction import mask_url
from state.limits import identifier_problem

#: The directory of settings given as files, one per variable.
SECRETS_DIR_VARIABLE: Final = "REFERRALS_SECRETS_DIR"
#: Room an event needs around its referral document (attributes, paths, previous state).
EVENT_OVERHEAD_BYTES: Final = 65_536
#: What Kafka accepts as a topic name.
_TOPIC_NAME: Final = re.compile(r"[a-zA-Z0-9._-]{1,249}")


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
    #: Multi-tenant mode: tenant id -> that tenant's command topic. Empty: single-tenant.
    tenant_topics: dict[str, str] = Field(default_factory=dict)
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    session_timeout_ms: int = Field(default=10_000, ge=1000)
    fetch_max_wait_ms: int = Field(default=100, ge=0, le=60_000)
    max_batch_size: int = Field(default=500, ge=1)
    #: Referrals kept in memory between batches so they are not read and validated again.
    referral_cache_size: int = Field(default=5000, ge=0)
    max_command_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=64, ge=4, le=256)
    max_patch_operations: int = Field(default=100, ge=1)
    max_document_bytes: int = Field(default=262_144, ge=4096)
    max_array_items: int = Field(default=1000, ge=1)
    max_string_length: int = Field(default=32_768, ge=64)
    max_attribute_length: int = Field(default=256, ge=36, le=2000)
    #: Characters of an indexed string (state.indexed); 150 keeps a PostgreSQL index entry
    #: within its 2,704 bytes even with tenant and id at 256 four-byte characters.
    max_indexed_length: int = Field(default=150, ge=36, le=600)
    max_record_bytes: int = Field(default=1_000_000, ge=65_536)
    poison_attempts: int = Field(default=3, ge=1, le=20)
    #: Read and decide commands in the canonical form on the fast path (``service.fast``);
    #: off, the models read and decide every command (the same bytes, more CPU).
    fast_path: bool = True
    #: Consume-loop processes of ``referrals run`` (``service.workers``): 0 picks the usable
    #: CPUs, capped by the commands topic's partitions; 1 runs the loop in this process.
    workers: int = Field(default=0, ge=0, le=64)
    event_mode: EventMode = EventMode.BINARY
    event_source: str = "urn:referral-lifecycle"

    database_url: SecretStr = SecretStr("sqlite:///./referrals.db")
    database_pool_size: int = Field(default=5, ge=1)
    #: PostgreSQL waits, in seconds (service.store.PostgresBounds): opening a connection,
    #: waiting for one of the pool, one statement, one statement of a schema migration. A
    #: database that does not answer within them is an outage, and readiness says so.
    database_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    database_acquire_timeout_seconds: float = Field(default=3.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=10.0, gt=0)
    database_migration_timeout_seconds: float = Field(default=600.0, gt=0)
    #: Whether ``referrals run`` creates and upgrades the schema at start. False where
    #: ``referrals migrate`` runs once per release (the chart's hook Job in PostgreSQL mode),
    #: so the replicas' role needs no more than reading and writing rows.
    database_migrate: bool = True
    default_expiry: timedelta = timedelta(days=14)
    expiry_interval_seconds: float = Field(default=30.0, gt=0)
    #: How often the referrals-per-state gauge is recounted (a scan of every referral).
    state_count_interval_seconds: float = Field(default=30.0, gt=0)
    #: Keys the expiry command ids; by default one is made once and kept in the store.
    expiry_secret: SecretStr | None = None
    processed_retention: timedelta = timedelta(days=7)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    #: The read API (``service.api``): its own port; its bind host defaults to http_host's.
    #: ``api_enabled`` false: ``referrals run`` and ``dev`` serve no read API (it runs as a
    #: tier of its own, ``referrals api``, which ignores the setting).
    api_enabled: bool = True
    api_host: str | None = None
    api_port: int = Field(default=8090, ge=0, le=65535)
    #: Proxies trusted for X-Forwarded-Proto/-For (comma-separated IPs or networks, "*":
    #: any), as uvicorn reads them: the caller's address logged. Empty: none is trusted.
    api_forwarded_allow_ips: str = ""
    #: Bearer JWTs: checked against this issuer, audience and JWKS (a URL or a file).
    api_jwt_issuer: str | None = None
    api_jwt_audience: str | None = None
    api_jwks_url: str | None = None
    api_jwks_file: str | None = None
    api_jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    api_jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    #: The claim naming the caller's tenant, and the role that reads every tenant's.
    api_tenant_claim: str = "tid"
    api_roles_claim: str = "roles"
    api_all_tenants_role: str = "Referrals.Read.AllTenants"
    #: The role that may change what the service holds for a tenant (its webhooks).
    api_write_role: str = "Referrals.ReadWrite"
    #: Static API keys: a JSON object of key -> tenant ("*": every tenant), or such a file.
    api_keys: SecretStr | None = None
    api_keys_file: str | None = None
    #: A JWKS URL is fetched again at most once per this many seconds, whatever happens,
    #: each fetch given at most the timeout and the size.
    api_jwks_refresh_seconds: float = Field(default=300.0, gt=0)
    api_jwks_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    api_jwks_max_bytes: int = Field(default=1_048_576, ge=1024)
    #: The API's public base URL (https://host[/prefix]) its links start with; none:
    #: links are relative to the server's root. Never taken from a request's Host.
    api_public_url: str | None = None
    #: How long a write waits for its command's outcome before answering 202 with a
    #: status URL (``service.api.writes.flow``).
    api_write_wait_seconds: float = Field(default=10.0, gt=0, le=120)
    #: Webhooks (``service.webhooks``): a failing delivery is retried with exponential
    #: backoff (full jitter, from the initial delay up to the max) for the retry period,
    #: then its registration is marked failing and its deliveries parked.
    webhook_retry_period: timedelta = timedelta(hours=24)
    webhook_retry_initial_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_response_bytes: int = Field(default=65_536, ge=0)
    #: Requests in flight at once to one endpoint, per replica.
    webhook_concurrency_per_endpoint: int = Field(default=4, ge=1, le=64)
    #: How often the dispatcher looks for due deliveries.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    #: Development only: http:// URLs, and loopback, private and link-local targets.
    webhook_allow_http: bool = False
    webhook_allow_private_targets: bool = False
    #: Test events a tenant may ask for per minute (Partner Center's limit is 2).
    webhook_test_events_per_minute: int = Field(default=2, ge=1)
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

    @field_validator("default_expiry", "processed_retention", "webhook_retry_period", mode="before")
    @classmethod
    def _seconds_or_iso_duration(cls, value: object) -> object:
        # Environment variables arrive as text; "1209600" means seconds, like "P14D" days.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("api_public_url")
    @classmethod
    def _public_url_is_a_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("api_public_url must be an absolute http(s) URL")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError("api_public_url takes no credentials, query or fragment")
        return value.rstrip("/")

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

    @model_validator(mode="after")
    def _tenant_topics_are_their_own(self) -> Self:
        for tenant, topic in self.tenant_topics.items():
            problem = identifier_problem(tenant, self.max_attribute_length)
            if not tenant or problem is not None:
                raise ValueError(f"tenant_topics: a tenant id {problem or 'is empty'}")
            if not _TOPIC_NAME.fullmatch(topic):
                raise ValueError(f"tenant_topics: {topic!r} is not a Kafka topic name")
        topics = list(self.tenant_topics.values())
        if len(set(topics)) != len(topics):
            raise ValueError("tenant_topics: each tenant needs a topic of its own")
        shared = {self.commands_topic, self.events_topic, self.rejections_topic, self.dlq_topic}
        if shared & set(topics):
            raise ValueError(
                "tenant_topics: a tenant's topic cannot be the commands, events, rejections"
                " or dead-letter topic"
            )
        return self

    @model_validator(mode="after")
    def _jwt_settings_are_whole(self) -> Self:
        given = {
            "api_jwt_issuer": self.api_jwt_issuer,
            "api_jwt_audience": self.api_jwt_audience,
            "api_jwks_url or api_jwks_file": self.api_jwks_url or self.api_jwks_file,
        }
        missing = [name for name, value in given.items() if not value]
        if 0 < len(missing) < len(given):
            raise ValueError(f"bearer tokens need {', '.join(missing)} too")
        if self.api_jwks_url and self.api_jwks_file:
            raise ValueError("give api_jwks_url or api_jwks_file, not both")
        return self

    @property
    def api_bind_host(self) -> str:
        return self.api_host or self.http_host

    @property
    def command_topics(self) -> list[str]:
        """Every topic commands are consumed from: the shared one, then each tenant's."""
        return [self.commands_topic, *self.tenant_topics.values()]

    @property
    def topic_tenants(self) -> dict[str, str]:
        """The tenant each tenant topic belongs to (empty in single-tenant mode)."""
        return {topic: tenant for tenant, topic in self.tenant_topics.items()}

    def environment(self) -> dict[str, str]:
        """These settings as the ``REFERRALS_*`` variables that give them back, secrets
        included: to configure a child process, never to log."""
        values = self.model_dump(mode="json")
        for name, value in self:
            if isinstance(value, SecretStr):
                values[name] = value.get_secret_value()
        return {
            f"REFERRALS_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
            for name, value in values.items()
            if value is not None
        }

    def child_environment(self) -> dict[str, str]:
        """This process's environment with its ``REFERRALS_*`` variables replaced by these
        settings' own: a child process started with it reads exactly these settings."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("REFERRALS_")}
        return {**inherited, **self.environment()}

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: secrets masked, credentials stripped from the database URL."""
        shown = self.model_dump(mode="json")
        shown["database_url"] = mask_url(self.database_url.get_secret_value())
        return shown
