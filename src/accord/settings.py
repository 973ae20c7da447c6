"""One typed settings object; every environment variable is mapped here.

Sources, highest priority first: explicit overrides (the command line),
environment variables ``ACCORD_*``, then a TOML file — the one named by
``ACCORD_CONFIG``, or ``<data_dir>/accord.toml`` when it exists (``accord
init`` writes it). Nothing else in Accord reads ``os.environ``.

Outside development mode the node refuses to start with the default secret,
or without a passphrase for its private keys. In production neither secret may
come from a file inside the data folder (the ``accord.toml`` there, or a
``secret_key_file`` / ``key_passphrase_file`` under it): a copy of the data
folder must not carry what unseals it. ``unsafe_fast_key_sealing`` (Argon2's
minimum cost for sealing private keys) is refused outside test mode.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from accord.crypto.keys import STANDARD_COST, UNSAFE_TEST_COST, SealCost
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
    port: int = Field(default=8400, ge=1, le=65535)
    # A write waits at most this long for the database (SQLite's one writer, or a pooled
    # connection) before the request fails with a 503 problem; see accord.db.WriteGate.
    database_write_wait_seconds: float = Field(default=15.0, gt=0, le=300)
    # Connections per process: enough for the request thread pool (40) and the workers.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_pool_overflow: int = Field(default=40, ge=0, le=400)
    # Group commit (accord/commit.py): concurrent message submissions share one transaction
    # of at most this many units.
    database_group_commit_max: int = Field(default=64, ge=1, le=1000)
    # `accord serve` stops within this long of SIGTERM or Ctrl-C: half for requests in
    # flight, the rest for the workers; a watchdog ends the process at the limit.
    shutdown_seconds: float = Field(default=8.0, ge=2, le=300)

    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    key_passphrase: SecretStr | None = None
    key_passphrase_file: Path | None = None
    # the node secret read from this file (one line) instead of secret_key; in production
    # it must lie outside the data folder
    secret_key_file: Path | None = None
    # test nodes only: seal private keys at Argon2's minimum cost (fast, worthless at rest)
    unsafe_fast_key_sealing: bool = False
    # fault drills only (refused in production): the receiver stops this long in the middle
    # of its first batch of each process, half of it stored but not committed, after writing
    # the file batch-paused in the data folder (the fault test kills the node then)
    unsafe_fault_batch_pause_seconds: float = Field(default=0.0, ge=0, le=60)

    session_idle_minutes: int = Field(default=30, ge=1)
    # a session ends this long after login, however active (besides the idle timeout)
    session_max_hours: int = Field(default=12, ge=1, le=168)
    # an officer's one-time enrolment code (to set a password and get the TOTP secret) lasts this long
    enrolment_hours: int = Field(default=72, ge=1, le=720)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=10, ge=10)
    token_max_days: int = Field(default=365, ge=1)

    audit_checkpoint_seconds: float = Field(default=30.0, gt=0)
    # a transaction whose audit entries cross a multiple of this signs a checkpoint with them,
    # so at most this many entries are ever covered by no signed checkpoint
    audit_checkpoint_entries: int = Field(default=1000, ge=1, le=1_000_000)
    # how often the server sends its latest checkpoint to its peers to be witnessed (cosigned),
    # and how long it waits for one peer's answer
    audit_witness_seconds: float = Field(default=60.0, gt=0)
    audit_witness_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    agreements_dir: Path | None = None
    # How often (at most) the agreements folder is checked for changed files; decisions
    # in between use the cached agreements. Process time, not the domain clock.
    agreements_recheck_seconds: float = Field(default=2.0, ge=0)
    clock: Literal["system", "offset"] = "system"
    log_level: str = "INFO"

    # exchange (messages between agencies): outbox delivery and envelope limits
    exchange_retry_base_seconds: float = Field(default=1.0, gt=0)
    # backoff cap: a peer that comes back is tried again within this long (plus the idle poll)
    exchange_retry_max_seconds: float = Field(default=5.0, gt=0)
    exchange_dead_letter_after_seconds: float = Field(default=86400.0, gt=0)
    exchange_envelope_max_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    exchange_envelope_ttl_seconds: float = Field(default=7 * 86400.0, gt=0)
    exchange_worker_poll_seconds: float = Field(default=1.0, gt=0)
    exchange_worker_concurrency: int = Field(default=8, ge=1, le=64)
    exchange_worker_batch: int = Field(default=256, ge=1, le=5000)
    # delivery rounds in flight at once: a round claims, sends and settles; while one waits on
    # the peer, the next claims and seals (so both nodes' CPU is used at once)
    exchange_worker_rounds: int = Field(default=2, ge=1, le=16)
    # envelopes per request to one peer (POST /federation/v1/envelopes/batch); the receiver
    # refuses larger batches
    exchange_send_batch: int = Field(default=64, ge=1, le=500)
    exchange_batch_max_bytes: int = Field(default=16 * 1024 * 1024, ge=65536)
    exchange_http_timeout_seconds: float = Field(default=10.0, gt=0)
    # at most one automatic key refresh per peer in this many seconds (an unknown sender key
    # on an envelope, or an unknown key on a receipt, triggers one)
    exchange_peer_refresh_min_seconds: float = Field(default=60.0, ge=0)
    # every peer's descriptor is fetched again at least this often (a revocation on the peer
    # is learnt within it); each wait is shortened by a random part of up to the jitter share
    exchange_peer_refresh_seconds: float = Field(default=300.0, gt=0)
    exchange_peer_refresh_jitter: float = Field(default=0.1, ge=0, lt=1)
    # unauthenticated rejected envelopes: at most one audit entry per (reason, source) per window
    exchange_rejection_audit_window_seconds: float = Field(default=60.0, gt=0)
    exchange_rejection_audit_max_sources: int = Field(default=1000, ge=1)

    # alerts (docs/alerts.md): the answer to a hit is due after this when the agreement sets
    # no hit-follow-up deadline; reminders are looked for this often
    alerts_hit_answer_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    alerts_reminder_seconds: float = Field(default=60.0, gt=0)
    alerts_expiry_notice_days: int = Field(default=7, ge=0, le=365)
    alerts_max_validity_days: int = Field(default=3 * 366, ge=1, le=10 * 366)

    # hit/no-hit search (docs/search.md, "Hit/no-hit protocol"): a peer that has not answered
    # within the deadline shows as "no answer"; a batch gets extra time per identifier
    search_deadline_seconds: float = Field(default=3.0, gt=0, le=120)
    search_deadline_per_item_ms: float = Field(default=2.0, ge=0, le=1000)
    search_chunk_items: int = Field(default=2500, ge=1, le=10_000)
    search_concurrency: int = Field(default=16, ge=1, le=256)
    # a query envelope valid longer than this is refused (it bounds the replay table)
    search_query_max_validity_seconds: float = Field(default=600.0, gt=0, le=86400)

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="before")
    @classmethod
    def _secret_key_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("secret_key_file") in (None, ""):
            return data
        if data.get("secret_key") is not None:
            raise ValueError("set secret_key or secret_key_file, not both")
        path = Path(data["secret_key_file"])
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret_key_file {path}: {exc.strerror}") from exc
        return {**data, "secret_key": SecretStr(secret)}  # never shown in an error

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.mode != "development":
            if self.secret_key.get_secret_value() == DEFAULT_SECRET:
                raise ValueError(
                    f"mode={self.mode}: the node secret still has the default value; set a "
                    "random secret in ACCORD_SECRET_KEY or in a file named by secret_key_file"
                )
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("ACCORD_SECRET_KEY must be at least 32 characters")
        if self.clock == "offset" and self.mode == "production":
            raise ValueError("a movable clock is only allowed in development or test mode")
        if self.unsafe_fast_key_sealing and self.mode != "test":
            raise ValueError(f"mode={self.mode}: unsafe_fast_key_sealing is only allowed in test "
                             "mode (it seals private keys at Argon2's minimum cost)")
        if self.unsafe_fault_batch_pause_seconds and self.mode == "production":
            raise ValueError("mode=production: unsafe_fault_batch_pause_seconds is for fault drills")
        if self.mode == "production":
            for name in ("secret_key_file", "key_passphrase_file"):
                path = getattr(self, name)
                if path is not None and is_inside(path, self.data_dir):
                    raise ValueError(
                        f"mode=production: {name} {path} is inside the data folder "
                        f"{self.data_dir}; keep it in a file outside the data folder")
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
    def key_seal_cost(self) -> SealCost:
        """The Argon2id cost new private key files are sealed with."""
        return UNSAFE_TEST_COST if self.unsafe_fast_key_sealing else STANDARD_COST

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


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, symlinks and ``..`` resolved."""
    return path.resolve().is_relative_to(folder.resolve())


def _refuse_secrets_in_data_folder(settings: Settings, config: Path | None) -> None:
    """Production: the TOML file inside the data folder must not hold the secrets."""
    if settings.mode != "production" or config is None or not is_inside(config, settings.data_dir):
        return
    try:
        held = sorted({"secret_key", "key_passphrase"} & tomllib.loads(config.read_text()).keys())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {config}: {exc}") from exc
    if held:
        fixes = {
            "secret_key": "put the node secret in a file outside the data folder named by "
                          "secret_key_file (or ACCORD_SECRET_KEY_FILE), or in ACCORD_SECRET_KEY",
            "key_passphrase": "put the key passphrase in a file outside the data folder named by "
                              "key_passphrase_file, or in ACCORD_KEY_PASSPHRASE",
        }
        raise ConfigurationError(
            f"mode=production: {config} is inside the data folder and holds {' and '.join(held)}, "
            "so a copy of the data folder would carry what unseals it: "
            + "; ".join(fixes[h] for h in held) + f"; then remove {' and '.join(held)} from {config}")


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
    except ValidationError as exc:  # its text would quote the input values, secrets included
        raise ConfigurationError("; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False))) from exc
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    _refuse_secrets_in_data_folder(settings, path)
    return Settings.model_construct(**{k: getattr(settings, k) for k in Settings.model_fields})
