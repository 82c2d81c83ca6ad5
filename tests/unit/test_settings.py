"""Configuration is read once from the environment; bad values name their variable."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from adapters.settings import VARIABLES, ConfigError, Settings, Tokens


def test_no_variables_means_sqlite_under_var(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    env = settings.eventstore_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == "./var/tracking.db"
    assert (tmp_path / "var").is_dir()
    assert (settings.http_host, settings.http_port, settings.mqtt_url) == ("127.0.0.1", 8000, None)


def test_postgres_url_maps_to_the_event_store() -> None:
    settings = Settings.from_env(
        {"TRACKING_DATABASE_URL": "postgresql://app:s%40cret@db.local:6543/tracking?schema=prod"}
    )
    env = settings.eventstore_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.local", "6543", "tracking",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app", "s@cret")
    assert env["POSTGRES_SCHEMA"] == "prod"


def test_tokens_map_to_roles() -> None:
    settings = Settings.from_env({"TRACKING_API_TOKENS": "agent:a1, device:d1,merchant:m1"})
    tokens = settings.api_tokens
    assert isinstance(tokens, Tokens)
    assert [tokens.role(t) for t in ("a1", "d1", "m1", "x1", "")] == [
        "agent", "device", "merchant", None, None]


def test_tokens_are_kept_only_as_digests() -> None:
    given = "agent:plain-agent-secret,merchant:plain-merchant-secret:acme"
    for settings in (Settings.from_env({"TRACKING_API_TOKENS": given}),
                     Settings(api_tokens={"plain-agent-secret": "agent"})):
        kept = repr((dict(settings.api_tokens), settings.api_tokens.accounts,  # type: ignore[attr-defined]
                     settings))
        assert "plain-agent-secret" not in kept and "plain-merchant-secret" not in kept
        assert hashlib.sha256(b"plain-agent-secret").hexdigest() in kept
        assert settings.api_tokens.role("plain-agent-secret") == "agent"  # type: ignore[attr-defined]


def test_two_tokens_of_one_role_and_account_are_both_valid_for_rotation() -> None:
    tokens = Settings.from_env(
        {"TRACKING_API_TOKENS": "merchant:old-m:acme,merchant:new-m:acme,agent:old-a,agent:new-a"}
    ).api_tokens
    assert isinstance(tokens, Tokens)
    assert [tokens.match(t) is not None and tokens.match(t).account  # type: ignore[union-attr]
            for t in ("old-m", "new-m")] == ["acme", "acme"]
    assert tokens.role("old-a") == tokens.role("new-a") == "agent"


def test_a_merchant_token_may_name_its_account() -> None:
    settings = Settings.from_env({"TRACKING_API_TOKENS": "merchant:m1:acme,merchant:m2,agent:a1"})
    assert [settings.api_tokens.role(t) for t in ("m1", "m2", "a1")] == [  # type: ignore[attr-defined]
        "merchant", "merchant", "agent"]
    assert settings.api_tokens.account("m1") == "acme"  # type: ignore[attr-defined]
    assert settings.api_tokens.account("m2") == "default"  # type: ignore[attr-defined]
    assert settings.api_tokens.account("a1") == "default"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRACKING_DATABASE_URL", "mysql://x/y", "must start with postgresql://"),
        ("TRACKING_DATABASE_URL", "postgresql://u:hunter2@/", "postgresql://user:password@host"),
        ("TRACKING_HTTP_PORT", "eighty", "not a port number"),
        ("TRACKING_HTTP_PORT", "70000", "between 1 and 65535"),
        ("TRACKING_API_TOKENS", "agent", "entry 1 is not role:token"),
        ("TRACKING_API_TOKENS", "agent:a,wizard:w", "entry 2 has unknown role 'wizard'"),
        ("TRACKING_API_TOKENS", "agent:a:acme", "entry 1: only a merchant token names an account"),
        ("TRACKING_API_TOKENS", "merchant:m:a b", "entry 1: the account must be 1 to 64"),
        ("TRACKING_API_TOKENS", "merchant:m:acme,agent:m", "entry 2 repeats an earlier entry's"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        Settings.from_env({variable: value})
    assert str(e.value).startswith(variable)
    assert "hunter2" not in str(e.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRACKING_METRICS_PORT", "ninety", "not a port number"),
        ("TRACKING_READY_MAX_LAG_SECONDS", "0", "at least 1"),
        ("TRACKING_READY_MAX_LAG_SECONDS", "1m", "not a whole number"),
        ("TRACKING_LOG_FORMAT", "xml", "not one of json, text"),
        ("TRACKING_LOG_LEVEL", "loud", "not one of DEBUG, INFO, WARNING, ERROR"),
        ("TRACKING_MQTT_PROTOCOL", "3", "not one of 5, 3.1.1"),
    ],
)
def test_a_malformed_operations_setting_names_its_variable(variable: str, value: str,
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        Settings.from_env({variable: value})
    assert str(e.value).startswith(variable)


def test_operations_settings_and_their_defaults() -> None:
    default = Settings.from_env({})
    assert (default.metrics_port, default.ready_max_lag_seconds, default.log_format,
            default.log_level) == (None, 60, None, "INFO")
    given = Settings.from_env({"TRACKING_METRICS_PORT": "9100", "TRACKING_READY_MAX_LAG_SECONDS": "5",
                               "TRACKING_LOG_FORMAT": "JSON", "TRACKING_LOG_LEVEL": "debug"})
    assert (given.metrics_port, given.ready_max_lag_seconds, given.log_format,
            given.log_level) == (9100, 5, "json", "DEBUG")


def test_the_mqtt_protocol_is_5_unless_3_1_1_is_asked_for() -> None:
    assert Settings.from_env({}).mqtt_protocol == "5"
    assert Settings.from_env({"TRACKING_MQTT_PROTOCOL": "3.1.1"}).mqtt_protocol == "3.1.1"


class Recording(dict):  # type: ignore[type-arg]
    """An environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        self.asked.add(key)
        return super().__getitem__(key)


def test_the_documented_variables_are_exactly_those_read() -> None:
    env = Recording()
    Settings.from_env(env)
    assert env.asked == set(VARIABLES)


def test_the_readme_table_lists_every_variable_with_its_default() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(TRACKING_\w+)` \|[^|]*\| ([^|]*) \|$", readme, re.M)}
    assert set(rows) == set(VARIABLES)
    assert {k: v.replace("`", "") for k, v in rows.items()} == {k: v[0] for k, v in VARIABLES.items()}


def test_secrets_are_the_url_passwords_and_never_a_kept_token() -> None:
    settings = Settings.from_env({
        "TRACKING_API_TOKENS": "agent:a1,device:d1",
        "TRACKING_DATABASE_URL": "postgresql://app:s%40cret@db:5432/t",
        "TRACKING_MQTT_URL": "mqtt://ingest:mq-pw@broker:1883",
    })
    assert settings.secrets() >= {"s@cret", "mq-pw"}
    assert not settings.secrets() & {"a1", "d1"}  # not kept: a Bearer token is redacted by shape
