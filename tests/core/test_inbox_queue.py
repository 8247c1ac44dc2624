"""The queue interface over a list of tickets (the demo) and helpers of the queue view."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.inbox.queue import DraftSaveError, MemoryQueue, QueueFilter, waiting_text
from core.tickets import Message, Ticket


def _tickets():
    return [
        Ticket(subject="Late parcel", id="a", lang="en", channel="email",
               received="2026-11-25T10:00:00+08:00",       # 02:00 UTC
               messages=(Message("customer", "Where is my parcel?"),)),
        Ticket(subject="退货", id="b", lang="zh", channel="helpdesk",
               received="2026-11-25T03:00:00+00:00",       # 03:00 UTC: waited less
               messages=(Message("customer", "我想退货。"),)),
        Ticket(subject="Thanks", id="c", lang="en", channel="email",
               received="2026-11-24T09:00:00+00:00",
               messages=(Message("customer", "Thanks!"), Message("agent", "You're welcome."))),
    ]


def test_order_compares_times_not_strings_and_answered_tickets_come_last(tmp_path):
    queue = MemoryQueue(_tickets(), tmp_path / "drafts.json")
    assert queue.ids(QueueFilter()) == ["a", "b", "c"]
    assert queue.ids(QueueFilter(order="updated")) == ["b", "a", "c"]


def test_filters_and_search(tmp_path):
    queue = MemoryQueue(_tickets(), tmp_path / "drafts.json")
    assert queue.ids(QueueFilter(lang="zh")) == ["b"]
    assert queue.ids(QueueFilter(channel="email")) == ["a", "c"]
    assert queue.ids(QueueFilter(search="PARCEL where")) == ["a"]
    assert queue.ids(QueueFilter(search="退货")) == ["b"]
    assert queue.channels() == ["email", "helpdesk"]


def test_drafts_and_mark_as_sent_survive_a_restart(tmp_path):
    queue = MemoryQueue(_tickets(), tmp_path / "drafts.json")
    queue.save_drafts({"a": ("Sorry for the wait.", "Sorry."), "b": ("您好", None)})
    queue.record_sent("b", "您好，已退款。", actor="Mei")
    again = MemoryQueue(_tickets(), tmp_path / "drafts.json")
    assert again.draft("a") == ("Sorry for the wait.", "")
    assert again.draft("b") is None
    assert again.rows(["b"])[0].status == "pending"
    assert again.ticket("b").messages[-1] == Message("agent", "您好，已退款。")
    assert again.ids(QueueFilter(status=("new", "open"))) == ["a", "c"]
    assert again.rows(["a"])[0].unread
    again.mark_read("a")
    assert not again.rows(["a"])[0].unread


def test_a_draft_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    queue = MemoryQueue(_tickets(), blocker / "drafts.json")
    with pytest.raises(DraftSaveError, match="still here in the window"):
        queue.save_drafts({"a": ("text", None)})


def test_waiting_text():
    now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    assert waiting_text(None, now=now) == ""
    assert waiting_text("garbage", now=now) == ""
    assert waiting_text("2026-11-29T11:59:30+00:00", now=now) == "now"
    assert waiting_text("2026-11-29T11:15:00+00:00", now=now) == "45 min"
    assert waiting_text("2026-11-28T12:00:00+00:00", now=now) == "24 h"
    assert waiting_text("2026-11-26T01:00:00+08:00", now=now) == "3 d"   # 25th, 17:00 UTC
