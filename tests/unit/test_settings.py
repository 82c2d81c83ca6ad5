"""Configuration is read once from the environment; bad values name their variable."""

from __future__ import annotations

import pytest

from adapters.settings import ConfigError, Settings


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
    assert settings.api_tokens == {"a1": "agent", "d1": "device", "m1": "merchant"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRACKING_DATABASE_URL", "mysql://x/y", "must start with postgresql://"),
        ("TRACKING_DATABASE_URL", "postgresql://u:hunter2@/", "postgresql://user:password@host"),
        ("TRACKING_HTTP_PORT", "eighty", "not a port number"),
        ("TRACKING_HTTP_PORT", "70000", "between 1 and 65535"),
        ("TRACKING_API_TOKENS", "agent", "entry 1 is not role:token"),
        ("TRACKING_API_TOKENS", "agent:a,wizard:w", "entry 2 has unknown role 'wizard'"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        Settings.from_env({variable: value})
    assert str(e.value).startswith(variable)
    assert "hunter2" not in str(e.value)
