"""The main window: ticket queue, thread, and the draft composer."""

from __future__ import annotations

import html
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QItemSelection, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (QAction, QCloseEvent, QCursor, QDesktopServices, QGuiApplication,
                           QKeySequence, QShortcut, QTextCursor)
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QMainWindow, QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                               QTableView, QTextBrowser, QToolTip, QVBoxLayout, QWidget)

from app.analysisworker import AnalysisWorker, BatchAnalyzer
from app.firstrun import FirstRunDialog
from app.kbworker import KbWorker
from app.productpanel import ProductPanel
from app.productworker import ProductWorker
from app.queuemodel import LANG_SHORT, STATUS_NAMES, TicketQueueModel
from app.tasks import run_in_background
from app.worker import EngineWorker, OwnerThread
from core import settings as settings_mod
from core.catalog.policy import Mood
from core.catalog.recommend import Recommender
from core.drafting import DraftNotes, DraftResult
from core.engine import Engine, EngineInfo
from core.errors import KefuError
from core.inbox.queue import DraftSaveError, MemoryQueue, Queue, QueueFilter, StoreQueue
from core.kb.index import KnowledgeBase
from core.lang import LANG_NAMES
from core.models import discover, import_model
from core.paths import Workspace
from core.settings import Settings
from core.tickets import Ticket

log = logging.getLogger("kefu.app.window")

AUTOSAVE_MS = 800
SAVE_RETRY_MS = 5000     # after a failed save (a full disk), until it succeeds
SEARCH_DELAY_MS = 250
# Status filter choices: (label, statuses); "To answer" is where an agent works.
STATUS_CHOICES = (("To answer", ("new", "open")), ("All statuses", ()),
                  *((name, (key,)) for key, name in STATUS_NAMES.items()))


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{max(1, round(n / 1024))} KB"


def _local_time(iso: str) -> str:
    """A stored (UTC) time as the agent's clock shows it."""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


SENTENCE_COLOURS = {"escalation": "#fcd34d", "very_negative": "#fecaca",
                    "negative": "#fee2e2", "positive": "#dcfce7", "very_positive": "#bbf7d0"}
REASON_TEXT = {"regulator": "threatens a complaint to a regulator or consumer body",
               "chargeback": "threatens a payment dispute or chargeback",
               "public_review": "threatens a public bad review or social media",
               "legal": "mentions legal action", "repeated_contact": "has written several times",
               "cancellation": "threatens to leave the store"}


def why_of(sentence: dict) -> str:
    """The tooltip of a highlighted sentence: what the analyser saw in it."""
    parts = [f"Sentiment: {sentence['sentiment'].replace('_', ' ')}"]
    parts += [f"Escalation: the customer {REASON_TEXT.get(r, r)}"
              for r in sentence.get("reasons", ())]
    return "\n".join(parts)


def _highlighted(text: str, analysis: dict | None, n: int) -> str:
    """``text`` as HTML, its telling sentences marked (``kefu:why/N/I`` links carry the
    tooltip; the analyser gives each sentence's offsets in ``text``)."""
    if not analysis:
        return html.escape(text).replace("\n", "<br>")
    out, at = [], 0
    for i, sentence in enumerate(analysis.get("sentences", ())):
        start, end = sentence["start"], sentence["end"]
        if start < at or end > len(text) or text[start:end] != sentence["text"]:
            continue          # the text changed since it was analysed: leave it plain
        key = "escalation" if sentence.get("reasons") else sentence["sentiment"]
        colour = SENTENCE_COLOURS.get(key)
        if colour is None:
            continue
        out.append(html.escape(text[at:start]))
        out.append(f"<a href='kefu:why/{n}/{i}' style='background:{colour};color:#111111;"
                   f"text-decoration:none'>{html.escape(text[start:end])}</a>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out).replace("\n", "<br>")


def _badge(analysis: dict | None) -> str:
    if not analysis:
        return ""
    words = analysis["sentiment"].replace("_", " ")
    if analysis.get("escalation"):
        words += " · escalation: " + ", ".join(r.replace("_", " ") for r in analysis["reasons"])
    colour = SENTENCE_COLOURS.get("escalation" if analysis.get("escalation")
                                  else analysis["sentiment"], "#eeeeee")
    return (f" <span style='background:{colour};color:#111111'>&nbsp;{html.escape(words)}"
            f"&nbsp;</span>")


def thread_html(ticket: Ticket, *, expanded: frozenset[int] = frozenset()) -> str:
    """The thread as the agent reads it.  Everything the customer wrote is escaped text:
    no remote content, no live links.  Quoted history and signatures are folded; a
    "show" link (``kefu:quoted/N``) unfolds message N's.  Sentences that carry the
    customer's mood or an escalation threat are highlighted (``kefu:why/N/I``)."""
    parts = [f"<h3>{html.escape(ticket.subject or '(no subject)')}</h3>"]
    if ticket.customer_name:
        parts.append(f"<p style='color:#666'>{html.escape(ticket.customer_name)} · "
                     f"{html.escape(LANG_NAMES.get(ticket.language, ticket.language))}</p>")
    for n, message in enumerate(ticket.messages):
        customer = message.sender == "customer"
        who = html.escape(message.author) if message.author else \
            ("Customer" if customer else "Agent")
        colour = "#f4f6fb" if customer else "#eef8ef"
        when = f" <span style='color:#666'>{html.escape(_local_time(message.date))}</span>" \
            if message.date else ""
        body = _highlighted(message.text, message.analysis if customer else None, n)
        extra = ""
        for a in message.attachments:
            extra += (f"<br><span style='color:#444'>Attachment: "
                      f"{html.escape(str(a.get('filename')))} "
                      f"({_size(int(a.get('size') or 0))}, not opened)</span>")
        if message.quoted:
            if n in expanded:
                quoted = html.escape(message.quoted).replace("\n", "<br>")
                extra += (f"<br><a href='kefu:quoted/{n}'>hide quoted text</a>"
                          f"<br><span style='color:#777'>{quoted}</span>")
            else:
                lines = message.quoted.count("\n") + 1
                extra += (f"<br><a href='kefu:quoted/{n}'>… show quoted text and signature "
                          f"({lines} line{'s' if lines != 1 else ''})</a>")
        if message.notes:
            extra += f"<br><span style='color:#92400e'>{html.escape(message.notes)}</span>"
        parts.append(f"<table width='100%' cellpadding='8' style='background:{colour};"
                     f"margin-bottom:6px'><tr><td><b>{who}</b>{when}"
                     f"{_badge(message.analysis if customer else None)}<br>{body}{extra}"
                     f"</td></tr></table>")
    return "\n".join(parts)


class MainWindow(QMainWindow):
    # Emitted on the GUI thread once the window has handled the worker's report.
    model_loaded = Signal(object)        # EngineInfo
    model_load_failed = Signal(str)
    draft_finished = Signal(object)      # DraftResult
    draft_failed = Signal(str)
    kb_indexed = Signal(object)          # IndexSummary
    model_imported = Signal(str)
    mail_synced = Signal(int)       # messages stored by a background mail sync
    reply_sent = Signal(str)        # ticket id
    reply_failed = Signal(str, str)  # ticket id, why
    model_import_failed = Signal(str)
    analysed = Signal(list)         # ticket ids whose mood changed
    tickets_imported = Signal(object)  # ImportResult
    catalog_imported = Signal(str, object)  # "products" | "orders", ImportSummary
    products_shown = Signal(object)          # RecommendResult, for the open ticket

    def __init__(self, *, workspace: Workspace, settings: Settings,
                 tickets: list[Ticket] | Queue, engine_factory: Callable[[], Engine],
                 model_path: str | None,
                 kb_factory: Callable[[], KnowledgeBase] | None = None,
                 analyzer_factory: Callable[[], BatchAnalyzer] | None = None,
                 recommender_factory: Callable[[], Recommender] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Kefu Assist 客服助手")
        self.resize(1280, 800)
        self._workspace = workspace
        self._settings = settings
        self._model_path = model_path
        # The queue: the workspace's ticket store, or a list of tickets (the demo).
        self.queue = tickets if isinstance(tickets, Queue) else \
            MemoryQueue(list(tickets), workspace.drafts_file)
        self._mail = None               # the mailbox poller, when a mailbox is set up
        self._mailbox = None            # (account, password) for sending
        self._sending: set[str] = set()  # tickets whose reply is going out
        self._texts: dict[str, str] = {}       # composer text of each ticket opened
        self._saved: dict[str, str] = {}       # what the queue holds of those texts
        self._generated: dict[str, str] = {}   # the model's last draft of each ticket
        self._current: Ticket | None = None
        self._expanded: frozenset[int] = frozenset()   # unfolded quotes in the thread
        self._draft_error = False              # the last save failed (the note says so)
        self._dashboard = None
        self._request_id = 0
        self._stream_ticket: str | None = None
        self._stream_started = 0.0
        self._stream_chunks = 0
        self._first_token_at = 0.0
        self._last_speed_update = 0.0
        self._engine_info: EngineInfo | None = None
        self._closing = False

        self.queue_model = TicketQueueModel(self.queue)
        self._has_kb = kb_factory is not None
        self._has_products = recommender_factory is not None
        self._recommendation = None     # (ticket id, RecommendResult) for the open ticket
        self._product_request = 0
        self._build_ui()

        self.worker = EngineWorker(engine_factory, settings)
        self._thread = OwnerThread(self.worker, name="kefu-model")
        self.worker.load_started.connect(self._on_load_started)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.load_failed.connect(self._on_load_failed)
        self.worker.draft_notes.connect(self._on_notes)
        self.worker.prompt_progress.connect(self._on_prompt_progress)
        self.worker.tokens.connect(self._on_tokens)
        self.worker.draft_finished.connect(self._on_finished)
        self.worker.draft_failed.connect(self._on_failed)
        self.worker.translated.connect(self._on_translated)

        self.kb_worker: KbWorker | None = None
        self._kb_thread: OwnerThread | None = None
        if kb_factory is not None:
            self.kb_worker = KbWorker(kb_factory)
            self._kb_thread = OwnerThread(self.kb_worker, name="kefu-kb")
            self.kb_worker.search_done.connect(self._on_sources)
            self.kb_worker.translation_wanted.connect(self._on_translation_wanted)
            self.kb_worker.reindexing.connect(lambda n: self.show_note(
                f"Knowledge base: re-indexing {n} document{'s' if n != 1 else ''}, because "
                f"the embedding model changed or indexing was cut short."))
            self.kb_worker.summary.connect(self.kb_indexed)
            self.kb_worker.failed.connect(
                lambda m: self.show_note(f"Knowledge base: {m}", error=True))
        self._pending_ticket: Ticket | None = None
        # Search queries already translated (query -> translation), so Regenerate does not
        # translate again, which would also evict the draft's prompt from the model's cache.
        self._translations: dict[str, str] = {}

        # The analyser reads customer messages in the background, a batch at a time.
        self.analysis_worker: AnalysisWorker | None = None
        self._analysis_thread: OwnerThread | None = None
        self._analysing = False
        self._analysis_error = ""       # why the analyser is unavailable, once it failed
        if analyzer_factory is not None:
            self.analysis_worker = AnalysisWorker(analyzer_factory)
            self._analysis_thread = OwnerThread(self.analysis_worker, name="kefu-analysis")
            self.analysis_worker.done.connect(self._on_analysed)
            self.analysis_worker.failed.connect(self._on_analysis_failed)

        # The catalog: product suggestions and past orders beside the composer.
        self.product_worker: ProductWorker | None = None
        self._product_thread: OwnerThread | None = None
        if recommender_factory is not None:
            self.product_worker = ProductWorker(recommender_factory,
                                                currency=settings.catalog_currency)
            self._product_thread = OwnerThread(self.product_worker, name="kefu-products")
            self.product_worker.recommended.connect(self._on_recommended)
            self.product_worker.imported.connect(self._on_catalog_imported)
            self.product_worker.embed_progress.connect(self._on_products_embedded)
            self.product_worker.failed.connect(self._on_products_failed)

        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save_drafts)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        self._update_buttons()
        self.apply_filter()
        if self.queue_model.rowCount():
            self.queue_view.selectRow(0)
        QTimer.singleShot(0, self.pump_analysis)

    # ---- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        # Search and filters: all answered by the queue (SQL), never by reading every row.
        self.filter_edit = QLineEdit(placeholderText="Search the queue (Ctrl+F)…  搜索")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.filter_edit.returnPressed.connect(self.apply_filter)
        self.status_filter = QComboBox(toolTip="Status")
        for label, statuses in STATUS_CHOICES:
            self.status_filter.addItem(label, statuses)
        self.lang_filter = QComboBox(toolTip="Language")
        self.lang_filter.addItem("All languages", "")
        for code, name in LANG_SHORT.items():
            self.lang_filter.addItem(name, code)
        self.channel_filter = QComboBox(toolTip="Channel")
        self._fill_channels()
        self.mood_filter = QComboBox(toolTip="Mood (the analyser's)")
        for label, mood in (("All moods", ""), ("Escalations", "escalation"),
                            ("Negative", "negative")):
            self.mood_filter.addItem(label, mood)
        self.order_box = QComboBox(toolTip="Order")
        self.order_box.addItem("Longest waiting first", "waiting")
        self.order_box.addItem("Newest first", "updated")
        self.order_box.addItem("Highest risk first", "risk")
        for box in (self.status_filter, self.lang_filter, self.channel_filter,
                    self.mood_filter, self.order_box):
            box.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.count_label = QLabel()
        self.queue_view = QTableView()
        self.queue_view.setModel(self.queue_model)
        self.queue_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queue_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue_view.verticalHeader().hide()
        self.queue_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.queue_view.setWordWrap(False)
        # Fixed starting widths, not ResizeToContents: that reads every row, which a long
        # queue cannot afford.  The agent can drag them.
        header = self.queue_view.horizontalHeader()
        for column, width in enumerate((0, 96, 54, 36, 66, 58, 52)):
            if width:
                header.resizeSection(column, width)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        rows = self.queue_view.verticalHeader()
        rows.setDefaultSectionSize(self.queue_view.fontMetrics().height() + 8)
        self.queue_view.setAlternatingRowColors(True)
        self.queue_view.selectionModel().selectionChanged.connect(self._on_selection)
        self.queue_view.activated.connect(lambda _i: self.composer.setFocus())
        filters = QHBoxLayout()
        for box in (self.status_filter, self.lang_filter, self.channel_filter, self.mood_filter):
            filters.addWidget(box)
        filters.addStretch(1)
        orders = QHBoxLayout()
        orders.addWidget(self.order_box)
        orders.addStretch(1)
        orders.addWidget(self.count_label)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.filter_edit)
        lay.addLayout(filters)
        lay.addLayout(orders)
        lay.addWidget(self.queue_view)

        # Keyboard: the queue without leaving the composer.
        for keys, slot in (("Ctrl+F", self.focus_search), ("Alt+Down", self.next_ticket),
                           ("Alt+Up", self.previous_ticket),
                           ("Ctrl+L", lambda: self.queue_view.setFocus())):
            QShortcut(QKeySequence(keys), self, activated=slot)

        self.thread_view = QTextBrowser()
        self.thread_view.setOpenLinks(False)  # customer links are never followed
        self.thread_view.anchorClicked.connect(self._on_thread_link)
        self.thread_view.highlighted.connect(self._on_thread_hover)

        self.composer = QPlainTextEdit()
        self.composer.setPlaceholderText("Click Draft to write a reply with the local model, "
                                         "or type your own.  点击“Draft”生成回复草稿。")
        self.composer.textChanged.connect(self._on_composer_changed)
        self.note_label = QLabel(wordWrap=True)
        self.note_label.setStyleSheet("background:#fff6d6; padding:4px; border-radius:3px")
        self.note_label.hide()
        self.prompt_bar = QProgressBar(textVisible=True, maximumHeight=14)
        self.prompt_bar.setFormat("Reading the ticket… %p%")
        self.prompt_bar.hide()

        self.draft_button = QPushButton("Draft")
        self.regen_button = QPushButton("Regenerate")
        self.stop_button = QPushButton("Stop")
        self.copy_button = QPushButton("Copy")
        self.sent_button = QPushButton("Mark as sent")
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send this reply to the customer from the store's "
                                    "mailbox, in the customer's thread")
        self.send_button.hide()         # shown once a mailbox is set up
        self.draft_button.setToolTip("Draft a reply with the local model (Ctrl+Return)")
        self.draft_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.stop_button.setShortcut(QKeySequence("Escape"))
        self.sent_button.setToolTip("Record that you sent this reply yourself. "
                                    "Kefu never sends anything on its own.")
        self.draft_button.clicked.connect(lambda: self.start_draft(regenerate=False))
        self.regen_button.clicked.connect(lambda: self.start_draft(regenerate=True))
        self.stop_button.clicked.connect(self.stop_draft)
        self.copy_button.clicked.connect(self.copy_draft)
        self.sent_button.clicked.connect(self.mark_sent)
        self.send_button.clicked.connect(self.send_reply)
        buttons = QHBoxLayout()
        for b in (self.draft_button, self.regen_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.sent_button)
        buttons.addWidget(self.send_button)

        self.sources_list = QListWidget()
        self.sources_list.setMaximumHeight(110)
        self.sources_list.itemDoubleClicked.connect(self._open_source)
        self.sources_box = QWidget()
        slay = QVBoxLayout(self.sources_box)
        slay.setContentsMargins(0, 0, 0, 0)
        slay.addWidget(QLabel("Sources · 引用来源 (bold: cited in the draft; double-click "
                              "opens the document)"))
        slay.addWidget(self.sources_list)
        self.sources_box.hide()
        self._sources: list = []

        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(QLabel("<b>Draft reply</b> · 回复草稿"))
        rlay.addWidget(self.prompt_bar)
        rlay.addWidget(self.composer, 1)
        rlay.addWidget(self.sources_box)
        rlay.addWidget(self.note_label)
        rlay.addLayout(buttons)

        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.thread_view)
        middle.addWidget(right)
        middle.setSizes([420, 380])
        self.product_panel = ProductPanel()
        self.product_panel.insert_requested.connect(self.insert_product)
        self.product_panel.setVisible(self._has_products)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(middle)
        splitter.addWidget(self.product_panel)
        splitter.setSizes([480, 560, 240] if self._has_products else [540, 740, 0])
        self.setCentralWidget(splitter)

        self.model_label = QLabel("Model: not loaded")
        self.device_label = QLabel("")
        self.speed_label = QLabel("")
        self.load_bar = QProgressBar(maximumWidth=160, maximumHeight=14)
        self.load_bar.setRange(0, 0)  # busy until the model reports ready
        self.load_bar.hide()
        status = self.statusBar()
        status.addWidget(self.model_label)
        status.addWidget(self.device_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.load_bar)

        file_menu = self.menuBar().addMenu("&File")
        settings_action = QAction("Settings…", self,
                                  shortcut=QKeySequence.StandardKey.Preferences)
        settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(settings_action)
        import_tickets_action = QAction("Import tickets…", self)
        import_tickets_action.setToolTip("Import .eml, .mbox and helpdesk exports (.json, "
                                         ".jsonl, .csv) into the ticket store")
        import_tickets_action.triggered.connect(self._ask_import_tickets)
        file_menu.addAction(import_tickets_action)
        if self._has_products:
            for kind, label in (("products", "Import products…"), ("orders", "Import orders…")):
                action = QAction(label, self)
                action.setToolTip("A Shopify CSV export, or a CSV/JSON file with named columns")
                action.triggered.connect(lambda _c=False, k=kind: self._ask_import_catalog(k))
                file_menu.addAction(action)
        account_action = QAction("Mail account…", self)
        account_action.triggered.connect(self.open_account)
        file_menu.addAction(account_action)
        quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.model_menu = self.menuBar().addMenu("&Model")
        self.use_model_menu = self.model_menu.addMenu("Use model")
        self.use_model_menu.aboutToShow.connect(self._fill_model_menu)
        supervisor_menu = self.menuBar().addMenu("&Supervisor")
        dashboard_action = QAction("Dashboard…", self, shortcut=QKeySequence("Ctrl+Shift+D"))
        dashboard_action.triggered.connect(self.open_dashboard)
        supervisor_menu.addAction(dashboard_action)
        kb_menu = self.menuBar().addMenu("&Knowledge")
        kb_action = QAction("Knowledge base…", self)
        kb_action.triggered.connect(self.open_kb_dialog)
        kb_action.setEnabled(self._has_kb)
        kb_menu.addAction(kb_action)
        import_action = QAction("Import GGUF file…", self)
        import_action.triggered.connect(self._ask_import_model)
        self.model_menu.addAction(import_action)

    @property
    def settings(self) -> Settings:
        return self._settings

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings for the next draft (the loaded model stays as it is)."""
        self._settings = settings
        self.worker.set_settings(settings)

    # ---- model --------------------------------------------------------------------------
    def start_loading(self) -> None:
        if not self._model_path:
            return
        self.load_bar.show()
        self.worker.request_load.emit(self._model_path)

    def _on_load_started(self, what: str) -> None:
        self.model_label.setText(what)
        self.load_bar.show()

    def _on_loaded(self, info: EngineInfo) -> None:
        self._engine_info = info
        self.load_bar.hide()
        self.model_label.setText(f"Model: {info.model_name} ({info.quantization}, "
                                 f"context {info.n_ctx})")
        device = f"Device: {info.device}"
        if info.n_gpu_layers == 0 and "no GPU backend" in info.offload_reason:
            device += " · no GPU backend in this llama.cpp build"
        self.device_label.setText(device)
        self.device_label.setToolTip(info.offload_reason)
        self._update_buttons()
        if self.kb_worker is not None:
            self.kb_worker.request_warmup.emit()
        self.model_loaded.emit(info)

    def _on_load_failed(self, message: str) -> None:
        self.load_bar.hide()
        self.model_label.setText("Model: not loaded")
        self.show_note(f"The model could not be loaded. {message}", error=True)
        self._update_buttons()
        self.model_load_failed.emit(message)

    def _fill_model_menu(self) -> None:
        self.use_model_menu.clear()
        entries = discover(self._workspace)
        if not entries:
            action = self.use_model_menu.addAction("No models found")
            action.setEnabled(False)
        for entry in entries:
            label = entry.path.name if entry.usable else f"{entry.path.name} (unusable)"
            action = self.use_model_menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(str(entry.path) == self._model_path)
            action.setEnabled(entry.usable and not self.busy)
            action.setToolTip(entry.error or str(entry.path))
            action.triggered.connect(lambda _=False, p=str(entry.path): self.use_model(p))

    def open_kb_dialog(self) -> None:
        from app.kbdialog import KbDialog

        if self.kb_worker is None:
            return
        dialog = KbDialog(self.kb_worker, self)
        dialog.exec()

    def open_dashboard(self):
        """The supervisor's view of the queue's mood (non-modal: it stays beside the
        window); returns the dialog."""
        from app.dashboard import Dashboard

        if self._dashboard is None:
            self._dashboard = Dashboard(self.queue, self)
        else:
            self._dashboard.refresh()
        self._dashboard.show()
        self._dashboard.raise_()
        return self._dashboard

    def open_settings(self) -> None:
        from app.settingsdialog import SettingsDialog

        dialog = SettingsDialog(self._settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            self.save_settings(dialog.result_settings, reload=dialog.needs_reload())

    def _ask_import_tickets(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import tickets", "", "Mail and helpdesk exports (*.eml *.mbox *.mbx *.json "
            "*.jsonl *.csv);;All files (*)")
        if paths:
            self.import_tickets([Path(p) for p in paths])

    def import_tickets(self, paths: list[Path]) -> None:
        """Import files into the ticket store in the background (its own connection);
        the queue shows them when done, and a note says what was imported and what not."""
        from core.inbox.importers import import_files
        from core.inbox.store import TicketStore

        db = self._workspace.tickets_db

        def job():
            store = TicketStore(db)
            try:
                return import_files(store, paths)
            finally:
                store.close()

        self.statusBar().showMessage(f"Importing {len(paths)} file"
                                     f"{'s' if len(paths) != 1 else ''}…")
        run_in_background(job, parent=self, on_done=self._on_tickets_imported,
                          on_error=lambda why: self.show_note(
                              f"The tickets were not imported: {why}", error=True))

    def _on_tickets_imported(self, result) -> None:
        self.statusBar().clearMessage()
        summary = (f"Imported {result.messages} message{'s' if result.messages != 1 else ''} "
                   f"({result.tickets} new ticket{'s' if result.tickets != 1 else ''}); "
                   f"{result.duplicates} already there.")
        if result.errors:
            first = result.errors[0]
            summary += (f" {len(result.errors)} could not be read, first: "
                        f"{first['source']}: {first['error']}")
        if result.messages:
            if self.queue.can_send:
                self.reload_queue()
            else:                       # the demo queue gives way to real tickets
                self.use_queue(StoreQueue(self._workspace.tickets_db))
            QTimer.singleShot(0, self.pump_analysis)
        self.show_note(summary, error=bool(result.errors))   # after the queue is shown
        self.tickets_imported.emit(result)

    def open_account(self) -> None:
        from app.accountdialog import AccountDialog

        dialog = AccountDialog(self._settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            self.save_settings(dialog.result_settings, reload=False)
            self.connect_mailbox(dialog.password)

    def connect_mailbox(self, password: str | None) -> None:
        """Check the mailbox of the current settings with ``password`` (from the keyring),
        or stop checking when no mailbox is set up."""
        from core.inbox.mailclient import MailAccount

        settings = self._settings
        if not (settings.mail_address and settings.imap_host):
            if self._mail is not None:
                self._mail.stop()
                self._mail = None
            self._mailbox = None
            self.send_button.hide()
            self._update_buttons()
            return
        if not password:
            self.show_note("The mailbox is not being checked: its password is not in the OS "
                           "keyring (File › Mail account).", error=True)
            return
        try:
            account = MailAccount.from_settings(settings)
        except KefuError as exc:
            self.show_note(str(exc), error=True)
            return
        if not self.queue.can_send:       # mail goes to the store: work from it
            self.use_queue(StoreQueue(self._workspace.tickets_db))
        self.start_mail(account, password, interval=settings.mail_poll_seconds)
        self.statusBar().showMessage(f"Checking {account.address} every "
                                     f"{settings.mail_poll_seconds} s", 5000)

    def save_settings(self, settings: Settings, *, reload: bool) -> None:
        self.apply_settings(settings)
        try:
            settings_mod.save(self._workspace.settings_file, settings)
        except OSError as exc:
            self.show_note(f"Settings could not be saved ({exc.strerror}); they apply until "
                           f"you quit.", error=True)
        if reload and self._model_path and not self.busy:
            self._model_path = settings.model_path or self._model_path
            self._engine_info = None
            self._update_buttons()
            self.start_loading()

    def use_model(self, path: str) -> None:
        """Switch to another GGUF: remember it in settings and load it."""
        if self.busy:
            return
        self._model_path = path
        self.save_settings(self._settings.replace(model_path=path), reload=True)

    def _ask_import_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.import_model_file(path)

    def offer_first_run(self) -> FirstRunDialog:
        """No model is installed: ask for a GGUF file (the lean installer's first run)."""
        dialog = FirstRunDialog(models_dir=self._workspace.models_dir, parent=self)
        dialog.model_chosen.connect(self.import_model_file)
        dialog.open()
        self.first_run_dialog = dialog
        return dialog

    def import_model_file(self, path: str) -> None:
        """Copy and verify ``path`` in the background, then switch to it."""
        self.statusBar().showMessage(f"Importing {Path(path).name}…")
        workspace = self._workspace
        run_in_background(lambda: import_model(Path(path), workspace),
                          on_done=self._on_imported, on_error=self._on_import_failed,
                          parent=self)

    def _on_imported(self, entry) -> None:
        self.statusBar().showMessage(f"Imported {entry.path.name}", 5000)
        self.model_imported.emit(str(entry.path))
        self.use_model(str(entry.path))

    def _on_import_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self.show_note(f"The model was not imported. {message}", error=True)
        self.model_import_failed.emit(message)

    @property
    def model_ready(self) -> bool:
        return self._engine_info is not None

    @property
    def busy(self) -> bool:
        return self._stream_ticket is not None

    # ---- queue and composer ---------------------------------------------------------------
    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        ticket_id = self.queue_model.ticket_id(indexes[0].row())
        if self._current is not None and self._current.id == ticket_id:
            return        # the same ticket selected again after the queue was re-read
        self.open_ticket(ticket_id)

    def open_ticket(self, ticket_id: str) -> None:
        """Show ``ticket_id``'s thread and its saved draft, and mark it read."""
        try:
            ticket = self.queue.ticket(ticket_id)
            self.queue.mark_read(ticket_id)
        except (KefuError, OSError, ValueError) as exc:
            self.show_note(f"Ticket {ticket_id} could not be opened: {exc}", error=True)
            return
        self.queue_model.update_row(ticket_id)
        self.show_ticket(ticket)

    def current_filter(self) -> QueueFilter:
        return QueueFilter(status=tuple(self.status_filter.currentData() or ()),
                           lang=self.lang_filter.currentData() or "",
                           channel=self.channel_filter.currentData() or "",
                           search=self.filter_edit.text().strip(),
                           order=self.order_box.currentData() or "waiting",
                           mood=self.mood_filter.currentData() or "")

    def apply_filter(self) -> None:
        """Read the queue again with the filters shown; the open ticket stays open (and
        selected if it still passes)."""
        self._search_timer.stop()
        try:
            self.queue_model.refresh(self.current_filter())
        except (KefuError, OSError, ValueError) as exc:
            self.show_note(f"The queue could not be read: {exc}", error=True)
        self._reselect_current()
        rows = self.queue_model.rowCount()
        self.count_label.setText(f"{rows:,} ticket{'s' if rows != 1 else ''}")

    def _reselect_current(self) -> None:
        if self._current is None:
            return
        row = self.queue_model.row_of(self._current.id)
        if row is not None:
            self.queue_view.selectRow(row)
            self.queue_view.scrollTo(self.queue_model.index(row, 0))

    def focus_search(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def next_ticket(self) -> None:
        self._step(+1)

    def previous_ticket(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        rows = self.queue_model.rowCount()
        if not rows:
            return
        current = self.queue_view.currentIndex()
        row = current.row() + delta if current.isValid() else 0
        row = min(max(row, 0), rows - 1)
        self.queue_view.selectRow(row)
        self.queue_view.scrollTo(self.queue_model.index(row, 0))

    def _on_thread_link(self, url: QUrl) -> None:
        """Only our own links do anything; a customer's link is never followed."""
        if url.scheme() == "kefu" and url.path().startswith("quoted/") \
                and self._current is not None:
            n = int(url.path().split("/", 1)[1] or -1)
            self._expanded = self._expanded ^ {n}
            self._render_thread()

    def _on_thread_hover(self, url: QUrl) -> None:
        """A highlighted sentence under the pointer: say why it is highlighted."""
        if url.scheme() != "kefu" or not url.path().startswith("why/") \
                or self._current is None:
            QToolTip.hideText()
            return
        try:
            _, n, i = url.path().split("/")
            sentence = self._current.messages[int(n)].analysis["sentences"][int(i)]
        except (ValueError, IndexError, KeyError, TypeError):
            return
        QToolTip.showText(QCursor.pos(), why_of(sentence), self.thread_view)

    # ---- analysis ----------------------------------------------------------------------
    def pump_analysis(self) -> None:
        """Send the next batch of customer messages the analyser has not read to it."""
        if self.analysis_worker is None or self._analysing or self._closing:
            return
        try:
            items = self.queue.unanalysed(32)
        except (KefuError, OSError) as exc:
            log.error("Cannot read messages to analyse: %s", exc)
            return
        if items:
            self._analysing = True
            self.analysis_worker.request.emit(items)

    def _on_analysed(self, results: list) -> None:
        self._analysing = False
        self._analysis_error = ""
        try:
            changed = self.queue.save_analysis(results)
        except (KefuError, OSError) as exc:
            self.statusBar().showMessage(f"Analysis results could not be kept: {exc}", 10000)
            return
        for ticket_id in changed:
            self.queue_model.update_row(ticket_id)
        if self._current is not None and self._current.id in changed:
            try:
                self._current = self.queue.ticket(self._current.id)
                self._render_thread()
                self._note_escalation(self._current)
                self.suggest_products()
            except (KefuError, OSError, ValueError):
                pass
        self.analysed.emit(sorted(changed))
        self.pump_analysis()

    def _on_analysis_failed(self, message: str) -> None:
        self._analysing = False
        self._analysis_error = message
        self.suggest_products()
        self.statusBar().showMessage(f"Sentiment analysis is unavailable: {message}", 15000)

    def _render_thread(self) -> None:
        bar = self.thread_view.verticalScrollBar()
        position = bar.value()
        self.thread_view.setHtml(thread_html(self._current, expanded=self._expanded))
        bar.setValue(position)

    # ---- the mailbox ---------------------------------------------------------------------
    def start_mail(self, account, password: str, *, interval: float, backoff=None) -> None:
        """Poll the mailbox in the background; new mail joins the queue."""
        from app.mailpoller import MailPoller

        if self._mail is not None:          # the account changed: stop the old poller
            self._mail.stop()
        self._mailbox = (account, password)
        self.send_button.show()
        self._update_buttons()
        self._mail = MailPoller(self._workspace.tickets_db, account, password,
                                interval=interval, backoff=backoff)
        self._mail.synced.connect(self._on_mail_synced)
        self._mail.failed.connect(self._on_mail_failed)
        self._mail.start()

    def send_reply(self) -> None:
        """Send the composer's text to the customer: only ever from this click.  A reply
        whose send failed is retried as the same message, never queued a second time."""
        if self._current is None or self.busy or self._mailbox is None \
                or not self.queue.can_send or self._current.id in self._sending:
            return
        import sqlite3

        from core.inbox.mailclient import send_reply
        from core.inbox.store import TicketStore

        account, password = self._mailbox
        ticket_id, text = self._current.id, self.composer.toPlainText()
        store = self.queue.store
        db = store.path
        if not self.save_drafts():
            return      # the note says why; nothing is queued that is not kept
        try:
            failed = [e for e in store.outbox(statuses=("failed",))
                      if e["ticket_id"] == int(ticket_id) and e["text"] == text]
            box = failed[0]["id"] if failed else store.queue_reply(
                int(ticket_id), text, actor=self._settings.agent_name or account.username,
                from_domain=account.address.rpartition("@")[2])
        except (KefuError, sqlite3.Error) as exc:
            self.show_note(f"The reply could not be queued: {exc}", error=True)
            return
        self._sending.add(ticket_id)
        self._update_buttons()
        self.statusBar().showMessage("Sending…")

        def job() -> str:
            own = TicketStore(db)   # this thread's own connection
            try:
                return send_reply(own, box, account, password)
            finally:
                own.close()

        run_in_background(job, parent=self,
                          on_done=lambda result: self._on_reply_sent(ticket_id, result),
                          on_error=lambda why: self._on_reply_failed(ticket_id, why))

    def _on_reply_sent(self, ticket_id: str, result: str) -> None:
        self._sending.discard(ticket_id)
        self._after_reply(ticket_id)
        self.statusBar().showMessage("Reply sent" if result == "sent" else
                                     "That reply had already been sent", 5000)
        self._update_buttons()
        self.reply_sent.emit(ticket_id)

    def _on_reply_failed(self, ticket_id: str, why: str) -> None:
        self._sending.discard(ticket_id)
        self.statusBar().clearMessage()
        self.show_note(f"{why} Your text is kept; Send again to retry.", error=True)
        self._update_buttons()
        self.reply_failed.emit(ticket_id, why)

    def _on_mail_synced(self, count: int) -> None:
        if count:
            QTimer.singleShot(0, self.pump_analysis)
        if count and not self.queue.can_send:   # the demo queue gives way to real mail
            self.use_queue(StoreQueue(self._workspace.tickets_db))
        elif count:
            self.reload_queue()
            self.statusBar().showMessage(
                f"{count} new message{'s' if count != 1 else ''} from the mailbox", 10000)
        self.mail_synced.emit(count)

    def _on_mail_failed(self, message: str, retry_in: float) -> None:
        self.statusBar().showMessage(f"Mail: {message} Next try in {retry_in:.0f} s.")

    def reload_queue(self) -> None:
        """Read the queue again (new mail), keeping the open ticket open; its thread is
        shown again if new messages joined it."""
        self._fill_channels()
        self.apply_filter()
        if self._current is None and self.queue_model.rowCount():
            self.queue_view.selectRow(0)      # the first mail into an empty queue
        elif self._current is not None:
            try:
                fresh = self.queue.ticket(self._current.id)
            except (KefuError, OSError, ValueError):
                return
            if fresh.messages != self._current.messages:
                self._current = fresh
                self._render_thread()

    def use_queue(self, queue: Queue) -> None:
        """Work from another queue (the store, once real mail arrives in the demo)."""
        self.save_drafts()
        old, self.queue = self.queue, queue
        self._texts.clear()
        self._saved.clear()
        self._generated.clear()
        self._current = None
        self.queue_model.set_queue(queue)
        old.close()
        self._fill_channels()
        self.apply_filter()
        if self.queue_model.rowCount():
            self.queue_view.selectRow(0)
        self._update_buttons()
        QTimer.singleShot(0, self.pump_analysis)

    def _fill_channels(self) -> None:
        """The channel filter's choices: the queue's channels, the current one kept."""
        box = self.channel_filter
        chosen = box.currentData() or ""
        box.blockSignals(True)
        box.clear()
        box.addItem("All channels", "")
        for channel in self.queue.channels():
            box.addItem(channel.capitalize(), channel)
        box.setCurrentIndex(max(0, box.findData(chosen)))
        box.blockSignals(False)

    def _saved_text(self, ticket_id: str) -> str:
        """The composer text of ``ticket_id``: this session's, else the one kept."""
        if ticket_id not in self._texts:
            try:
                saved = self.queue.draft(ticket_id)
            except (KefuError, OSError, ValueError) as exc:
                self.show_note(f"The saved draft could not be read: {exc}", error=True)
                saved = None
            text, generated = saved if saved else ("", "")
            self._texts[ticket_id] = self._saved[ticket_id] = text
            if generated:
                self._generated.setdefault(ticket_id, generated)
        return self._texts[ticket_id]

    def show_ticket(self, ticket: Ticket) -> None:
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
        same = self._current is not None and self._current.id == ticket.id
        self._current = ticket
        if not same:
            self._expanded = frozenset()
        self._render_thread()
        self.composer.blockSignals(True)
        self.composer.setPlainText(self._saved_text(ticket.id))
        self.composer.blockSignals(False)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.hide_note()
        self._note_escalation(ticket)
        if not same or self._recommendation is None:
            self.suggest_products()
        self._update_buttons()

    # ---- products -------------------------------------------------------------------------
    def suggest_products(self) -> None:
        """Ask the catalog worker for products for the open ticket.  With an analyser,
        only once the ticket is analysed: its mood decides whether to suggest at all."""
        ticket = self._current
        if self.product_worker is None or ticket is None:
            return
        self._recommendation = None
        if self._settings.product_suggestions == 0:
            self.product_panel.show_status("Product suggestions are off (Settings).")
            return
        last = ticket.last_customer_message
        analysis = last.analysis if last is not None else None
        if analysis is None and self.analysis_worker is not None and last is not None:
            # The mood decides whether suggesting is decent at all: never guess it.
            self.product_panel.show_status(
                f"No suggestions: the ticket's mood is unknown ({self._analysis_error})."
                if self._analysis_error else "Suggestions follow once this ticket is "
                                             "analysed…")
            return
        self._product_request += 1
        self.product_panel.show_status("Finding products…", keep_orders=True)
        self.product_worker.request_recommend.emit(
            self._product_request, ticket, Mood.from_analysis(analysis),
            self._settings.product_suggestions)

    def _on_products_failed(self, message: str) -> None:
        self.product_panel.show_status(f"Product catalog unavailable: {message}",
                                       keep_orders=True)
        self.show_note(f"Product catalog: {message}", error=True)

    def _on_recommended(self, request_id: int, result) -> None:
        if request_id != self._product_request or self._current is None:
            return                      # an older ticket's answer
        self._recommendation = (self._current.id, result)
        self.product_panel.show_result(result)
        self.products_shown.emit(result)

    @property
    def product_result(self):
        """The suggestions shown for the open ticket (a RecommendResult), or None."""
        if self._recommendation is None or self._current is None \
                or self._recommendation[0] != self._current.id:
            return None
        return self._recommendation[1]

    def insert_product(self, rec) -> None:
        """Put the product's line into the reply at the cursor (one undoable edit)."""
        lang = self._current.language if self._current is not None else "en"
        cursor = self.composer.textCursor()
        before = cursor.block().text()[:cursor.positionInBlock()]
        text = rec.line(lang)
        if before.strip():
            text = " " + text
        cursor.insertText(text)
        self.composer.setTextCursor(cursor)
        self.composer.setFocus()

    def draft_product(self) -> str:
        """The product line the draft may mention: only with the setting on, and only when
        the recommender found something for this conversation (never when it withheld)."""
        result = self.product_result
        if not self._settings.draft_mentions_product or result is None or result.withheld \
                or not result.products:
            return ""
        return result.products[0].prompt_line(self._current.language)

    def _ask_import_catalog(self, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"Import {kind}", "", "Catalog and order exports (*.csv *.json *.jsonl "
            "*.txt);;All files (*)")
        if path:
            self.import_catalog(kind, Path(path))

    def import_catalog(self, kind: str, path: Path) -> None:
        if self.product_worker is None:
            return
        self.statusBar().showMessage(f"Importing {kind} from {path.name}…")
        self.product_worker.request_import.emit(kind, str(path))

    def _on_catalog_imported(self, kind: str, summary) -> None:
        self.statusBar().clearMessage()
        parts = [f"{summary.imported} new", f"{summary.updated} updated",
                 f"{summary.unchanged} unchanged"]
        text = (f"Imported {kind} from {Path(summary.file).name}: {', '.join(parts)}"
                + (f"; {len(summary.skipped)} rows skipped (first: "
                   f"{summary.skipped[0].where}: {summary.skipped[0].reason})"
                   if summary.skipped else "") + ".")
        for warning in summary.warnings:
            text += f" Note: {warning}."
        self.show_note(text, error=bool(summary.skipped) and not summary.kept)
        self.catalog_imported.emit(kind, summary)
        if kind == "orders":
            self.suggest_products()

    def _on_products_embedded(self, done: int, total: int) -> None:
        self.product_panel.show_embedding(done, total)
        if done >= total:
            self.suggest_products()

    def _note_escalation(self, ticket: Ticket) -> None:
        """An escalated ticket says so above the composer, with the reasons."""
        last = ticket.last_customer_message
        analysis = last.analysis if last is not None else None
        if analysis and analysis.get("escalation"):
            reasons = "; ".join(REASON_TEXT.get(r, r) for r in analysis.get("reasons", ()))
            self.show_note(f"Escalation risk: the customer {reasons}. Consider handing this "
                           f"ticket to a supervisor; the draft will stay calm and promise "
                           f"nothing beyond the store's policies.")

    @property
    def current_ticket(self) -> Ticket | None:
        return self._current

    def _on_composer_changed(self) -> None:
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
            self._autosave.start(AUTOSAVE_MS)
        self._update_buttons()

    def save_drafts(self) -> bool:
        """Keep every composer text that changed since it was last kept.  On failure (a
        full disk) the texts stay here, the agent is told, and it is tried again every few
        seconds; True when everything is kept."""
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
        changed = {tid: (text, self._generated.get(tid))
                   for tid, text in self._texts.items() if self._saved.get(tid, "") != text}
        if not changed:
            return True
        try:
            self.queue.save_drafts(changed)
        except DraftSaveError as exc:
            log.error("Could not save drafts: %s", exc)
            self.show_note(str(exc), error=True)
            self._draft_error = True
            if not self._closing:
                self._autosave.start(SAVE_RETRY_MS)
            return False
        for tid, (text, _generated) in changed.items():
            self._saved[tid] = text
        if self._draft_error:
            self._draft_error = False
            self.hide_note()
            self.statusBar().showMessage("Drafts saved", 3000)
        return True

    def _update_buttons(self) -> None:
        has_ticket = self._current is not None
        text = self.composer.toPlainText().strip() if has_ticket else ""
        self.draft_button.setEnabled(self.model_ready and has_ticket and not self.busy)
        self.regen_button.setEnabled(self.model_ready and has_ticket and not self.busy
                                     and self._current.id in self._generated)
        self.stop_button.setEnabled(self.busy)
        self.copy_button.setEnabled(bool(text))
        self.sent_button.setEnabled(bool(text) and not self.busy)
        self.send_button.setEnabled(bool(text) and not self.busy and self._mailbox is not None
                                    and has_ticket and self.queue.can_send
                                    and self._current.id not in self._sending)

    def show_note(self, text: str, *, error: bool = False) -> None:
        colour = "#fde2e1" if error else "#fff6d6"
        self.note_label.setStyleSheet(f"background:{colour}; padding:4px; border-radius:3px")
        self.note_label.setText(text)
        self.note_label.show()

    def hide_note(self) -> None:
        self.note_label.hide()
        self.note_label.clear()

    # ---- drafting -----------------------------------------------------------------------
    def start_draft(self, *, regenerate: bool = False) -> None:
        if self.busy or self._current is None or not self.model_ready:
            return
        ticket = self._current
        self.worker.stop_flag.clear()
        self._request_id += 1
        self._stream_ticket = ticket.id
        self._stream_started = time.perf_counter()
        self._stream_chunks = 0
        self._first_token_at = time.perf_counter()
        self._last_speed_update = time.perf_counter()
        self.hide_note()
        # Replace the composer's text as one undoable edit: Ctrl+Z brings it back.
        cursor = self.composer.textCursor()
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.removeSelectedText()
        cursor.endEditBlock()
        self.prompt_bar.setRange(0, 0)
        self.prompt_bar.show()
        self._update_buttons()
        self.sources_list.clear()
        if self.kb_worker is not None and self._settings.kb_results > 0:
            self.speed_label.setText("Searching the knowledge base…")
            self._pending_ticket = ticket
            self.kb_worker.request_search.emit(
                self._request_id, ticket, self._settings.kb_results,
                None if self._settings.kb_translate else "")
        else:
            self._send_draft(ticket, None)

    def _on_sources(self, request_id: int, sources) -> None:
        if self._stale(request_id) or self._pending_ticket is None:
            return
        ticket = self._pending_ticket
        if self.worker.stop_flag.is_set():  # Stop pressed while searching
            self._drop_pending()
            return
        self._pending_ticket = None
        self._send_draft(ticket, sources)

    def _on_translation_wanted(self, request_id: int, query: str, target: str) -> None:
        if self._stale(request_id) or self._pending_ticket is None:
            return
        if query in self._translations:
            self.kb_worker.request_search.emit(request_id, self._pending_ticket,
                                               self._settings.kb_results,
                                               self._translations[query])
            return
        self.speed_label.setText("Translating the question to search the "
                                 + ("English" if target == "en" else "Chinese")
                                 + " passages…")
        self.worker.request_translate.emit(request_id, query, target)

    def _on_translated(self, request_id: int, query: str, translated: str) -> None:
        if self._stale(request_id) or self._pending_ticket is None:
            return
        if self.worker.stop_flag.is_set():  # Stop pressed while translating
            self._drop_pending()
            return
        if len(self._translations) >= 200:
            self._translations.pop(next(iter(self._translations)))
        self._translations[query] = translated
        self.speed_label.setText("Searching the knowledge base…")
        self.kb_worker.request_search.emit(request_id, self._pending_ticket,
                                           self._settings.kb_results, translated)

    def _send_draft(self, ticket: Ticket, sources) -> None:
        self._sources = list(sources or [])
        for source in self._sources:
            name = source.source.replace("\\", "/").rsplit("/", 1)[-1]
            item = QListWidgetItem(f"[{source.number}] {name}"
                                   + (f" › {source.headings}" if source.headings else ""))
            item.setToolTip(source.text)
            item.setData(Qt.ItemDataRole.UserRole, source)
            self.sources_list.addItem(item)
        self.sources_box.setVisible(bool(self._sources))
        self.speed_label.setText("Reading the ticket…")
        self.worker.request_draft.emit(self._request_id, ticket, sources, self.draft_product())

    def stop_draft(self) -> None:
        self.worker.stop_flag.set()
        if self._pending_ticket is not None:  # still searching: nothing reached the model
            self._drop_pending()

    def _drop_pending(self) -> None:
        """End a draft that was still searching or translating: nothing reached the model."""
        self._pending_ticket = None
        self._end_stream()
        self.speed_label.setText("")

    def _stale(self, request_id: int) -> bool:
        return request_id != self._request_id or self._stream_ticket is None

    def _on_notes(self, request_id: int, notes: DraftNotes) -> None:
        if self._stale(request_id):
            return
        if notes.notes:
            self.show_note(" ".join(notes.notes))

    def _on_prompt_progress(self, request_id: int, done: int, total: int) -> None:
        if self._stale(request_id):
            return
        self.prompt_bar.setRange(0, max(total, 1))
        self.prompt_bar.setValue(done)

    def _on_tokens(self, request_id: int, text: str, count: int) -> None:
        if self._stale(request_id):
            return
        self.prompt_bar.hide()
        if self._stream_chunks == 0:
            self._first_token_at = time.perf_counter()
        self._stream_chunks += 1
        if self._current is not None and self._current.id == self._stream_ticket:
            cursor = QTextCursor(self.composer.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text)
        else:
            self._texts[self._stream_ticket] = self._texts.get(self._stream_ticket, "") + text
        now = time.perf_counter()
        if now - self._last_speed_update >= 1.0:  # at most once a second
            self._last_speed_update = now
            elapsed = now - self._first_token_at
            rate = f"{count / elapsed:.1f} tokens/s" if elapsed > 0.2 else "…"
            self.speed_label.setText(f"Drafting · {rate}")

    def _end_stream(self) -> str | None:
        ticket_id = self._stream_ticket
        self._stream_ticket = None
        self.prompt_bar.hide()
        self._update_buttons()
        return ticket_id

    def _on_finished(self, request_id: int, result: DraftResult) -> None:
        if self._stale(request_id):
            return
        ticket_id = self._end_stream()
        self._generated[ticket_id] = result.text
        self.speed_label.setText(f"{result.tokens_per_second:.1f} tokens/s · {result.tokens} "
                                 f"tokens · first token {result.first_token_seconds:.1f}s")
        cited = {c.number for c in result.citations}
        for row in range(self.sources_list.count()):
            item = self.sources_list.item(row)
            font = item.font()
            font.setBold(item.data(Qt.ItemDataRole.UserRole).number in cited)
            item.setFont(font)
        notes = list(result.notes)
        if result.unsupported:
            notes.append("Check these figures before sending; no cited passage states them: "
                         + ", ".join(result.unsupported) + ".")
        if result.stop_reason == "cancelled":
            notes.append("Stopped. The partial draft is kept; edit it or Regenerate.")
        if notes:
            self.show_note(" ".join(notes))
        self._update_buttons()
        self.save_drafts()
        self.draft_finished.emit(result)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._stale(request_id):
            return
        self._end_stream()
        self.speed_label.setText("")
        self.show_note(f"The draft failed: {message}", error=True)
        self.save_drafts()
        self.draft_failed.emit(message)

    def _open_source(self, item: QListWidgetItem) -> None:
        source = item.data(Qt.ItemDataRole.UserRole)
        path = source.source.split("#", 1)[0]
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def copy_draft(self) -> None:
        QGuiApplication.clipboard().setText(self.composer.toPlainText())
        self.statusBar().showMessage("Draft copied to the clipboard", 3000)

    def mark_sent(self) -> None:
        """The agent sent this text themselves (pasted it into a helpdesk): record it."""
        if self._current is None or self.busy:
            return
        ticket_id, text = self._current.id, self.composer.toPlainText()
        try:
            self.save_drafts()
            self.queue.record_sent(ticket_id, text,
                                   actor=self._settings.agent_name or "agent")
        except (KefuError, OSError) as exc:
            self.show_note(f"It could not be marked as sent: {exc}", error=True)
            return
        self._after_reply(ticket_id)
        self.statusBar().showMessage("Marked as sent", 3000)

    def _after_reply(self, ticket_id: str) -> None:
        """A reply went out: the draft is gone, the thread and the queue row show it."""
        self._texts[ticket_id] = self._saved[ticket_id] = ""
        self._generated.pop(ticket_id, None)
        self.queue_model.update_row(ticket_id)
        if self._current is not None and self._current.id == ticket_id:
            self.composer.blockSignals(True)
            self.composer.clear()
            self.composer.blockSignals(False)
            try:
                self._current = self.queue.ticket(ticket_id)
                self._render_thread()
            except (KefuError, OSError, ValueError) as exc:
                self.show_note(f"The thread could not be read again: {exc}", error=True)

    # ---- shutdown -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.worker.stop_flag.set()
            self.save_drafts()
            if self._kb_thread is not None:
                self._kb_thread.stop()
            if self._mail is not None:
                self._mail.stop()
            if self._analysis_thread is not None:
                self._analysis_thread.stop()
            if self._product_thread is not None:
                self._product_thread.stop()
            self._thread.stop()
            self.queue.close()
        event.accept()
