"""docker-compose.yml, exercised without Docker (no engine runs here).

The mosquitto service is run as its container would run it: its own entry
point (deploy/mosquitto/start.sh) writes the password file from the
service's environment and starts Mosquitto with deploy/mosquitto's own
mosquitto.conf and aclfile. Only what ties it to the image is rewritten:
``listener 1883`` becomes a free port on 127.0.0.1, and the image's
``/mosquitto/`` paths a temporary directory laid out like the container
(``config/`` holding copies of deploy/mosquitto, as the read-only mount
does, ``data/``, ``run/``). The api, ingest and projector services are run
with their compose command and environment, only the hosts and ports of
PostgreSQL and Mosquitto pointed at this machine's; their health checks
are the compose health check commands.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from adapters.settings import VARIABLES
from tests.builders import at
from tests.conftest import IN_CI
from tests.e2e.test_http import BOOKING, TN, scan
from tests.ports import free_port, listening
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
TRACKING_SERVICES = ("api", "ingest", "projector", "notify")
# `docker compose --profile scale`: a streaming replica and a second of each process.
SCALE = tuple(f"{name}-2" for name in TRACKING_SERVICES)
# Read by Settings once branch `replica` (issue 23's replicas) is merged; the
# variable check below counts it as known until then.
TRACKING = shutil.which("tracking", path=str(Path(sys.executable).parent)) or "tracking"
INGEST_PASSWORD = "ingest-pw-" + uuid.uuid4().hex[:8]
DEVICES = {"hkg-dock-7": "d7-" + uuid.uuid4().hex[:8], "hkg-dock-8": "d8-" + uuid.uuid4().hex[:8]}
# What .env would hold (deploy/env.example names them).
DOT_ENV = {
    "POSTGRES_PASSWORD": "pg-" + uuid.uuid4().hex[:8],
    "MQTT_INGEST_PASSWORD": INGEST_PASSWORD,
    "MQTT_DEVICES": ",".join(f"{d}:{p}" for d, p in DEVICES.items()),
    "TRACKING_API_TOKENS": "merchant:m-" + uuid.uuid4().hex[:8] + ",agent:a-" + uuid.uuid4().hex[:8],
    "TRACKING_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),  # one for every process
}


def need(program: str) -> None:
    """Skip (fail under CI) when a program the test runs is not installed."""
    if shutil.which(program) is None:
        if IN_CI:
            pytest.fail(f"{program} is not installed")
        pytest.skip(f"{program} is not installed")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${X}, ${X:-default}, ${X:?error}, $$."""

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m["name"], m["op"], m["arg"] or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose would stop: {arg}")
        return arg

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}", one, value)


def service_env(name: str, dot_env: dict[str, str] = DOT_ENV) -> dict[str, str]:
    return {k: interpolate(str(v), dot_env) for k, v in SERVICES[name].get("environment", {}).items()}


# -- the compose file itself -------------------------------------------------------


def test_every_tracking_service_runs_a_real_subcommand_with_known_settings() -> None:
    for name in TRACKING_SERVICES + SCALE:
        service = SERVICES[name]
        assert service["build"] == "." and service["restart"] == "unless-stopped"
        help_run = subprocess.run([TRACKING, *service["command"], "--help"], capture_output=True,
                                  text=True, timeout=60)
        assert help_run.returncode == 0, help_run.stderr
        tracking_vars = {k for k in service["environment"] if k.startswith("TRACKING_")}
        assert tracking_vars <= set(VARIABLES), tracking_vars - set(VARIABLES)
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD" and check[1:] == ["tracking", "health"]
    api = SERVICES["api"]
    assert [p.split(":")[1] for p in api["ports"]] == [api["environment"]["TRACKING_HTTP_PORT"]]
    for name in ("ingest", "projector", "notify"):
        assert SERVICES[name]["environment"]["TRACKING_METRICS_PORT"]


def test_the_other_services_persist_and_check_their_health() -> None:
    assert {"postgres-data", "mosquitto-data"} <= set(COMPOSE["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "mosquitto-data:/mosquitto/data" in SERVICES["mosquitto"]["volumes"]
    for name in ("postgres", "mosquitto"):
        assert SERVICES[name]["restart"] == "unless-stopped"
        test = SERVICES[name]["healthcheck"]["test"]
        program = test[1] if test[0] == "CMD" else shlex.split(test[1])[0]
        assert program in ("pg_isready", "mosquitto_sub")  # both in their images
        need(program)  # and run here: mosquitto_sub below, pg_isready by .ci/run


def test_the_scale_profile_adds_a_streaming_replica_and_a_second_of_each_process() -> None:
    """Checked, not run: a base backup of the primary with -R (standby.signal
    and primary_conninfo), started as a hot standby; the primary lets it
    connect for replication. The processes of the profile are run below."""
    assert {n for n, s in SERVICES.items() if s.get("profiles")} == {"postgres-replica", *SCALE}
    for base, twin in zip(TRACKING_SERVICES, SCALE, strict=True):
        assert SERVICES[twin]["profiles"] == ["scale"]
        assert SERVICES[twin]["command"] == SERVICES[base]["command"]
        assert SERVICES[twin]["healthcheck"] == SERVICES[base]["healthcheck"]
        assert set(SERVICES[base]["environment"]) <= set(SERVICES[twin]["environment"])
    replica = SERVICES["postgres-replica"]
    assert replica["profiles"] == ["scale"] and replica["user"] == "postgres"
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    [script] = replica["command"]
    assert "pg_basebackup -h postgres -U tracking -D /var/lib/postgresql/data -R -X stream" in script
    assert script.endswith("exec postgres -D /var/lib/postgresql/data")
    assert "postgres-replica-data:/var/lib/postgresql/data" in replica["volumes"]
    assert replica["healthcheck"]["test"][1] == "pg_isready"
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in SERVICES["postgres"]["volumes"]
    assert "postgres-replica-data" in COMPOSE["volumes"]
    read = SERVICES["api-2"]["environment"]["TRACKING_DATABASE_READ_URL"]
    assert read == "postgresql://tracking:${POSTGRES_PASSWORD}@postgres-replica:5432/tracking"


def test_the_primary_init_script_allows_the_replica_to_stream(tmp_path: Path) -> None:
    (tmp_path / "pg_hba.conf").write_text("host all all all scram-sha-256\n")
    run = subprocess.run(["sh", str(ROOT / "deploy/postgres/allow-replication.sh")],
                         env={**os.environ, "PGDATA": str(tmp_path), "POSTGRES_USER": "tracking"},
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "pg_hba.conf").read_text().splitlines()[-1] == (
        "host replication tracking all scram-sha-256")


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for name in SERVICES:
        for key, value in SERVICES[name].get("environment", {}).items():
            if re.search(r"PASSWORD|TOKENS|DEVICES", key):
                assert str(value).startswith("${"), f"{name}.{key} is not from the environment"
            if key.endswith("_URL") and "@" in str(value):
                assert re.search(r":\$\{\w+\}@", str(value)), f"{name}.{key} has a literal password"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert "change-me" not in text


# -- Mosquitto as the compose file configures it -----------------------------------


@dataclass
class Broker:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    clients: list[mqtt.Client] = field(default_factory=list)

    def client(self, username: str | None, password: str | None,
               on_message: Callable[[Any], None] | None = None) -> tuple[mqtt.Client, ReasonCode]:
        """A connected MQTT 5 client and the broker's CONNACK reason."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv5)
        if username:
            c.username_pw_set(username, password)
        connack: list[ReasonCode] = []
        c.on_connect = lambda _c, _u, _f, reason, _p: connack.append(reason)
        if on_message:
            c.on_message = lambda _c, _u, m: on_message(m)
        c.connect("127.0.0.1", self.port)
        c.loop_start()
        self.clients.append(c)
        eventually(lambda: connack, timeout=10, what="a CONNACK")
        return c, connack[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)


def start_deployed_broker() -> Broker:
    service = SERVICES["mosquitto"]
    directory = Path(tempfile.mkdtemp(prefix="deploy-mosquitto-"))
    directory.chmod(0o755)  # Mosquitto drops to its own user before reading its files
    shutil.copytree(ROOT / "deploy" / "mosquitto", directory / "config")
    (directory / "data").mkdir()
    if os.geteuid() == 0:  # as the image's entry point does for /mosquitto
        shutil.chown(directory / "data", "mosquitto")
    port = free_port()
    conf = directory / "config" / "mosquitto.conf"
    original = conf.read_text().splitlines()
    rewritten = [
        f"listener {port} 127.0.0.1" if line == "listener 1883"
        else line.replace("/mosquitto/", f"{directory}/")
        for line in original
    ]
    changed = {a.split()[0] for a, b in zip(original, rewritten, strict=True) if a != b}
    assert changed == {"listener", "password_file", "acl_file", "persistence_location"}, changed
    conf.write_text("\n".join(rewritten) + "\n")
    command = [arg.replace("/mosquitto/", f"{directory}/") for arg in service["command"]]
    process = subprocess.Popen(command, env={**os.environ, **service_env("mosquitto")},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: listening(port) or process.poll() is not None, timeout=10,
                   what="the deployed mosquitto listens")
    except AssertionError:
        process.kill()
        raise
    assert process.poll() is None, f"mosquitto exited with {process.returncode}"
    return Broker(port, directory, process)


@pytest.fixture
def deployed_broker() -> Iterator[Broker]:
    need("mosquitto")
    broker = start_deployed_broker()
    yield broker
    for c in broker.clients:
        c.loop_stop()
        c.disconnect()
    broker.stop()
    shutil.rmtree(broker.directory, ignore_errors=True)


def test_a_device_publishes_only_its_own_scans_and_reads_none(deployed_broker: Broker) -> None:
    seen: list[str] = []
    eavesdropped: list[str] = []
    ingest, reason = deployed_broker.client("tracking-ingest", INGEST_PASSWORD,
                                            lambda m: seen.append(m.payload.decode()))
    assert not reason.is_failure
    ingest.subscribe("scanners/+/+/scans", qos=1)  # as the compose file's consumer subscribes
    shared_seen: list[str] = []
    grouped, reason = deployed_broker.client("tracking-ingest", INGEST_PASSWORD,
                                             lambda m: shared_seen.append(m.payload.decode()))
    assert not reason.is_failure
    grouped.subscribe("$share/ingest/scanners/+/+/scans", qos=1)  # consumers in a group
    other, _ = deployed_broker.client("hkg-dock-8", DEVICES["hkg-dock-8"],
                                      lambda m: eavesdropped.append(m.payload.decode()))
    other.subscribe("scanners/#", qos=1)
    device, reason = deployed_broker.client("hkg-dock-7", DEVICES["hkg-dock-7"])
    assert not reason.is_failure
    time.sleep(0.3)  # the subscriptions reach the broker

    own = device.publish("scanners/hkg/hkg-dock-7/scans", b"own", qos=1)
    forged = device.publish("scanners/hkg/hkg-dock-8/scans", b"forged", qos=1)
    elsewhere = device.publish("carriers/postnord/updates", b"elsewhere", qos=1)
    marker = device.publish("scanners/sto/hkg-dock-7/scans", b"marker", qos=1)  # any site is fine
    for info in (own, forged, elsewhere, marker):
        info.wait_for_publish(10)
    eventually(lambda: "marker" in seen, timeout=10, what="the marker reaches the ingest user")
    # The broker dropped the forged one: it was before the marker. (QoS 1 is at
    # least once: a message may come twice, so the order of first arrivals is compared.)
    assert list(dict.fromkeys(seen)) == ["own", "marker"]
    eventually(lambda: "marker" in shared_seen, timeout=10, what="the marker reaches the group")
    assert list(dict.fromkeys(shared_seen)) == ["own", "marker"]
    assert eavesdropped == []  # a device reads nothing, not even its own scans


def test_anonymous_and_wrong_passwords_are_refused(deployed_broker: Broker) -> None:
    _, anonymous = deployed_broker.client(None, None)
    _, wrong = deployed_broker.client("hkg-dock-7", "not-its-password")
    _, unknown = deployed_broker.client("hkg-dock-9", DEVICES["hkg-dock-7"])
    assert anonymous.is_failure and wrong.is_failure and unknown.is_failure


def test_the_brokers_health_check_passes_and_it_persists_to_its_volume(
    deployed_broker: Broker,
) -> None:
    [shell, command] = SERVICES["mosquitto"]["healthcheck"]["test"]
    assert shell == "CMD-SHELL"
    command = interpolate(command, {}).replace("-p 1883", f"-p {deployed_broker.port}")
    env = {**os.environ, **service_env("mosquitto")}
    assert subprocess.run(["sh", "-c", command], env=env, timeout=10,
                          capture_output=True).returncode == 0
    env["MQTT_INGEST_PASSWORD"] = "wrong"
    assert subprocess.run(["sh", "-c", command], env=env, timeout=10,
                          capture_output=True).returncode != 0
    deployed_broker.stop()
    assert (deployed_broker.directory / "data" / "mosquitto.db").exists()


def test_start_sh_refuses_a_malformed_device_entry(tmp_path: Path) -> None:
    conf = tmp_path / "m.conf"
    conf.write_text(f"password_file {tmp_path}/passwd\n")
    run = subprocess.run(["sh", str(ROOT / "deploy/mosquitto/start.sh"), str(conf)],
                         env={**os.environ, "MQTT_INGEST_PASSWORD": "x", "MQTT_DEVICES": "dock-7"},
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == 2 and "'dock-7' is not device_id:password" in run.stderr


# -- the tracking services, run with their compose command and environment ------------


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def healthy(self) -> bool:
        check = SERVICES[self.name]["healthcheck"]["test"][1:]
        try:
            return subprocess.run([TRACKING, *check[1:]], env=self.env, capture_output=True,
                                  timeout=30).returncode == 0
        except subprocess.TimeoutExpired:  # a loaded machine: asked again
            return False

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def run_service(name: str, database_url: str, broker_port: int, tmp_path: Path,
                client_id: str | None = None, log_name: str | None = None,
                dot_env: dict[str, str] = DOT_ENV, extra: dict[str, str] | None = None) -> Process:
    env = {**os.environ, **service_env(name, dot_env), **(extra or {})}
    env["TRACKING_DATABASE_URL"] = database_url
    if "TRACKING_DATABASE_READ_URL" in env:  # no replica here: the primary stands in
        env["TRACKING_DATABASE_READ_URL"] = database_url
    if "TRACKING_MQTT_URL" in env:
        env["TRACKING_MQTT_URL"] = env["TRACKING_MQTT_URL"].replace(
            "@mosquitto:1883", f"@127.0.0.1:{broker_port}")
        env["TRACKING_MQTT_CLIENT_ID"] = client_id or f"deploy-{uuid.uuid4().hex[:8]}"
    for port in ("TRACKING_HTTP_PORT", "TRACKING_METRICS_PORT"):
        if port in env:
            env[port] = str(free_port())
    log = tmp_path / f"{log_name or name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([TRACKING, *SERVICES[name]["command"]], env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    return Process(name, process, env, log)


@pytest.mark.postgres
def test_the_stack_runs_books_ingests_projects_and_stops_cleanly(
    deployed_broker: Broker, postgres_schema_url: str, tmp_path: Path
) -> None:
    # A password in the database URL (the local server trusts it, so it is
    # ignored), to check that no log line ever shows it.
    database_url = postgres_schema_url.replace("postgres@", f"postgres:{DOT_ENV['POSTGRES_PASSWORD']}@")
    processes = [run_service(n, database_url, deployed_broker.port, tmp_path)
                 for n in TRACKING_SERVICES]
    api, ingest, projector, _ = processes  # the sender too: healthy, then stopped cleanly
    try:
        for p in processes:
            eventually(lambda p=p: p.process.poll() is not None or p.healthy(), timeout=60,
                       what=f"{p.name}'s compose health check passes")
            assert p.process.poll() is None, p.log.read_text()
        base = f"http://127.0.0.1:{api.env['TRACKING_HTTP_PORT']}"
        merchant = next(t.split(":")[1] for t in DOT_ENV["TRACKING_API_TOKENS"].split(",")
                        if t.startswith("merchant:"))
        booked = httpx.post(f"{base}/api/v1/shipments", json=BOOKING,
                            headers={"Authorization": f"Bearer {merchant}",
                                     "X-Request-ID": "book-1"})
        assert booked.status_code == 201 and booked.headers["x-request-id"] == "book-1"
        device, _ = deployed_broker.client("hkg-dock-7", DEVICES["hkg-dock-7"])
        device.publish("scanners/hkg/hkg-dock-7/scans",
                       json.dumps(scan("RECEIVED", "HKHKG", at(2))), qos=1).wait_for_publish(10)
        view = eventually(lambda: (v := httpx.get(f"{base}/api/v1/track/{TN}").json()).get("events")
                          and v, timeout=30, what="the scan is projected and served")
        assert view["events"][0]["event"] == "RECEIVED"
        # the ingest process counts a batch just after acknowledging it: wait for the count
        metrics = eventually(
            lambda: m if 'tracking_scans_total{ingress="mqtt",result="recorded"} 1' in (
                m := httpx.get(f"http://127.0.0.1:{ingest.env['TRACKING_METRICS_PORT']}/metrics").text
            ) else None,
            timeout=10, what="the ingest process counts the recorded scan")
        assert "\ntracking_broker_connected 1\n" in metrics
        lag = httpx.get(f"http://127.0.0.1:{projector.env['TRACKING_METRICS_PORT']}/metrics").text
        assert 'tracking_projection_lag_events{view="shipments"} 0' in lag
    finally:
        codes = {p.name: p.terminate() if p.process.poll() is None else p.process.returncode
                 for p in processes}
    assert codes == {"api": 0, "ingest": 0, "projector": 0, "notify": 0}, {
        p.name: p.log.read_text()[-2000:] for p in processes}
    logs = {p.name: p.lines() for p in processes}  # every line is JSON
    [book_line] = [x for x in logs["api"] if x.get("request_id") == "book-1"]
    assert {k: book_line[k] for k in ("method", "route", "status")} == {
        "method": "POST", "route": "/api/v1/shipments", "status": 201}
    assert isinstance(book_line["duration_ms"], float)
    [batch] = [x for x in logs["ingest"] if "size" in x]
    assert (batch["size"], batch["recorded"], batch["device_ids"], batch["tracking_number"]) == (
        1, 1, ["hkg-dock-7"], TN)
    everything = "\n".join(p.log.read_text() for p in processes)
    secrets = [INGEST_PASSWORD, DOT_ENV["POSTGRES_PASSWORD"], *DEVICES.values(),
               *(t.split(":")[1] for t in DOT_ENV["TRACKING_API_TOKENS"].split(","))]
    for secret in secrets:
        assert secret not in everything
    for personal in (BOOKING["recipient"]["name"], BOOKING["recipient"]["postcode"]):  # type: ignore[index]
        assert personal not in everything


def test_the_api_finishes_the_request_in_hand_on_sigterm(tmp_path: Path) -> None:
    """A read waiting for the views (min_position ahead of the log: it waits
    up to 5 s, then answers 503) is answered, not cut off, and the process
    exits 0."""
    port = free_port()
    env = {**os.environ, "TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
           "TRACKING_HTTP_PORT": str(port), "TRACKING_LOG_FORMAT": "json"}
    process = subprocess.Popen([TRACKING, "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: listening(port), timeout=30, what="the API listens")
        answers: list[httpx.Response | Exception] = []

        def read() -> None:
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}/api/v1/track/{TN}",
                                         params={"min_position": 10**9}, timeout=30))
            except Exception as e:  # noqa: BLE001 - a cut connection is what we look for
                answers.append(e)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(1)  # the request is in hand
        process.send_signal(signal.SIGTERM)
        reader.join(30)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    [answer] = answers
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.postgres
def test_the_api_answers_from_several_worker_processes_and_all_stop_on_sigterm(
    postgres_schema_url: str, tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "TRACKING_DATABASE_URL": postgres_schema_url,
           "TRACKING_HTTP_PORT": str(port), "TRACKING_HTTP_WORKERS": "2",
           "TRACKING_API_TOKENS": "merchant:m-token", "TRACKING_LOG_FORMAT": "json"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([TRACKING, "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        eventually(lambda: listening(port), timeout=30, what="the API listens")
        # Two workers (plus, perhaps, multiprocessing's resource tracker).
        workers = eventually(
            lambda: [c for c in _children(process.pid)
                     if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()],
            timeout=30, what="worker processes")
        assert len(workers) == 2
        headers = {"Authorization": "Bearer m-token"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            numbers = [f"TEST{i:08d}" for i in range(20)]
            for tn in numbers:  # new connections: the kernel spreads them over the workers
                answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/shipments", headers=headers,
                                    json={**BOOKING, "tracking_number": tn})
                assert answer.status_code == 201, answer.text
            again = client.post("/api/v1/shipments", json={**BOOKING, "tracking_number": numbers[0]})
            assert again.status_code == 200  # one store: every worker sees every booking
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        eventually(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=10,
                   what="the workers are gone")
    finally:
        if process.poll() is None:
            process.kill()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert {x["status"] for x in lines if x.get("route") == "/api/v1/shipments"} == {200, 201}


@pytest.mark.postgres
def test_a_second_ingest_service_with_the_same_client_id_is_told_apart(
    deployed_broker: Broker, postgres_schema_url: str, tmp_path: Path
) -> None:
    """Two `ingest` services with one TRACKING_MQTT_CLIENT_ID on the deployed
    broker (its ACL, this machine's Mosquitto, which sends no reason 142):
    the one thrown off says why and fails its health check; the other goes on."""
    client_id = f"deploy-{uuid.uuid4().hex[:8]}"
    first = run_service("ingest", postgres_schema_url, deployed_broker.port, tmp_path,
                        client_id, "ingest-first")
    processes = [first]
    try:
        eventually(lambda: first.process.poll() is not None or first.healthy(), timeout=60,
                   what="the first ingest service is healthy")
        time.sleep(0.5)  # its marker is written
        second = run_service("ingest", postgres_schema_url, deployed_broker.port, tmp_path,
                             client_id, "ingest-second")
        processes.append(second)
        eventually(lambda: first.process.poll() is None and not first.healthy(), timeout=60,
                   what="the first finds its session taken over")
        eventually(second.healthy, timeout=30, what="the second goes on")
        time.sleep(3)  # still fighting, they would throw each other off by now
        assert second.healthy() and not first.healthy()
        [error] = [x for x in first.lines() if x["level"] == "error"]
        assert "session taken over" in error["msg"] and client_id in error["msg"]
        assert "TRACKING_MQTT_CLIENT_ID" in error["msg"]
        ready = httpx.get(f"http://127.0.0.1:{first.env['TRACKING_METRICS_PORT']}/readyz").json()
        assert "session taken over" in ready["failed"]["broker"]
        assert not [x for x in second.lines() if x["level"] == "error"]
    finally:
        codes = [p.terminate() if p.process.poll() is None else p.process.returncode
                 for p in processes]
    assert codes == [0] * len(processes)


def test_a_consumer_whose_user_may_not_write_its_marker_stays_connected(
    deployed_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed in as a device, which the ACL lets write only its own scans:
    the marker (adapters/mqtt/takeover.py) is refused, and nothing else
    happens (Mosquitto closes an MQTT 5 connection over a refused QoS 0
    publish: a consumer that sent one would reconnect forever)."""
    from adapters.composition import build_consumer, build_dead_letters, build_service
    from adapters.settings import Settings

    url = f"mqtt://hkg-dock-7:{DEVICES['hkg-dock-7']}@127.0.0.1:{deployed_broker.port}"
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", mqtt_url=url,
                        mqtt_client_id=f"t-{uuid.uuid4().hex[:8]}",
                        master_key=os.urandom(32))  # as deployed: no development key's warning
    service, letters = build_service(settings), build_dead_letters(settings)
    with caplog.at_level(logging.INFO, logger="adapters.mqtt.consumer"):
        consumer = build_consumer(settings, service, letters, session_expiry=0).start()
        try:
            assert consumer.connected.wait(10)
            eventually(lambda: any("does not let this consumer write" in r.getMessage()
                                   for r in caplog.records), what="the refusal is noted")
            time.sleep(2)  # a closed connection would show by now
            assert consumer.connected.is_set() and consumer.fault is None
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        finally:
            consumer.stop()
            letters.close()
            service.close()


@pytest.mark.postgres
def test_the_scale_profile_runs_two_of_each_process_and_the_ingests_share_every_scan(
    deployed_broker: Broker, postgres_schema_url: str, tmp_path: Path
) -> None:
    """The scale profile's processes with its .env (a group of two slots)
    beside the first api and ingest: each ingest holds one of the group's
    sessions, every scan a device publishes is recorded once, both APIs
    serve it."""
    scale_env = {**DOT_ENV, "TRACKING_MQTT_GROUP": "ingest", "TRACKING_MQTT_SLOTS": "2"}
    client_id = f"deploy-{uuid.uuid4().hex[:8]}"
    # Six processes on the PostgreSQL every test run here shares (100 connections):
    # the event store's pool kept to one connection each (the library's own variables).
    small_pools = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}
    # The first projector and sender are run by the test above: here the views
    # are the second projector's, and its sender is started beside it.
    names = ("api", "ingest", *SCALE)
    processes = [run_service(n, postgres_schema_url, deployed_broker.port, tmp_path,
                             client_id=client_id, dot_env=scale_env, extra=small_pools)
                 for n in names]
    by_name = {p.name: p for p in processes}
    try:
        for p in processes:
            eventually(lambda p=p: p.process.poll() is not None or p.healthy(), timeout=240,
                       what=f"{p.name}'s compose health check passes")
            assert p.process.poll() is None, p.log.read_text()

        from tests.integration.test_brokers_slots import held_slots

        eventually(lambda: held_slots(by_name["ingest"].log) | held_slots(by_name["ingest-2"].log)
                   == {0, 1} and len(held_slots(by_name["ingest"].log)) == 1, timeout=60,
                   what="each ingest holds one of the two slots")
        bases = [f"http://127.0.0.1:{by_name[n].env['TRACKING_HTTP_PORT']}" for n in ("api", "api-2")]
        merchant = next(t.split(":")[1] for t in DOT_ENV["TRACKING_API_TOKENS"].split(",")
                        if t.startswith("merchant:"))
        booked = httpx.post(f"{bases[1]}/api/v1/shipments", json=BOOKING, timeout=30,
                            headers={"Authorization": f"Bearer {merchant}"})
        assert booked.status_code == 201, booked.text
        device, _ = deployed_broker.client("hkg-dock-7", DEVICES["hkg-dock-7"])
        sent = [scan("RECEIVED", "HKHKG", at(2) + timedelta(minutes=k)) for k in range(20)]
        for body in sent:
            device.publish("scanners/hkg/hkg-dock-7/scans", json.dumps(body), qos=1).wait_for_publish(10)

        def received(p: Process) -> float:
            text = httpx.get(f"http://127.0.0.1:{p.env['TRACKING_METRICS_PORT']}/metrics", timeout=30).text
            found = re.search(r'^tracking_scans_received_total\{ingress="mqtt"\} (\S+)$', text, re.M)
            return float(found[1]) if found else 0.0

        eventually(lambda: received(by_name["ingest"]) + received(by_name["ingest-2"]) == len(sent),
                   timeout=60, what="the two ingests took every scan between them")
        def recorded(p: Process) -> float:
            text = httpx.get(f"http://127.0.0.1:{p.env['TRACKING_METRICS_PORT']}/metrics", timeout=30).text
            found = re.search(r'^tracking_scans_total\{ingress="mqtt",result="recorded"\} (\S+)$',
                              text, re.M)
            return float(found[1]) if found else 0.0

        eventually(lambda: recorded(by_name["ingest"]) + recorded(by_name["ingest-2"]) == len(sent),
                   timeout=30, what="every scan recorded once, by one ingest or the other")
        views = [eventually(lambda b=base: (v := httpx.get(f"{b}/api/v1/track/{TN}", timeout=30).json())
                            .get("events") and len(v["events"]) == len(sent) and v,
                            timeout=30, what="every scan projected and served")
                 for base in bases]
        assert views[0] == views[1]
    finally:
        codes = {p.name: p.terminate() if p.process.poll() is None else p.process.returncode
                 for p in processes}
    assert set(codes.values()) == {0}, {p.name: p.log.read_text()[-2000:] for p in processes}
