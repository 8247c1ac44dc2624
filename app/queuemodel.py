"""The ticket queue as a Qt table model (model/view, so long queues stay light)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from core.lang import LANG_NAMES
from core.tickets import Ticket

COLUMNS = ("Subject", "Customer", "Language", "Messages", "Status")
TicketRole = Qt.ItemDataRole.UserRole + 1


class TicketQueueModel(QAbstractTableModel):
    def __init__(self, tickets: list[Ticket], statuses: dict[str, str] | None = None) -> None:
        super().__init__()
        self._tickets = tickets
        self._status = dict(statuses or {})

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._tickets)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def set_tickets(self, tickets: list[Ticket], statuses: dict[str, str]) -> None:
        """A new queue (new mail arrived); known statuses are kept, saved ones added."""
        self.beginResetModel()
        self._tickets = tickets
        self._status.update(statuses)
        self.endResetModel()

    def row_of(self, ticket_id: str) -> int | None:
        for row, ticket in enumerate(self._tickets):
            if ticket.id == ticket_id:
                return row
        return None

    def ticket(self, row: int) -> Ticket:
        return self._tickets[row]

    def status(self, ticket: Ticket) -> str:
        return self._status.get(ticket.id, "open")

    def set_status(self, ticket_id: str, status: str) -> None:
        self._status[ticket_id] = status
        for row, ticket in enumerate(self._tickets):
            if ticket.id == ticket_id:
                idx = self.index(row, COLUMNS.index("Status"))
                self.dataChanged.emit(idx, idx)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        ticket = self._tickets[index.row()]
        if role == TicketRole:
            return ticket
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            if column == 0:
                return ticket.subject or "(no subject)"
            if column == 1:
                return ticket.customer_name
            if column == 2:
                return {"en": "English", "zh": "中文", "zh-Hant": "繁體"}.get(
                    ticket.language, ticket.language)
            if column == 3:
                return len(ticket.messages)
            if column == 4:
                return {"open": "Open", "sent": "Sent"}.get(self.status(ticket),
                                                            self.status(ticket))
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 2:
            return LANG_NAMES.get(ticket.language, ticket.language)
        return None
