"""Typed settings: defaults, then ``SWITCHBOARD_*`` environment variables and ``.env``.

Tests and embedders pass a mapping to ``create_app`` that overrides both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """Start-up stops: a setting an enabled feature needs is missing or wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_", env_file=".env", extra="ignore", frozen=True
    )

    env: str = Field("development", description="development | production | test")
    secret_key: str = Field("", description="Flask session signing key; required in production")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite file under var/")
    var_dir: Path = Field(ROOT / "var", description="data directory (SQLite, blobs, quarantine)")
    blob_dir: Path | None = Field(None, description="attachment store; default <var_dir>/blobs")
    default_region: str = Field("PL", description="region for national phone numbers")
    max_upload_bytes: int = Field(25 * 1024 * 1024, description="largest accepted upload")
    broker_url: str = Field("", description="Celery broker; empty runs tasks in-process")
    redis_url: str = Field("", description="Socket.IO message queue for several processes")
    public_base_url: str = Field("http://127.0.0.1:5000", description="URL Twilio posts to")
    ticket_prefix: str = Field("SB-", description="prefix of ticket numbers")
    log_level: str = Field("INFO")
    sql_echo: bool = False
    db_pool_size: int = Field(
        20, description="connections kept per process (as many again in overflow)"
    )
    db_pool_timeout: float = Field(30.0, description="seconds to wait for a free connection")
    statement_timeout_ms: int = 30_000
    socketio_async_mode: str = Field("threading", description="threading | eventlet | gevent")
    socketio_channel: str = Field("flask-socketio", description="Redis channel of the emits")
    agent_grace_seconds: int = Field(120, description="socket gone this long: agent goes offline")
    routing_aging_seconds: int = Field(60, description="waiting this long counts as +1 priority")
    tick_seconds: int = Field(5, description="period of the offer, wrap-up, SLA check")
    routing_background: bool = Field(
        True, description="switchboard serve routes on a thread of its own, not in requests"
    )
    realtime_stats_seconds: float = Field(
        1.0, description="queue figures go out at most this often per queue (coalesced)"
    )
    realtime_queue_size: int = Field(
        10_000, description="committed events waiting for the fan-out thread, at most"
    )
    # Voice channel (channels/twilio_voice): on when both are set; see docs/twilio-voice.md.
    twilio_account_sid: str = Field("", description="Twilio account SID (AC...)")
    twilio_auth_token: str = Field("", description="Twilio auth token: signs the webhooks")
    twilio_api_key_sid: str = Field("", description="optional API key (SK...) for REST calls")
    twilio_api_key_secret: str = Field("", description="secret of twilio_api_key_sid")
    twilio_twiml_app_sid: str = Field("", description="TwiML app (AP...) for browser agents")
    twilio_menus_file: Path | None = Field(None, description="IVR menus per company number")
    twilio_simulator: bool | None = Field(None, description="signed webhooks without Twilio")
    twilio_fetch_recordings: bool = Field(True, description="copy recordings into attachments")
    # E-mail channel (channels/email): see docs/email.md.
    email_addresses: dict[str, str] = Field(
        {"support@switchboard.localhost": ""},
        description="address or @domain we accept mail for -> queue name ('' = none); JSON",
    )
    email_from_address: str = Field("support@switchboard.localhost", description="our From")
    email_from_name: str = Field("Switchboard Support", description="display name of our From")
    email_relay_host: str = Field("", description="SMTP smarthost; empty writes var/outbox/")
    email_relay_port: int = 587
    email_relay_security: str = Field("starttls", description="starttls | ssl | none")
    email_relay_username: str = ""
    email_relay_password: str = ""
    email_autoack: bool = Field(True, description="acknowledge new tickets by e-mail")
    email_autoack_limit: int = Field(3, description="acks per sender per window, at most")
    email_autoack_window_seconds: int = 3600
    email_reopen_days: int = Field(30, description="a reply later than this opens a follow-up")
    email_signatures: dict[str, str] = Field(
        {}, description="queue name ('' = any other) -> signature under agents' replies; JSON"
    )
    email_autoack_template: str = Field(
        "",
        description="ack text with {first_name} {last_name} {name} {number} {subject} "
        "{expected} {signature}; empty = built in",
    )
    email_imap_accounts: list[dict[str, Any]] = Field(
        [], description="IMAP mailboxes to poll: JSON list of {name, host, port, ...}"
    )
    email_imap_poll_seconds: int = Field(60, description="polling period without IDLE")
    smtpd_host: str = "127.0.0.1"
    smtpd_port: int = 2525
    smtpd_in_process: bool = Field(True, description="serve also runs the SMTP listener")
    smtpd_max_message_bytes: int = Field(25 * 1024 * 1024, description="advertised SIZE")
    smtpd_tls_cert: Path | None = Field(None, description="PEM certificate: offer STARTTLS")
    smtpd_tls_key: Path | None = None

    # Web forms (channels/webforms): see docs/webforms.md.
    webform_rate_limit_per_minute: int = Field(10, description="form posts per IP a minute")
    # Fax (channels/fax): on when fax_auth_token is set; see docs/fax.md.
    fax_provider: str = Field("signalwire", description="name in /webhooks/fax/<provider>")
    fax_account_sid: str = Field("", description="fax provider project/account id")
    fax_auth_token: str = Field("", description="fax provider token: signs its webhooks")
    fax_api_base_url: str = Field("", description="REST base, e.g. https://x.signalwire.com")
    fax_media_hosts: list[str] = Field([], description="hosts fax media may come from; JSON")
    fax_from_number: str = Field("", description="our fax number for outbound faxes")
    fax_fetch_attempts: int = Field(5, description="media downloads tried before giving up")
    fax_send_attempts: int = Field(3, description="outbound fax tries before it counts failed")
    fax_email_gateway_addresses: list[str] = Field(
        [], description="e-mail addresses whose mail carries faxes (e-mail-to-fax); JSON"
    )
    fax_render_dpi: int = Field(100, description="resolution of rendered page images")
    # Production roles and scale-out: see docs/operations.md.
    celery_queue_prefix: str = Field("", description="prefix of the Celery queue names")
    celery_visibility_timeout: int = Field(900, description="Redis: unacked task back after")
    web_worker_connections: int = Field(10_000, description="gunicorn: clients per web node")
    web_graceful_timeout: int = Field(30, description="seconds to drain on SIGTERM")
    metrics_token: str = Field("", description="bearer token for /metrics; empty = local only")
    readiness_timeout: float = Field(2.0, description="seconds per /readyz dependency check")

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a phone-number region (ISO 3166 alpha-2)")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'switchboard.sqlite3'}"

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.var_dir / "blobs"

    def check(self) -> None:
        """Refuse to start with settings that would fail later or insecurely."""
        if self.env == "production" and len(self.secret_key) < 32:
            raise ConfigurationError(
                "SWITCHBOARD_SECRET_KEY must be set to at least 32 random characters in "
                "production (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment, with ``overrides`` (lower-case field names) on top."""
    return Settings(**(overrides or {}))
