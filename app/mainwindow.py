"""The main window: ticket queue, thread, and the draft composer."""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence,
                           QTextCursor)
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QMainWindow,
                               QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QTableView, QTextBrowser, QVBoxLayout, QWidget)

from app.kbworker import KbWorker
from app.queuemodel import TicketQueueModel, TicketRole
from app.tasks import run_in_background
from app.worker import EngineWorker, OwnerThread
from core import settings as settings_mod
from core.draftstore import DraftStore
from core.drafting import DraftNotes, DraftResult
from core.engine import Engine, EngineInfo
from core.kb.index import KnowledgeBase
from core.lang import LANG_NAMES
from core.models import discover, import_model
from core.paths import Workspace
from core.settings import Settings
from core.tickets import Ticket

log = logging.getLogger("kefu.app.window")

AUTOSAVE_MS = 800


def thread_html(ticket: Ticket) -> str:
    parts = [f"<h3>{html.escape(ticket.subject or '(no subject)')}</h3>"]
    if ticket.customer_name:
        parts.append(f"<p style='color:#666'>{html.escape(ticket.customer_name)} · "
                     f"{html.escape(LANG_NAMES.get(ticket.language, ticket.language))}</p>")
    for message in ticket.messages:
        customer = message.sender == "customer"
        who = "Customer" if customer else "Agent"
        colour = "#f4f6fb" if customer else "#eef8ef"
        body = html.escape(message.text).replace("\n", "<br>")
        parts.append(f"<table width='100%' cellpadding='8' style='background:{colour};"
                     f"margin-bottom:6px'><tr><td><b>{who}</b><br>{body}</td></tr></table>")
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

    def __init__(self, *, workspace: Workspace, settings: Settings, tickets: list[Ticket],
                 engine_factory: Callable[[], Engine], model_path: str | None,
                 kb_factory: Callable[[], KnowledgeBase] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Kefu Assist 客服助手")
        self.resize(1280, 800)
        self._workspace = workspace
        self._settings = settings
        self._model_path = model_path
        self._drafts = DraftStore(workspace.drafts_file)
        self._mail = None               # the mailbox poller, when a mailbox is set up
        self._mailbox = None            # (account, password) for sending
        self._sending: set[str] = set()  # tickets whose reply is going out
        self._texts: dict[str, str] = {}
        self._generated: dict[str, str] = {}
        statuses = self._remember_saved(tickets)
        self._current: Ticket | None = None
        self._request_id = 0
        self._stream_ticket: str | None = None
        self._stream_started = 0.0
        self._stream_chunks = 0
        self._first_token_at = 0.0
        self._last_speed_update = 0.0
        self._engine_info: EngineInfo | None = None
        self._closing = False

        self.queue_model = TicketQueueModel(tickets, statuses)
        self._has_kb = kb_factory is not None
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

        self.kb_worker: KbWorker | None = None
        self._kb_thread: OwnerThread | None = None
        if kb_factory is not None:
            self.kb_worker = KbWorker(kb_factory)
            self._kb_thread = OwnerThread(self.kb_worker, name="kefu-kb")
            self.kb_worker.search_done.connect(self._on_sources)
            self.kb_worker.summary.connect(self.kb_indexed)
            self.kb_worker.failed.connect(
                lambda m: self.show_note(f"Knowledge base: {m}", error=True))
        self._pending_ticket: Ticket | None = None

        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save_drafts)
        self._update_buttons()
        if tickets:
            self.queue_view.selectRow(0)

    # ---- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.filter_edit = QLineEdit(placeholderText="Filter the queue…  筛选")
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.queue_model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.queue_view = QTableView()
        self.queue_view.setModel(self.proxy)
        self.queue_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queue_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Queue order (oldest first) until the agent clicks a column header.
        self.queue_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.queue_view.setSortingEnabled(True)
        self.queue_view.verticalHeader().hide()
        # Fixed starting widths, not ResizeToContents: that reads every row, which a long
        # queue cannot afford.  The agent can drag them.
        header = self.queue_view.horizontalHeader()
        for column, width in enumerate((0, 110, 64, 70, 56)):
            if width:
                header.resizeSection(column, width)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.queue_view.setAlternatingRowColors(True)
        self.queue_view.selectionModel().selectionChanged.connect(self._on_selection)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.filter_edit)
        lay.addWidget(self.queue_view)

        self.thread_view = QTextBrowser()
        self.thread_view.setOpenLinks(False)  # customer links are never followed

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
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(middle)
        splitter.setSizes([420, 860])
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
        quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.model_menu = self.menuBar().addMenu("&Model")
        self.use_model_menu = self.model_menu.addMenu("Use model")
        self.use_model_menu.aboutToShow.connect(self._fill_model_menu)
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

    def open_settings(self) -> None:
        from app.settingsdialog import SettingsDialog

        dialog = SettingsDialog(self._settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            self.save_settings(dialog.result_settings, reload=dialog.needs_reload())

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
        ticket = self.proxy.data(indexes[0], TicketRole)
        self.show_ticket(ticket)

    # ---- the mailbox ---------------------------------------------------------------------
    def start_mail(self, account, password: str, *, interval: float, backoff=None) -> None:
        """Poll the mailbox in the background; new mail joins the queue."""
        from app.mailpoller import MailPoller

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
                or not self._current.id.isdigit() or self._current.id in self._sending:
            return
        from core.errors import KefuError
        from core.inbox.mailclient import send_reply
        from core.inbox.store import TicketStore

        account, password = self._mailbox
        ticket_id, text = self._current.id, self.composer.toPlainText()
        db = self._workspace.tickets_db
        store = TicketStore(db)
        try:
            store.save_draft(int(ticket_id), text, generated=self._generated.get(ticket_id, ""))
            failed = [e for e in store.outbox(statuses=("failed",))
                      if e["ticket_id"] == int(ticket_id) and e["text"] == text]
            box = failed[0]["id"] if failed else store.queue_reply(
                int(ticket_id), text, actor=self._settings.agent_name or account.username,
                from_domain=account.address.rpartition("@")[2])
        except KefuError as exc:
            self.show_note(f"The reply could not be queued: {exc}", error=True)
            return
        finally:
            store.close()
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
        self._texts.pop(ticket_id, None)
        self._drafts.put(ticket_id, text="", status="sent")
        self.queue_model.set_status(ticket_id, "sent")
        if self._current is not None and self._current.id == ticket_id:
            self.composer.blockSignals(True)
            self.composer.clear()
            self.composer.blockSignals(False)
        self.save_drafts()
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
            self.reload_queue()
            self.statusBar().showMessage(
                f"{count} new message{'s' if count != 1 else ''} from the mailbox", 10000)
        self.mail_synced.emit(count)

    def _on_mail_failed(self, message: str, retry_in: float) -> None:
        self.statusBar().showMessage(f"Mail: {message} Next try in {retry_in:.0f} s.")

    def _remember_saved(self, tickets: list[Ticket]) -> dict[str, str]:
        """Saved composer texts of ``tickets`` not already open here; their statuses."""
        statuses = {}
        for ticket in tickets:
            saved = self._drafts.get(ticket.id)
            if saved:
                self._texts.setdefault(ticket.id, saved.text)
                statuses[ticket.id] = saved.status
        return statuses

    def reload_queue(self) -> None:
        """Read the queue again from the ticket store, keeping the open ticket open."""
        from core.inbox.store import queue_tickets

        tickets = queue_tickets(self._workspace.tickets_db)
        current = self._current.id if self._current is not None else None
        if current is not None:
            self._texts[current] = self.composer.toPlainText()
        self.queue_model.set_tickets(tickets, self._remember_saved(tickets))
        row = self.queue_model.row_of(current) if current is not None else None
        if row is not None:
            self.queue_view.selectRow(self.proxy.mapFromSource(
                self.queue_model.index(row, 0)).row())

    def show_ticket(self, ticket: Ticket) -> None:
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
        self._current = ticket
        self.thread_view.setHtml(thread_html(ticket))
        self.composer.blockSignals(True)
        self.composer.setPlainText(self._texts.get(ticket.id, ""))
        self.composer.blockSignals(False)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.hide_note()
        self._update_buttons()

    @property
    def current_ticket(self) -> Ticket | None:
        return self._current

    def _on_composer_changed(self) -> None:
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
            self._autosave.start()
        self._update_buttons()

    def save_drafts(self) -> None:
        if self._current is not None:
            self._texts[self._current.id] = self.composer.toPlainText()
        for ticket_id, text in self._texts.items():
            saved = self._drafts.get(ticket_id)
            if saved is None or saved.text != text:
                self._drafts.put(ticket_id, text=text)
        try:
            self._drafts.save()
        except OSError as exc:
            log.error("Could not save drafts: %s", exc)
            self.show_note(f"Your drafts could not be saved to disk ({exc.strerror}). "
                           f"They are still here; free some disk space.", error=True)

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
                                    and has_ticket and self._current.id.isdigit()
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
            self.kb_worker.request_search.emit(self._request_id, ticket,
                                               self._settings.kb_results)
        else:
            self._send_draft(ticket, None)

    def _on_sources(self, request_id: int, sources) -> None:
        if self._stale(request_id) or self._pending_ticket is None:
            return
        ticket, self._pending_ticket = self._pending_ticket, None
        if self.worker.stop_flag.is_set():  # Stop pressed while searching
            self._end_stream()
            self.speed_label.setText("")
            return
        self._send_draft(ticket, sources)

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
        self.worker.request_draft.emit(self._request_id, ticket, sources)

    def stop_draft(self) -> None:
        self.worker.stop_flag.set()
        if self._pending_ticket is not None:  # still searching: nothing reached the model
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
        if self._current is None or self.busy:
            return
        text = self.composer.toPlainText()
        self._drafts.put(self._current.id, text=text, status="sent")
        self.queue_model.set_status(self._current.id, "sent")
        self.save_drafts()
        self.statusBar().showMessage("Marked as sent", 3000)

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
            self._thread.stop()
        event.accept()
