"""The ticket queue as a lazy Qt table model.

The model holds the ordered ids of the tickets that pass the filter (a list of strings,
light even at 50,000) and fetches rows from the ``Queue`` a block at a time, only for
the rows the view paints.  Filtering, searching and sorting are the queue's (SQL for the
ticket store), not a proxy model's, which would read every row.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from core.inbox.queue import Queue, QueueFilter, QueueRow, waiting_text
from core.lang import LANG_NAMES

COLUMNS = ("Subject", "Customer", "Language", "Msgs", "Mood", "Status", "Waiting")
MOOD = 4
MOOD_NAMES = {"very_negative": "Very neg.", "negative": "Negative", "neutral": "",
              "positive": "Positive", "very_positive": "Very pos."}
MOOD_COLOURS = {"escalation": "#fca5a5", "very_negative": "#fecaca", "negative": "#fee2e2",
                "positive": "#dcfce7", "very_positive": "#bbf7d0"}
STATUS_NAMES = {"new": "New", "open": "Open", "pending": "Pending", "solved": "Solved"}
LANG_SHORT = {"en": "English", "zh": "中文", "zh-Hant": "繁體"}
IdRole = Qt.ItemDataRole.UserRole + 1

BLOCK = 120          # rows fetched together when the view reaches an unfetched row
CACHE_LIMIT = 6000   # rows kept; beyond this the cache starts again


class TicketQueueModel(QAbstractTableModel):
    def __init__(self, queue: Queue) -> None:
        super().__init__()
        self._queue = queue
        self._filter = QueueFilter()
        self._ids: list[str] = []
        self._rows: dict[str, QueueRow] = {}
        self._positions: dict[str, int] | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        self.fetches = 0     # blocks read from the queue (tests check laziness with it)
        # Empty until the window's first refresh(), which brings its filters.

    # ---- contents ------------------------------------------------------------------------
    @property
    def queue(self) -> Queue:
        return self._queue

    @property
    def filter(self) -> QueueFilter:
        return self._filter

    def set_queue(self, queue: Queue) -> None:
        """Another queue, empty until the next ``refresh`` (which the window does with
        its filters, so the queue is read once)."""
        self.beginResetModel()
        self._queue = queue
        self._ids = []
        self._rows.clear()
        self._positions = None
        self.endResetModel()

    def refresh(self, flt: QueueFilter | None = None) -> None:
        """Read the ids again (new mail, another filter); rows are fetched as painted."""
        self.beginResetModel()
        if flt is not None:
            self._filter = flt
        self._ids = self._queue.ids(self._filter)
        self._rows.clear()
        self._positions = None
        self.endResetModel()

    def row_of(self, ticket_id: str) -> int | None:
        if self._positions is None:
            self._positions = {tid: row for row, tid in enumerate(self._ids)}
        return self._positions.get(ticket_id)

    def ticket_id(self, row: int) -> str:
        return self._ids[row]

    def row_data(self, row: int) -> QueueRow | None:
        ticket_id = self._ids[row]
        found = self._rows.get(ticket_id)
        if found is None:
            if len(self._rows) > CACHE_LIMIT:
                self._rows.clear()
            start = max(0, row - BLOCK // 4)
            block = self._ids[start:start + BLOCK]
            self.fetches += 1
            for r in self._queue.rows(block):
                self._rows[r.id] = r
            found = self._rows.get(ticket_id)
        return found

    def update_row(self, ticket_id: str) -> None:
        """Read one ticket's row again (read, status changed, a reply sent)."""
        self._rows.pop(ticket_id, None)
        row = self.row_of(ticket_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # ---- Qt ------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        if role == IdRole:
            return self._ids[index.row()]
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.FontRole,
                        Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
                        Qt.ItemDataRole.BackgroundRole):
            return None
        row = self.row_data(index.row())
        if row is None:      # deleted since the ids were read
            return "…" if role == Qt.ItemDataRole.DisplayRole else None
        column = index.column()
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row.unread else None
        if role == Qt.ItemDataRole.BackgroundRole:
            if column != MOOD:
                return None
            colour = MOOD_COLOURS.get("escalation" if row.escalation else row.sentiment)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 5 and row.status in ("pending", "solved"):
                return QColor("#6b7280")
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return ("Unread · " if row.unread else "") + (row.subject or "(no subject)")
            if column == 2:
                return LANG_NAMES.get(row.lang, row.lang)
            if column == 6 and row.waiting_since:
                return f"Waiting since {row.waiting_since}"
            if column == MOOD and (row.sentiment or row.escalation):
                return ("Escalation risk: a supervisor should look. " if row.escalation
                        else "") + f"Sentiment: {row.sentiment.replace('_', ' ')}"
            return None
        if column == 0:
            return ("● " if row.unread else "") + (row.subject or "(no subject)")
        if column == 1:
            return row.customer
        if column == 2:
            return LANG_SHORT.get(row.lang, row.lang)
        if column == 3:
            return row.messages
        if column == MOOD:
            return "Escalate" if row.escalation else MOOD_NAMES.get(row.sentiment, "")
        if column == 5:
            return STATUS_NAMES.get(row.status, row.status)
        return waiting_text(row.waiting_since)
