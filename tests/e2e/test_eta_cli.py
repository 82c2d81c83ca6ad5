"""`tracking simulate --history`, `tracking eta publish` and `tracking eta
backtest`, as an operator runs them, on a SQLite database: the same seed
records the same history, the model is recorded, the backtest prints the
model beside the plan-only ETA."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cli import main
from adapters.composition import build_service
from adapters.settings import Settings
from tracking.eta.model import ETA_MODEL_ID


def test_history_publish_and_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/history.db"
    monkeypatch.setenv("TRACKING_DATABASE_URL", url)
    assert main(["simulate", "--history", "150", "--seed", "4", "--days", "120"]) == 0
    assert "recorded a history of 150 shipments" in capsys.readouterr().out
    service = build_service(Settings(database_url=url))
    recorded = service.position()
    service.close()
    assert main(["simulate", "--history", "150", "--seed", "4", "--days", "120"]) == 0
    capsys.readouterr()
    service = build_service(Settings(database_url=url))
    assert service.position() == recorded  # the same history again: nothing new
    service.close()

    assert main(["eta", "publish"]) == 0
    assert "published ETA model v1" in capsys.readouterr().out
    service = build_service(Settings(database_url=url))
    model = service.repository.get(ETA_MODEL_ID).latest
    service.close()
    assert model.version == 1 and model.deliveries > 100 and model.figures

    assert main(["eta", "backtest", "--since", "2026-01-01"]) == 0
    out = capsys.readouterr().out
    assert "model" in out and "plan only" in out and "coverage" in out and "MAE h, >7d" in out


def test_a_backtest_date_that_is_not_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eta", "backtest", "--since", "yesterday"])
    assert "--since" in capsys.readouterr().err
