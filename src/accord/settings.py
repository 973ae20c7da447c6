"""One typed settings object; every environment variable is mapped here.

Sources, highest priority first: explicit overrides (the command line),
environment variables ``ACCORD_*``, then a TOML file — the one named by
``ACCORD_CONFIG``, or ``<data_dir>/accord.toml`` when it exists (``accord
init`` writes it). Nothing else in Accord reads ``os.environ``.

Outside development mode the node refuses to start with the default secret,
or without a passphrase for its private keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from accord.errors import ConfigurationError

DEFAULT_SECRET = "insecure-development-secret-change-me"
Mode = Literal["development", "test", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="forbid", frozen=True)

    mode: Mode = "production"
    data_dir: Path = Path("var/node")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in WAL mode in data_dir"
    )
    node_id: str = "accord-node"
    country: str = "XX"
    base_url: str = "http://127.0.0.1:8400"
    host: str = "127.0.0.1"
    port: int = 8400
    # A write waits at most this long for the database (SQLite's one writer, or a pooled
    # connection) before the request fails with a 503 problem; see accord.db.WriteGate.
    database_write_wait_seconds: float = Field(default=15.0, gt=0, le=300)
    # Connections per process: enough for the request thread pool (40) and the workers.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_pool_overflow: int = Field(default=40, ge=0, le=400)

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    key_passphrase: SecretStr | None = None
    key_passphrase_file: Path | None = None

    session_idle_minutes: int = Field(default=30, ge=1)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=10, ge=10)
    token_max_days: int = Field(default=365, ge=1)

    audit_checkpoint_seconds: float = Field(default=30.0, gt=0)
    agreements_dir: Path | None = None
    # How often (at most) the agreements folder is checked for changed files; decisions
    # in between use the cached agreements. Process time, not the domain clock.
    agreements_recheck_seconds: float = Field(default=2.0, ge=0)
    clock: Literal["system", "offset"] = "system"
    log_level: str = "INFO"

    # exchange (messages between agencies): outbox delivery and envelope limits
    exchange_retry_base_seconds: float = Field(default=1.0, gt=0)
    exchange_retry_max_seconds: float = Field(default=300.0, gt=0)
    exchange_dead_letter_after_seconds: float = Field(default=86400.0, gt=0)
    exchange_envelope_max_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    exchange_envelope_ttl_seconds: float = Field(default=7 * 86400.0, gt=0)
    exchange_worker_poll_seconds: float = Field(default=1.0, gt=0)
    exchange_worker_concurrency: int = Field(default=8, ge=1, le=64)
    exchange_worker_batch: int = Field(default=64, ge=1, le=1000)
    exchange_http_timeout_seconds: float = Field(default=10.0, gt=0)
    # at most one automatic key refresh per peer in this many seconds (an unknown sender key
    # on an envelope, or an unknown key on a receipt, triggers one)
    exchange_peer_refresh_min_seconds: float = Field(default=60.0, ge=0)
    # unauthenticated rejected envelopes: at most one audit entry per (reason, source) per window
    exchange_rejection_audit_window_seconds: float = Field(default=60.0, gt=0)
    exchange_rejection_audit_max_sources: int = Field(default=1000, ge=1)

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.mode != "development":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET:
                raise ValueError(
                    f"mode={self.mode}: ACCORD_SECRET_KEY still has the default value; "
                    "set a random secret (accord init writes one)"
                )
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("ACCORD_SECRET_KEY must be at least 32 characters")
        if self.clock == "offset" and self.mode == "production":
            raise ValueError("a movable clock is only allowed in development or test mode")
        return self

    # -- derived values ---------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'accord.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def resolved_agreements_dir(self) -> Path:
        return self.agreements_dir or (self.data_dir / "agreements")

    def passphrase(self) -> bytes:
        """The passphrase that encrypts private keys at rest."""
        if self.key_passphrase is not None:
            return self.key_passphrase.get_secret_value().encode()
        if self.key_passphrase_file is not None:
            try:
                return self.key_passphrase_file.read_text().strip().encode()
            except OSError as exc:
                raise ConfigurationError(f"cannot read key passphrase file: {exc}") from exc
        if self.mode == "development":
            return b"development-only-key-passphrase"
        raise ConfigurationError(
            "no key passphrase: set ACCORD_KEY_PASSPHRASE or ACCORD_KEY_PASSPHRASE_FILE"
        )


def _config_path(overrides: dict[str, Any], config_file: Path | None) -> Path | None:
    if config_file is not None:
        return config_file
    env = os.environ.get("ACCORD_CONFIG")
    if env:
        return Path(env)
    data_dir = overrides.get("data_dir") or os.environ.get("ACCORD_DATA_DIR") or "var/node"
    candidate = Path(data_dir) / "accord.toml"
    return candidate if candidate.exists() else None


def agreements_dir_setting() -> Path | None:
    """The agreements folder named by the settings, for tools that run without a node.

    Secrets are not needed to read it, so it is read in development mode.
    """
    try:
        folder = load_settings(mode="development").resolved_agreements_dir
    except ConfigurationError:
        return None
    return folder if folder.is_dir() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and the TOML file."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    path = _config_path(clean, config_file)

    class _Sourced(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            return tuple(sources)

    try:
        settings = _Sourced(**clean)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    return Settings.model_construct(**{k: getattr(settings, k) for k in Settings.model_fields})
