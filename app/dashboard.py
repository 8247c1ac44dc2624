"""The supervisor's dashboard: the queue's sentiment per day (a chart), the escalations
with the sentences that carry them, per-agent figures, filters by date, channel and
agent, and export to CSV or to an HTML report with the chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QDate, QIODevice, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import (QComboBox, QDateEdit, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.analysis.report import (LEVELS, MoodRecord, Report, ReportFilter, build_report,
                                  export_csv, export_html)
from core.errors import KefuError

LEVEL_COLOURS = {"very_negative": "#dc2626", "negative": "#f87171", "neutral": "#d1d5db",
                 "positive": "#86efac", "very_positive": "#16a34a"}


def paint_chart(painter: QPainter, rect: QRectF, report: Report) -> None:
    """Stacked bars of each day's messages by sentiment; escalations as a dark line."""
    painter.fillRect(rect, QColor("white"))
    days = report.days
    painter.setPen(QColor("#374151"))
    if not days:
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                         "No analysed customer messages in this period")
        return
    left, bottom = rect.left() + 36, rect.bottom() - 34
    top, right = rect.top() + 24, rect.right() - 12
    peak = max(d.total for d in days) or 1
    slot = (right - left) / len(days)
    width = max(2.0, slot * 0.7)
    painter.drawLine(int(left), int(bottom), int(right), int(bottom))
    painter.drawText(QRectF(rect.left(), top - 6, 32, 14), Qt.AlignmentFlag.AlignRight,
                     str(peak))
    points = []
    for n, day in enumerate(days):
        x = left + n * slot + (slot - width) / 2
        y = bottom
        for level in LEVELS:
            h = (bottom - top) * day.counts[level] / peak
            painter.fillRect(QRectF(x, y - h, width, h), QColor(LEVEL_COLOURS[level]))
            y -= h
        points.append((x + width / 2, bottom - (bottom - top) * day.escalations / peak))
        if len(days) <= 16 or n % max(1, len(days) // 8) == 0:
            painter.drawText(QRectF(x - 20, bottom + 4, width + 40, 14),
                             Qt.AlignmentFlag.AlignHCenter, day.day.strftime("%m-%d"))
    painter.setPen(QPen(QColor("#111827"), 2))
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        painter.drawLine(int(x1), int(y1), int(x2), int(y2))
    legend_x = left
    small = QFont(painter.font())
    small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
    painter.setFont(small)
    for level in (*LEVELS, "escalations"):
        colour = QColor(LEVEL_COLOURS.get(level, "#111827"))
        painter.fillRect(QRectF(legend_x, rect.top() + 4, 10, 10), colour)
        label = level.replace("_", " ")
        painter.setPen(QColor("#374151"))
        painter.drawText(QRectF(legend_x + 13, rect.top() + 1, 110, 14),
                         Qt.AlignmentFlag.AlignLeft, label)
        legend_x += 18 + painter.fontMetrics().horizontalAdvance(label)


def chart_png(report: Report, *, width: int = 900, height: int = 300) -> bytes:
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    paint_chart(painter, QRectF(0, 0, width, height), report)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data)


class MoodChart(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(220)
        self.report: Report | None = None

    def paintEvent(self, _event) -> None:
        if self.report is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        paint_chart(painter, QRectF(self.rect()), self.report)
        painter.end()


def _date(value: date | None) -> QDate:
    return QDate(value.year, value.month, value.day) if value else QDate.currentDate()


class Dashboard(QDialog):
    """Built on the queue's records; ``refresh`` reads them again."""

    exported = Signal(str)      # the path written

    def __init__(self, queue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Supervisor dashboard · 主管看板")
        self.resize(1100, 760)
        self._queue = queue
        self._records: list[MoodRecord] = []
        self._audit: list[dict] = []
        self.report: Report | None = None

        self.start_edit = QDateEdit(calendarPopup=True, displayFormat="yyyy-MM-dd")
        self.end_edit = QDateEdit(calendarPopup=True, displayFormat="yyyy-MM-dd")
        self.channel_box = QComboBox()
        self.agent_box = QComboBox()
        self.summary = QLabel()
        self.csv_button = QPushButton("Export CSV…")
        self.html_button = QPushButton("Export report…")
        self.csv_button.clicked.connect(lambda: self.export(None, kind="csv"))
        self.html_button.clicked.connect(lambda: self.export(None, kind="html"))
        filters = QHBoxLayout()
        for label, widget in (("From", self.start_edit), ("to", self.end_edit),
                              ("Channel", self.channel_box), ("Agent", self.agent_box)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addStretch(1)
        filters.addWidget(self.csv_button)
        filters.addWidget(self.html_button)

        self.chart = MoodChart()
        self.escalation_table = QTableWidget(0, 5)
        self.escalation_table.setHorizontalHeaderLabels(
            ["When", "Ticket", "Customer", "Reasons", "What they wrote"])
        self.escalation_table.horizontalHeader().setSectionResizeMode(
            4, QHeaderView.ResizeMode.Stretch)
        self.escalation_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.agent_table = QTableWidget(0, 6)
        self.agent_table.setHorizontalHeaderLabels(
            ["Agent", "Tickets", "Replies", "From a draft", "Mean edit (chars)",
             "Mean edit (share)"])
        self.agent_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.chart)
        split.addWidget(self.escalation_table)
        split.addWidget(self.agent_table)
        split.setSizes([260, 300, 160])
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self.error_label = QLabel(wordWrap=True)
        self.error_label.setStyleSheet("color:#b00020")
        layout.addWidget(self.error_label)
        self.refresh()
        for widget in (self.start_edit, self.end_edit):
            widget.dateChanged.connect(lambda _d: self.apply())
        for box in (self.channel_box, self.agent_box):
            box.currentIndexChanged.connect(lambda _i: self.apply())

    def refresh(self) -> None:
        """Read the records again and reset the filters to their whole span."""
        try:
            self._records = self._queue.mood_records()
            self._audit = self._queue.audit_records()
        except (KefuError, OSError) as exc:
            self.error_label.setText(f"The queue could not be read: {exc}")
            self._records, self._audit = [], []
        days = sorted(r.day for r in self._records)
        today = date.today()
        for edit, value in ((self.start_edit, days[0] if days else today),
                            (self.end_edit, max(days[-1], today) if days else today)):
            edit.blockSignals(True)
            edit.setDate(_date(value))
            edit.blockSignals(False)
        for box, values in ((self.channel_box, {r.channel for r in self._records}),
                            (self.agent_box, {r.agent for r in self._records if r.agent}
                             | {a["actor"] for a in self._audit if a["actor"]})):
            box.blockSignals(True)
            box.clear()
            box.addItem("All", "")
            for value in sorted(values):
                box.addItem(value, value)
            box.blockSignals(False)
        self.apply()

    def current_filter(self) -> ReportFilter:
        start, end = self.start_edit.date(), self.end_edit.date()
        return ReportFilter(start=date(start.year(), start.month(), start.day()),
                            end=date(end.year(), end.month(), end.day()),
                            channel=self.channel_box.currentData() or "",
                            agent=self.agent_box.currentData() or "")

    def apply(self) -> None:
        report = build_report(self._records, self._audit, self.current_filter())
        self.report = report
        self.chart.report = report
        self.chart.update()
        negative = sum(r.sentiment in ("negative", "very_negative") for r in report.records)
        self.summary.setText(f"{len(report.records)} customer messages · {negative} negative · "
                             f"{len(report.escalations)} escalations")
        self.escalation_table.setRowCount(len(report.escalations))
        for row, r in enumerate(report.escalations):
            values = (r.when[:16].replace("T", " "), r.subject, r.customer,
                      ", ".join(x.replace("_", " ") for x in r.reasons), " | ".join(r.sentences))
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if column == 4:
                    item.setBackground(QColor("#fcd34d"))
                self.escalation_table.setItem(row, column, item)
        self.agent_table.setRowCount(len(report.agents))
        for row, a in enumerate(report.agents):
            values = (a.agent, str(a.tickets), str(a.replies), str(a.from_draft),
                      "–" if a.mean_edit_distance is None else f"{a.mean_edit_distance:.0f}",
                      "–" if a.mean_edit_share is None else f"{a.mean_edit_share:.0%}")
            for column, value in enumerate(values):
                self.agent_table.setItem(row, column, QTableWidgetItem(value))

    def export(self, path: str | Path | None, *, kind: str) -> Path | None:
        """Write the report shown (``kind``: "csv" or "html"); asks where when ``path``
        is None.  Errors are shown, never raised."""
        if path is None:
            suffix = "CSV files (*.csv)" if kind == "csv" else "HTML reports (*.html)"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export", f"sentiment-report.{kind}",
                                                    suffix)
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        try:
            if kind == "csv":
                export_csv(self.report, path)
            else:
                export_html(self.report, path, chart_png=chart_png(self.report))
        except OSError as exc:
            self.error_label.setText(f"The report could not be written to {path}: "
                                     f"{exc.strerror or exc}")
            return None
        self.error_label.clear()
        self.exported.emit(str(path))
        return path
