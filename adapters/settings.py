"""All configuration, read once from the environment.

``Settings.from_env()`` is the only place that reads ``TRACKING_*``
variables; a missing or malformed value stops start-up with a message that
names the variable.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tracking.aggregate_cache import DEFAULT_BUDGET

from adapters.settings_parsing import (
    ROLES,
    SHIPPED,
    ConfigError,
    Tokens,
    _choice,
    _file,
    _nomenclature,
    _origins,
    _port,
    _positive,
    _redact,
    _tokens,
    tokens_of,
)

__all__ = ["ROLES", "SHIPPED", "VARIABLES", "CarrierSettings", "ConfigError", "NotifySettings",
           "Settings", "Tokens", "_redact"]

DEFAULT_DATABASE_URL = "sqlite:///./var/tracking.db"
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MQTT_PROTOCOLS = ("5", "3.1.1")

# Every variable read, with its default and meaning: the CLI's help and the
# README's table are checked against it.
VARIABLES: dict[str, tuple[str, str]] = {
    "TRACKING_DATABASE_URL": (
        "sqlite:///./var/tracking.db",
        "postgresql://user:pass@host:port/db (optional ?schema=name), or sqlite:///path; several hosts (host1:port1,host2:port2) fail over to whichever is the primary"),
    "TRACKING_DATABASE_READ_URL": (
        "TRACKING_DATABASE_URL",
        "postgresql://... of a streaming replica the API reads the views from (writes still go to TRACKING_DATABASE_URL; min_position waits for the replica)"),
    "TRACKING_MQTT_URL": ("an in-process broker", "mqtt://user:pass@host:port of the broker to consume scans from"),
    "TRACKING_MQTT_PROTOCOL": ("5", "the MQTT version `tracking ingest` speaks to TRACKING_MQTT_URL: 5, or 3.1.1 for a broker with no MQTT 5 (NATS; a persistent clean_session=False session, still acknowledged only once recorded)"),
    "TRACKING_MQTT_CLIENT_ID": ("tracking-ingest", "the consumer's stable MQTT client id (its persistent session)"),
    "TRACKING_MQTT_SLOTS": ("0 (none)", "with TRACKING_MQTT_GROUP and PostgreSQL: the group's member sessions, <client id>-0..N-1, each held by one running ingest under a lease, taken over when it dies (docs/scaling.md)"),
    "TRACKING_MQTT_GROUP": ('none ("")', "shared-subscription group of several consumers (MQTT 5 $share/<group>/...); unset, one plain persistent subscription (safe on Mosquitto, see the README)"),
    "TRACKING_MQTT_EMBEDDED_PORT": ("1883", "where the in-process broker listens when TRACKING_MQTT_URL is not set (an MQTT broker already there is consumed from instead)"),
    "TRACKING_DEVICES": ("any device", "registered device ids, comma-separated; scans from others are dead letters"),
    "TRACKING_HTTP_HOST": ("127.0.0.1", "the address the API (and the metrics port) listens on"),
    "TRACKING_HTTP_PORT": ("8000", "where the API listens"),
    "TRACKING_HTTP_WORKERS": ("1", "processes `tracking serve` answers with, sharing the port (one per core; each counts its own /metrics)"),
    "TRACKING_API_TOKENS": ("none", "role:token,role:token,... (roles merchant, agent, device, carrier, admin); merchant:<token>:<account> names the merchant's account; kept only as SHA-256 digests; to rotate a token list the new one beside the old (both valid), deploy, then drop the old"),
    "TRACKING_RATE_LIMIT_PER_MINUTE": ("60000", "requests per minute per client address before 429"),
    "TRACKING_CORS_ORIGINS": ("none", "origins whose pages may call the public track endpoints, comma-separated (https://shop.example,...; * for any)"),
    "TRACKING_METRICS_PORT": ("none", "`ingest`, `project`, `poll` and `notify` serve /livez, /readyz and /metrics on this port"),
    "TRACKING_READY_MAX_LAG_SECONDS": ("60", "/readyz answers 503 when the views lag the log by longer"),
    "TRACKING_LOG_FORMAT": ("text on a terminal, else json", "json (one object per line) or text"),
    "TRACKING_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "TRACKING_CACHE_BYTES": ("134217728 (128 MiB)", "bytes of memory each process's cache of recently written shipments may hold (least recently used go first)"),
    "TRACKING_HS_NOMENCLATURE": ("the shipped HS 2022", "path of an HS nomenclature CSV (section,hscode,description,parent,level, as UN Comtrade publishes it) replacing the shipped one, or none to check no subheading; declared HS-6 subheadings not in it are reported"),
    "TRACKING_CUSTOMS_RULES": ("the shipped table", "path of a customs rules table (TOML, the shape of src/tracking/data/customs-rules.toml) replacing the shipped one"),
    "TRACKING_DCSA_SECRET": ("none (callbacks refused)", "HMAC secret of DCSA T&T notifications (Notification-Signature)"),
    "TRACKING_AGGREGATOR_SECRET": ("none (webhooks refused)", "HMAC secret of the aggregator's webhooks"),
    "TRACKING_SIGNATURE_TOLERANCE_SECONDS": ("300", "signed timestamps further from now than this are refused as replays"),
    "TRACKING_CARRIER_MASTER_DATA": ("none", "TOML: EPCIS objects and locations, carriers' places"),
    "TRACKING_PARCEL_API_URL": ("none (not polled)", "base URL of the polled parcel carrier's tracking API"),
    "TRACKING_PARCEL_API_KEY": ("none", "its API key"),
    "TRACKING_PARCEL_CARRIER": ("dhl", "the booking carrier whose shipments are polled"),
    "TRACKING_PARCEL_POLL_SECONDS": ("300", "seconds between parcel polling rounds"),
    "TRACKING_PARCEL_REQUESTS_PER_MINUTE": ("60", "the parcel carrier's rate limit"),
    "TRACKING_PARCEL_EXPIRE_DAYS": ("60", "stop polling shipments booked longer ago"),
    "TRACKING_DCSA_API_URL": ("none (not polled)", "base URL of the ocean carrier's DCSA T&T v2 API"),
    "TRACKING_DCSA_API_KEY": ("none", "its bearer key"),
    "TRACKING_DCSA_POLL_SECONDS": ("300", "seconds between DCSA polling rounds"),
    "TRACKING_DCSA_REQUESTS_PER_MINUTE": ("60", "the DCSA API's rate limit"),
    "TRACKING_DCSA_LOOKBACK_DAYS": ("7", "where DCSA polling starts after a (re)start"),
    "TRACKING_WEBHOOKS_ALLOW_PRIVATE": ("false", "true: webhook URLs may be http and resolve to loopback or private addresses (tests only; never in production)"),
    "TRACKING_WEBHOOKS_ETA_THRESHOLD_HOURS": ("2", "shipment.eta_revised is sent when the ETA moves by more than this"),
    "TRACKING_SMTP_URL": ("none (no e-mail sent)", "smtp://user:pass@host:port (smtps:// for TLS) the customers' e-mails go through"),
    "TRACKING_SMTP_FROM": ("tracking@localhost", "the From address of customers' e-mails"),
    "TRACKING_MASTER_KEY": ("a development key in a file beside the database (logged loudly)", "32 bytes in base64: wraps the recipients' data keys (adapters/keys.py); keep it out of the database's backups"),
    "TRACKING_PUBLIC_URL": ("http://TRACKING_HTTP_HOST:TRACKING_HTTP_PORT", "the tracking pages' public base URL, for links in e-mails"),
}


def _master_key(text: str | None) -> bytes | None:
    if not text:
        return None
    from adapters.keys import parse_master_key  # the key's format is the key store's

    return parse_master_key(text)


@dataclass(frozen=True)
class CarrierSettings:
    """Carrier integrations (adapters/carriers). Secrets unset: that source's
    pushed payloads are refused (401), since none can be verified."""

    dcsa_secret: str | None = None
    aggregator_secret: str | None = None
    # how far a signed timestamp may be from now before it is refused as a replay
    signature_tolerance_seconds: int = 300
    master_data: Path | None = None
    # the parcel carrier polled over HTTP (DHL Unified-API shaped)
    parcel_api_url: str | None = None
    parcel_api_key: str | None = None
    parcel_carrier: str = "dhl"  # the booking's carrier whose shipments are polled
    parcel_poll_seconds: int = 300
    parcel_requests_per_minute: int = 60
    parcel_expire_days: int = 60
    # the ocean carrier's DCSA T&T v2 API, polled beside its callbacks
    dcsa_api_url: str | None = None
    dcsa_api_key: str | None = None
    dcsa_poll_seconds: int = 300
    dcsa_requests_per_minute: int = 60
    dcsa_lookback_days: int = 7  # where polling starts after a (re)start

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CarrierSettings:
        url = env.get("TRACKING_PARCEL_API_URL") or None
        dcsa_url = env.get("TRACKING_DCSA_API_URL") or None
        for name, value in (("TRACKING_PARCEL_API_URL", url), ("TRACKING_DCSA_API_URL", dcsa_url)):
            if value is not None and urlsplit(value).scheme not in ("http", "https"):
                raise ConfigError(f"{name}: expected http(s)://host[:port] (got {value!r})")
        master = env.get("TRACKING_CARRIER_MASTER_DATA") or None
        if master is not None and not Path(master).is_file():
            raise ConfigError(f"TRACKING_CARRIER_MASTER_DATA: {master} is not a file")

        def positive(name: str, default: int) -> int:
            return _positive(name, env.get(name) or str(default))

        return cls(
            dcsa_secret=env.get("TRACKING_DCSA_SECRET") or None,
            aggregator_secret=env.get("TRACKING_AGGREGATOR_SECRET") or None,
            signature_tolerance_seconds=positive("TRACKING_SIGNATURE_TOLERANCE_SECONDS", 300),
            master_data=Path(master) if master else None,
            parcel_api_url=url,
            parcel_api_key=env.get("TRACKING_PARCEL_API_KEY") or None,
            parcel_carrier=env.get("TRACKING_PARCEL_CARRIER") or "dhl",
            parcel_poll_seconds=positive("TRACKING_PARCEL_POLL_SECONDS", 300),
            parcel_requests_per_minute=positive("TRACKING_PARCEL_REQUESTS_PER_MINUTE", 60),
            parcel_expire_days=positive("TRACKING_PARCEL_EXPIRE_DAYS", 60),
            dcsa_api_url=dcsa_url,
            dcsa_api_key=env.get("TRACKING_DCSA_API_KEY") or None,
            dcsa_poll_seconds=positive("TRACKING_DCSA_POLL_SECONDS", 300),
            dcsa_requests_per_minute=positive("TRACKING_DCSA_REQUESTS_PER_MINUTE", 60),
            dcsa_lookback_days=positive("TRACKING_DCSA_LOOKBACK_DAYS", 7),
        )


@dataclass(frozen=True)
class NotifySettings:
    """Webhooks to merchants and e-mail to customers (adapters/notify)."""

    allow_private: bool = False  # http and private addresses allowed (tests)
    eta_threshold_hours: int = 2
    smtp_url: str | None = None
    smtp_from: str = "tracking@localhost"
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifySettings:
        allow = (env.get("TRACKING_WEBHOOKS_ALLOW_PRIVATE") or "false").strip().lower()
        if allow not in ("true", "false"):
            raise ConfigError(f"TRACKING_WEBHOOKS_ALLOW_PRIVATE: expected true or false (got {allow!r})")
        smtp = env.get("TRACKING_SMTP_URL") or None
        if smtp is not None and (urlsplit(smtp).scheme not in ("smtp", "smtps")
                                 or not urlsplit(smtp).hostname):
            raise ConfigError(f"TRACKING_SMTP_URL: expected smtp://host:port (got {_redact(smtp)!r})")
        return cls(
            allow_private=allow == "true",
            eta_threshold_hours=_positive("TRACKING_WEBHOOKS_ETA_THRESHOLD_HOURS",
                                          env.get("TRACKING_WEBHOOKS_ETA_THRESHOLD_HOURS") or "2"),
            smtp_url=smtp, smtp_from=env.get("TRACKING_SMTP_FROM") or "tracking@localhost",
            public_url=env.get("TRACKING_PUBLIC_URL") or None,
        )


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # a streaming replica of database_url the API reads its views from (docs/replicas.md)
    database_read_url: str | None = None
    mqtt_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = 1
    # token digest -> role (Tokens; a plain token -> role mapping is hashed on the way in)
    api_tokens: Mapping[str, str] = field(default_factory=dict)
    mqtt_client_id: str = "tracking-ingest"
    # "5", or "3.1.1" for a broker without MQTT 5 (NATS): TRACKING_MQTT_URL's consumers
    mqtt_protocol: str = "5"
    # registered scanner devices: when set, scans from any other device are dead letters
    devices: frozenset[str] | None = None
    # where the in-process broker listens when TRACKING_MQTT_URL is not set
    mqtt_embedded_port: int = 1883
    # consumers in one group share the scans (MQTT 5 shared subscription); "" for none, the
    # default: Mosquitto keeps handing a member that went away its share (README)
    mqtt_group: str = ""
    # with a group: this many member sessions (client ids <client id>-<k>), each always held by
    # one running `tracking ingest` under a PostgreSQL lease (adapters/mqtt/slots.py); 0: none
    mqtt_slots: int = 0
    # requests per minute per client address (429 beyond it)
    rate_limit_per_minute: int = 60_000
    # origins whose pages may call GET /api/v1/track/... (CORS); "*" for any
    cors_origins: frozenset[str] = frozenset()
    # the HS nomenclature declared subheadings are checked against: the one
    # shipped in the package, a CSV in UN Comtrade's shape, or None (not checked)
    hs_nomenclature: Path | Literal["shipped"] | None = SHIPPED
    # a customs rules table replacing the one shipped in the package
    customs_rules: Path | None = None
    carriers: CarrierSettings = field(default_factory=CarrierSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    # ingest and project serve health and metrics here when set
    metrics_port: int | None = None
    # /readyz fails when the oldest event not yet in the views is older
    ready_max_lag_seconds: int = 60
    # None: text when stderr is a terminal, json otherwise
    log_format: str | None = None
    log_level: str = "INFO"
    # bytes the aggregate cache of each process may hold (tracking.aggregate_cache)
    cache_bytes: int = DEFAULT_BUDGET
    # wraps the recipients' data keys (adapters/keys.py); None: a development key
    master_key: bytes | None = None

    def __post_init__(self) -> None:
        # only the tokens' digests are kept, however the settings were made
        object.__setattr__(self, "api_tokens", tokens_of(self.api_tokens))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            database_url=env.get("TRACKING_DATABASE_URL") or DEFAULT_DATABASE_URL,
            database_read_url=env.get("TRACKING_DATABASE_READ_URL") or None,
            mqtt_url=env.get("TRACKING_MQTT_URL") or None,
            mqtt_client_id=env.get("TRACKING_MQTT_CLIENT_ID") or "tracking-ingest",
            mqtt_protocol=_choice("TRACKING_MQTT_PROTOCOL", env.get("TRACKING_MQTT_PROTOCOL"),
                                  MQTT_PROTOCOLS, str.strip) or "5",
            mqtt_group=env.get("TRACKING_MQTT_GROUP") or "",
            mqtt_slots=_slots(env),
            devices=frozenset(d.strip() for d in env["TRACKING_DEVICES"].split(",") if d.strip())
            if env.get("TRACKING_DEVICES") else None,
            mqtt_embedded_port=_port(env.get("TRACKING_MQTT_EMBEDDED_PORT") or "1883",
                                     "TRACKING_MQTT_EMBEDDED_PORT"),
            http_host=env.get("TRACKING_HTTP_HOST") or "127.0.0.1",
            http_port=_port(env.get("TRACKING_HTTP_PORT") or "8000"),
            http_workers=_positive("TRACKING_HTTP_WORKERS", env.get("TRACKING_HTTP_WORKERS") or "1"),
            api_tokens=_tokens(env.get("TRACKING_API_TOKENS") or ""),
            rate_limit_per_minute=_positive(
                "TRACKING_RATE_LIMIT_PER_MINUTE", env.get("TRACKING_RATE_LIMIT_PER_MINUTE") or "60000"
            ),
            cors_origins=_origins(env.get("TRACKING_CORS_ORIGINS") or ""),
            hs_nomenclature=_nomenclature(env.get("TRACKING_HS_NOMENCLATURE")),
            customs_rules=_file("TRACKING_CUSTOMS_RULES", env.get("TRACKING_CUSTOMS_RULES")),
            carriers=CarrierSettings.from_env(env),
            notify=NotifySettings.from_env(env),
            metrics_port=_port(env["TRACKING_METRICS_PORT"], "TRACKING_METRICS_PORT")
            if env.get("TRACKING_METRICS_PORT") else None,
            ready_max_lag_seconds=_positive(
                "TRACKING_READY_MAX_LAG_SECONDS", env.get("TRACKING_READY_MAX_LAG_SECONDS") or "60"
            ),
            log_format=_choice("TRACKING_LOG_FORMAT", env.get("TRACKING_LOG_FORMAT"), LOG_FORMATS,
                               str.lower),
            log_level=_choice("TRACKING_LOG_LEVEL", env.get("TRACKING_LOG_LEVEL"), LOG_LEVELS,
                              str.upper) or "INFO",
            cache_bytes=_positive("TRACKING_CACHE_BYTES",
                                  env.get("TRACKING_CACHE_BYTES") or str(DEFAULT_BUDGET)),
            master_key=_master_key(env.get("TRACKING_MASTER_KEY")),
        )
        settings.eventstore_env()  # validates the database URL now, not at first use
        if settings.database_read_url is not None:
            settings.postgres_read_conninfo()
        if settings.mqtt_url is not None:
            settings.broker_address()
        return settings

    def broker_address(self) -> tuple[str, int, str | None, str | None]:
        """Host, port, user and password of TRACKING_MQTT_URL."""
        url = urlsplit(self.mqtt_url or "")
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ConfigError(
                "TRACKING_MQTT_URL: expected mqtt://user:password@host:port "
                f"(got {_redact(self.mqtt_url or '')!r})"
            )
        try:
            port = url.port or 1883
        except ValueError as e:
            raise ConfigError(f"TRACKING_MQTT_URL: bad port ({e})") from None
        return (url.hostname, port, unquote(url.username) if url.username else None,
                unquote(url.password) if url.password else None)

    def eventstore_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for the configured database."""
        url = urlsplit(self.database_url)
        if url.scheme == "sqlite":
            # sqlite:///relative/path or sqlite:////absolute/path
            path = unquote(url.path[1:] if url.path.startswith("/") else url.path)
            if url.netloc or not path:
                raise ConfigError(
                    "TRACKING_DATABASE_URL: a SQLite URL is sqlite:///path/to/file.db "
                    f"(got {self.database_url!r})"
                )
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "APPLICATION_RECORDER_TOPIC": "adapters.eventstore:SQLiteTrackingRecorder",
            }
        if url.scheme in ("postgresql", "postgres"):
            dbname = unquote(url.path.lstrip("/"))
            if not url.hostname or not dbname:
                raise ConfigError(
                    "TRACKING_DATABASE_URL: a PostgreSQL URL is "
                    "postgresql://user:password@host:port/database "
                    f"(got {_redact(self.database_url)!r})"
                )
            hosts = _hosts(url.netloc, "TRACKING_DATABASE_URL")
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "APPLICATION_RECORDER_TOPIC": "adapters.eventstore:PostgresTrackingRecorder",
                "POSTGRES_DBNAME": dbname,
                # libpq's lists: it tries each host in turn (the recorder asks for the primary)
                "POSTGRES_HOST": ",".join(h for h, _ in hosts),
                "POSTGRES_PORT": ",".join(p for _, p in hosts),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_CONNECT_TIMEOUT": "5",
            }
            schema = parse_qs(url.query).get("schema")
            if schema:
                env["POSTGRES_SCHEMA"] = schema[0]
            return env
        raise ConfigError(
            "TRACKING_DATABASE_URL must start with postgresql:// or sqlite:/// "
            f"(got {_redact(self.database_url)!r})"
        )


    @property
    def is_postgres(self) -> bool:
        return self.eventstore_env()["PERSISTENCE_MODULE"] == "eventsourcing.postgres"

    def postgres_conninfo(self) -> tuple[str, str]:
        """A libpq URI (without our ``schema`` parameter) and the schema. With
        several hosts, libpq connects to the one that takes writes."""
        url = urlsplit(self.database_url)
        schema = parse_qs(url.query).get("schema", ["public"])[0]
        query = "target_session_attrs=read-write" if "," in url.netloc else ""
        return url._replace(query=query).geturl(), schema

    def postgres_read_conninfo(self) -> tuple[str, str]:
        """Where the API reads the views: TRACKING_DATABASE_READ_URL (a libpq
        URI, its schema the primary's unless it names one), else the primary."""
        if self.database_read_url is None:
            return self.postgres_conninfo()
        url = urlsplit(self.database_read_url)
        if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
            raise ConfigError("TRACKING_DATABASE_READ_URL: expected postgresql://user:password@"
                              f"host:port/database (got {_redact(self.database_read_url)!r})")
        if not self.is_postgres:
            raise ConfigError("TRACKING_DATABASE_READ_URL: a read replica needs "
                              "TRACKING_DATABASE_URL on PostgreSQL")
        _hosts(url.netloc, "TRACKING_DATABASE_READ_URL")
        query = parse_qs(url.query)
        schema = query.pop("schema", None)
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        return url._replace(query=rest).geturl(), schema[0] if schema else self.postgres_conninfo()[1]

    def secrets(self) -> frozenset[str]:
        """Values that must never be written to a log: the master key and the
        passwords in the database, broker and SMTP URLs. (API tokens are not
        kept, only their digests; a ``Bearer`` token in a line is redacted by
        its shape.)"""
        found: set[str] = set()
        if self.master_key is not None:
            found |= {base64.b64encode(self.master_key).decode(),
                      base64.urlsafe_b64encode(self.master_key).decode()}
        for url in (self.database_url, self.database_read_url or "", self.mqtt_url or "",
                    self.notify.smtp_url or ""):
            password = urlsplit(url).password
            if password:
                found |= {password, unquote(password)}
        return frozenset(s for s in found if s)


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(\d{1,5}))?")


def _hosts(netloc: str, name: str) -> list[tuple[str, str]]:
    """The (host, port) pairs of a libpq URI's ``user@host1:port1,host2:port2``."""
    pairs = []
    for part in netloc.rpartition("@")[2].split(","):
        found = _HOST.fullmatch(part)
        if found is None or not 0 < int(found[2] or 5432) < 65536:
            raise ConfigError(f"{name}: bad host or port {part!r}")
        pairs.append((found[1].strip("[]"), found[2] or "5432"))
    return pairs


def _slots(env: Mapping[str, str]) -> int:
    """TRACKING_MQTT_SLOTS: the slots' leases are PostgreSQL advisory locks
    over the sessions of a group's members, so it needs both."""
    if not env.get("TRACKING_MQTT_SLOTS"):
        return 0
    slots = _positive("TRACKING_MQTT_SLOTS", env["TRACKING_MQTT_SLOTS"])
    if not env.get("TRACKING_MQTT_GROUP"):
        raise ConfigError("TRACKING_MQTT_SLOTS: needs TRACKING_MQTT_GROUP (the slots are its members)")
    if not (env.get("TRACKING_DATABASE_URL") or "").startswith(("postgresql://", "postgres://")):
        raise ConfigError("TRACKING_MQTT_SLOTS: needs a postgresql:// TRACKING_DATABASE_URL "
                          "(each slot is leased under a PostgreSQL advisory lock)")
    return slots
