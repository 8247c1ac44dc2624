"""A real Kefu window in its own process, for the SIGKILL autosave test.

    python tests/e2e/autosave_driver.py QUEUE type TEXT  # open ticket 2, type TEXT, wait
    python tests/e2e/autosave_driver.py QUEUE show       # print each ticket's composer text

QUEUE is ``store`` (the workspace's ticket store, drafts kept in SQLite) or ``demo``
(the demo tickets, drafts kept in drafts.json).

``type`` types the text key by key as an agent would, prints ``TYPED <ticket id>`` once
the last key is in, and then idles until it is killed; it never saves on purpose (the test kills it with
SIGKILL, so nothing at exit can save either).  The workspace comes from KEFU_HOME.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from PySide6.QtCore import QEvent, Qt, QTimer
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from app.mainwindow import MainWindow
    from core.inbox.queue import MemoryQueue, StoreQueue
    from core.paths import Workspace
    from core.settings import Settings
    from core.tickets import load_demo_tickets
    from tests.fakes import FakeEngine

    app = QApplication([])
    workspace = Workspace.resolve().ensure()
    kind, command = sys.argv[1], sys.argv[2]
    queue = StoreQueue(workspace.tickets_db) if kind == "store" else \
        MemoryQueue(load_demo_tickets(), workspace.drafts_file)
    window = MainWindow(workspace=workspace, settings=Settings(), tickets=queue,
                        engine_factory=FakeEngine, model_path=None)
    window.show()
    window.status_filter.setCurrentIndex(window.status_filter.findText("All statuses"))
    model = window.queue_model
    if command == "show":
        texts = {}
        for row in range(model.rowCount()):
            window.queue_view.selectRow(row)
            app.processEvents()
            texts[model.ticket_id(row)] = window.composer.toPlainText()
        print(json.dumps(texts, ensure_ascii=False), flush=True)
        window.close()   # stops the window's worker threads
        app.processEvents()
        return 0
    window.queue_view.selectRow(1)
    app.processEvents()
    window.composer.setFocus()
    for char in sys.argv[3]:   # key events carrying text, as a keyboard or an IME sends
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(window.composer,
                                   QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))
        app.processEvents()
    print("TYPED", window.current_ticket.id, flush=True)
    QTimer.singleShot(600_000, app.quit)   # the test kills it long before
    return app.exec()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)   # as the app's own entry point does (app/launcher.py: entry)
