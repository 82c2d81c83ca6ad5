"""The long-running processes: ``serve`` (and ``all``), ``project``,
``ingest``, ``poll`` and ``notify``, each stopping gracefully on SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from adapters import health
from adapters.composition import build_service
from adapters.health import OpsServer
from adapters.logs import configure as configure_logging
from adapters.metrics import Metrics
from adapters.settings import Settings, _redact

log = logging.getLogger("tracking.cli")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (instead of dying on them)."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    return done


def serve(settings: Settings, *, run_projections: bool, run_ingest: bool = False) -> int:
    """The API until SIGTERM: uvicorn then stops accepting, finishes the
    requests in hand, and runs the app's shutdown (the consumer finishes and
    acknowledges its batch, connections close)."""
    import uvicorn

    workers = 1 if run_projections or run_ingest else settings.http_workers
    log.info("API on http://%s:%d", settings.http_host, settings.http_port,
             extra={"store": _redact(settings.database_url), "workers": workers,
                    "views": "this process" if run_projections else "tracking project"})
    if not settings.api_tokens:
        log.warning("no API tokens are set (TRACKING_API_TOKENS): only the public reads answer "
                    "(GET /api/v1/track/..., health, metrics, API docs), every other route 401 "
                    "(scans over MQTT are not affected); set role:token pairs before starting, "
                    "e.g. export TRACKING_API_TOKENS=merchant:m1,agent:a1,device:d1")
    # uvicorn re-raises the signal it stopped on once it is done; with our
    # handler in place that ends in a clean exit 0, not death by SIGTERM.
    _stop_on_signals()
    # No uvicorn access log: adapters/http/access.py writes one line per request.
    options: dict[str, Any] = dict(host=settings.http_host, port=settings.http_port,
                                   log_config=None, log_level=settings.log_level.lower(),
                                   access_log=False, timeout_graceful_shutdown=10)
    if workers > 1:
        # One Python process answers on one core (the GIL): more cores need
        # more processes. uvicorn starts each, and each builds its own app.
        uvicorn.run("adapters.commands.processes:worker_app", factory=True, workers=workers, **options)
        return 0
    uvicorn.run(_app(settings, run_projections=run_projections, run_ingest=run_ingest), **options)
    return 0


def _app(settings: Settings, *, run_projections: bool, run_ingest: bool = False) -> Any:
    from adapters.composition import build_api, build_sender
    from adapters.http.app import create_app

    # `tracking all` keeps the views up under the lease, as `tracking project` does
    api = build_api(settings, run_projections=run_projections, run_ingest=run_ingest,
                    exclusive=run_projections)
    app = create_app(api)
    if run_ingest:  # `tracking all`: the notifications are sent from this process too
        sender = build_sender(settings, api.service, api.store, metrics=api.metrics)
        app.on_startup.append(sender.start)
        app.on_shutdown.insert(0, sender.stop)
    return app


def notify(settings: Settings) -> int:
    """Send the outbox's messages until SIGTERM or SIGINT; the attempts in
    hand are finished (or time out) before it stops."""
    from adapters.composition import build_sender, build_view_store

    done = _stop_on_signals()
    service = build_service(settings)
    store = build_view_store(settings)
    metrics = Metrics()
    sender = build_sender(settings, service, store, metrics=metrics)
    health.register(metrics, service, store=store)
    readiness = health.Readiness(service, store, None, None, settings.ready_max_lag_seconds)
    server = _ops_server(settings, metrics, readiness)
    sender.start()
    log.info("sending notifications", extra={"store": _redact(settings.database_url)})
    return _until_stopped(done, lambda: None if sender.running else sender.error or "ended",
                          sender.stop, server, readiness, store, service)


def worker_app() -> Any:
    """The API of one of `tracking serve`'s worker processes (uvicorn's factory)."""
    settings = Settings.from_env()
    configure_logging(settings)
    return _app(settings, run_projections=False)


def _ops_server(settings: Settings, metrics: Metrics, readiness: health.Readiness) -> OpsServer | None:
    """/livez, /readyz and /metrics on TRACKING_METRICS_PORT, when it is set."""
    if settings.metrics_port is None:
        return None
    server = OpsServer(settings.http_host, settings.metrics_port, metrics, readiness).start()
    log.info("health and metrics on http://%s:%d", settings.http_host, settings.metrics_port)
    return server


def project(settings: Settings) -> int:
    """Keep the views up to date until SIGTERM or SIGINT; the batch in hand
    is one transaction, finished before the runner stops."""
    from adapters.composition import build_runner, build_view_store
    from projections.runner import TRANSIENT

    done = _stop_on_signals()
    service = build_service(settings)
    store = build_view_store(settings)
    runner = build_runner(settings, service, store, exclusive=True)  # several take turns
    metrics = Metrics()
    health.register(metrics, service, store=store)
    readiness = health.Readiness(service, store, runner, None, settings.ready_max_lag_seconds)
    server = _ops_server(settings, metrics, readiness)
    caught_up = 0
    while not done.is_set():
        try:
            n = runner.run_once()
        except TRANSIENT as e:  # a cut connection mid catch-up: again, as the runner would
            log.warning("the views' database does not answer (%s); again in 1 s", e)
            done.wait(1.0)
            continue
        if n == 0:
            break
        caught_up += n
    log.info("views caught up; following the log", extra={"events": caught_up})
    runner.start()
    return _until_stopped(done, lambda: runner.error, runner.stop, server, readiness, store,
                          service)


def _until_stopped(done: threading.Event, failure: Any, stop: Any, server: OpsServer | None,
                   readiness: health.Readiness, store: Any, service: Any) -> int:
    """Wait for SIGTERM (0) or the background worker's failure (1), then
    stop it and close the process's parts."""
    code = 0
    while not done.wait(1.0):
        if (error := failure()) is not None:
            log.error("the background worker stopped: %r", error)
            code = 1
            break
    stop()
    if server is not None:
        server.stop()
    readiness.close()
    store.close()
    service.close()
    log.info("stopped")
    return code


def ingest(settings: Settings) -> int:
    """Consume scans from TRACKING_MQTT_URL until SIGTERM or SIGINT; then
    stop taking messages, finish and acknowledge the batch in hand (what is
    received but not in it is not acknowledged: the broker keeps it for the
    next consumer with this client id), disconnect, close."""
    from adapters.composition import build_consumer, build_dead_letters

    if settings.mqtt_url is None:
        log.error("ingest needs TRACKING_MQTT_URL (mqtt://user:pass@host:port)")
        return 2
    done = _stop_on_signals()
    service = build_service(settings)
    dead_letters = build_dead_letters(settings)
    metrics = Metrics()
    consumer: Any = build_consumer(settings, service, dead_letters, metrics=metrics)
    if settings.mqtt_slots:  # the group's member sessions, leased (adapters/mqtt/slots.py)
        from adapters.mqtt.slots import slotted

        consumer = slotted(settings, lambda client_id: build_consumer(
            replace(settings, mqtt_client_id=client_id), service, dead_letters, metrics=metrics),
            consumer.broker, metrics)
    health.register(metrics, service, consumer=consumer, dead_letters=dead_letters)
    readiness = health.Readiness(service, None, None, consumer, settings.ready_max_lag_seconds)
    server = _ops_server(settings, metrics, readiness)
    consumer.start()
    log.info("consuming scans", extra={"broker": _redact(settings.mqtt_url),
                                       "client_id": settings.mqtt_client_id})
    done.wait()
    log.info("stopping: finishing the batch in hand")
    consumer.stop()
    if server is not None:
        server.stop()
    readiness.close()
    dead_letters.close()
    service.close()
    log.info("stopped", extra={"recorded": int(metrics.value("tracking_scans_total", result="recorded",
                                                             ingress="mqtt")),
                               "batches": metrics.observed("tracking_ingest_batch_size")[0]})
    return 0


def poll(settings: Settings) -> int:
    """Poll the configured carriers (parcel, DCSA) until SIGTERM or SIGINT.
    One process per carrier API key: the carrier's rate limit is per key, so
    polling is not part of the API processes, which are scaled out. Health
    and metrics (carrier events by code class) on TRACKING_METRICS_PORT."""
    from adapters.carriers.translation import register as register_carrier_metrics
    from adapters.composition import build_dcsa_poller, build_poller, build_view_store

    conf = settings.carriers
    if conf.parcel_api_url is None and conf.dcsa_api_url is None:
        print("tracking: poll needs TRACKING_PARCEL_API_URL or TRACKING_DCSA_API_URL",
              file=sys.stderr)
        return 2
    done = _stop_on_signals()
    service = build_service(settings)
    store = build_view_store(settings)
    metrics = Metrics()
    register_carrier_metrics(metrics)
    health.register(metrics, service, store=store)
    readiness = health.Readiness(service, store, None, None, settings.ready_max_lag_seconds)
    server = _ops_server(settings, metrics, readiness)
    running = []
    if conf.parcel_api_url is not None:
        running.append((build_poller(settings, service, store, metrics=metrics).background,
                        conf.parcel_poll_seconds))
        log.info("polling %s at %s every %d s", conf.parcel_carrier, conf.parcel_api_url,
                 conf.parcel_poll_seconds)
    if conf.dcsa_api_url is not None:
        running.append((build_dcsa_poller(settings, service, metrics=metrics).background,
                        conf.dcsa_poll_seconds))
        log.info("polling DCSA events at %s every %d s", conf.dcsa_api_url,
                 conf.dcsa_poll_seconds)
    for background, interval in running:
        background.start(interval)
    done.wait()
    for background, _ in running:
        background.stop()
    if server is not None:
        server.stop()
    readiness.close()
    store.close()
    service.close()
    return 0
