"""The voice channel's configuration: Twilio credentials, the mode the channel runs in, and
the IVR menu of every company number (a TOML file).

Modes:

- ``twilio``: account SID and auth token are set; webhooks are validated with the token and
  calls are placed through Twilio's REST API.
- ``simulator``: no credentials, but ``SWITCHBOARD_TWILIO_SIMULATOR`` is on (the default in
  development): the webhooks are live and validated with a token generated once under
  ``var/``; ``switchboard simulate call`` signs and posts them as Twilio would. Nothing
  reaches a telephone network.
- ``off``: no credentials and no simulator (the default in test and production): no
  webhook routes, and click-to-call records the call without placing it.

A menu file looks like::

    [numbers."+48221234567"]
    greeting = "Thank you for calling Switchboard."
    prompt = "For sales press 1. For service press 2."
    default_queue = "General"
    timezone = "Europe/Warsaw"
    holidays = ["2026-12-25"]
    closed_message = "We are closed. Please leave a message after the tone."
    voicemail = true
    [numbers."+48221234567".hours]
    mon = [["08:00", "18:00"]]
    [numbers."+48221234567".options]
    1 = "Sales"
    2 = "Service"

    [queues.Sales]
    recording = "on"

``hours`` absent means open round the clock; present, the line is open only within the
listed ranges (a day not listed is closed).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm_core.services.phones import normalize_phone
from hub.settings import ConfigurationError, Settings

Mode = Literal["twilio", "simulator", "off"]
SIMULATOR_ACCOUNT_SID = "AC" + "5" * 32
DEMO_MENUS = Path(__file__).with_name("demo_menus.toml")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class QueueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    recording: Literal["off", "on", "on-demand"] = "off"


class Menu(BaseModel):
    """The IVR of one company number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    language: str = "en-US"
    voice: str | None = None
    greeting: str = "Thank you for calling."
    prompt: str = ""
    options: dict[str, str] = Field(default_factory=dict)
    default_queue: str = "General"
    timezone: str = "UTC"
    hours: dict[str, list[tuple[str, str]]] | None = None
    holidays: list[dt.date] = Field(default_factory=list)
    closed_message: str = "We are closed at the moment."
    voicemail: bool = True
    voicemail_queue: str | None = None
    voicemail_max_seconds: int = Field(120, ge=5, le=3600)
    wait_message: str = "All our agents are busy. Please stay on the line."
    hold_music_url: str | None = None
    callback_on_abandon: bool = False

    @field_validator("options")
    @classmethod
    def _digits(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[0-9*#]", key):
                raise ValueError(f"menu option {key!r} must be one key: 0-9, * or #")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _hours(
        cls, value: dict[str, list[tuple[str, str]]] | None
    ) -> dict[str, list[tuple[str, str]]] | None:
        if value is None:
            return None
        for day, ranges in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            for start, end in ranges:
                if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
                    raise ValueError(f"{day}: {start}-{end} is not an HH:MM range")
        return value

    def is_open(self, at: dt.datetime) -> bool:
        """Is the line open at ``at`` (aware), in the menu's time zone?"""
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        if self.hours is None:
            return True
        hhmm = local.strftime("%H:%M")
        ranges = self.hours.get(WEEKDAYS[local.weekday()], [])
        return any(start <= hhmm < end for start, end in ranges)

    def queue_for(self, digits: str | None) -> str | None:
        if not digits:
            return None
        return self.options.get(digits[:1])


class MenuFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    numbers: dict[str, Menu] = Field(default_factory=dict)
    queues: dict[str, QueueOptions] = Field(default_factory=dict)


@dataclass(frozen=True)
class VoiceConfig:
    mode: Mode
    account_sid: str
    auth_token: str
    public_base_url: str
    api_key_sid: str = ""
    api_key_secret: str = ""
    twiml_app_sid: str = ""
    fetch_recordings: bool = True
    default_region: str = "PL"
    menus: dict[str, Menu] = field(default_factory=dict)
    queues: dict[str, QueueOptions] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def menu_for(self, called: str | None) -> tuple[str, Menu] | None:
        """The (E.164 number, menu) a call to ``called`` reaches, or None."""
        e164 = normalize_phone(called, self.default_region)
        if e164 is None or e164 not in self.menus:
            return None
        return e164, self.menus[e164]

    def recording_mode(self, queue: str | None) -> str:
        opts = self.queues.get(queue or "")
        return opts.recording if opts else "off"

    def url(self, path: str) -> str:
        return self.public_base_url.rstrip("/") + path

    @property
    def company_numbers(self) -> list[str]:
        return sorted(self.menus)


def load_menus(path: Path, region: str) -> MenuFile:
    """Read and check a menu file; every problem is a :class:`ConfigurationError`."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"SWITCHBOARD_TWILIO_MENUS_FILE: cannot read {path}: {exc.strerror}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"SWITCHBOARD_TWILIO_MENUS_FILE: {path} is not TOML: {exc}"
        ) from exc
    try:
        parsed = MenuFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"SWITCHBOARD_TWILIO_MENUS_FILE: {path}: {where}: {first['msg']}"
        ) from exc
    numbers: dict[str, Menu] = {}
    for number, menu in parsed.numbers.items():
        e164 = normalize_phone(number, region)
        if e164 is None:
            raise ConfigurationError(
                f"SWITCHBOARD_TWILIO_MENUS_FILE: {path}: {number!r} is not a phone number"
            )
        numbers[e164] = menu
    return MenuFile(numbers=numbers, queues=parsed.queues)


def _simulator_token(var_dir: Path) -> str:
    path = var_dir / "twilio_simulator_token"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def voice_config(settings: Settings) -> VoiceConfig:
    """The channel's configuration, or :class:`ConfigurationError` naming what is missing."""
    sid, token = settings.twilio_account_sid.strip(), settings.twilio_auth_token.strip()
    if sid and not token:
        raise ConfigurationError(
            "SWITCHBOARD_TWILIO_AUTH_TOKEN is missing: the voice channel needs it to check "
            "Twilio's webhook signatures (or unset SWITCHBOARD_TWILIO_ACCOUNT_SID)"
        )
    if token and not sid:
        raise ConfigurationError(
            "SWITCHBOARD_TWILIO_ACCOUNT_SID is missing: the voice channel needs it with "
            "SWITCHBOARD_TWILIO_AUTH_TOKEN"
        )
    if sid and not _SID.match(sid):
        raise ConfigurationError("SWITCHBOARD_TWILIO_ACCOUNT_SID must look like AC + 32 hex digits")
    if bool(settings.twilio_api_key_sid) != bool(settings.twilio_api_key_secret):
        missing = (
            "SWITCHBOARD_TWILIO_API_KEY_SECRET"
            if settings.twilio_api_key_sid
            else "SWITCHBOARD_TWILIO_API_KEY_SID"
        )
        raise ConfigurationError(f"{missing} is missing: an API key needs both SID and secret")
    simulator = settings.twilio_simulator
    if simulator is None:
        simulator = settings.env == "development"
    mode: Mode = "twilio" if sid else ("simulator" if simulator else "off")
    if mode == "off":
        return VoiceConfig(
            mode="off",
            account_sid="",
            auth_token="",
            public_base_url=settings.public_base_url,
            default_region=settings.default_region,
        )
    public = settings.public_base_url
    if (
        mode == "twilio"
        and settings.env == "production"
        and (not public.startswith("https://") or "127.0.0.1" in public)
    ):
        raise ConfigurationError(
            "SWITCHBOARD_PUBLIC_BASE_URL must be the public https:// address Twilio "
            "reaches (webhook signatures are checked against it)"
        )
    menus_path = settings.twilio_menus_file
    if menus_path is None:
        if mode == "twilio":
            raise ConfigurationError(
                "SWITCHBOARD_TWILIO_MENUS_FILE is missing: the voice channel needs the IVR "
                "menu of each company number (see channels/twilio_voice/demo_menus.toml)"
            )
        menus_path = DEMO_MENUS
    menus = load_menus(Path(menus_path), settings.default_region)
    return VoiceConfig(
        mode=mode,
        account_sid=sid or SIMULATOR_ACCOUNT_SID,
        auth_token=token or _simulator_token(Path(settings.var_dir)),
        public_base_url=settings.public_base_url,
        api_key_sid=settings.twilio_api_key_sid,
        api_key_secret=settings.twilio_api_key_secret,
        twiml_app_sid=settings.twilio_twiml_app_sid,
        fetch_recordings=settings.twilio_fetch_recordings and mode == "twilio",
        default_region=settings.default_region,
        menus=dict(menus.numbers),
        queues=dict(menus.queues),
    )
