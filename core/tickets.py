"""Tickets: the customer thread a draft answers.

The ticket file format (also used by ``kefu draft --ticket``)::

    {"subject": "...", "messages": [{"from": "customer" | "agent", "text": "..."}, ...],
     "id": "optional", "lang": "optional: en | zh | zh-Hant", "customer": {...optional}}

Messages are oldest first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import TicketError
from core.lang import detect_language
from core.paths import resources_dir

ROLES = ("customer", "agent")
MAX_TICKET_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Message:
    sender: str  # "customer" or "agent"
    text: str    # what this message says (quoted history and signature folded away)
    # Shown in the thread, not given to the model:
    author: str = ""                    # "Name <address>"
    date: str = ""                      # ISO 8601
    attachments: tuple[dict, ...] = ()  # {"filename", "content_type", "size"}: never opened
    quoted: str = ""                    # the folded quoted history and signature
    notes: str = ""                     # how it was decoded (a wrong declared charset...)
    analysis: dict | None = None        # core.analysis's result (Analysis.to_json())


@dataclass(frozen=True)
class Ticket:
    subject: str
    messages: tuple[Message, ...]
    id: str = ""
    lang: str = ""
    customer: dict[str, Any] = field(default_factory=dict)
    channel: str = ""
    received: str = ""

    @property
    def customer_name(self) -> str:
        return str(self.customer.get("name") or self.customer.get("email") or "")

    @property
    def language(self) -> str:
        """The declared language, else the one the customer writes in."""
        if self.lang:
            return self.lang
        customer_text = "\n".join(m.text for m in self.messages if m.sender == "customer")
        return detect_language(customer_text or self.subject)

    @property
    def last_customer_message(self) -> Message | None:
        return next((m for m in reversed(self.messages) if m.sender == "customer"), None)

    @property
    def last_customer_text(self) -> str:
        last = self.last_customer_message
        return last.text if last is not None else ""


def ticket_from_dict(doc: Any, *, where: str = "ticket") -> Ticket:
    """Validate one ticket object; errors name the place and the problem."""
    if not isinstance(doc, dict):
        raise TicketError(f"{where}: a ticket must be a JSON object, not {type(doc).__name__}.")
    raw_messages = doc.get("messages")
    if not isinstance(raw_messages, list):
        raise TicketError(f"{where}: 'messages' must be a list of {{\"from\", \"text\"}} objects.")
    messages = []
    for i, raw in enumerate(raw_messages):
        if not isinstance(raw, dict):
            raise TicketError(f"{where}: message {i + 1} is not an object.")
        sender = raw.get("from", "customer")
        if sender not in ROLES:
            raise TicketError(f"{where}: message {i + 1} has 'from' {sender!r}; "
                              f"use 'customer' or 'agent'.")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise TicketError(f"{where}: message {i + 1} 'text' must be a string.")
        if text.strip():
            messages.append(Message(sender=sender, text=text))
    if not any(m.sender == "customer" for m in messages):
        raise TicketError(f"{where}: the ticket has no customer message with text to answer.")
    subject = doc.get("subject", "")
    lang = doc.get("lang", "") or ""
    if lang not in ("", "en", "zh", "zh-Hant"):
        raise TicketError(f"{where}: 'lang' must be en, zh or zh-Hant, not {lang!r}.")
    customer = doc.get("customer") or {}
    return Ticket(
        subject=str(subject or ""),
        messages=tuple(messages),
        id=str(doc.get("id", "") or ""),
        lang=lang,
        customer=customer if isinstance(customer, dict) else {"name": str(customer)},
        channel=str(doc.get("channel", "") or ""),
        received=str(doc.get("received", "") or ""),
    )


def read_json_file(path: Path) -> Any:
    """Read a JSON file as UTF-8 (with or without BOM), with clear errors."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise TicketError(f"{path}: no such file.") from None
    except OSError as exc:
        raise TicketError(f"{path}: cannot read ({exc.strerror}).") from None
    if size > MAX_TICKET_FILE_BYTES:
        raise TicketError(f"{path}: {size} bytes is too large for a ticket file "
                          f"(limit {MAX_TICKET_FILE_BYTES}).")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TicketError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TicketError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}).") from None


def load_ticket_file(path: str | Path) -> Ticket:
    path = Path(path)
    return ticket_from_dict(read_json_file(path), where=str(path))


def demo_tickets_file() -> Path:
    return resources_dir() / "demo" / "tickets.json"


def load_demo_tickets() -> list[Ticket]:
    path = demo_tickets_file()
    docs = read_json_file(path)
    if not isinstance(docs, list):
        raise TicketError(f"{path}: the demo file must hold a list of tickets.")
    return [ticket_from_dict(doc, where=f"{path} ticket {i + 1}") for i, doc in enumerate(docs)]


def demo_ticket(number: int) -> Ticket:
    """The demo ticket ``number``, counting from 1 as ``kefu draft --demo N`` does."""
    tickets = load_demo_tickets()
    if not 1 <= number <= len(tickets):
        raise TicketError(f"There is no demo ticket {number}; choose 1 to {len(tickets)}.")
    return tickets[number - 1]
