"""The real app, started as a user starts it: window first, then the model, then a draft."""

from __future__ import annotations

import json
import os

import pytest

from tests.e2e.conftest import run_kefu
from tests.e2e.test_kb_cli import workspace

pytestmark = pytest.mark.model


def test_self_test_shows_the_window_before_ml_imports_and_drafts(tmp_path, small_model,
                                                                 e5_model):
    ws = workspace(tmp_path, e5_model)
    report_file = tmp_path / "report.json"
    result = run_kefu("app", "--self-test", "--model", str(small_model), "--report",
                      str(report_file), workspace=ws)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert json.loads(report_file.read_text(encoding="utf-8")) == report
    assert report["ok"] is True
    assert report["window_shown"] is True
    assert report["heavy_modules_before_window"] == []
    assert report["draft"].strip() and report["device"].startswith("CPU")
    assert report["analysed_tickets"] > 0      # the analyser's child process answered
    assert "analysis_error" not in report
    assert (ws / "logs" / "kefu.log").is_file()


def test_self_test_fails_when_the_analyser_cannot_start(tmp_path, small_model):
    result = run_kefu("app", "--self-test", "--model", str(small_model),
                      workspace=tmp_path / "bare")     # no embedding model
    assert result.returncode == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and report["draft"].strip()
    assert "embedding model" in report["analysis_error"]


def test_no_display_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "QT_QPA_PLATFORM" not in os.environ
    result = run_kefu("app", workspace=tmp_path / "ws")
    assert result.returncode == 1
    assert "no display found" in result.stderr and "Traceback" not in result.stderr


def test_without_any_model_the_window_points_at_the_import(tmp_path):
    # The lean installer's first launch (the first-run screen itself is skipped by the
    # self-test, which reports the note the window shows instead and fails).
    result = run_kefu("app", "--self-test", workspace=tmp_path / "empty")
    assert result.returncode == 1
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is False
    assert any("Import GGUF file" in problem for problem in report["problems"])
