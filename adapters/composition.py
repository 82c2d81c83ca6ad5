"""The composition root: builds every process's parts from Settings. Tests
call it too, so what they run is what production runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from projections import outbox, shipments
from projections.readmodel import ReadModel, Views
from projections.lease import ReadModelLease
from projections.registry import READ_MODELS
from projections.replica import ReplicaDatabase
from projections.runner import ReadModelRunner
from projections.sql import PostgresDatabase, PostgresListener, SQLiteDatabase
from tracking.application import Clock, ShipmentService
from tracking.errors import InvalidInput
from tracking.nomenclature import Nomenclature, shipped
from tracking.tariff import CustomsRules, parse_rules

from adapters.access_records import build_access_records
from adapters.deadletters import DeadLetterStore, PostgresDeadLetterStore, SQLiteDeadLetterStore
from adapters.http.app import Api
from adapters.keys import build_key_store
from adapters.http.signouts import PostgresSignOuts, SignOuts, SQLiteSignOuts
from adapters.metrics import Metrics
from adapters.mqtt.broker import plan as plan_embedded
from adapters.mqtt.consumer import BrokerAddress, ScanConsumer
from adapters.carriers.polling import DcsaPoller, Poller
from adapters.settings import ConfigError, Settings

if TYPE_CHECKING:
    from adapters.notify.sender import Sender


def build_service(settings: Settings, *, clock: Clock | None = None) -> ShipmentService:
    """The shipment service on the configured event store (tables are created
    on first start), with the configured customs rules and nomenclature."""
    rules, nomenclature = _customs_rules(settings), _nomenclature(settings)
    keys = build_key_store(settings)
    if not settings.is_postgres:
        return ShipmentService(env=settings.eventstore_env(), clock=clock,
                               customs_rules=rules, nomenclature=nomenclature,
                               cache_bytes=settings.cache_bytes, keys=keys)
    # The library creates its tables without a lock: processes starting
    # together on a new database (docker compose up) collided on CREATE TYPE.
    conninfo, _ = settings.postgres_conninfo()
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(724500)")
        try:
            return ShipmentService(env=settings.eventstore_env(), clock=clock,
                                   customs_rules=rules, nomenclature=nomenclature,
                                   cache_bytes=settings.cache_bytes, keys=keys)
        finally:
            conn.execute("SELECT pg_advisory_unlock(724500)")


# A nomenclature is read once per process, however many services are built.
_loaded: dict[Path, Nomenclature] = {}


def _nomenclature(settings: Settings) -> Nomenclature | None:
    path = settings.hs_nomenclature
    if path is None:
        return None
    if not isinstance(path, Path):  # SHIPPED, the package's own
        return shipped()
    cached = _loaded.get(path)
    if cached is None:
        try:
            cached = _loaded[path] = Nomenclature.from_csv(path.read_text("utf-8-sig"))
        except (InvalidInput, OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"TRACKING_HS_NOMENCLATURE: {path}: {e}") from None
    return cached


def _customs_rules(settings: Settings) -> CustomsRules | None:
    path = settings.customs_rules
    if path is None:
        return None
    try:
        return parse_rules(path.read_text("utf-8"))
    except (InvalidInput, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"TRACKING_CUSTOMS_RULES: {path}: {e}") from None



def build_view_store(
    settings: Settings, models: Sequence[ReadModel[Any]] = READ_MODELS, *, replica: bool = False
) -> Views:
    """The read models' views, in the same database as the event store; with
    ``replica``, read (only) from TRACKING_DATABASE_READ_URL."""
    if replica:
        conninfo, schema = settings.postgres_read_conninfo()
        replica_db = ReplicaDatabase(conninfo, schema)
        try:
            return Views.on(replica_db, models)
        except BaseException:
            replica_db.close()
            raise
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        views = Views.on(PostgresDatabase(conninfo, schema), models)
    else:
        views = Views.on(SQLiteDatabase(settings.eventstore_env()["SQLITE_DBNAME"]), models)
    found = views.get(outbox.READ_MODEL)
    if found is not None:  # when an ETA moved far enough to tell merchants
        found.eta_threshold = timedelta(hours=settings.notify.eta_threshold_hours)
    return views


def build_runner(
    settings: Settings,
    service: ShipmentService,
    store: Views,
    *,
    stall_after: timedelta = timedelta(hours=72),
    exclusive: bool = False,
) -> ReadModelRunner:
    """The runner keeping every view of ``store`` up to date; ``exclusive``
    (PostgreSQL): the only one working on each read model at a time, as
    several `tracking project` processes take turns (projections.lease)."""
    listener = lease = None
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        listener = PostgresListener(conninfo, channel=service.recorder.channel_name)  # type: ignore[attr-defined]
        if exclusive:
            lease = ReadModelLease(conninfo, schema, store.names())
    return ReadModelRunner(service, store, stall_after=stall_after, listener=listener,
                           lease=lease)


def build_api(
    settings: Settings,
    *,
    clock: Clock | None = None,
    run_projections: bool = True,
    run_ingest: bool = False,
    exclusive: bool = False,
) -> Api:
    """The HTTP API's parts. With ``run_projections`` the views are kept up
    in this process (``exclusive``: under the read models' lease, taking turns
    with `tracking project` and other `tracking all`, see build_runner); with ``run_ingest`` it consumes scans too, from
    TRACKING_MQTT_URL or, when that is not set, from an in-process broker
    (the embedded default, ``tracking all``)."""
    service = build_service(settings, clock=clock)
    store = build_view_store(settings)  # on the primary: creates the views' tables
    runner = (build_runner(settings, service, store, exclusive=exclusive)
              if run_projections else None)
    reads = build_view_store(settings, replica=True) if settings.database_read_url else store
    api = Api(settings=settings, service=service, store=reads, runner=runner,
              dead_letters=build_dead_letters(settings), primary=store,
              access_records=build_access_records(settings), sign_outs=build_sign_outs(settings))
    if run_ingest:
        if settings.mqtt_url is not None:
            api.consumer = build_consumer(settings, service, api.dead_letters, metrics=api.metrics)
        else:  # the embedded broker, or the one already on its port (adapters/mqtt/broker.py)
            embedded = plan_embedded(settings)
            api.broker = embedded.broker
            api.consumer = build_consumer(
                replace(settings, mqtt_client_id=embedded.client_id), service, api.dead_letters,
                metrics=api.metrics, broker=embedded.address, mqtt5=embedded.mqtt5, group=None,
                session_expiry=embedded.session_expiry,
            )
    return api



def build_dead_letters(settings: Settings) -> DeadLetterStore:
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        return PostgresDeadLetterStore(conninfo, schema)
    return SQLiteDeadLetterStore(settings.eventstore_env()["SQLITE_DBNAME"])


def build_sign_outs(settings: Settings) -> SignOuts:
    """The console's sign-outs, in the database every worker reads."""
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        return PostgresSignOuts(conninfo, schema)
    return SQLiteSignOuts(settings.eventstore_env()["SQLITE_DBNAME"])


def build_consumer(
    settings: Settings,
    service: ShipmentService,
    dead_letters: DeadLetterStore,
    *,
    broker: BrokerAddress | None = None,
    metrics: Metrics | None = None,
    **options: Any,
) -> ScanConsumer:
    """The MQTT scan consumer, on TRACKING_MQTT_URL unless a broker is given."""
    if broker is None:
        broker = BrokerAddress(*settings.broker_address())
        options.setdefault("mqtt5", settings.mqtt_protocol == "5")
    options.setdefault("group", settings.mqtt_group or None)
    options.setdefault("devices", settings.devices)
    return ScanConsumer(service, dead_letters, broker, client_id=settings.mqtt_client_id,
                        metrics=metrics, **options)


def build_poller(
    settings: Settings,
    service: ShipmentService,
    store: Views,
    *,
    metrics: Metrics | None = None,
    batch: int = 10_000,
) -> Poller:
    """The parcel carrier's poller (TRACKING_PARCEL_*): it asks about the
    unfinished shipments booked with that carrier, longest unheard of first."""
    from adapters.carriers.masterdata import MasterData
    from adapters.carriers.polling import ParcelClient

    conf = settings.carriers
    if conf.parcel_api_url is None:
        raise ConfigError("TRACKING_PARCEL_API_URL: needed to poll the parcel carrier")
    return Poller(
        service,
        ParcelClient(conf.parcel_api_url, conf.parcel_api_key),
        lambda: store[shipments.READ_MODEL].unfinished(batch),
        carrier_name=conf.parcel_carrier,
        requests_per_minute=conf.parcel_requests_per_minute,
        expire_after=timedelta(days=conf.parcel_expire_days),
        master=MasterData.load(conf.master_data),
        metrics=metrics,
    )


def build_dcsa_poller(
    settings: Settings, service: ShipmentService, *, metrics: Metrics | None = None
) -> DcsaPoller:
    """The ocean carrier's ``GET /v2/events`` poller (TRACKING_DCSA_API_*)."""
    conf = settings.carriers
    if conf.dcsa_api_url is None:
        raise ConfigError("TRACKING_DCSA_API_URL: needed to poll the DCSA carrier")
    return DcsaPoller(
        service, conf.dcsa_api_url, conf.dcsa_api_key,
        since=service.clock() - timedelta(days=conf.dcsa_lookback_days),
        requests_per_minute=conf.dcsa_requests_per_minute, metrics=metrics,
    )


def build_sender(
    settings: Settings, service: ShipmentService, store: Views, *,
    metrics: Metrics | None = None, **options: Any,
) -> Sender:
    """The notifications' sender (adapters/notify) over the outbox view of
    ``store``, e-mailing through TRACKING_SMTP_URL when it is set. On
    PostgreSQL it sends only while it holds the senders' lease (an advisory
    lock, projections.lease): several senders take turns, none doubles."""
    from adapters.notify.mail import Mailer
    from adapters.notify.sender import Sender
    from adapters.notify.store import DeliveryStore

    view = store[outbox.READ_MODEL]
    if not isinstance(view, outbox.SqlOutboxView) or store.database is None:
        raise ConfigError("the sender needs the views on a database (TRACKING_DATABASE_URL)")
    conf = settings.notify
    mailer = None
    if conf.smtp_url is not None:
        public = conf.public_url or f"http://{settings.http_host}:{settings.http_port}"
        mailer = Mailer(conf.smtp_url, conf.smtp_from, public)
    lease = None
    if settings.is_postgres:  # one sender at a time: a second one stands by
        from adapters.notify.sender import SENDING

        lease = ReadModelLease(*settings.postgres_conninfo(), [SENDING])
    return Sender(service, DeliveryStore(store.database, view), metrics=metrics, mailer=mailer,
                  allow_private=conf.allow_private, lease=lease, **options)
