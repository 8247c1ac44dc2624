"""The ticket store: schema, threading, duplicates, queue queries, drafts, outbox, audit."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from core.errors import TicketError
from core.inbox.editdistance import levenshtein
from core.inbox.store import SCHEMA_VERSION, Incoming, TicketStore

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def mail(mid, subject="Refund for order 1001", text="Where is my refund?", *, sender="ann@x.com",
         hours=0, reply_to="", refs=(), direction="in"):
    return Incoming(message_id=mid, subject=subject, text=text, from_addr=sender,
                    from_name=sender.split("@")[0].title(), date=T0 + timedelta(hours=hours),
                    in_reply_to=reply_to, references=tuple(refs), direction=direction)


@pytest.fixture
def store(tmp_path):
    s = TicketStore(tmp_path / "tickets.sqlite")
    yield s
    s.close()


def test_schema_is_versioned_in_wal_mode_and_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "t.sqlite"
    store = TicketStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add(mail("<1@x>"))
    store.close()
    again = TicketStore(path)          # reopening migrates nothing and keeps the data
    assert again.count_tickets() == 1
    again.close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(TicketError, match="newer Kefu"):
        TicketStore(path)


def test_threads_join_by_reply_headers_subject_and_late_originals(store):
    first, created = store.add(mail("<1@x>"))
    assert created
    # In-Reply-To
    assert store.add(mail("<2@x>", "Re: Refund for order 1001", hours=1, reply_to="<1@x>")) == \
        (first, False)
    # References only (a client that drops In-Reply-To)
    assert store.add(mail("<3@x>", "Something else", hours=2, refs=["<0@x>", "<2@x>"]))[0] == first
    # Subject fallback, same customer, Chinese prefix
    assert store.add(mail("<4@x>", "回复：RE: Refund for order 1001", hours=3))[0] == first
    # Same subject from another customer is another ticket
    other, created = store.add(mail("<5@x>", "Refund for order 1001", sender="bob@y.com"))
    assert created and other != first
    # A reply stored before its original: the original joins the reply's ticket
    late_reply, _ = store.add(mail("<7@x>", "Re: Lamp", sender="cy@z.com", reply_to="<6@x>"))
    assert store.add(mail("<6@x>", "Lamp broken", sender="cy@z.com", hours=-1))[0] == late_reply
    # A duplicate Message-ID is stored once
    assert store.add(mail("<2@x>")) == (None, False)
    assert [m.message_id for m in store.messages(first)] == ["<1@x>", "<2@x>", "<3@x>", "<4@x>"]
    assert store.ticket(first).messages == 4


def test_status_unread_and_waiting_follow_the_conversation(store):
    ticket, _ = store.add(mail("<1@x>"))
    row = store.ticket(ticket)
    assert row.status == "new" and row.unread and row.waiting_since == T0.isoformat()
    store.mark_read(ticket)
    store.set_status(ticket, "solved", actor="amy")
    store.add(mail("<2@x>", "Re: Refund for order 1001", hours=5, reply_to="<1@x>"))
    row = store.ticket(ticket)
    assert row.status == "open" and row.unread      # the customer wrote again
    store.add(mail("<3@x>", "Re: Refund", "Done.", sender="", hours=6, reply_to="<2@x>",
                   direction="out"))
    assert store.ticket(ticket).waiting_since is None
    with pytest.raises(TicketError, match="Unknown status"):
        store.set_status(ticket, "closed")
    assert [a["action"] for a in store.audit(ticket)] == ["status"]


def test_queue_filters_search_and_order(store):
    store.add(mail("<1@x>", "Kettle leaks", "The kettle leaks water", hours=5))
    store.add(mail("<2@x>", "退款问题", "我的退款还没有到账，请帮忙查一下物流单号", sender="li@c.cn",
                   hours=1))
    store.add(mail("<3@x>", "Coupon", "The coupon code SAVE10 did not apply", sender="c@d.com",
                   hours=3))
    assert [r.subject for r in store.list_tickets()] == ["退款问题", "Coupon", "Kettle leaks"]
    assert [r.lang for r in store.list_tickets(lang="zh")] == ["zh"]
    assert [r.subject for r in store.list_tickets(search="coupon save10")] == ["Coupon"]
    assert [r.subject for r in store.list_tickets(search="退款")] == ["退款问题"]      # 2 chars
    assert [r.subject for r in store.list_tickets(search="物流单号")] == ["退款问题"]    # trigram
    assert store.list_tickets(search='100% "odd_"') == []                      # no SQL surprises
    assert store.count_tickets(status="new") == 3 and store.count_tickets(status="solved") == 0


def test_drafts_are_kept_per_ticket(store):
    ticket, _ = store.add(mail("<1@x>"))
    assert store.draft(ticket) is None
    store.save_draft(ticket, "Hello Ann,", generated="Hello Ann, your refund...")
    store.save_draft(ticket, "Hello Ann, edited")           # a keystroke keeps `generated`
    assert store.draft(ticket) == ("Hello Ann, edited", "Hello Ann, your refund...")


def test_outbox_sends_once_and_audits_the_edit(store):
    ticket, _ = store.add(mail("<1@x>"))
    store.add(mail("<2@x>", "Re: Refund for order 1001", "Any news?", hours=1, reply_to="<1@x>"))
    generated = "Dear Ann, your refund was issued on 18 November."
    sent_text = "Dear Ann, your refund was issued on 18 November. It takes 5 days."
    store.save_draft(ticket, sent_text, generated=generated)
    box = store.queue_reply(ticket, sent_text, actor="amy", from_domain="lumen.example")
    entry = store.outbox()[0]
    assert entry["subject"] == "Re: Refund for order 1001" and entry["to"] == ["ann@x.com"]
    assert entry["in_reply_to"] == "<2@x>" and entry["references"] == ["<1@x>", "<2@x>"]
    assert entry["message_id"].endswith("@lumen.example>")

    assert store.claim_for_sending(box)
    assert not store.claim_for_sending(box)          # being sent: nobody else takes it
    store.mark_failed(box, "550 mailbox unavailable")
    assert store.outbox()[0]["status"] == "failed"
    assert store.claim_for_sending(box)              # a retry, same Message-ID
    store.mark_sent(box, sender="support@lumen.example")
    store.mark_sent(box, sender="support@lumen.example")   # twice changes nothing
    assert not store.claim_for_sending(box)
    assert store.outbox() == []
    thread = store.messages(ticket)
    assert thread[-1].direction == "out" and thread[-1].message_id == entry["message_id"]
    assert store.ticket(ticket).status == "pending" and store.draft(ticket) is None
    sent = [a for a in store.audit(ticket) if a["action"] == "sent"]
    assert len(sent) == 1 and sent[0]["actor"] == "amy"
    assert sent[0]["edit_distance"] == len(" It takes 5 days.")
    assert [a["action"] for a in store.audit(ticket)] == ["queued", "send_failed", "sent"]


def test_edit_distance_matches_the_textbook_table():
    def table(a, b):
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    rng = random.Random(4)
    for _ in range(500):
        a = "".join(rng.choice("ab退款 x") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("ab退款 x") for _ in range(rng.randint(0, 40)))
        assert levenshtein(a, b) == table(a, b)
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_queue_ids_and_windows_of_rows(store):
    for i in range(30):
        store.add(mail(f"<{i}@x>", f"Question {i}", sender=f"c{i}@x.com", hours=30 - i))
    ids = store.ticket_ids()
    assert len(ids) == 30 and ids == [r.id for r in store.list_tickets()]
    window = store.rows(ids[10:15] + [9999])
    assert [r.id for r in window] == ids[10:15]
    assert [r.subject for r in window] == [f"Question {29 - n}" for n in range(10, 15)]
    with pytest.raises(TicketError, match="Unknown order"):
        store.ticket_ids(order="random")


def test_a_version_1_store_migrates_to_the_current_schema_keeping_its_tickets(tmp_path):
    from core.inbox.store import MIGRATIONS

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0])
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO tickets (subject, created_at, updated_at) VALUES ('Old', 'x', 'x')")
    old.commit()
    old.close()
    store = TicketStore(path)
    assert store.schema_version == SCHEMA_VERSION == 4
    assert [r.subject for r in store.list_tickets()] == ["Old"]
    plan = " ".join(r[3] for r in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT t.id FROM tickets t ORDER BY t.waiting_since IS NULL, "
        "t.waiting_since, t.updated_at DESC, t.id"))
    assert "COVERING INDEX tickets_queue" in plan and "TEMP B-TREE" not in plan
    assert store.mail_position("acct", "INBOX") is None
    store.set_mail_position("acct", "INBOX", 7, 42)
    assert store.mail_position("acct", "INBOX") == (7, 42)
    store.close()


def test_a_send_interrupted_by_a_crash_is_not_sent_again_silently(store):
    ticket, _ = store.add(mail("<1@x>"))
    box = store.queue_reply(ticket, "Hello", actor="amy", from_domain="x")
    assert store.claim_for_sending(box)
    # ... the process dies here, after the claim, maybe after the server accepted it.
    assert store.interrupted_sends() == 1
    entry = store.outbox()[0]
    assert entry["status"] == "failed" and "may have reached the customer" in entry["error"]


def test_backoff_doubles_up_to_a_ceiling_and_resets():
    from core.inbox.mailclient import Backoff

    backoff = Backoff(first=5, ceiling=30)
    assert [backoff.failed() for _ in range(5)] == [5, 10, 20, 30, 30]
    backoff.succeeded()
    assert backoff.failed() == 5


def test_store_tickets_in_the_form_the_window_drafts_from(store):
    from core.inbox.store import as_ticket

    ticket, _ = store.add(mail("<1@x>", "退款问题", "我的退款还没到账。"))
    store.add(mail("<2@x>", "Re: 退款问题", "已退回。", sender="", hours=1, reply_to="<1@x>",
                   direction="out"))
    only = as_ticket(store, ticket)
    assert only.id == str(ticket) and only.lang == "zh" and only.subject == "退款问题"
    assert [(m.sender, m.text) for m in only.messages] == [("customer", "我的退款还没到账。"),
                                                          ("agent", "已退回。")]
    assert only.customer == {"name": "Ann", "email": "ann@x.com"}
    assert only.messages[0].author == "Ann <ann@x.com>" and only.messages[0].date
