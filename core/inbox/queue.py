"""The agent's queue, whatever holds the tickets.

``StoreQueue`` reads the workspace's ticket store (imported files, the mailbox);
``MemoryQueue`` holds a list of tickets (the demo workspace, a ticket file) with the
agent's drafts in a small JSON file.  The window talks to either through ``Queue`` and
never holds more than the ordered ids of the tickets that pass the filter plus the rows
on screen, so a queue of 50,000 tickets stays light.

Ticket ids are strings here (the store's integer ids written out).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from core.analysis.report import MoodRecord
from core.draftstore import DraftStore
from core.errors import KefuError, TicketError
from core.tickets import Message, Ticket

ORDERS = ("waiting", "updated")


class DraftSaveError(KefuError):
    """The agent's drafts could not be written (a full disk, a read-only workspace)."""


@dataclass(frozen=True)
class QueueFilter:
    status: tuple[str, ...] = ()   # empty: every status
    lang: str = ""                 # "en", "zh" (also matches "zh-Hant"), "zh-Hant"
    channel: str = ""              # "email", "helpdesk", ...
    search: str = ""               # every word, in the subject or any message
    order: str = "waiting"         # "waiting": longest-waiting first; "updated": newest
                                   # first; "risk": escalations and the angriest first
    mood: str = ""                 # "escalation" or "negative" (the analyser's)


@dataclass(frozen=True)
class QueueRow:
    id: str
    subject: str
    customer: str
    lang: str
    channel: str
    status: str                    # new / open / pending / solved
    messages: int
    unread: bool
    waiting_since: str | None      # ISO time of the customer's oldest unanswered message
    updated_at: str
    sentiment: str = ""            # the analyser's, of the latest customer message
    escalation: bool = False
    risk: float = 0.0


class Queue(ABC):
    """What the window needs from wherever the tickets are."""

    #: replies can be sent from here (the ticket store knows threads and the outbox)
    can_send = False

    @abstractmethod
    def ids(self, flt: QueueFilter) -> list[str]:
        """Ids of the tickets passing ``flt``, in its order."""

    @abstractmethod
    def rows(self, ids: list[str]) -> list[QueueRow]:
        """The rows of ``ids`` (a screenful), in that order; unknown ids left out."""

    @abstractmethod
    def ticket(self, ticket_id: str) -> Ticket:
        """The whole ticket, for the thread view and drafting."""

    @abstractmethod
    def mark_read(self, ticket_id: str) -> None: ...

    @abstractmethod
    def draft(self, ticket_id: str) -> tuple[str, str] | None:
        """(text, the model's draft it started from) kept for the ticket, or None."""

    @abstractmethod
    def save_drafts(self, drafts: dict[str, tuple[str, str | None]]) -> None:
        """Keep ``{ticket id: (composer text, model draft or None to keep the known one)}``
        all at once.  Raises ``DraftSaveError`` (nothing half-written) if that fails."""

    @abstractmethod
    def record_sent(self, ticket_id: str, text: str, *, actor: str) -> None:
        """The agent sent ``text`` outside Kefu and said so ("Mark as sent")."""

    @abstractmethod
    def channels(self) -> list[str]: ...

    @abstractmethod
    def unanalysed(self, limit: int = 64) -> list[tuple[str, str]]:
        """(message key, text) of customer messages the analyser has not read yet."""

    @abstractmethod
    def save_analysis(self, results: list[tuple[str, dict]]) -> set[str]:
        """Keep (message key, Analysis.to_json()) pairs; the ticket ids changed."""

    @abstractmethod
    def mood_records(self) -> list[MoodRecord]:
        """Every analysed customer message, for the supervisor's dashboard."""

    def audit_records(self) -> list[dict]:
        """The audit log (who sent what, from which draft), where there is one."""
        return []

    def close(self) -> None:
        pass


class StoreQueue(Queue):
    """The queue of the workspace's ticket store.  Like its ``TicketStore``, it belongs to
    the thread that made it (the GUI thread)."""

    can_send = True

    def __init__(self, path: Path) -> None:
        from core.inbox.store import TicketStore

        self.path = Path(path)
        self.store = TicketStore(self.path)

    def ids(self, flt: QueueFilter) -> list[str]:
        return [str(i) for i in self.store.ticket_ids(
            status=flt.status or None, lang=flt.lang or None, channel=flt.channel or None,
            search=flt.search or None, order=flt.order, mood=flt.mood or None)]

    def rows(self, ids: list[str]) -> list[QueueRow]:
        numeric = [int(i) for i in ids if i.isdigit()]
        return [QueueRow(id=str(r.id), subject=r.subject, customer=r.customer, lang=r.lang,
                         channel=r.channel, status=r.status, messages=r.messages,
                         unread=r.unread, waiting_since=r.waiting_since,
                         updated_at=r.updated_at, sentiment=r.sentiment,
                         escalation=r.escalation, risk=r.risk)
                for r in self.store.rows(numeric)]

    def ticket(self, ticket_id: str) -> Ticket:
        from core.inbox.store import as_ticket

        return as_ticket(self.store, self._id(ticket_id))

    def mark_read(self, ticket_id: str) -> None:
        self.store.mark_read(self._id(ticket_id))

    def draft(self, ticket_id: str) -> tuple[str, str] | None:
        return self.store.draft(self._id(ticket_id))

    def save_drafts(self, drafts: dict[str, tuple[str, str | None]]) -> None:
        if not drafts:
            return
        try:
            with self.store.transaction():
                for ticket_id, (text, generated) in drafts.items():
                    self.store.save_draft(self._id(ticket_id), text, generated=generated)
        except sqlite3.Error as exc:
            raise DraftSaveError(_why_not_saved(exc)) from None

    def record_sent(self, ticket_id: str, text: str, *, actor: str) -> None:
        try:
            self.store.record_sent_elsewhere(self._id(ticket_id), text, actor=actor)
        except sqlite3.Error as exc:
            raise TicketError(f"The ticket store could not be written ({exc}).") from None

    def channels(self) -> list[str]:
        return [r[0] for r in self.store.db.execute(
            "SELECT DISTINCT channel FROM tickets ORDER BY channel")]

    def unanalysed(self, limit: int = 64) -> list[tuple[str, str]]:
        return [(str(m), text) for m, _t, text in self.store.unanalysed(limit)]

    def save_analysis(self, results: list[tuple[str, dict]]) -> set[str]:
        try:
            changed = self.store.save_analysis([(int(k), r) for k, r in results
                                                if k.isdigit()])
        except sqlite3.Error as exc:
            raise TicketError(f"The ticket store could not be written ({exc}).") from None
        return {str(t) for t in changed}

    def mood_records(self) -> list[MoodRecord]:
        return [_record(str(r["ticket_id"]), r["subject"], r["customer"], r["channel"],
                        r["agent"], r["when"], r["result"])
                for r in self.store.analysed_messages()]

    def audit_records(self) -> list[dict]:
        return self.store.audit()

    def is_empty(self) -> bool:
        return self.store.db.execute("SELECT 1 FROM tickets LIMIT 1").fetchone() is None

    def close(self) -> None:
        self.store.close()

    @staticmethod
    def _id(ticket_id: str) -> int:
        if not str(ticket_id).isdigit():
            raise TicketError(f"There is no ticket {ticket_id} in the ticket store.")
        return int(ticket_id)


def _record(ticket_id: str, subject: str, customer: str, channel: str, agent: str,
            when: str, result: dict) -> MoodRecord:
    """A dashboard record of one analysis: the sentences that carry its threat, else its
    most negative sentence."""
    sentences = result.get("sentences", [])
    telling = [s["text"] for s in sentences if s.get("reasons")]
    if not telling and result.get("sentiment") in ("negative", "very_negative") and sentences:
        telling = [min(sentences, key=lambda s: s.get("score", 0.0))["text"]]
    return MoodRecord(ticket_id=ticket_id, subject=subject, customer=customer,
                      channel=channel, agent=agent, when=when,
                      sentiment=result.get("sentiment", ""),
                      score=float(result.get("score", 0.0)),
                      escalation=bool(result.get("escalation")),
                      reasons=tuple(result.get("reasons", ())), sentences=tuple(telling))


def _why_not_saved(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "full" in text:
        return ("The disk is full, so your drafts could not be saved. They are still here "
                "in the window: free some disk space; Kefu keeps trying every few seconds.")
    return (f"Your drafts could not be saved ({text}). They are still here in the window; "
            f"Kefu keeps trying every few seconds.")


class MemoryQueue(Queue):
    """A fixed list of tickets (the demo workspace), drafts kept in ``drafts_file``.
    "Mark as sent" makes the ticket pending and shows the reply in its thread."""

    def __init__(self, tickets: list[Ticket], drafts_file: Path) -> None:
        self._tickets = {t.id: t for t in tickets}
        self._order = [t.id for t in tickets]
        self._drafts = DraftStore(drafts_file)
        self._read: set[str] = set()
        self._analysis: dict[str, dict] = {}     # "ticket id/message index" -> result

    def _status(self, ticket_id: str) -> str:
        saved = self._drafts.get(ticket_id)
        return "pending" if saved is not None and saved.status == "sent" else "open"

    def _row(self, t: Ticket) -> QueueRow:
        status = self._status(t.id)
        waiting = t.received if status == "open" and t.messages \
            and t.messages[-1].sender == "customer" else None
        mood = [self._analysis[f"{t.id}/{n}"] for n, m in enumerate(t.messages)
                if f"{t.id}/{n}" in self._analysis]
        latest = mood[-1] if mood else {}
        escalated = any(a["escalation"] for a in mood)
        score = float(latest.get("score", 0.0))
        risk = 2.0 * escalated + max(0.0, -score) + \
            (0.5 if latest.get("urgency") == "high" else 0.0)
        return QueueRow(id=t.id, subject=t.subject, customer=t.customer_name,
                        lang=t.language, channel=t.channel or "email", status=status,
                        messages=len(t.messages) + (status == "pending"),
                        unread=t.id not in self._read, waiting_since=waiting or None,
                        updated_at=t.received, sentiment=latest.get("sentiment", ""),
                        escalation=escalated, risk=risk)

    def ids(self, flt: QueueFilter) -> list[str]:
        rows = [self._row(self._tickets[i]) for i in self._order]
        words = [w.casefold() for w in flt.search.split()]
        out = []
        for row in rows:
            if flt.status and row.status not in flt.status:
                continue
            if flt.lang and not row.lang.startswith(flt.lang):
                continue
            if flt.channel and row.channel != flt.channel:
                continue
            if flt.mood == "escalation" and not row.escalation:
                continue
            if flt.mood == "negative" and row.sentiment not in ("negative", "very_negative"):
                continue
            if words:
                t = self._tickets[row.id]
                hay = "\n".join([t.subject, t.customer_name, *(m.text for m in t.messages)])
                if not all(w in hay.casefold() for w in words):
                    continue
            out.append(row)
        if flt.order == "risk":
            out.sort(key=lambda r: (-r.risk, r.waiting_since is None,
                                    _timestamp(r.waiting_since)))
            return [r.id for r in out]
        waiting = []
        if flt.order == "waiting":   # as the store orders: longest-waiting, then newest
            waiting = sorted((r for r in out if r.waiting_since),
                             key=lambda r: _timestamp(r.waiting_since))
            out = [r for r in out if not r.waiting_since]
        out.sort(key=lambda r: _timestamp(r.updated_at), reverse=True)
        return [r.id for r in waiting + out]

    def rows(self, ids: list[str]) -> list[QueueRow]:
        return [self._row(self._tickets[i]) for i in ids if i in self._tickets]

    def ticket(self, ticket_id: str) -> Ticket:
        try:
            ticket = self._tickets[ticket_id]
        except KeyError:
            raise TicketError(f"There is no ticket {ticket_id}.") from None
        # The analyser's result, else whatever the ticket came with.
        messages = tuple(replace(m, analysis=self._analysis.get(f"{ticket_id}/{n}",
                                                                m.analysis))
                         for n, m in enumerate(ticket.messages))
        saved = self._drafts.get(ticket_id)
        if saved is not None and saved.status == "sent" and saved.text.strip():
            messages += (Message("agent", saved.text),)
        return replace(ticket, messages=messages)

    def mark_read(self, ticket_id: str) -> None:
        self._read.add(ticket_id)

    def draft(self, ticket_id: str) -> tuple[str, str] | None:
        saved = self._drafts.get(ticket_id)
        if saved is None or saved.status == "sent":
            return None
        return saved.text, ""

    def save_drafts(self, drafts: dict[str, tuple[str, str | None]]) -> None:
        for ticket_id, (text, _generated) in drafts.items():
            self._drafts.put(ticket_id, text=text, status="open")
        self._save()

    def record_sent(self, ticket_id: str, text: str, *, actor: str) -> None:
        self._drafts.put(ticket_id, text=text, status="sent")
        self._save()

    def _save(self) -> None:
        try:
            self._drafts.save()
        except OSError as exc:
            raise DraftSaveError(
                f"Your drafts could not be saved to disk ({exc.strerror or exc}). They are "
                f"still here in the window; free some disk space; Kefu keeps trying every "
                f"few seconds.") from None

    def channels(self) -> list[str]:
        return sorted({t.channel or "email" for t in self._tickets.values()})

    def unanalysed(self, limit: int = 64) -> list[tuple[str, str]]:
        out = []
        for ticket_id in self._order:
            for n, m in enumerate(self._tickets[ticket_id].messages):
                key = f"{ticket_id}/{n}"
                if m.sender == "customer" and key not in self._analysis:
                    out.append((key, m.text))
                    if len(out) >= limit:
                        return out
        return out

    def mood_records(self) -> list[MoodRecord]:
        out = []
        for key, result in self._analysis.items():
            ticket = self._tickets[key.rsplit("/", 1)[0]]
            out.append(_record(ticket.id, ticket.subject, ticket.customer_name,
                               ticket.channel or "email", "", ticket.received, result))
        return out

    def save_analysis(self, results: list[tuple[str, dict]]) -> set[str]:
        mine = [(key, result) for key, result in results
                if key.rsplit("/", 1)[0] in self._tickets]
        for key, result in mine:
            self._analysis[key] = result
        return {key.rsplit("/", 1)[0] for key, _ in mine}


def _timestamp(iso: str | None) -> float:
    try:
        when = datetime.fromisoformat(iso or "")
    except ValueError:
        return 0.0
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def waiting_text(since: str | None, *, now: datetime | None = None) -> str:
    """How long the customer has waited, as a queue shows it: "12 min", "5 h", "3 d"."""
    if not since:
        return ""
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        return ""
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    seconds = ((now or datetime.now(timezone.utc)) - start).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"
