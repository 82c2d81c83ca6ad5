"""`tracking eta report --plot FILE.png`, as an operator runs it on a
simulated history: a PNG is written (its signature, a real image's size),
the coverage at each stated confidence printed; without matplotlib (an
optional extra) the command says how to install it and writes nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("TRACKING_DATABASE_URL", f"sqlite:///{tmp_path}/history.db")
    assert main(["simulate", "--history", "200", "--seed", "5", "--days", "150"]) == 0
    assert main(["eta", "publish"]) == 0
    capsys.readouterr()
    return tmp_path


def test_the_report_draws_a_png(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    plot = history / "report.png"
    assert main(["eta", "report", "--plot", str(plot)]) == 0
    data = plot.read_bytes()
    assert data[:8] == PNG
    assert len(data) > 20_000  # two panels with axes, lines and bars, not an empty canvas
    out = capsys.readouterr().out
    assert "stated 80%: observed" in out and f"wrote {plot}" in out


def test_without_matplotlib_the_report_says_how_to_install_it(
    history: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    plot = history / "report.png"
    assert main(["eta", "report", "--plot", str(plot)]) == 1
    assert "pip install '.[plot]'" in capsys.readouterr().err
    assert not plot.exists()


def test_the_report_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eta", "report"])
    assert "--plot" in capsys.readouterr().err
