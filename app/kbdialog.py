"""Manage the knowledge base: folders, each document's status, update and rebuild.

Indexing runs on the knowledge-base worker's thread; this dialog only sends
requests and shows progress, and Cancel stops between documents or batches.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from app.kbworker import KbWorker
from core.kb.index import IndexSummary

STATUS_TEXT = {"indexed": "Indexed", "skipped": "Skipped", "indexing": "Interrupted"}
OUTDATED_REASON = "indexed with another embedding model: Update indexes it again"


class KbDialog(QDialog):
    indexing_done = Signal(object)   # IndexSummary, on the GUI thread

    def __init__(self, worker: KbWorker, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Knowledge base · 知识库")
        self.resize(900, 600)
        self.worker = worker
        self.folders = QListWidget()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Status", "Document", "Passages", "Reason"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.progress = QProgressBar()
        self.progress.hide()
        self.current = QLabel()
        self.summary_label = QLabel(wordWrap=True)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_files_button = QPushButton("Add files…")
        self.remove_button = QPushButton("Remove")
        self.update_button = QPushButton("Update")
        self.update_button.setToolTip("Index new and changed documents, drop deleted ones")
        self.rebuild_button = QPushButton("Rebuild")
        self.rebuild_button.setToolTip("Index every document again from scratch")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)

        self.add_folder_button.clicked.connect(self._add_folder)
        self.add_files_button.clicked.connect(self._add_files)
        self.remove_button.clicked.connect(self._remove)
        self.update_button.clicked.connect(lambda: self.start(rebuild=False))
        self.rebuild_button.clicked.connect(lambda: self.start(rebuild=True))
        self.cancel_button.clicked.connect(self.cancel)

        folder_buttons = QHBoxLayout()
        for b in (self.add_folder_button, self.add_files_button, self.remove_button):
            folder_buttons.addWidget(b)
        folder_buttons.addStretch(1)
        run_buttons = QHBoxLayout()
        for b in (self.update_button, self.rebuild_button, self.cancel_button):
            run_buttons.addWidget(b)
        run_buttons.addStretch(1)
        run_buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Folders and files · 文件夹"))
        layout.addWidget(self.folders, 1)
        layout.addLayout(folder_buttons)
        layout.addWidget(QLabel("Documents · 文档"))
        layout.addWidget(self.table, 3)
        layout.addWidget(self.progress)
        layout.addWidget(self.current)
        layout.addWidget(self.summary_label)
        layout.addLayout(run_buttons)

        worker.progress.connect(self._on_progress)
        worker.summary.connect(self._on_summary)
        worker.documents.connect(self._on_documents)
        worker.failed.connect(self._on_failed)
        worker.request_documents.emit()

    # ---- requests --------------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        for b in (self.add_folder_button, self.add_files_button, self.remove_button,
                  self.update_button, self.rebuild_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.summary_label.clear()

    def add_paths(self, paths: list[str]) -> None:
        if paths:
            self._busy(True)
            self.worker.request_add.emit(paths)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the knowledge base")
        self.add_paths([folder] if folder else [])

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add documents", "",
            "Documents (*.md *.txt *.html *.htm *.pdf *.docx *.csv *.jsonl);;All files (*)")
        self.add_paths(files)

    def _remove(self) -> None:
        item = self.folders.currentItem()
        if item is not None:
            self._busy(True)
            self.worker.request_remove.emit(item.text())

    def start(self, *, rebuild: bool) -> None:
        self._busy(True)
        self.worker.request_sync.emit(rebuild)

    def cancel(self) -> None:
        self.worker.stop_flag.set()
        self.current.setText("Cancelling after the current batch…")

    # ---- reports ---------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int, current: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.current.setText(current)

    def _on_summary(self, summary: IndexSummary) -> None:
        self._busy(False)
        self.current.clear()
        text = (f"Added {len(summary.added)}, updated {len(summary.updated)}, removed "
                f"{len(summary.removed)}, unchanged {summary.unchanged}, skipped "
                f"{len(summary.skipped)}; {summary.chunks} passages.")
        if summary.cancelled:
            text = "Cancelled; the next Update resumes where it stopped. " + text
        self.summary_label.setText(text)
        self.indexing_done.emit(summary)

    def _on_documents(self, folders: list, documents: list) -> None:
        self.folders.clear()
        self.folders.addItems(folders)
        self.table.setRowCount(len(documents))
        for row, doc in enumerate(documents):
            if doc.outdated:
                values = ("Outdated", doc.path, "", OUTDATED_REASON)
            else:
                values = (STATUS_TEXT.get(doc.status, doc.status), doc.path,
                          str(doc.chunks) if doc.status == "indexed" else "", doc.reason)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(row, column, item)

    def _on_failed(self, message: str) -> None:
        self._busy(False)
        self.summary_label.setText(message)

    def done(self, result: int) -> None:
        for signal, slot in ((self.worker.progress, self._on_progress),
                             (self.worker.summary, self._on_summary),
                             (self.worker.documents, self._on_documents),
                             (self.worker.failed, self._on_failed)):
            signal.disconnect(slot)
        super().done(result)
