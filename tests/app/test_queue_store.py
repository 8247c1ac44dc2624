"""The window on the workspace's ticket store: a lazy queue with filters, search, order,
unread marks and keyboard navigation; drafts kept in the store (a full disk included);
"Mark as sent" recorded in the thread and the audit log; the folded thread view."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtTest import QTest

from core.inbox.queue import StoreQueue
from core.inbox.store import Incoming, TicketStore
from core.paths import Workspace
from core.settings import Settings
from tests.fakes import FakeEngine

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SIZE = 1500


def _message(n: int) -> Incoming:
    zh = n % 3 == 0
    return Incoming(
        message_id=f"<m{n}@example.com>",
        subject=f"订单 {n} 的退款" if zh else f"Order {n} arrived broken",
        text="你好，我的台灯坏了，想退款。" if zh else f"Hello, order {n}: the lamp is broken.",
        from_addr=f"c{n}@example.com", from_name=f"Customer {n}",
        date=START + timedelta(minutes=n),
        status=("new", "open", "pending", "solved")[n % 4],
        external_ticket=f"Z{n}" if n % 5 == 0 else "")


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    store = TicketStore(ws.tickets_db)
    store.add_many(_message(n) for n in range(SIZE))
    store.add_many([Incoming(
        message_id="<quote@example.com>", subject="Invoice", from_addr="ann@example.com",
        text="Please send the invoice.\n\nOn Mon, Nov 2, Lumen wrote:\n> Thanks for your "
             "order\n> Lumen", quoted_from=len("Please send the invoice.\n\n"),
        attachments=({"filename": "order.pdf", "content_type": "application/pdf",
                      "size": 245760},), date=START - timedelta(days=1))])
    store.close()
    return ws


@pytest.fixture
def open_window(qtbot, workspace):
    windows = []

    def make():
        from app.mainwindow import MainWindow

        window = MainWindow(workspace=workspace, settings=Settings(agent_name="Mei"),
                            tickets=StoreQueue(workspace.tickets_db),
                            engine_factory=lambda: FakeEngine(reply="Sorry about the lamp."),
                            model_path="fake.gguf")
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def _all(window) -> list[str]:
    window.status_filter.setCurrentIndex(window.status_filter.findText("All statuses"))
    return [window.queue_model.ticket_id(r) for r in range(window.queue_model.rowCount())]


def test_the_queue_reads_only_what_is_on_screen(open_window, workspace):
    window = open_window()
    model = window.queue_model
    store = TicketStore(workspace.tickets_db)
    # Default view: tickets to answer (new and open), longest waiting first.
    assert model.rowCount() == store.count_tickets(status=("new", "open"))
    assert window.count_label.text() == f"{model.rowCount():,} tickets"
    assert model.fetches <= 2            # one screenful, not 750 rows
    window.queue_view.scrollToBottom()
    QTest.qWait(50)
    assert model.fetches <= 4
    last = model.row_data(model.rowCount() - 1)
    assert last.id == model.ticket_id(model.rowCount() - 1)
    ids = store.ticket_ids(status=("new", "open"))
    assert [int(model.ticket_id(r)) for r in range(model.rowCount())] == ids
    # The oldest waiting customer is first.
    assert model.row_data(0).subject == "Invoice"
    store.close()


def test_filters_search_and_order_are_the_stores(open_window, workspace, qtbot):
    window = open_window()
    model = window.queue_model
    store = TicketStore(workspace.tickets_db)
    assert len(_all(window)) == SIZE + 1
    window.lang_filter.setCurrentIndex(window.lang_filter.findData("zh"))
    assert model.rowCount() == store.count_tickets(lang="zh") == SIZE // 3
    window.channel_filter.setCurrentIndex(window.channel_filter.findData("helpdesk"))
    assert model.rowCount() == store.count_tickets(lang="zh", channel="helpdesk") == 100
    window.lang_filter.setCurrentIndex(0)
    window.channel_filter.setCurrentIndex(0)
    window.status_filter.setCurrentIndex(window.status_filter.findText("Solved"))
    assert all(model.row_data(r).status == "solved" for r in range(model.rowCount()))
    assert model.rowCount() == SIZE // 4
    window.status_filter.setCurrentIndex(window.status_filter.findText("All statuses"))
    window.filter_edit.setText("Order 1234 ")
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=3000)
    assert model.row_data(0).subject == "Order 1234 arrived broken"
    window.filter_edit.setText("退款")      # two Chinese characters: below the trigram size
    qtbot.waitUntil(lambda: model.rowCount() == SIZE // 3, timeout=3000)
    window.filter_edit.setText("")
    window.order_box.setCurrentIndex(window.order_box.findData("updated"))
    assert model.row_data(0).subject == f"Order {SIZE - 1} arrived broken"
    store.close()


def test_opening_a_ticket_marks_it_read_and_the_open_ticket_survives_a_filter(
        open_window, workspace):
    window = open_window()
    model = window.queue_model
    window.queue_view.selectRow(3)
    ticket_id = window.current_ticket.id
    assert not model.row_data(3).unread
    assert model.data(model.index(3, 0), Qt.ItemDataRole.FontRole) is None
    assert model.data(model.index(4, 0), Qt.ItemDataRole.FontRole).bold()
    assert model.data(model.index(4, 0)).startswith("● ")
    store = TicketStore(workspace.tickets_db)
    assert store.ticket(int(ticket_id)).unread is False
    store.close()
    window.composer.setPlainText("Half-written reply")
    window.filter_edit.setText("nothing matches this")
    window.apply_filter()
    assert model.rowCount() == 0
    assert window.current_ticket.id == ticket_id
    assert window.composer.toPlainText() == "Half-written reply"
    window.filter_edit.setText("")
    window.apply_filter()
    assert window.queue_view.currentIndex().row() == model.row_of(ticket_id)


def test_keyboard_moves_through_the_queue_from_the_composer(open_window, qtbot):
    window = open_window()
    model = window.queue_model
    window.queue_view.selectRow(0)
    window.composer.setFocus()
    keys = window.windowHandle()      # key events as the window system delivers them
    alt, ctrl = Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier
    QTest.keyClick(keys, Qt.Key.Key_Down, alt)
    assert window.current_ticket.id == model.ticket_id(1)
    QTest.keyClick(keys, Qt.Key.Key_Down, alt)
    QTest.keyClick(keys, Qt.Key.Key_Up, alt)
    assert window.current_ticket.id == model.ticket_id(1)
    QTest.keyClick(keys, Qt.Key.Key_F, ctrl)
    assert window.filter_edit.hasFocus()
    QTest.keyClick(keys, Qt.Key.Key_L, ctrl)
    assert window.queue_view.hasFocus()
    QTest.keyClick(keys, Qt.Key.Key_Down)       # plain arrows in the queue
    assert window.current_ticket.id == model.ticket_id(2)


def _drafted(window, qtbot, row: int) -> int:
    """Load the (fake) model, open queue row ``row`` and draft it; the ticket's id."""
    with qtbot.waitSignal(window.model_loaded, timeout=10000):
        window.start_loading()
    window.queue_view.selectRow(row)
    with qtbot.waitSignal(window.draft_finished, timeout=20000):
        window.draft_button.click()
    return int(window.current_ticket.id)


def test_drafts_live_in_the_store_and_come_back(open_window, workspace, qtbot):
    window = open_window()
    ticket_id = _drafted(window, qtbot, 2)
    window.composer.appendPlainText("Best, Mei")
    store = TicketStore(workspace.tickets_db)
    # Autosaved within a second of the last keystroke, with the model's draft beside it.
    qtbot.waitUntil(lambda: (store.draft(ticket_id) or ("",))[0].endswith("Best, Mei"),
                    timeout=1500)
    assert store.draft(ticket_id) == ("Sorry about the lamp.\nBest, Mei",
                                      "Sorry about the lamp.")
    window.close()
    again = open_window()
    again.status_filter.setCurrentIndex(again.status_filter.findText("All statuses"))
    again.queue_view.selectRow(again.queue_model.row_of(str(ticket_id)))
    assert again.composer.toPlainText() == "Sorry about the lamp.\nBest, Mei"
    assert again.draft_button.isEnabled() is False       # no model loaded in this one
    store.close()


def test_a_full_disk_keeps_the_draft_in_the_window_and_saves_it_later(open_window, qtbot,
                                                                      workspace):
    window = open_window()
    window.queue_view.selectRow(0)
    ticket_id = int(window.current_ticket.id)
    db = window.queue.store.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")     # the disk is full from here on
    text = "A long reply that needs new pages in the file. " * 400
    window.composer.setPlainText(text)
    assert window.save_drafts() is False
    assert "disk is full" in window.note_label.text()
    assert window.composer.toPlainText() == text          # nothing lost in the window
    store = TicketStore(workspace.tickets_db)
    assert store.draft(ticket_id) is None
    window._autosave.setInterval(100)   # the retry, sooner than the app's 5 s
    window._autosave.start()
    db.execute(f"PRAGMA max_page_count = {pages * 100}")  # space again: no keystroke needed
    qtbot.waitUntil(lambda: store.draft(ticket_id) is not None, timeout=3000)
    assert store.draft(ticket_id)[0] == text
    assert not window.note_label.isVisible()
    window.composer.appendPlainText("Mei")               # and typing saves as before
    qtbot.waitUntil(lambda: store.draft(ticket_id)[0].endswith("Mei"), timeout=1500)
    store.close()


def test_mark_as_sent_joins_the_thread_and_the_audit_log(open_window, workspace, qtbot):
    window = open_window()
    ticket_id = _drafted(window, qtbot, 1)
    window.composer.setPlainText("Sorry about the lamp!")   # one character edited
    window.sent_button.click()
    store = TicketStore(workspace.tickets_db)
    assert store.ticket(ticket_id).status == "pending"
    assert store.messages(ticket_id)[-1].text == "Sorry about the lamp!"
    assert store.messages(ticket_id)[-1].direction == "out"
    entry = [a for a in store.audit(ticket_id) if a["action"] == "sent_elsewhere"]
    assert len(entry) == 1 and entry[0]["edit_distance"] == 1 and entry[0]["actor"] == "Mei"
    assert store.draft(ticket_id) is None
    assert window.composer.toPlainText() == ""
    assert window.current_ticket.messages[-1].text == "Sorry about the lamp!"
    assert window.queue.rows([str(ticket_id)])[0].status == "pending"
    store.close()


def test_the_thread_folds_quotes_and_lists_attachments_unopened(open_window):
    window = open_window()
    window.queue_view.selectRow(0)
    assert window.current_ticket.subject == "Invoice"
    shown = window.thread_view.toPlainText()
    assert "Please send the invoice." in shown
    assert "Attachment: order.pdf (240 KB, not opened)" in shown
    assert "Thanks for your order" not in shown and "show quoted text" in shown
    # The model reads only what is new in the message.
    assert window.current_ticket.messages[0].text == "Please send the invoice."
    window._on_thread_link(QUrl("kefu:quoted/0"))
    assert "Thanks for your order" in window.thread_view.toPlainText()
    window._on_thread_link(QUrl("https://evil.example/track"))   # never followed
    window._on_thread_link(QUrl("kefu:quoted/0"))
    assert "Thanks for your order" not in window.thread_view.toPlainText()
