"""A real Kefu window in its own process, for the SIGKILL autosave test.

    python tests/e2e/autosave_driver.py type TEXT    # open ticket 2, type TEXT, wait
    python tests/e2e/autosave_driver.py show         # print each ticket's composer text

``type`` types the text key by key as an agent would, prints TYPED once the last key is
in, and then idles until it is killed; it never saves on purpose (the test kills it with
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
    from core.paths import Workspace
    from core.settings import Settings
    from core.tickets import load_demo_tickets
    from tests.fakes import FakeEngine

    app = QApplication([])
    tickets = load_demo_tickets()
    window = MainWindow(workspace=Workspace.resolve().ensure(), settings=Settings(),
                        tickets=tickets, engine_factory=FakeEngine, model_path=None)
    window.show()
    if sys.argv[1] == "show":
        texts = {}
        for row, ticket in enumerate(tickets):
            window.queue_view.selectRow(row)
            app.processEvents()
            texts[ticket.id] = window.composer.toPlainText()
        print(json.dumps(texts, ensure_ascii=False), flush=True)
        window.close()   # stops the window's worker threads
        app.processEvents()
        return 0
    window.queue_view.selectRow(1)
    app.processEvents()
    window.composer.setFocus()
    for char in sys.argv[2]:   # key events carrying text, as a keyboard or an IME sends
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(window.composer,
                                   QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))
        app.processEvents()
    print("TYPED", flush=True)
    QTimer.singleShot(600_000, app.quit)   # the test kills it long before
    return app.exec()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)   # as the app's own entry point does (app/launcher.py: entry)
