"""The side panel beside the composer: suggested products as cards (title, price, stock,
reason, Insert) and the customer's past orders."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget, QHBoxLayout)

from core.catalog.prices import format_price
from core.catalog.recommend import Recommendation, RecommendResult

MAX_ORDERS_SHOWN = 5

KIND_LABEL = {"match": "Asked about", "variant": "Other size or colour",
              "replacement": "Replacement", "substitute": "Alternative",
              "complement": "Goes with theirs", "refill": "Refill"}


class ProductCard(QFrame):
    insert = Signal(object)          # Recommendation

    def __init__(self, rec: Recommendation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recommendation = rec
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("productCard")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(2)
        name = html.escape(rec.title) + (f" <span style='color:#555'>· "
                                         f"{html.escape(rec.variant)}</span>"
                                         if rec.variant else "")
        self.title_label = QLabel(f"<b>{name}</b>", wordWrap=True)
        price = html.escape(rec.price_text or "no price")
        if rec.on_sale:
            price += " <span style='color:#b00020'>sale</span>"
        stock = "stock not tracked" if rec.stock is None else f"{rec.stock} in stock"
        self.price_label = QLabel(f"{price} · {stock} · "
                                  f"<i>{KIND_LABEL.get(rec.kind, rec.kind)}</i>")
        self.reason_label = QLabel(rec.reason, wordWrap=True)
        self.reason_label.setTextFormat(Qt.TextFormat.PlainText)
        self.reason_label.setStyleSheet("color:#444")
        self.insert_button = QPushButton("Insert")
        self.insert_button.setToolTip("Put this product into the reply at the cursor")
        self.insert_button.clicked.connect(lambda: self.insert.emit(self.recommendation))
        row = QHBoxLayout()
        row.addWidget(self.price_label, 1)
        row.addWidget(self.insert_button)
        lay.addWidget(self.title_label)
        lay.addLayout(row)
        lay.addWidget(self.reason_label)


class ProductPanel(QWidget):
    insert_requested = Signal(object)    # Recommendation

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: list[ProductCard] = []
        self.heading = QLabel("<b>Suggested products</b> · 推荐商品")
        self.status_label = QLabel(wordWrap=True)
        self.status_label.setStyleSheet("color:#555")
        self.progress = QProgressBar(maximumHeight=12, textVisible=False)
        self.progress.hide()
        self._cards_box = QWidget()
        self._cards_layout = QVBoxLayout(self._cards_box)
        self._cards_layout.setContentsMargins(0, 0, 0, 0)
        self._cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._cards_box)
        self.orders_label = QLabel(wordWrap=True)
        self.orders_label.setTextFormat(Qt.TextFormat.RichText)
        self.orders_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        orders_scroll = QScrollArea()
        orders_scroll.setWidgetResizable(True)
        orders_scroll.setFrameShape(QFrame.Shape.NoFrame)
        orders_scroll.setWidget(self.orders_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(self.progress)
        lay.addWidget(self.status_label)
        lay.addWidget(scroll, 3)
        lay.addWidget(QLabel("<b>Past orders</b> · 历史订单"))
        lay.addWidget(orders_scroll, 2)
        self.show_status("Open a ticket to see products for it.")

    def _clear_cards(self) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []

    def show_status(self, text: str, *, keep_orders: bool = False) -> None:
        self._clear_cards()
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))
        if not keep_orders:
            self.orders_label.setText("")

    def show_result(self, result: RecommendResult) -> None:
        self._clear_cards()
        if result.withheld:
            self.show_status(f"No suggestions: {result.withheld}.", keep_orders=True)
        elif not result.products:
            self.show_status(" ".join(result.notes) or
                             "Nothing in the catalog fits this conversation.",
                             keep_orders=True)
        else:
            self.status_label.setText("; ".join(result.notes))
            self.status_label.setVisible(bool(result.notes))
            for rec in result.products:
                card = ProductCard(rec)
                card.insert.connect(self.insert_requested)
                self._cards_layout.insertWidget(self._cards_layout.count() - 1, card)
                self.cards.append(card)
        self.orders_label.setText(orders_html(result))

    def show_embedding(self, done: int, total: int) -> None:
        if total and done < total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setToolTip(f"Preparing product search: {done}/{total}")
            self.progress.show()
        else:
            self.progress.hide()


def orders_html(result: RecommendResult) -> str:
    if not result.history:
        return "<span style='color:#555'>No orders found for this customer's email or " \
               "phone.</span>"
    parts = []
    for order in result.history[:MAX_ORDERS_SHOWN]:
        lines = "".join(
            f"<li>{line.quantity} × {html.escape(line.name)}"
            + ("" if line.handle else " <span style='color:#888'>(not in the catalog)</span>")
            + "</li>" for line in order.lines)
        status = f" · {html.escape(order.status)}" if order.status else ""
        parts.append(f"<p style='margin:2px 0'><b>#{html.escape(order.number)}</b> "
                     f"{html.escape(order.created[:10])} · "
                     f"{html.escape(format_price(order.total, order.currency))}{status}</p>"
                     f"<ul style='margin:0 0 4px 12px; -qt-list-indent:0'>{lines}</ul>")
    more = len(result.history) - MAX_ORDERS_SHOWN
    if more > 0:
        parts.append(f"<p style='color:#555'>… and {more} older order"
                     f"{'s' if more != 1 else ''}</p>")
    return "".join(parts)
