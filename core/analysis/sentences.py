"""Sentences of a customer message with their place in it, for per-sentence sentiment
and highlighting.  Chinese ends (。！？；…) and English ones (. ! ? followed by a space)
both split; quoted history is the caller's to leave out.  ``formulaic`` tells the
greeting, the closing and the signature ("Hi,", "Thanks,", "Hannah") from what the
customer says: they carry no opinion, and counted in they make every polite request
read as positive."""

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


_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|hi there|hello there|hey there|good (?:morning|afternoon|evening)|"
    r"greetings|dear(?: [\w.'-]+){0,3}|to whom it may concern|您好|你好|亲|親|亲亲|親親|在吗|在嗎|"
    r"哈喽|哈囉|客服你好|客服您好)[\s,，.。!！~～:：]*$", re.IGNORECASE)
_CLOSING = re.compile(
    r"^(?:thanks|thank you|thanks in advance|thank you in advance|many thanks|thanks again|"
    r"thanks so much|cheers|best|best regards|best wishes|kind regards|warm regards|regards|"
    r"sincerely|yours(?: sincerely| truly| faithfully)?|all the best|thx|ty|"
    r"谢谢|謝謝|谢谢你|謝謝你|谢谢您|謝謝您|多谢|多謝|感谢|感謝|辛苦了|此致|敬礼|敬禮|麻烦了|麻煩了)"
    r"[\s,，.。!！~～]*$", re.IGNORECASE)
SIGNATURE_CHARS = 40        # a line after the closing this short is a name or a title


def formulaic(spans: list[Span]) -> list[bool]:
    """For each sentence, whether it is a greeting, a closing or the signature after the
    closing; all False when that would leave nothing."""
    marks = [bool(_GREETING.match(s.text) or _CLOSING.match(s.text)) for s in spans]
    closing = next((i for i in range(len(spans) - 1, max(-1, len(spans) - 5), -1)
                    if _CLOSING.match(spans[i].text)), None)
    if closing is not None:
        for i in range(closing + 1, len(spans)):
            if len(spans[i].text) <= SIGNATURE_CHARS:
                marks[i] = True
    return [False] * len(spans) if all(marks) else marks
