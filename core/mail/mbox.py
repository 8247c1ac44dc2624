"""Stream the raw messages out of an mbox file, one at a time.

An mbox export can be gigabytes, so the file is read line by line in binary and
only one message is held at a time.  A message starts at a "From " line at the
start of the file or after a blank line; after a blank line it must also carry
the envelope's time ("From sender Mon Jan  1 10:00:00 2024"), so an unescaped
"From what I see..." paragraph in a body does not split the message, as in mutt.
">From " lines inside a body are un-escaped (mboxrd: one ">" is removed from any
">...>From " line).  CRLF files
are fine, and a truncated last message is yielded as it is: the parser copes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import TicketError

_ESCAPED_FROM = re.compile(rb">+From ")
# Every exporter writes the envelope time: asctime "10:00:00", or "10:00".
_ENVELOPE = re.compile(rb"From \S.*\b\d{1,2}:\d\d")
_BLANK = (b"\n", b"\r\n")


def iter_mbox(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based index, raw message bytes) for each message in the mbox at ``path``.

    Messages that are only blank lines are skipped and not counted.  Raises
    ``TicketError`` when the file cannot be read or does not start with "From ".
    """
    try:
        with path.open("rb") as lines:
            if not lines.readline().startswith(b"From "):
                raise TicketError(f"{path} is not an mbox file: it does not start with a "
                                  f"'From ' line.")
            yield from _messages(lines)
    except OSError as exc:
        raise TicketError(f"{path} cannot be read: {exc.strerror or exc}.") from exc


def _messages(lines: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """Split the lines after the first "From " line into messages."""
    index = 0
    message: list[bytes] = []
    after_blank = False
    for line in lines:
        if after_blank and _ENVELOPE.match(line):
            if _has_content(message):
                index += 1
                yield index, _join(message)
            message = []
            after_blank = False
            continue
        message.append(line[1:] if _ESCAPED_FROM.match(line) else line)
        after_blank = line in _BLANK
    if _has_content(message):
        yield index + 1, _join(message)


def _join(message: list[bytes]) -> bytes:
    # The blank line before the next "From " separates messages; it is not content.
    if message and message[-1] in _BLANK:
        message = message[:-1]
    return b"".join(message)


def _has_content(message: list[bytes]) -> bool:
    return any(line.strip() for line in message)
