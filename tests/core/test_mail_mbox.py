"""mbox files: split into messages, un-escaped, CRLF and truncation tolerated, non-mbox refused."""

from __future__ import annotations

import pytest

from core.errors import TicketError
from core.mail.mbox import iter_mbox
from core.mail.parse import parse_message

MBOX = (
    b"From customer@example.com Mon Jan  1 10:00:00 2024\n"
    b"From: Customer <customer@example.com>\n"
    b"Subject: First\n"
    b"Message-ID: <1@example.com>\n"
    b"\n"
    b"Hello.\n"
    b">From the start I wanted a refund.\n"
    b">>From here on it is mboxrd.\n"
    b"\n"
    b"From other@example.com Mon Jan  1 11:00:00 2024\n"
    b"From: other@example.com\n"
    b"Subject: Second\n"
    b"\n"
    b"From what I see, an unescaped body line after a blank line is no envelope.\n"
    b"\n"
    b"From third@example.com Mon Jan  1 12:00:00 2024\n"
    b"From: third@example.com\n"
    b"Subject: Third\n"
    b"\n"
    b"Bye.\n"
)


def write(tmp_path, data: bytes):
    path = tmp_path / "export.mbox"
    path.write_bytes(data)
    return path


def test_three_messages_with_from_escaping(tmp_path):
    messages = list(iter_mbox(write(tmp_path, MBOX)))
    assert [index for index, _ in messages] == [1, 2, 3]
    first, second, third = (raw for _, raw in messages)
    assert first.endswith(b"Hello.\nFrom the start I wanted a refund.\n"
                          b">From here on it is mboxrd.\n")
    assert parse_message(first).subject == "First"
    assert parse_message(second).text == (
        "From what I see, an unescaped body line after a blank line is no envelope.\n")
    assert parse_message(third).text == "Bye.\n"


def test_crlf_mbox(tmp_path):
    messages = list(iter_mbox(write(tmp_path, MBOX.replace(b"\n", b"\r\n"))))
    assert len(messages) == 3
    parsed = parse_message(messages[0][1])
    assert parsed.subject == "First"
    assert parsed.text == "Hello.\nFrom the start I wanted a refund.\n>From here on it is mboxrd.\n"


def test_truncated_last_message(tmp_path):
    cut = MBOX + b"\nFrom last@example.com Mon Jan  1 13:00:00 2024\nFrom: last@example.com\nSubj"
    messages = list(iter_mbox(write(tmp_path, cut)))
    assert len(messages) == 4
    index, raw = messages[-1]
    assert (index, raw) == (4, b"From: last@example.com\nSubj")
    assert parse_message(raw).from_addr == "last@example.com"


def test_messages_are_streamed(tmp_path):
    stream = iter_mbox(write(tmp_path, MBOX))
    index, raw = next(stream)
    assert index == 1 and b"Subject: First" in raw
    stream.close()


@pytest.mark.parametrize("data", [b"", b"\nFrom a@b Mon Jan 1 10:00:00 2024\n",
                                  b"Subject: plain mail\n\nx\n", b"%PDF-1.4\n"])
def test_not_an_mbox(tmp_path, data):
    path = write(tmp_path, data)
    with pytest.raises(TicketError, match="export.mbox is not an mbox file"):
        list(iter_mbox(path))


def test_missing_file(tmp_path):
    with pytest.raises(TicketError, match="cannot be read"):
        list(iter_mbox(tmp_path / "missing.mbox"))
