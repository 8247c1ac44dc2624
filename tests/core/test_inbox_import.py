"""Importing .eml, .mbox and helpdesk exports into the ticket store."""

from __future__ import annotations

import json
from email.message import EmailMessage

import pytest

from core.inbox.importers import import_files
from core.inbox.store import TicketStore
from core.tickets import demo_tickets_file


def eml(mid, subject, body, *, sender="ann@x.com", reply_to=None, charset="utf-8") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann <{sender}>"
    msg["To"] = "support@lumen.example"
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0800"
    if reply_to:
        msg["In-Reply-To"] = reply_to
    msg.set_content(body, charset=charset)
    return bytes(msg)


@pytest.fixture
def store(tmp_path):
    s = TicketStore(tmp_path / "tickets.sqlite")
    yield s
    s.close()


def test_eml_and_mbox_thread_together_and_import_once(store, tmp_path):
    (tmp_path / "first.eml").write_bytes(eml("<a1@x>", "退款问题", "我的退款还没到账。",
                                             charset="gb18030"))
    reply = eml("<a2@x>", "回复：退款问题", "还是没有到账。", reply_to="<a1@x>")
    other = eml("<b1@x>", "Kettle", "The kettle leaks.", sender="bob@y.com")
    mbox = b"".join(b"From MAILER-DAEMON Mon Nov 23 10:00:00 2026\n" + m + b"\n"
                    for m in (reply, other))
    (tmp_path / "inbox.mbox").write_bytes(mbox)
    result = import_files(store, [tmp_path / "first.eml", tmp_path / "inbox.mbox"])
    assert result.to_json() == {"tickets": 2, "messages": 3, "duplicates": 0, "errors": []}
    again = import_files(store, [tmp_path / "inbox.mbox", tmp_path / "first.eml"])
    assert (again.messages, again.duplicates) == (0, 3)
    (zh,) = store.list_tickets(lang="zh")
    assert zh.subject == "退款问题" and zh.messages == 2 and zh.customer == "Ann"
    assert [m.text.strip() for m in store.messages(zh.id)] == ["我的退款还没到账。", "还是没有到账。"]


def test_generic_json_export_is_the_demo_schema(store):
    result = import_files(store, [demo_tickets_file()])
    demo = json.loads(demo_tickets_file().read_text(encoding="utf-8"))
    assert result.tickets == len(demo) and not result.errors
    assert result.messages == sum(len(t["messages"]) for t in demo)
    assert import_files(store, [demo_tickets_file()]).duplicates == result.messages
    rows = store.list_tickets(limit=100)
    assert {r.lang for r in rows} >= {"en", "zh"}
    assert all(r.channel == "helpdesk" for r in rows)


def test_zendesk_export_with_comments(store, tmp_path):
    export = {"tickets": [{
        "id": 35436, "subject": "Broken lamp", "status": "hold", "tags": ["damaged", "lamp"],
        "requester_id": 20978392, "assignee_id": 235323,
        "requester": {"id": 20978392, "name": "Dana Lee", "email": "dana@example.com"},
        "comments": [
            {"id": 1274, "author_id": 20978392, "plain_body": "The lamp arrived broken.",
             "created_at": "2026-11-20T09:00:00Z",
             "attachments": [{"file_name": "photo.jpg", "size": 52000,
                              "content_type": "image/jpeg"}]},
            {"id": 1275, "author_id": 235323, "body": "Sorry! A new one is on its way.",
             "created_at": "2026-11-20T10:00:00Z"},
        ]}]}
    (tmp_path / "zendesk.json").write_text(json.dumps(export), encoding="utf-8")
    result = import_files(store, [tmp_path / "zendesk.json"])
    assert (result.tickets, result.messages) == (1, 2)
    (row,) = store.list_tickets()
    assert (row.status, row.tags, row.customer) == ("pending", ("damaged", "lamp"), "Dana Lee")
    first, second = store.messages(row.id)
    assert first.direction == "in" and first.attachments[0]["filename"] == "photo.jpg"
    assert second.direction == "out" and row.waiting_since is None


def test_csv_and_jsonl_exports_and_their_errors(store, tmp_path):
    (tmp_path / "t.csv").write_bytes(
        "ticket_id,subject,from,text,customer_email,status,tags\n"
        "T1,运费问题,customer,运费怎么算？,li@c.cn,open,\"shipping, fee\"\n"
        "T1,运费问题,agent,满99元包邮。,,,\n"
        "T2,,customer,,x@y.z,,\n".encode("gbk"))
    (tmp_path / "t.jsonl").write_text(
        json.dumps({"id": "J1", "subject": "Hi", "customer": {"email": "j@k.com"},
                    "messages": [{"from": "customer", "text": "Hello"}]}) + "\n{oops\n",
        encoding="utf-8")
    result = import_files(store, [tmp_path / "t.csv", tmp_path / "t.jsonl"])
    assert (result.tickets, result.messages) == (2, 3)
    reasons = {e["source"].rsplit("/", 1)[-1]: e["error"] for e in result.errors}
    assert reasons == {"t.csv line 4": "has no ticket_id or no text",
                       "t.jsonl line 2": "is not JSON (Expecting property name enclosed in "
                                         "double quotes)"}
    csv_ticket = store.list_tickets(lang="zh")[0]
    assert csv_ticket.tags == ("shipping", "fee") and csv_ticket.status == "open"


@pytest.mark.parametrize("name, data, words", [
    ("x.json", b"{not json", "is not valid JSON"),
    ("x.csv", b"a,b\n1,2\n", "no ticket_id, text column"),
    ("x.pdf", b"%PDF", "is not a ticket format"),
    ("x.mbox", b"Subject: hi\n\nno From line", "is not an mbox file"),
    ("x.eml", b"", "is empty"),
])
def test_bad_files_are_reported_and_nothing_is_imported(store, tmp_path, name, data, words):
    (tmp_path / name).write_bytes(data)
    result = import_files(store, [tmp_path / name])
    assert result.messages == 0 and len(result.errors) == 1
    assert words in result.errors[0]["error"]
    assert store.count_tickets() == 0
