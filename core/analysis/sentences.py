"""Sentences of a customer message with their place in it, for per-sentence sentiment
and highlighting.  Chinese ends (。！？；…) and English ones (. ! ? followed by a space)
both split; quoted history is the caller's to leave out."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An end of sentence: Chinese punctuation (with closing quotes), a run of ! or ?, a full
# stop before white space, or a line break.
_END = re.compile(r"[。！？；…!?]+[”’」』)）]*|(?<!\b[A-Z])(?<!\b(?:Mr|Ms|Dr|No|St))\.(?=\s)|\n+")
MAX_SENTENCES = 64          # a huge message: its first sentences carry the tone
MAX_CHARS = 600             # a "sentence" without punctuation is cut into pieces


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def split(text: str, *, limit: int = MAX_SENTENCES) -> list[Span]:
    """Non-empty sentences of ``text`` with their offsets, at most ``limit``."""
    spans: list[Span] = []
    start = 0

    def add(a: int, b: int) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        while b - a > MAX_CHARS:
            spans.append(Span(a, a + MAX_CHARS, text[a:a + MAX_CHARS]))
            a += MAX_CHARS
        if b > a and any(ch.isalnum() for ch in text[a:b]):
            spans.append(Span(a, b, text[a:b]))

    for match in _END.finditer(text):
        add(start, match.end())
        start = match.end()
        if len(spans) >= limit:
            return spans[:limit]
    add(start, len(text))
    return spans[:limit]
