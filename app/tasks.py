"""Short background jobs (copying a model file, listing models) off the GUI thread.

The job runs on Qt's thread pool; its result or its error comes back to the GUI
thread through a signal.  Jobs never touch widgets.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import KefuError

log = logging.getLogger("kefu.app.tasks")


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except KefuError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the user, never swallowed
            log.exception("Background job failed")
            self.signals.failed.emit(f"Unexpected error: {exc!r}")
        else:
            self.signals.done.emit(result)


_running: set[_Job] = set()


def run_in_background(fn: Callable[[], Any], *, on_done: Callable[[Any], None],
                      on_error: Callable[[str], None], parent: QObject) -> None:
    """Run ``fn`` on the thread pool; call back on ``parent``'s (the GUI) thread."""
    job = _Job(fn)
    job.setAutoDelete(False)
    # The signals object lives on the GUI thread, so the callbacks are queued there.
    job.signals.moveToThread(parent.thread())
    job.signals.done.connect(on_done)
    job.signals.failed.connect(on_error)
    job.signals.done.connect(lambda *_: _running.discard(job))
    job.signals.failed.connect(lambda *_: _running.discard(job))
    _running.add(job)
    QThreadPool.globalInstance().start(job)
