"""The product panel: cards for the open ticket, Insert at the cursor, none for a
complaint, past orders, imports from the File menu, and the draft's product mention."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from core.catalog.recommend import Recommender
from core.catalog.store import CatalogStore
from core.paths import Workspace
from core.settings import Settings
from core.tickets import Message, Ticket
from tests.catalogfixtures import write_catalog
from tests.fakes import FakeEngine
from tests.kbfixtures import FakeEmbedder

QUESTION = {"sentiment": "neutral", "intent": "product_question", "escalation": False,
            "reasons": []}
COMPLAINT = {"sentiment": "very_negative", "intent": "complaint", "escalation": True,
             "reasons": ["chargeback"]}
TICKETS = [
    Ticket(subject="Kettle?", id="t-kettle", lang="en",
           customer={"name": "Ana", "email": "ana@example.com"},
           messages=(Message("customer", "Do you sell an electric kettle with auto shut-off?",
                             analysis=QUESTION),)),
    Ticket(subject="Refund now", id="t-angry", lang="en",
           customer={"name": "Ana", "email": "ana@example.com"},
           messages=(Message("customer", "Refund me now or I file a chargeback!",
                             analysis=COMPLAINT),)),
]


@pytest.fixture
def catalog(tmp_path):
    products, orders = write_catalog(tmp_path / "in")
    store = CatalogStore(tmp_path / "catalog.sqlite")
    store.import_products(products, currency="USD")
    store.import_orders(orders)
    store.close()
    return tmp_path / "catalog.sqlite"


@pytest.fixture
def make_window(qtbot, tmp_path, catalog):
    from app.mainwindow import MainWindow

    windows = []

    def make(settings: Settings | None = None, engine: FakeEngine | None = None):
        engine = engine or FakeEngine()
        window = MainWindow(
            workspace=Workspace.at(tmp_path / "ws").ensure(), settings=settings or Settings(),
            tickets=list(TICKETS), engine_factory=lambda: engine, model_path="fake.gguf",
            recommender_factory=lambda: Recommender(CatalogStore(catalog),
                                                    embedder_factory=FakeEmbedder))
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        with qtbot.waitSignal(window.model_loaded, timeout=10000):
            window.start_loading()
        return window, engine

    yield make
    for window in windows:
        window.close()


def open_ticket(qtbot, window, ticket_id):
    window.open_ticket(ticket_id)
    qtbot.waitUntil(lambda: window.product_result is not None, timeout=10000)
    assert window.current_ticket.id == ticket_id
    return window.product_result


def test_cards_for_the_open_ticket_and_insert_at_the_cursor(qtbot, make_window):
    window, _ = make_window()
    result = open_ticket(qtbot, window, "t-kettle")
    panel = window.product_panel
    assert panel.isVisible()
    assert [c.recommendation.handle for c in panel.cards] == [p.handle for p in
                                                               result.products]
    first = panel.cards[0]
    assert first.recommendation.handle == "harbor-kettle"
    assert "Harbor Electric Kettle" in first.title_label.text()
    assert "$59.00" in first.price_label.text() and "12 in stock" in first.price_label.text()
    assert "kettle" in first.reason_label.text()
    assert "#LM1002" in panel.orders_label.text() and "#LM1001" in panel.orders_label.text()

    window.composer.setPlainText("Hello Ana,\n\nYou might like the\n\nBest regards")
    cursor = window.composer.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    cursor.movePosition(QTextCursor.MoveOperation.Down, n=2)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
    window.composer.setTextCursor(cursor)
    qtbot.mouseClick(first.insert_button, Qt.MouseButton.LeftButton)
    assert window.composer.toPlainText() == ("Hello Ana,\n\nYou might like the Harbor Electric "
                                             "Kettle – $59.00\n\nBest regards")
    window.composer.undo()                      # one undoable edit
    assert "Harbor" not in window.composer.toPlainText()


def test_a_complaint_gets_no_cards_but_its_orders(qtbot, make_window):
    window, _ = make_window()
    result = open_ticket(qtbot, window, "t-angry")
    assert result.products == [] and result.withheld
    assert window.product_panel.cards == []
    assert "No suggestions" in window.product_panel.status_label.text()
    assert "#LM1001" in window.product_panel.orders_label.text()


@pytest.mark.parametrize("setting", [True, False])
def test_the_draft_mentions_the_top_product_only_when_asked_to(qtbot, make_window, setting):
    window, engine = make_window(Settings(draft_mentions_product=setting, kb_results=0))
    open_ticket(qtbot, window, "t-kettle")
    with qtbot.waitSignal(window.draft_finished, timeout=10000):
        window.start_draft()
    prompt = "\n".join(m.content for m in engine.prompts[-1])
    assert ("Harbor Electric Kettle – $59.00" in prompt) is setting
    # Never for the complaint, whatever the setting.
    open_ticket(qtbot, window, "t-angry")
    with qtbot.waitSignal(window.draft_finished, timeout=10000):
        window.start_draft()
    assert "catalog" not in "\n".join(m.content for m in engine.prompts[-1])


def test_import_from_the_window_reports_what_it_did(qtbot, make_window, tmp_path):
    window, _ = make_window()
    path = tmp_path / "more.csv"
    path.write_text("sku,title,price,stock\nMUG-1,Stoneware Mug,$18.00,40\n"
                    "MUG-2,,$9,1\n", encoding="utf-8")
    with qtbot.waitSignal(window.catalog_imported, timeout=10000) as done:
        window.import_catalog("products", path)
    kind, summary = done.args
    assert (kind, summary.imported, len(summary.skipped)) == ("products", 1, 1)
    assert "Imported products from more.csv: 1 new" in window.note_label.text()
    assert "MUG-2: empty title" in window.note_label.text()


def test_a_broken_catalog_file_is_a_note_not_a_crash(qtbot, make_window, tmp_path):
    window, _ = make_window()
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\x00\xff" * 500)
    window.import_catalog("products", path)
    qtbot.waitUntil(lambda: "Product catalog:" in window.note_label.text(), timeout=10000)
    assert "binary" in window.note_label.text()



def test_an_empty_catalog_says_how_to_fill_it(qtbot, tmp_path):
    from app.mainwindow import MainWindow

    window = MainWindow(
        workspace=Workspace.at(tmp_path / "ws2").ensure(), settings=Settings(),
        tickets=list(TICKETS), engine_factory=FakeEngine, model_path=None,
        recommender_factory=lambda: Recommender(CatalogStore(tmp_path / "empty.sqlite")))
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.product_result is not None, timeout=10000)
        assert "catalog is empty" in window.product_panel.status_label.text()
        assert window.product_panel.cards == []
    finally:
        window.close()


def test_no_mood_no_suggestions(qtbot, tmp_path, catalog):
    """When the analyser cannot run, nothing is suggested: the mood decides whether a
    suggestion is decent, and it is never guessed."""
    from app.mainwindow import MainWindow

    class BrokenAnalyzer:
        def __init__(self):
            from core.errors import KefuError

            raise KefuError("the embedding model is missing")

    unanalysed = [Ticket(subject="Kettle?", id="t-1", lang="en",
                         customer={"email": "ana@example.com"},
                         messages=(Message("customer", "Do you sell an electric kettle?"),))]
    window = MainWindow(
        workspace=Workspace.at(tmp_path / "ws3").ensure(), settings=Settings(),
        tickets=unanalysed, engine_factory=FakeEngine, model_path=None,
        analyzer_factory=BrokenAnalyzer,
        recommender_factory=lambda: Recommender(CatalogStore(catalog)))
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: "mood is unknown" in
                        window.product_panel.status_label.text(), timeout=10000)
        assert "embedding model is missing" in window.product_panel.status_label.text()
        assert window.product_panel.cards == [] and window.product_result is None
    finally:
        window.close()


def test_prices_without_a_currency_take_the_setting(qtbot, make_window, tmp_path, catalog):
    window, _ = make_window(Settings(catalog_currency="eur"))
    path = tmp_path / "plain.csv"
    path.write_text("sku,title,price\nVASE-1,Stoneware Vase,18.00\n", encoding="utf-8")
    with qtbot.waitSignal(window.catalog_imported, timeout=10000):
        window.import_catalog("products", path)
    store = CatalogStore(catalog)
    try:
        assert store.product("VASE-1").variants[0].currency == "EUR"
    finally:
        store.close()
