"""The crash handler logs, saves the user's work and shows a dialog, on any thread."""

from __future__ import annotations

import logging
import threading

from PySide6.QtWidgets import QMessageBox

from app.crash import CrashHandler


def test_uncaught_errors_are_logged_saved_and_shown(qtbot, monkeypatch, caplog):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.detailedText()))
    saved = []
    handler = CrashHandler()
    handler.add_saver(lambda: saved.append(True))
    handler.install()
    try:
        def boom():
            raise RuntimeError("worker exploded")

        with caplog.at_level(logging.CRITICAL, logger="kefu.crash"):
            thread = threading.Thread(target=boom)
            thread.start()
            thread.join()
            qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    finally:
        handler.uninstall()
    assert saved == [True]
    assert "worker exploded" in shown[0] and "Traceback" in shown[0]
    assert "worker exploded" in caplog.text


def test_a_failing_saver_does_not_hide_the_report(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()))
    handler = CrashHandler()
    handler.add_saver(lambda: 1 / 0)
    try:
        raise ValueError("first")
    except ValueError as exc:
        handler._excepthook(type(exc), exc, exc.__traceback__)
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert "drafts have been saved" in shown[0]
