"""Importing ticket files from the window: the demo gives way to the store, the queue
shows the new tickets, and a file that cannot be read is named in the note."""

from __future__ import annotations

from core.settings import Settings
from core.tickets import load_demo_tickets
from tests.fakes import FakeEngine

EML = (b"From: =?utf-8?b?546L5aWz5aOr?= <wang@example.cn>\r\n"
       b"To: help@lumen.example\r\nSubject: =?gbk?b?zcu/7g==?=\r\n"
       b"Message-ID: <imp1@example.cn>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0800\r\n"
       b"Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
       + "台灯坏了，我想退款。".encode("gbk") + b"\r\n")


def test_import_from_the_window(qtbot, tmp_path):
    from app.mainwindow import MainWindow
    from core.paths import Workspace

    window = MainWindow(workspace=Workspace.at(tmp_path / "ws").ensure(), settings=Settings(),
                        tickets=load_demo_tickets(), engine_factory=FakeEngine,
                        model_path=None)
    qtbot.addWidget(window)
    try:
        good = tmp_path / "refund.eml"
        good.write_bytes(EML)
        broken = tmp_path / "export.json"
        broken.write_text("{not json", encoding="utf-8")
        with qtbot.waitSignal(window.tickets_imported, timeout=20000) as blocker:
            window.import_tickets([good, broken])
        result = blocker.args[0]
        assert result.messages == 1 and len(result.errors) == 1
        assert window.queue.can_send                      # the store, not the demo
        model = window.queue_model
        assert [model.row_data(r).subject for r in range(model.rowCount())] == ["退款"]
        assert window.current_ticket.messages[0].text == "台灯坏了，我想退款。"
        note = window.note_label.text()
        assert "Imported 1 message (1 new ticket)" in note and "export.json" in note
        with qtbot.waitSignal(window.tickets_imported, timeout=20000) as again:
            window.import_tickets([good])
        assert again.args[0].duplicates == 1 and again.args[0].messages == 0
        assert "1 already there" in window.note_label.text()
    finally:
        window.close()
