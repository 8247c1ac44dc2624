"""The ticket store: customers, tickets, messages, drafts, the outbox and the audit log.

One SQLite file in the workspace (``tickets.sqlite``), in WAL mode so the queue can read
while an import or a mail sync writes.  The schema has a version (``PRAGMA user_version``)
and ordered migrations; a file from a newer Kefu is refused rather than damaged.

Threading: a message joins the ticket of any message it names (In-Reply-To, then
References, newest first), or of any stored message that names it (a reply imported
before its original); failing those, the open ticket of the same customer with the same
normalised subject ("Re:", "回复：" and the like removed).  A Message-ID already stored is
a duplicate and is not imported again.

Like every SQLite connection here, a ``TicketStore`` belongs to the thread that opened it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import TicketError
from core.inbox.editdistance import levenshtein
from core.lang import detect_language
from core.mail.parse import normalize_subject
from core.sqlitetx import transaction

if TYPE_CHECKING:
    from core.tickets import Ticket

STATUSES = ("new", "open", "pending", "solved")
SCHEMA_VERSION = 4

_SCHEMA_1 = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX customers_email ON customers(email) WHERE email != '';

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL DEFAULT '',
    thread_key TEXT NOT NULL DEFAULT '',
    customer_id INTEGER REFERENCES customers(id),
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'open', 'pending', 'solved')),
    assignee TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    lang TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT 'email',
    external_id TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    waiting_since TEXT,
    unread INTEGER NOT NULL DEFAULT 1,
    messages INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_waiting ON tickets(status, waiting_since);
CREATE INDEX tickets_thread ON tickets(customer_id, thread_key);
CREATE INDEX tickets_external ON tickets(channel, external_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    from_name TEXT NOT NULL DEFAULT '',
    from_addr TEXT NOT NULL DEFAULT '',
    to_addrs TEXT NOT NULL DEFAULT '[]',
    date TEXT,
    subject TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    quoted_from INTEGER,
    html_only INTEGER NOT NULL DEFAULT 0,
    attachments TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX messages_ticket ON messages(ticket_id, date);
CREATE INDEX messages_reply ON messages(in_reply_to) WHERE in_reply_to != '';

-- Every Message-ID a message names (In-Reply-To and References), to find a reply
-- imported before its original.
CREATE TABLE message_refs (
    message INTEGER NOT NULL REFERENCES messages(id),
    ref TEXT NOT NULL
);
CREATE INDEX message_refs_ref ON message_refs(ref);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, text, content='messages', content_rowid='id', tokenize='trigram');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, text)
        VALUES ('delete', old.id, old.subject, old.text);
END;

CREATE TABLE drafts (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    text TEXT NOT NULL,
    generated TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    message_id TEXT NOT NULL UNIQUE,
    to_addrs TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    in_reply_to TEXT NOT NULL DEFAULT '',
    refs TEXT NOT NULL DEFAULT '[]',
    generated TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    actor TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    sent_at TEXT
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    ticket_id INTEGER,
    outbox_id INTEGER,
    edit_distance INTEGER,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_ticket ON audit(ticket_id, at);
"""

# Version 2: where each mailbox folder's incremental fetch has got to.
_SCHEMA_2 = """
CREATE TABLE mail_state (
    account TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL DEFAULT 0,
    synced_at TEXT,
    PRIMARY KEY (account, folder)
);
"""

# Version 3: the queue's two orders read from covering indexes (the filters' columns
# included), so listing 50,000 tickets needs no sort; statistics let SQLite choose them.
_SCHEMA_3 = """
CREATE INDEX tickets_queue ON tickets(
    waiting_since IS NULL, waiting_since, updated_at DESC, id, status, lang, channel);
CREATE INDEX tickets_recent ON tickets(updated_at DESC, id, status, lang, channel);
ANALYZE tickets;
"""

# Version 4: the analyser's results (core/analysis): per customer message, and the
# ticket's mood and risk for badges, filters and the risk order.
_SCHEMA_4 = """
CREATE TABLE analysis (
    message INTEGER PRIMARY KEY REFERENCES messages(id),
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    sentiment TEXT NOT NULL,
    score REAL NOT NULL,
    escalation INTEGER NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    intent TEXT NOT NULL DEFAULT '',
    urgency TEXT NOT NULL DEFAULT 'normal',
    result TEXT NOT NULL,
    analyzed_at TEXT NOT NULL
);
CREATE INDEX analysis_ticket ON analysis(ticket_id);
ALTER TABLE tickets ADD COLUMN sentiment TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN escalation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN risk REAL NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN intent TEXT NOT NULL DEFAULT '';
CREATE INDEX tickets_risk ON tickets(risk DESC, waiting_since, id);
"""

# Ordered: MIGRATIONS[n] brings a version-n file to version n + 1.
MIGRATIONS: dict[int, str] = {0: _SCHEMA_1, 1: _SCHEMA_2, 2: _SCHEMA_3, 3: _SCHEMA_4}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Incoming:
    """One message to store, whatever it came from (mail, mbox, a helpdesk export)."""

    message_id: str
    subject: str
    text: str
    from_addr: str = ""
    from_name: str = ""
    to: tuple[str, ...] = ()
    date: datetime | None = None
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    direction: str = "in"                 # "in" from the customer, "out" from the store
    quoted_from: int | None = None
    html_only: bool = False
    attachments: tuple[dict, ...] = ()    # {"filename", "content_type", "size"}
    notes: str = ""                       # decoding notes (a wrong declared charset...)
    source: str = ""                      # where it was imported from
    # Helpdesk exports: the ticket it belongs to, and that ticket's own fields.
    external_ticket: str = ""
    status: str = ""
    tags: tuple[str, ...] = ()
    assignee: str = ""
    customer_name: str = ""
    customer_email: str = ""


@dataclass(frozen=True)
class TicketRow:
    id: int
    subject: str
    status: str
    lang: str
    channel: str
    customer: str
    customer_email: str
    messages: int
    unread: bool
    waiting_since: str | None
    updated_at: str
    tags: tuple[str, ...] = ()
    assignee: str = ""
    sentiment: str = ""          # the analyser's, of the latest customer message
    escalation: bool = False
    risk: float = 0.0

    def to_json(self) -> dict:
        return {"id": self.id, "subject": self.subject, "lang": self.lang,
                "status": self.status, "messages": self.messages, "channel": self.channel,
                "customer": self.customer, "customer_email": self.customer_email,
                "unread": self.unread, "waiting_since": self.waiting_since,
                "updated_at": self.updated_at, "tags": list(self.tags),
                "assignee": self.assignee, "sentiment": self.sentiment,
                "escalation": self.escalation}


@dataclass(frozen=True)
class StoredMessage:
    id: int
    message_id: str
    direction: str
    from_name: str
    from_addr: str
    to: tuple[str, ...]
    date: str | None
    subject: str
    text: str
    quoted_from: int | None
    html_only: bool
    attachments: tuple[dict, ...]
    notes: str

    def to_json(self) -> dict:
        return {"message_id": self.message_id, "direction": self.direction,
                "from": self.from_addr, "from_name": self.from_name, "to": list(self.to),
                "date": self.date, "subject": self.subject, "text": self.text,
                "quoted_from": self.quoted_from, "html_only": self.html_only,
                "attachments": list(self.attachments), "notes": self.notes}


@dataclass
class ImportResult:
    tickets: int = 0          # tickets created
    messages: int = 0         # messages stored
    duplicates: int = 0       # messages already stored (same Message-ID)
    errors: list[dict] = field(default_factory=list)   # {"source", "error"}

    def to_json(self) -> dict:
        return {"tickets": self.tickets, "messages": self.messages,
                "duplicates": self.duplicates, "errors": self.errors}

    def add(self, other: "ImportResult") -> None:
        """Count ``other`` (one file, one batch) into this total."""
        self.tickets += other.tickets
        self.messages += other.messages
        self.duplicates += other.duplicates
        self.errors += other.errors


class TicketStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise TicketError(f"The ticket store {self.path} cannot be opened: {exc}.") \
                from None
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # ---- schema ----------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise TicketError(f"The ticket store {self.path} was written by a newer Kefu "
                              f"(schema {version}; this one reads up to {SCHEMA_VERSION}).")
        while version < SCHEMA_VERSION:
            with self.transaction():
                self._run_script(MIGRATIONS[version])
                version += 1
                self.db.execute(f"PRAGMA user_version = {version}")

    def _run_script(self, script: str) -> None:
        # executescript() would commit the open transaction; run statement by statement.
        statement = ""
        for line in script.splitlines(keepends=True):
            if line.lstrip().startswith("--"):
                continue
            statement += line
            if sqlite3.complete_statement(statement):
                self.db.execute(statement)
                statement = ""

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def transaction(self):
        return transaction(self.db)

    def close(self) -> None:
        self.db.close()

    # ---- adding messages -------------------------------------------------------------------
    def _customer(self, email: str, name: str) -> int:
        email = email.strip().lower()
        if email:
            row = self.db.execute("SELECT id, name FROM customers WHERE email = ?",
                                  (email,)).fetchone()
            if row:
                if name and not row[1]:
                    self.db.execute("UPDATE customers SET name = ? WHERE id = ?", (name, row[0]))
                return row[0]
        return self.db.execute("INSERT INTO customers (email, name, created_at) VALUES (?, ?, ?)",
                               (email, name, now_iso())).lastrowid

    def _thread_of(self, msg: Incoming, customer: int | None, key: str) -> int | None:
        named = [msg.in_reply_to, *reversed(msg.references)]
        for ref in (r for r in named if r):
            row = self.db.execute("SELECT ticket_id FROM messages WHERE message_id = ?",
                                  (ref,)).fetchone()
            if row:
                return row[0]
        row = self.db.execute(
            "SELECT m.ticket_id FROM message_refs r JOIN messages m ON m.id = r.message "
            "WHERE r.ref = ? LIMIT 1", (msg.message_id,)).fetchone()
        if row:
            return row[0]
        if msg.external_ticket:
            row = self.db.execute("SELECT id FROM tickets WHERE channel = 'helpdesk' AND "
                                  "external_id = ?", (msg.external_ticket,)).fetchone()
            return row[0] if row else None
        if key and customer is not None:
            row = self.db.execute(
                "SELECT id FROM tickets WHERE customer_id = ? AND thread_key = ? "
                "ORDER BY status = 'solved', updated_at DESC LIMIT 1",
                (customer, key)).fetchone()
            if row:
                return row[0]
        return None

    def add(self, msg: Incoming, *, channel: str = "email",
            ticket: int | None = None) -> tuple[int | None, bool]:
        """Store one message; returns (ticket id, whether a ticket was created), or
        (None, False) for a duplicate.  ``ticket``: the ticket it joins, where the caller
        knows it (our own replies); else it is threaded.  Runs in the caller's transaction
        if one is open."""
        if self.db.execute("SELECT 1 FROM messages WHERE message_id = ?",
                           (msg.message_id,)).fetchone():
            return None, False
        inbound = msg.direction == "in"
        customer = None
        if inbound:
            customer = self._customer(msg.customer_email or msg.from_addr,
                                      msg.customer_name or msg.from_name)
        elif msg.customer_email:
            customer = self._customer(msg.customer_email, msg.customer_name)
        key = normalize_subject(msg.subject)
        if ticket is None:
            ticket = self._thread_of(msg, customer, key)
        date = _iso(msg.date) or now_iso()
        created = ticket is None
        if created:
            lang = detect_language(f"{msg.subject}\n{msg.text[:2000]}") if inbound else ""
            ticket = self.db.execute(
                "INSERT INTO tickets (subject, thread_key, customer_id, status, assignee, tags, "
                "lang, channel, external_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (msg.subject, key, customer, msg.status if msg.status in STATUSES else "new",
                 msg.assignee, json.dumps(list(msg.tags), ensure_ascii=False), lang,
                 "helpdesk" if msg.external_ticket else channel, msg.external_ticket,
                 date, date)).lastrowid
        row_id = self.db.execute(
            "INSERT INTO messages (ticket_id, message_id, in_reply_to, direction, from_name, "
            "from_addr, to_addrs, date, subject, text, quoted_from, html_only, attachments, "
            "notes, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket, msg.message_id, msg.in_reply_to, msg.direction, msg.from_name,
             msg.from_addr.lower(), json.dumps(list(msg.to)), date, msg.subject, msg.text,
             msg.quoted_from, int(msg.html_only),
             json.dumps(list(msg.attachments), ensure_ascii=False), msg.notes,
             msg.source)).lastrowid
        refs = {r for r in (msg.in_reply_to, *msg.references) if r}
        self.db.executemany("INSERT INTO message_refs (message, ref) VALUES (?, ?)",
                            [(row_id, r) for r in refs])
        self._refresh(ticket, inbound=inbound, date=date, reopen=not created)
        if not created and customer is not None:
            self.db.execute("UPDATE tickets SET customer_id = COALESCE(customer_id, ?) "
                            "WHERE id = ?", (customer, ticket))
        return ticket, created

    def _refresh(self, ticket: int, *, inbound: bool, date: str, reopen: bool) -> None:
        """Counts, times, unread mark and status after a message joined ``ticket``."""
        if inbound:
            self.db.execute(
                "UPDATE tickets SET messages = messages + 1, unread = 1, "
                "updated_at = MAX(updated_at, ?), "
                "waiting_since = COALESCE(waiting_since, ?), "
                "status = CASE WHEN ? AND status IN ('pending', 'solved') THEN 'open' "
                "ELSE status END WHERE id = ?", (date, date, int(reopen), ticket))
        else:
            self.db.execute(
                "UPDATE tickets SET messages = messages + 1, updated_at = MAX(updated_at, ?), "
                "waiting_since = NULL WHERE id = ?", (date, ticket))

    def add_many(self, messages: Iterable[Incoming | Exception], *, channel: str = "email",
                 batch: int = 500) -> ImportResult:
        """Store messages in transactions of ``batch``; an ``Exception`` in the stream is
        recorded as an error (with its source) and the rest go on."""
        result = ImportResult()
        pending = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for item in messages:
                if isinstance(item, Exception):
                    result.errors.append({"source": getattr(item, "source", ""),
                                          "error": str(item)})
                    continue
                ticket, created = self.add(item, channel=channel)
                if ticket is None:
                    result.duplicates += 1
                    continue
                result.messages += 1
                result.tickets += int(created)
                pending += 1
                if pending >= batch:
                    self.db.execute("COMMIT")
                    self.db.execute("BEGIN IMMEDIATE")
                    pending = 0
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        if result.tickets:
            self.analyze()
        return result

    def analyze(self) -> None:
        """Refresh SQLite's statistics of the tickets table (about 25 ms at 50,000), so
        the queue's filters use the right index as the store grows."""
        self.db.execute("ANALYZE tickets")

    # ---- reading ---------------------------------------------------------------------------
    _LIST_COLUMNS = ("t.id, t.subject, t.status, t.lang, t.channel, COALESCE(c.name, ''), "
                     "COALESCE(c.email, ''), t.messages, t.unread, t.waiting_since, "
                     "t.updated_at, t.tags, t.assignee, t.sentiment, t.escalation, t.risk")

    def _where(self, *, status: str | Iterable[str] | None, lang: str | None,
               channel: str | None, search: str | None,
               mood: str | None = None) -> tuple[str, list]:
        clauses, args = [], []
        if mood == "escalation":
            clauses.append("t.escalation = 1")
        elif mood == "negative":
            clauses.append("t.sentiment IN ('negative', 'very_negative')")
        elif mood:
            raise TicketError(f"Unknown mood filter {mood!r}; use 'escalation' or 'negative'.")
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"t.status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if lang:
            clauses.append("t.lang LIKE ?")
            args.append(lang + "%")
        if channel:
            clauses.append("t.channel = ?")
            args.append(channel)
        if search and search.strip():
            clauses.append(self._search_clause(search.strip(), args))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    @staticmethod
    def _search_clause(query: str, args: list) -> str:
        """Every word of ``query`` in the ticket's subject or any message.  The trigram
        index answers words of three or more characters; shorter ones (most Chinese
        words are two) fall back to a scan."""
        parts = []
        for word in query.split():
            if len(word) >= 3:
                parts.append("t.id IN (SELECT m.ticket_id FROM messages_fts f JOIN messages m "
                             "ON m.id = f.rowid WHERE messages_fts MATCH ?)")
                args.append('"' + word.replace('"', '""') + '"')
            else:
                parts.append("(t.subject LIKE ? ESCAPE '\\' OR t.id IN (SELECT ticket_id FROM "
                             "messages WHERE text LIKE ? ESCAPE '\\'))")
                like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") \
                    + "%"
                args += [like, like]
        return "(" + " AND ".join(parts) + ")"

    def list_tickets(self, *, status=None, lang: str | None = None,
                     channel: str | None = None, search: str | None = None,
                     order: str = "waiting", limit: int = 200,
                     offset: int = 0) -> list[TicketRow]:
        """``order``: "waiting" (longest-waiting first, then the rest newest first) or
        "updated" (newest first)."""
        where, args = self._where(status=status, lang=lang, channel=channel, search=search)
        rows = self.db.execute(
            f"SELECT {self._LIST_COLUMNS} FROM tickets t LEFT JOIN customers c "
            f"ON c.id = t.customer_id{where} ORDER BY {self._order(order)}, t.id "
            f"LIMIT ? OFFSET ?",
            [*args, limit, offset]).fetchall()
        return [self._ticket_row(r) for r in rows]

    def ticket_ids(self, *, status=None, lang: str | None = None, channel: str | None = None,
                   search: str | None = None, order: str = "waiting",
                   mood: str | None = None) -> list[int]:
        """Every matching ticket's id, in queue order.  A list view keeps these and asks
        ``rows`` for the ones on screen, so scrolling through 50,000 tickets never pages
        with OFFSET (which reads every row before the page)."""
        where, args = self._where(status=status, lang=lang, channel=channel, search=search,
                                  mood=mood)
        return [r[0] for r in self.db.execute(
            f"SELECT t.id FROM tickets t{where} ORDER BY {self._order(order)}, t.id", args)]

    def rows(self, ids: list[int]) -> list[TicketRow]:
        """The tickets ``ids`` (a screenful), in that order; unknown ids are left out."""
        if not ids:
            return []
        found = {r[0]: self._ticket_row(r) for r in self.db.execute(
            f"SELECT {self._LIST_COLUMNS} FROM tickets t LEFT JOIN customers c "
            f"ON c.id = t.customer_id WHERE t.id IN ({', '.join('?' * len(ids))})", ids)}
        return [found[i] for i in ids if i in found]

    @staticmethod
    def _order(order: str) -> str:
        if order == "waiting":   # longest-waiting first, then the rest newest first
            return "t.waiting_since IS NULL, t.waiting_since, t.updated_at DESC"
        if order == "updated":
            return "t.updated_at DESC"
        if order == "risk":      # escalations and the angriest first, then longest waiting
            return "t.risk DESC, t.waiting_since IS NULL, t.waiting_since"
        raise TicketError(f"Unknown order {order!r}; use 'waiting', 'updated' or 'risk'.")

    def count_tickets(self, *, status=None, lang: str | None = None,
                      channel: str | None = None, search: str | None = None) -> int:
        where, args = self._where(status=status, lang=lang, channel=channel, search=search)
        return self.db.execute(f"SELECT COUNT(*) FROM tickets t{where}", args).fetchone()[0]

    @staticmethod
    def _ticket_row(r) -> TicketRow:
        return TicketRow(id=r[0], subject=r[1], status=r[2], lang=r[3], channel=r[4],
                         customer=r[5] or r[6], customer_email=r[6], messages=r[7],
                         unread=bool(r[8]), waiting_since=r[9], updated_at=r[10],
                         tags=tuple(json.loads(r[11] or "[]")), assignee=r[12],
                         sentiment=r[13], escalation=bool(r[14]), risk=r[15])

    def ticket(self, ticket_id: int) -> TicketRow:
        row = self.db.execute(
            f"SELECT {self._LIST_COLUMNS} FROM tickets t LEFT JOIN customers c "
            f"ON c.id = t.customer_id WHERE t.id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise TicketError(f"There is no ticket {ticket_id}.")
        return self._ticket_row(row)

    def messages(self, ticket_id: int) -> list[StoredMessage]:
        rows = self.db.execute(
            "SELECT id, message_id, direction, from_name, from_addr, to_addrs, date, subject, "
            "text, quoted_from, html_only, attachments, notes FROM messages "
            "WHERE ticket_id = ? ORDER BY date, id", (ticket_id,)).fetchall()
        return [StoredMessage(id=r[0], message_id=r[1], direction=r[2], from_name=r[3],
                              from_addr=r[4], to=tuple(json.loads(r[5])), date=r[6],
                              subject=r[7], text=r[8], quoted_from=r[9], html_only=bool(r[10]),
                              attachments=tuple(json.loads(r[11])), notes=r[12])
                for r in rows]

    def set_status(self, ticket_id: int, status: str, *, actor: str = "") -> None:
        if status not in STATUSES:
            raise TicketError(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        with self.transaction():
            self.ticket(ticket_id)
            self.db.execute("UPDATE tickets SET status = ?, updated_at = ? WHERE id = ?",
                            (status, now_iso(), ticket_id))
            self._audit(actor, "status", ticket_id, detail={"status": status})

    def mark_read(self, ticket_id: int) -> None:
        self.db.execute("UPDATE tickets SET unread = 0 WHERE id = ?", (ticket_id,))

    # ---- drafts ----------------------------------------------------------------------------
    def save_draft(self, ticket_id: int, text: str, *, generated: str | None = None) -> None:
        """Keep the composer's text (and the model's draft it started from)."""
        if generated is None:
            self.db.execute(
                "INSERT INTO drafts (ticket_id, text, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(ticket_id) DO UPDATE SET text = excluded.text, "
                "updated_at = excluded.updated_at", (ticket_id, text, now_iso()))
        else:
            self.db.execute(
                "INSERT INTO drafts (ticket_id, text, generated, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(ticket_id) DO UPDATE SET text = excluded.text, "
                "generated = excluded.generated, updated_at = excluded.updated_at",
                (ticket_id, text, generated, now_iso()))

    def draft(self, ticket_id: int) -> tuple[str, str] | None:
        """(text, generated) of the ticket's saved draft, or None."""
        row = self.db.execute("SELECT text, generated FROM drafts WHERE ticket_id = ?",
                              (ticket_id,)).fetchone()
        return (row[0], row[1]) if row else None

    # ---- outbox and audit ------------------------------------------------------------------
    def _audit(self, actor: str, action: str, ticket_id: int | None, *,
               outbox_id: int | None = None, edit_distance: int | None = None,
               detail: dict | None = None) -> None:
        self.db.execute(
            "INSERT INTO audit (at, actor, action, ticket_id, outbox_id, edit_distance, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), actor, action, ticket_id, outbox_id, edit_distance,
             json.dumps(detail or {}, ensure_ascii=False)))

    def queue_reply(self, ticket_id: int, text: str, *, actor: str, from_domain: str,
                    to: tuple[str, ...] | None = None) -> int:
        """Put the agent's reply in the outbox (the agent clicked Send).  It gets its own
        Message-ID now, so a retry after a failure can never send a second copy."""
        ticket = self.ticket(ticket_id)
        thread = self.messages(ticket_id)
        inbound = [m for m in thread if m.direction == "in"]
        last = inbound[-1] if inbound else (thread[-1] if thread else None)
        recipients = tuple(to) if to else ((last.from_addr,) if last and last.from_addr
                                           else (ticket.customer_email,))
        if not any(recipients):
            raise TicketError(f"Ticket {ticket_id} has no customer address to reply to.")
        subject = ticket.subject or (last.subject if last else "")
        if normalize_subject(subject) == subject.strip().casefold() or not subject:
            subject = f"Re: {subject}".strip() if subject else "Re:"
        refs = [m.message_id for m in thread][-20:]
        draft = self.draft(ticket_id)
        generated = draft[1] if draft else ""
        message_id = f"<{uuid.uuid4().hex}@{from_domain or 'kefu.local'}>"
        with self.transaction():
            outbox = self.db.execute(
                "INSERT INTO outbox (ticket_id, message_id, to_addrs, subject, text, in_reply_to, "
                "refs, generated, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, message_id, json.dumps(list(recipients)), subject, text,
                 last.message_id if last else "", json.dumps(refs), generated, actor,
                 now_iso())).lastrowid
            self._audit(actor, "queued", ticket_id, outbox_id=outbox)
        return outbox

    def outbox(self, *, statuses: tuple[str, ...] = ("queued", "failed", "sending")) -> list[dict]:
        rows = self.db.execute(
            f"SELECT id, ticket_id, message_id, to_addrs, subject, text, in_reply_to, refs, "
            f"status, error, attempts FROM outbox WHERE status IN "
            f"({', '.join('?' * len(statuses))}) ORDER BY id", statuses).fetchall()
        return [{"id": r[0], "ticket_id": r[1], "message_id": r[2], "to": json.loads(r[3]),
                 "subject": r[4], "text": r[5], "in_reply_to": r[6], "references": json.loads(r[7]),
                 "status": r[8], "error": r[9], "attempts": r[10]} for r in rows]

    def claim_for_sending(self, outbox_id: int) -> bool:
        """Mark a queued or failed reply as being sent; False if it was sent already (or is
        being sent), so nothing goes out twice."""
        with self.transaction():
            changed = self.db.execute(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1 "
                "WHERE id = ? AND status IN ('queued', 'failed')", (outbox_id,)).rowcount
        return changed == 1

    def mark_failed(self, outbox_id: int, error: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE outbox SET status = 'failed', error = ? WHERE id = ?",
                            (error, outbox_id))
            ticket = self.db.execute("SELECT ticket_id, actor FROM outbox WHERE id = ?",
                                     (outbox_id,)).fetchone()
            self._audit(ticket[1] if ticket else "", "send_failed",
                        ticket[0] if ticket else None, outbox_id=outbox_id,
                        detail={"error": error})

    def mark_sent(self, outbox_id: int, *, sender: str, status: str = "pending") -> None:
        """The reply went out: store it in the thread, set the ticket's status, and audit
        who sent what from which draft, with the agent's edit distance from it."""
        row = self.db.execute(
            "SELECT ticket_id, message_id, to_addrs, subject, text, in_reply_to, refs, "
            "generated, actor, status FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        if row is None:
            raise TicketError(f"There is no outbox entry {outbox_id}.")
        ticket_id, message_id, to, subject, text, in_reply_to, refs, generated, actor, was = row
        if was == "sent":
            return
        sent_at = datetime.now(timezone.utc)
        with self.transaction():
            self.db.execute("UPDATE outbox SET status = 'sent', error = '', sent_at = ? "
                            "WHERE id = ?", (_iso(sent_at), outbox_id))
            self.add(Incoming(message_id=message_id, subject=subject, text=text,
                              from_addr=sender, to=tuple(json.loads(to)), date=sent_at,
                              in_reply_to=in_reply_to, references=tuple(json.loads(refs)),
                              direction="out", source="outbox"), ticket=ticket_id)
            self.db.execute("UPDATE tickets SET status = ?, unread = 0 WHERE id = ?",
                            (status, ticket_id))
            self.db.execute("DELETE FROM drafts WHERE ticket_id = ?", (ticket_id,))
            self._audit(actor, "sent", ticket_id, outbox_id=outbox_id,
                        edit_distance=levenshtein(generated, text) if generated else None,
                        detail={"message_id": message_id, "from_draft": bool(generated),
                                "draft_chars": len(generated), "sent_chars": len(text)})

    def record_sent_elsewhere(self, ticket_id: int, text: str, *, actor: str) -> None:
        """The agent sent this reply outside Kefu (pasted into a helpdesk, say) and clicked
        "Mark as sent": it joins the thread as ours, the ticket waits on the customer, and
        the audit log records it with the agent's edit distance from the model's draft."""
        self.ticket(ticket_id)
        draft = self.draft(ticket_id)
        generated = draft[1] if draft else ""
        message_id = f"<{uuid.uuid4().hex}@kefu.local>"
        with self.transaction():
            self.add(Incoming(message_id=message_id, subject="", text=text,
                              date=datetime.now(timezone.utc), direction="out",
                              external_ticket="", source="marked-sent"),
                     ticket=ticket_id)
            self.db.execute("UPDATE tickets SET status = 'pending', unread = 0 WHERE id = ?",
                            (ticket_id,))
            self.db.execute("DELETE FROM drafts WHERE ticket_id = ?", (ticket_id,))
            self._audit(actor, "sent_elsewhere", ticket_id,
                        edit_distance=levenshtein(generated, text) if generated else None,
                        detail={"message_id": message_id, "from_draft": bool(generated),
                                "draft_chars": len(generated), "sent_chars": len(text)})

    # ---- analysis (core/analysis) ----------------------------------------------------------
    def unanalysed(self, limit: int = 64) -> list[tuple[int, int, str]]:
        """(message id, ticket id, own text) of customer messages not analysed yet, the
        newest first (what arrived last matters most to the queue)."""
        rows = self.db.execute(
            "SELECT m.id, m.ticket_id, m.text, m.quoted_from FROM messages m "
            "LEFT JOIN analysis a ON a.message = m.id WHERE m.direction = 'in' "
            "AND a.message IS NULL ORDER BY m.id DESC LIMIT ?", (limit,)).fetchall()
        return [(r[0], r[1], split_own(r[2], r[3])[0]) for r in rows]

    def save_analysis(self, results: list[tuple[int, dict]]) -> set[int]:
        """Keep ``(message id, Analysis.to_json())`` pairs and refresh each ticket's mood
        and risk from its latest customer message; returns the tickets changed."""
        tickets: set[int] = set()
        with self.transaction():
            for message, result in results:
                row = self.db.execute("SELECT ticket_id FROM messages WHERE id = ?",
                                      (message,)).fetchone()
                if row is None:
                    continue
                tickets.add(row[0])
                self.db.execute(
                    "INSERT OR REPLACE INTO analysis (message, ticket_id, sentiment, score, "
                    "escalation, reasons, intent, urgency, result, analyzed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (message, row[0], result["sentiment"], float(result["score"]),
                     int(bool(result["escalation"])), json.dumps(result["reasons"]),
                     result.get("intent", ""), result.get("urgency", "normal"),
                     json.dumps(result, ensure_ascii=False), now_iso()))
            for ticket in tickets:
                self._refresh_mood(ticket)
        return tickets

    def _refresh_mood(self, ticket: int) -> None:
        latest = self.db.execute(
            "SELECT a.sentiment, a.score, a.intent, a.urgency FROM analysis a JOIN messages m "
            "ON m.id = a.message WHERE a.ticket_id = ? ORDER BY m.date DESC, m.id DESC "
            "LIMIT 1", (ticket,)).fetchone()
        if latest is None:
            return
        escalated = self.db.execute("SELECT MAX(escalation) FROM analysis WHERE ticket_id = ?",
                                    (ticket,)).fetchone()[0] or 0
        sentiment, score, intent, urgency = latest
        risk = 2.0 * escalated + max(0.0, -score) + (0.5 if urgency == "high" else 0.0)
        self.db.execute("UPDATE tickets SET sentiment = ?, escalation = ?, risk = ?, "
                        "intent = ? WHERE id = ?",
                        (sentiment, escalated, risk, intent, ticket))

    def analysed_messages(self) -> list[dict]:
        """Every analysed customer message with its ticket's subject, customer, channel
        and agent (the assignee, else who replied last): the supervisor's records."""
        rows = self.db.execute(
            "SELECT a.ticket_id, t.subject, COALESCE(NULLIF(c.name, ''), c.email, ''), "
            "t.channel, COALESCE(NULLIF(t.assignee, ''), (SELECT actor FROM audit u "
            "WHERE u.ticket_id = t.id AND u.action IN ('sent', 'sent_elsewhere') "
            "ORDER BY u.id DESC LIMIT 1), ''), m.date, a.result FROM analysis a "
            "JOIN messages m ON m.id = a.message JOIN tickets t ON t.id = a.ticket_id "
            "LEFT JOIN customers c ON c.id = t.customer_id ORDER BY m.date").fetchall()
        return [{"ticket_id": r[0], "subject": r[1], "customer": r[2], "channel": r[3],
                 "agent": r[4], "when": r[5] or "", "result": json.loads(r[6])} for r in rows]

    def analyses(self, ticket_id: int) -> dict[int, dict]:
        """The analysis of each analysed message of a ticket, by message id."""
        return {r[0]: json.loads(r[1]) for r in self.db.execute(
            "SELECT message, result FROM analysis WHERE ticket_id = ?", (ticket_id,))}

    # ---- mailbox sync state ----------------------------------------------------------------
    def mail_position(self, account: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID stored) of a mailbox folder, or None before its first sync."""
        row = self.db.execute("SELECT uidvalidity, last_uid FROM mail_state WHERE account = ? "
                              "AND folder = ?", (account, folder)).fetchone()
        return (row[0], row[1]) if row else None

    def set_mail_position(self, account: str, folder: str, uidvalidity: int,
                          last_uid: int) -> None:
        self.db.execute(
            "INSERT INTO mail_state (account, folder, uidvalidity, last_uid, synced_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, folder) DO UPDATE SET "
            "uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, "
            "synced_at = excluded.synced_at", (account, folder, uidvalidity, last_uid, now_iso()))

    def interrupted_sends(self) -> int:
        """Replies left 'sending' by a process that died mid-send become 'failed' with a
        warning: they may have gone out, so only the agent decides to send again."""
        with self.transaction():
            return self.db.execute(
                "UPDATE outbox SET status = 'failed', error = 'Interrupted while sending: it "
                "may have reached the customer. Check before sending again.' "
                "WHERE status = 'sending'").rowcount

    def audit(self, ticket_id: int | None = None) -> list[dict]:
        sql = ("SELECT at, actor, action, ticket_id, outbox_id, edit_distance, detail "
               "FROM audit")
        args: tuple = ()
        if ticket_id is not None:
            sql += " WHERE ticket_id = ?"
            args = (ticket_id,)
        return [{"at": r[0], "actor": r[1], "action": r[2], "ticket_id": r[3],
                 "outbox_id": r[4], "edit_distance": r[5], "detail": json.loads(r[6])}
                for r in self.db.execute(sql + " ORDER BY id", args)]


def split_own(text: str, quoted_from: int | None) -> tuple[str, str]:
    """(what a message says itself, its quoted history and signature).  A message that
    is all quote is kept whole as its own text, so it stays readable."""
    cut = quoted_from if quoted_from is not None else len(text)
    own = text[:cut].rstrip()
    if not own.strip():
        return text.strip(), ""
    return own, text[cut:].strip()


def as_ticket(store: TicketStore, ticket_id: int) -> "Ticket":
    """One stored ticket in the form the window shows and drafting reads
    (``core.tickets.Ticket``), with its whole thread.  Each message's quoted history and
    signature are folded into ``Message.quoted``: the model reads only what is new."""
    from core.tickets import Message, Ticket

    row = store.ticket(ticket_id)
    analyses = store.analyses(ticket_id)
    messages = []
    for m in store.messages(ticket_id):
        own, quoted = split_own(m.text, m.quoted_from)
        if not own and not m.attachments:
            continue
        author = f"{m.from_name} <{m.from_addr}>" if m.from_name else m.from_addr
        messages.append(Message("customer" if m.direction == "in" else "agent", own,
                                author=author, date=m.date or "", attachments=m.attachments,
                                quoted=quoted, notes=m.notes, analysis=analyses.get(m.id)))
    return Ticket(subject=row.subject, messages=tuple(messages), id=str(row.id),
                  lang=row.lang if row.lang in ("en", "zh", "zh-Hant") else "",
                  customer={"name": row.customer, "email": row.customer_email},
                  channel=row.channel, received=row.waiting_since or row.updated_at)
