"""Grounding drafts in the knowledge base: numbered sources in, citations and a
check of the draft's numbers out.

The check marks every number, amount, date, percentage and duration in the draft
that appears neither in a passage the draft cites nor in the customer's own
messages (order numbers, amounts they quoted): those are what a small model
invents, and what an agent must verify before sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from core.tickets import Ticket

MAX_SOURCE_CHARS = 900

_CITATION = re.compile(r"[\[【［]\s*(\d{1,2})\s*[\]】］]")
_PLACEHOLDER = re.compile(r"\[[^\]\d][^\]]*\]")
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "十": 10}
# A figure with what gives it meaning: currency before, unit after, or a date shape.
_FIGURE = re.compile(
    r"(?P<cur>[¥$€£]|RMB|USD|CNY)?\s?"
    r"(?P<num>\d+(?:[.,]\d+)*|[一二两三四五六七八九十]{1,3})"
    r"\s?(?P<unit>%|％|元|块|美元|dollars?|days?|business days?|working days?|hours?|"
    r"weeks?|months?|years?|天|日|小时|个?工作日|周|个月|年|分钟|minutes?)?",
    re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    number: int
    source: str
    text: str
    headings: str = ""


def retrieval_query(ticket: Ticket, *, limit: int = 1000) -> str:
    """What to search the knowledge base for: the subject and the newest customer text."""
    return f"{ticket.subject}\n{ticket.last_customer_text}".strip()[:limit]


def sources_from_hits(hits: Sequence) -> list[Source]:
    return [Source(number=i, source=h.chunk.source, text=h.chunk.text[:MAX_SOURCE_CHARS],
                   headings=h.chunk.headings) for i, h in enumerate(hits, start=1)]


def format_sources(sources: Sequence[Source]) -> str:
    lines = []
    for s in sources:
        title = s.source.replace("\\", "/").rsplit("/", 1)[-1]
        where = f"{title} › {s.headings}" if s.headings else title
        lines.append(f"[{s.number}] ({where})\n{s.text}")
    return "\n\n".join(lines)


def cited_numbers(text: str) -> list[int]:
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if number not in seen:
            seen.append(number)
    return seen


def attributed_numbers(text: str, sources: Sequence[Source], *,
                       min_overlap: float = 0.6, min_tokens: int = 3) -> list[int]:
    """Sources a draft uses without citing them: a sentence whose words are mostly in
    one passage is attributed to it.  Small models often use a passage's facts but
    forget the [n] marker; the agent still needs to see where the facts came from."""
    from core.kb.chunking import split_sentences
    from core.kb.keyword import tokenize

    source_tokens = [(s.number, set(tokenize(s.text))) for s in sources]
    found: list[int] = []
    for sentence in split_sentences(_CITATION.sub(" ", text)):
        tokens = set(tokenize(sentence))
        if len(tokens) < min_tokens:
            continue
        best = max(source_tokens, key=lambda st: len(tokens & st[1]), default=None)
        if best and len(tokens & best[1]) / len(tokens) >= min_overlap and best[0] not in found:
            found.append(best[0])
    return found


def citations_for(text: str, sources: Sequence[Source]) -> list[Source]:
    """The passages a draft cites with [n], then those it uses without a marker."""
    by_number = {s.number: s for s in sources}
    numbers = [n for n in cited_numbers(text) if n in by_number]
    numbers += [n for n in attributed_numbers(text, sources) if n not in numbers]
    return [by_number[n] for n in numbers]


def _value(raw: str) -> str:
    if raw[0] in _ZH_DIGITS:
        if raw == "十":
            return "10"
        if raw.startswith("十"):
            return str(10 + _ZH_DIGITS.get(raw[1], 0))
        if len(raw) >= 2 and raw[1] == "十":
            return str(_ZH_DIGITS[raw[0]] * 10 + (_ZH_DIGITS.get(raw[2], 0) if len(raw) > 2
                                                   else 0))
        return str(_ZH_DIGITS.get(raw, 0)) if len(raw) == 1 else raw
    return raw.replace(",", "").rstrip("0").rstrip(".") if "." in raw else raw.replace(",", "")


def figures(text: str) -> list[tuple[str, str]]:
    """(as written, numeric value) of each figure worth checking in ``text``."""
    text = _PLACEHOLDER.sub(" ", _CITATION.sub(" ", text))
    out = []
    for match in _FIGURE.finditer(text):
        raw = match.group("num")
        if not (match.group("cur") or match.group("unit")) and (
                not raw.isdigit() or len(raw) < 2):
            continue  # a lone "1" or "一" in prose is not a claim
        if raw in _ZH_DIGITS and not match.group("unit"):
            continue
        out.append((match.group(0).strip(), _value(raw)))
    return out


def unsupported_figures(draft: str, cited: Sequence[Source], ticket: Ticket, *,
                        extra: str = "") -> list[str]:
    """Figures in the draft found in no cited passage, not in the customer's messages and
    not in ``extra`` (the catalog product the draft was given)."""
    allowed = {value for s in cited for _, value in figures(s.text)}
    allowed |= {_value(n) for n in re.findall(r"\d+(?:[.,]\d+)*",
                                               " ".join(s.text for s in cited))}
    customer = " ".join(m.text for m in ticket.messages) + " " + ticket.subject + " " + extra
    allowed |= {_value(n) for n in re.findall(r"\d+(?:[.,]\d+)*", customer)}
    flagged = []
    for written, value in figures(draft):
        if value not in allowed and written not in flagged:
            flagged.append(written)
    return flagged
