"""Import tickets from files: ``.eml``, ``.mbox``, and helpdesk exports.

Helpdesk exports come in two shapes, told apart by their content:

* **Kefu's generic ticket schema** (JSON: a list of tickets, or ``{"tickets": [...]}``;
  JSONL: one ticket per line)::

      {"id": "T-1001", "subject": "...", "status": "open", "tags": ["refund"],
       "assignee": "amy", "customer": {"name": "...", "email": "..."},
       "messages": [{"id": "m1", "from": "customer" | "agent", "date": "ISO 8601",
                     "text": "...", "attachments": [{"filename": "...", "size": 123}]}]}

  and as CSV, one row per message with the columns ``ticket_id``, ``subject``, ``from``
  (customer or agent), ``text``, and optionally ``message_id``, ``date``,
  ``customer_email``, ``customer_name``, ``status``, ``tags`` (comma-separated),
  ``assignee``.  The demo tickets (``resources/demo/tickets.json``) are in this schema.

* **Zendesk's JSON export** (the account data export, and the REST API's ticket objects
  with their comments): tickets with ``id``, ``subject``, ``status``, ``tags``,
  ``requester_id`` (or ``requester`` with ``name`` and ``email``), ``assignee_id`` and a
  ``comments`` list, each with ``id``, ``author_id``, ``plain_body`` or ``body``,
  ``created_at`` and ``attachments`` (``file_name``, ``size``, ``content_type``).
  Zendesk's ``hold`` becomes pending and ``closed`` solved.

Every message gets a stable Message-ID (the mail's own; for exports, one made of the
system, the ticket and the message), so importing the same file twice adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from core.errors import KbError, TicketError
from core.fsutil import FileTooLarge, jsonl_objects, read_bounded
from core.inbox.store import ImportResult, Incoming, TicketStore
from core.mail.mbox import iter_mbox
from core.mail.parse import MailMessage, parse_message

MAX_EXPORT_BYTES = 512 * 1024 * 1024   # a JSON or CSV export is read whole
_STATUS_MAP = {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
               "on-hold": "pending", "solved": "solved", "closed": "solved"}


class ImportProblem(TicketError):
    """One message or ticket that could not be imported; the rest go on."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


def from_mail(mail: MailMessage, *, source: str, direction: str = "in") -> Incoming:
    return Incoming(
        message_id=mail.message_id, subject=mail.subject, text=mail.text,
        from_addr=mail.from_addr, from_name=mail.from_name, to=mail.to, date=mail.date,
        in_reply_to=mail.in_reply_to, references=mail.references, direction=direction,
        quoted_from=mail.quoted_from, html_only=mail.html_only,
        attachments=tuple({"filename": a.filename, "content_type": a.content_type,
                           "size": a.size} for a in mail.attachments),
        notes="; ".join(x for x in (mail.charset_note, *mail.defects) if x),
        source=source)


def _eml(path: Path) -> Iterator[Incoming | Exception]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield ImportProblem(str(path), f"cannot be read ({exc.strerror or exc})")
        return
    try:
        yield from_mail(parse_message(data, name=str(path)), source=str(path))
    except TicketError as exc:
        yield ImportProblem(str(path), str(exc))


def _mbox(path: Path) -> Iterator[Incoming | Exception]:
    try:
        for index, raw in iter_mbox(path):
            where = f"{path} message {index}"
            try:
                yield from_mail(parse_message(raw, name=where), source=where)
            except TicketError as exc:
                yield ImportProblem(where, str(exc))
    except TicketError as exc:
        yield ImportProblem(str(path), str(exc))


def _read_export(path: Path) -> str:
    try:
        data = read_bounded(path, MAX_EXPORT_BYTES)
    except FileTooLarge as exc:
        raise ImportProblem(str(path), f"{exc.size} bytes is over the {MAX_EXPORT_BYTES} byte "
                                       f"limit for a JSON or CSV export; split it") from None
    except OSError as exc:
        raise ImportProblem(str(path), f"cannot be read ({exc.strerror or exc})") from None
    from core.kb.textenc import decode_text

    try:
        return decode_text(data, name=path.name)[0]
    except KbError as exc:
        raise ImportProblem(str(path), str(exc)) from None


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _synthetic_id(system: str, ticket: str, message: str) -> str:
    safe = hashlib.sha1(f"{ticket}\0{message}".encode()).hexdigest()[:20]
    return f"<{system}-{safe}@import.kefu.local>"


def _attachments(items, *, name_key: str) -> tuple[dict, ...]:
    out = []
    for item in items or ():
        if isinstance(item, dict):
            out.append({"filename": str(item.get(name_key) or item.get("filename") or ""),
                        "content_type": str(item.get("content_type") or ""),
                        "size": int(item.get("size") or 0)})
    return tuple(out)


def _generic_ticket(doc: dict, where: str) -> Iterator[Incoming | Exception]:
    ticket_id = str(doc.get("id") or "")
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        yield ImportProblem(where, "has no 'messages' list")
        return
    customer = doc.get("customer") if isinstance(doc.get("customer"), dict) else {}
    email = str(customer.get("email") or "")
    name = str(customer.get("name") or "")
    key = ticket_id or hashlib.sha1(json.dumps(doc, sort_keys=True, ensure_ascii=False)
                                    .encode()).hexdigest()
    for n, msg in enumerate(messages, start=1):
        if not isinstance(msg, dict) or not isinstance(msg.get("text", ""), str):
            yield ImportProblem(f"{where} message {n}", "is not a {\"from\", \"text\"} object")
            continue
        sender = str(msg.get("from") or "customer")
        inbound = sender != "agent"
        yield Incoming(
            message_id=_synthetic_id("ticket", key, str(msg.get("id") or n)),
            subject=str(doc.get("subject") or ""), text=msg.get("text") or "",
            from_addr=(email if inbound else "") if "@" not in sender else sender,
            from_name=name if inbound else "", date=_date(msg.get("date")),
            direction="in" if inbound else "out",
            attachments=_attachments(msg.get("attachments"), name_key="filename"),
            source=f"{where} message {n}", external_ticket=f"ticket:{key}",
            status=_STATUS_MAP.get(str(doc.get("status") or "").lower(), ""),
            tags=tuple(str(t) for t in doc.get("tags") or () if t),
            assignee=str(doc.get("assignee") or ""), customer_name=name, customer_email=email)


def _zendesk_ticket(doc: dict, where: str) -> Iterator[Incoming | Exception]:
    ticket_id = str(doc.get("id") or "")
    if not ticket_id:
        yield ImportProblem(where, "a Zendesk ticket without an 'id'")
        return
    requester = doc.get("requester") if isinstance(doc.get("requester"), dict) else {}
    requester_id = doc.get("requester_id", requester.get("id"))
    email = str(requester.get("email") or "")
    name = str(requester.get("name") or "")
    comments = doc.get("comments") or []
    if not comments and doc.get("description"):
        comments = [{"id": "description", "author_id": requester_id,
                     "plain_body": doc["description"], "created_at": doc.get("created_at")}]
    for n, comment in enumerate(comments, start=1):
        if not isinstance(comment, dict):
            yield ImportProblem(f"{where} comment {n}", "is not an object")
            continue
        inbound = comment.get("author_id") == requester_id
        text = comment.get("plain_body") or comment.get("body") or ""
        yield Incoming(
            message_id=_synthetic_id("zendesk", ticket_id, str(comment.get("id") or n)),
            subject=str(doc.get("subject") or doc.get("raw_subject") or ""), text=str(text),
            from_addr=email if inbound else "", from_name=name if inbound else "",
            date=_date(comment.get("created_at")), direction="in" if inbound else "out",
            attachments=_attachments(comment.get("attachments"), name_key="file_name"),
            source=f"{where} comment {n}", external_ticket=f"zendesk:{ticket_id}",
            status=_STATUS_MAP.get(str(doc.get("status") or "").lower(), ""),
            tags=tuple(str(t) for t in doc.get("tags") or () if t),
            assignee=str(doc.get("assignee_id") or ""), customer_name=name,
            customer_email=email)


def _tickets_from_objects(docs: Iterable, path: Path) -> Iterator[Incoming | Exception]:
    for n, doc in enumerate(docs, start=1):
        where = f"{path} ticket {n}"
        if not isinstance(doc, dict):
            yield ImportProblem(where, "is not a JSON object")
        elif "comments" in doc or "requester_id" in doc:
            yield from _zendesk_ticket(doc, where)
        else:
            yield from _generic_ticket(doc, where)


def _json(path: Path, text: str) -> Iterator[Incoming | Exception]:
    if path.suffix.lower() == ".jsonl":
        problems: list[ImportProblem] = []
        docs = [doc for _, doc in jsonl_objects(
            text, name=str(path),
            on_error=lambda n, why: problems.append(ImportProblem(f"{path} line {n}", why)))]
        yield from problems
        yield from _tickets_from_objects(docs, path)
        return
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        yield ImportProblem(str(path), f"is not valid JSON (line {exc.lineno}, column "
                                       f"{exc.colno}: {exc.msg})")
        return
    if isinstance(doc, dict) and isinstance(doc.get("tickets"), list):
        doc = doc["tickets"]
    elif isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        yield ImportProblem(str(path), "holds no ticket objects")
        return
    yield from _tickets_from_objects(doc, path)


def _csv(path: Path, text: str) -> Iterator[Incoming | Exception]:
    rows = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in rows.fieldnames or []]
    missing = [c for c in ("ticket_id", "text") if c not in columns]
    if missing:
        yield ImportProblem(str(path), f"is not a ticket CSV: no {', '.join(missing)} column "
                                       f"(columns found: {', '.join(columns) or 'none'})")
        return
    for n, raw in enumerate(rows, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"{path} line {n}"
        if not row.get("ticket_id") or not row.get("text"):
            yield ImportProblem(where, "has no ticket_id or no text")
            continue
        inbound = row.get("from", "customer").lower() != "agent"
        ticket = row["ticket_id"]
        yield Incoming(
            message_id=_synthetic_id("csv", ticket, row.get("message_id") or
                                     hashlib.sha1(row["text"].encode()).hexdigest()),
            subject=row.get("subject", ""), text=row["text"],
            from_addr=row.get("customer_email", "") if inbound else "",
            from_name=row.get("customer_name", "") if inbound else "",
            date=_date(row.get("date")), direction="in" if inbound else "out",
            source=where, external_ticket=f"ticket:{ticket}",
            status=_STATUS_MAP.get(row.get("status", "").lower(), ""),
            tags=tuple(t.strip() for t in row.get("tags", "").split(",") if t.strip()),
            assignee=row.get("assignee", ""), customer_name=row.get("customer_name", ""),
            customer_email=row.get("customer_email", ""))


def _looks_like_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def messages_in(path: Path) -> Iterator[Incoming | Exception]:
    """Every message in one file, or ``ImportProblem`` for what cannot be read."""
    suffix = path.suffix.lower()
    if not path.is_file():
        yield ImportProblem(str(path), "no such file" if not path.exists() else "not a file")
    elif suffix == ".eml":
        yield from _eml(path)
    elif suffix in (".mbox", ".mbx") or (suffix == "" and _looks_like_mbox(path)):
        yield from _mbox(path)
    elif suffix in (".json", ".jsonl", ".csv"):
        try:
            text = _read_export(path)
        except ImportProblem as exc:
            yield exc
        else:
            yield from (_csv if suffix == ".csv" else _json)(path, text)
    else:
        yield ImportProblem(str(path), f"{suffix or 'files without an extension'} is not a "
                                       f"ticket format (use .eml, .mbox, .json, .jsonl or .csv)")


def import_files(store: TicketStore, paths: Iterable[Path]) -> ImportResult:
    total = ImportResult()
    for path in paths:
        path = Path(path)
        channel = "email" if path.suffix.lower() in (".eml", ".mbox", ".mbx", "") else "import"
        total.add(store.add_many(messages_in(path), channel=channel))
    return total
