"""The analyser in the window (a fast fake featurizer under the real analyser logic): mood
badges in the queue, the escalation filter and risk order, highlighted sentences with
their reasons, and the draft's tone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import Qt

from core.analysis.analyzer import Analyzer
from core.analysis.heads import load_heads
from core.inbox.queue import StoreQueue
from core.inbox.store import Incoming, TicketStore
from core.paths import Workspace
from core.prompt import tone_instruction
from core.settings import Settings
from core.tickets import Message, Ticket
from tests.core.test_analysis import FakeFeaturizer, fake_heads
from tests.fakes import FakeEngine

START = datetime(2026, 11, 20, tzinfo=timezone.utc)
MESSAGES = [
    ("Lamp question", "Does the lamp fit an E27 bulb?"),
    ("Broken kettle", "The kettle is broken and terrible. I am angry. "
                      "If you don't refund me I will contact my lawyer."),
    ("Thanks", "Great service, love it, thanks!"),
    ("退款", "台灯坏了，质量太差。再不退款我就打12315投诉你们！"),
]


class FakeBatchAnalyzer:
    def __init__(self, heads_file):
        self.analyzer = Analyzer(FakeFeaturizer(), load_heads(heads_file))
        self.batches = 0

    def analyze_many(self, texts):
        self.batches += 1
        return [a.to_json() for a in self.analyzer.analyze_many(texts)]

    def close(self):
        pass


@pytest.fixture
def window(qtbot, tmp_path):
    from app.mainwindow import MainWindow

    ws = Workspace.at(tmp_path / "ws").ensure()
    store = TicketStore(ws.tickets_db)
    store.add_many(Incoming(message_id=f"<a{n}@x>", subject=subject, text=text,
                            from_addr=f"c{n}@example.com", date=START + timedelta(hours=n))
                   for n, (subject, text) in enumerate(MESSAGES))
    store.close()
    heads = fake_heads(tmp_path)
    win = MainWindow(workspace=ws, settings=Settings(), tickets=StoreQueue(ws.tickets_db),
                     engine_factory=FakeEngine, model_path=None,
                     analyzer_factory=lambda: FakeBatchAnalyzer(heads))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _wait_analysed(qtbot, win):
    qtbot.waitUntil(lambda: not win._analysing and not win.queue.unanalysed(), timeout=10000)


def test_moods_in_the_queue_the_filter_and_the_risk_order(window, qtbot):
    _wait_analysed(qtbot, window)
    model = window.queue_model
    mood = {model.row_data(r).subject: model.data(model.index(r, 4))
            for r in range(model.rowCount())}
    assert mood == {"Lamp question": "", "Broken kettle": "Escalate", "Thanks": "Very pos.",
                    "退款": "Escalate"}
    row = next(r for r in range(model.rowCount()) if model.row_data(r).subject == "Thanks")
    assert model.data(model.index(row, 4), Qt.ItemDataRole.BackgroundRole).name() == "#bbf7d0"
    window.mood_filter.setCurrentIndex(window.mood_filter.findData("escalation"))
    assert sorted(model.row_data(r).subject for r in range(model.rowCount())) == [
        "Broken kettle", "退款"]
    window.mood_filter.setCurrentIndex(0)
    window.order_box.setCurrentIndex(window.order_box.findData("risk"))
    assert {model.row_data(0).subject, model.row_data(1).subject} == {"Broken kettle", "退款"}
    assert model.row_data(3).subject in ("Thanks", "Lamp question")


def test_the_thread_highlights_what_carries_the_mood_and_the_threat(window, qtbot):
    _wait_analysed(qtbot, window)
    model = window.queue_model
    row = next(r for r in range(model.rowCount()) if model.row_data(r).subject == "退款")
    window.queue_view.selectRow(row)
    html = window.thread_view.toHtml()
    assert "kefu:why/0/" in html and "escalation: regulator" in html
    analysis = window.current_ticket.messages[0].analysis
    threat = next(s for s in analysis["sentences"] if s["reasons"])
    assert threat["text"] == "再不退款我就打12315投诉你们！"
    from app.mainwindow import why_of
    assert "regulator" in why_of(threat)
    assert "Escalation risk" in window.note_label.text() and "supervisor" in \
        window.note_label.text()
    # The draft acknowledges, apologises and offers a supervisor.
    tone = tone_instruction(window.current_ticket)
    assert "apologising" in tone and "supervisor" in tone and "regulator" in tone


def test_new_mail_is_analysed_as_it_arrives(window, qtbot):
    _wait_analysed(qtbot, window)
    store = TicketStore(window.queue.store.path)
    store.add_many([Incoming(message_id="<late@x>", subject="Again",
                             text="Third email now. Terrible service, broken again.",
                             from_addr="late@example.com", date=START + timedelta(days=1))])
    store.close()
    with qtbot.waitSignal(window.analysed, timeout=10000):
        window._on_mail_synced(1)
    model = window.queue_model
    row = next(r for r in range(model.rowCount()) if model.row_data(r).subject == "Again")
    assert model.row_data(row).escalation


def test_tone_follows_the_newest_customer_message():
    calm = Ticket(subject="x", messages=(Message("customer", "hi"),))
    assert tone_instruction(calm) == ""
    pleased = Ticket(subject="x", messages=(
        Message("customer", "thanks", analysis={"sentiment": "very_positive", "reasons": []}),))
    assert "thank them" in tone_instruction(pleased)
    upset = Ticket(subject="x", messages=(
        Message("customer", "bad", analysis={"sentiment": "negative", "reasons": []}),))
    assert "apologise briefly" in tone_instruction(upset)


def test_the_demo_queue_is_analysed_too(qtbot, tmp_path):
    from app.mainwindow import MainWindow

    heads = fake_heads(tmp_path)
    tickets = [Ticket(subject=s, id=f"d{n}", messages=(Message("customer", t),))
               for n, (s, t) in enumerate(MESSAGES)]
    win = MainWindow(workspace=Workspace.at(tmp_path / "ws").ensure(), settings=Settings(),
                     tickets=tickets, engine_factory=FakeEngine, model_path=None,
                     analyzer_factory=lambda: FakeBatchAnalyzer(heads))
    qtbot.addWidget(win)
    try:
        _wait_analysed(qtbot, win)
        win.mood_filter.setCurrentIndex(win.mood_filter.findData("escalation"))
        assert sorted(win.queue_model.ticket_id(r)
                      for r in range(win.queue_model.rowCount())) == ["d1", "d3"]
    finally:
        win.close()


def test_the_supervisor_dashboard_charts_lists_and_exports(window, qtbot, tmp_path):
    from app.dashboard import chart_png

    _wait_analysed(qtbot, window)
    # One reply from a draft, edited, in the audit log.
    store = window.queue.store
    ticket = int(window.queue_model.ticket_id(0))
    store.save_draft(ticket, "Sorry!", generated="Sorry.")
    store.record_sent_elsewhere(ticket, "Sorry!", actor="Mei")
    dashboard = window.open_dashboard()
    assert dashboard.summary.text() == "4 customer messages · 2 negative · 2 escalations"
    assert dashboard.escalation_table.rowCount() == 2
    wrote = {dashboard.escalation_table.item(r, 4).text() for r in range(2)}
    assert "再不退款我就打12315投诉你们！" in wrote
    assert [dashboard.agent_table.item(0, c).text() for c in range(6)] == [
        "Mei", "1", "1", "1", "1", "17%"]
    # Mei replied to the calm ticket only: her tickets hold no escalation.
    dashboard.agent_box.setCurrentIndex(dashboard.agent_box.findData("Mei"))
    assert dashboard.summary.text() == "1 customer messages · 0 negative · 0 escalations"
    assert dashboard.escalation_table.rowCount() == 0
    dashboard.agent_box.setCurrentIndex(0)
    png = chart_png(dashboard.report)
    assert png.startswith(b"\x89PNG")
    csv_path = dashboard.export(tmp_path / "out.csv", kind="csv")
    rows = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("ticket,subject") and len(rows) == 5
    html_path = dashboard.export(tmp_path / "out.html", kind="html")
    report = html_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in report and "12315" in report and "Mei" in report
    # The report opens: a browser engine reads it back.
    from PySide6.QtGui import QTextDocument
    doc = QTextDocument()
    doc.setHtml(report)
    assert "Escalations" in doc.toPlainText()
    (tmp_path / "a-file").write_text("x")
    assert dashboard.export(tmp_path / "a-file" / "x.csv", kind="csv") is None
    assert "could not be written" in dashboard.error_label.text()
