"""The crash handler: installed before the first window.

An unexpected exception (on any thread) is logged with its traceback, the
user's work is saved through the registered savers, and a dialog with "Copy
details" tells the user what happened.  The app keeps running where it can.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("kefu.crash")


class CrashHandler(QObject):
    # Carries the report to the GUI thread, whichever thread raised.
    _report = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._savers: list[Callable[[], None]] = []
        self._showing = False
        self._report.connect(self._show)
        self._old_hook = sys.excepthook
        self._old_thread_hook = threading.excepthook

    def install(self) -> "CrashHandler":
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._old_hook
        threading.excepthook = self._old_thread_hook

    def add_saver(self, saver: Callable[[], None]) -> None:
        self._savers.append(saver)

    def _excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("Unexpected error:\n%s", details)
        for saver in self._savers:
            try:
                saver()
            except Exception:  # noqa: BLE001 - saving must not start a second crash
                log.exception("Saving work after an error failed")
        self._report.emit(details)

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        self._excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    def _show(self, details: str) -> None:
        if self._showing:  # one dialog at a time; the rest are in the log
            return
        self._showing = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "Kefu Assist: unexpected error",
                              "Something went wrong. Your drafts have been saved.\n"
                              "You can keep working; if it happens again, send the details "
                              "to your IT contact.")
            box.setDetailedText(details)
            copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
            box.addButton(QMessageBox.StandardButton.Close)
            box.exec()
            if box.clickedButton() is copy:
                QApplication.clipboard().setText(details)
        finally:
            self._showing = False
