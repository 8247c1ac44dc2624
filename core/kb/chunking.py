"""Cut sections into passages: by sentences, never across a heading, with Chinese
sentence ends (。！？；) respected, each passage carrying its source and place."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from core.kb.readers import Document, Section

# Passage size in characters.  Chinese packs about three times the meaning per
# character of English, so the budget depends on the script.
MAX_CHARS_LATIN = 900
MAX_CHARS_CJK = 320

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=[.])(?=\s)|\n+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str        # what a citation shows: PATH, or PATH#ROW for an FAQ row
    path: str          # the document's path
    ordinal: int       # position of the chunk in its document
    text: str          # the passage as shown to agents and the model
    headings: str      # "Returns > Refund timing"
    page: int | None
    row_id: str | None
    embed: str | None = None   # what to embed instead, when it differs (FAQ questions)

    @property
    def embed_text(self) -> str:
        """What gets embedded and keyword-indexed: the heading path gives context."""
        if self.embed is not None:
            return self.embed
        return f"{self.headings}\n{self.text}" if self.headings else self.text


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if p]


def _budget(text: str) -> int:
    han = len(_HAN.findall(text[:2000]))
    return MAX_CHARS_CJK if han > len(text[:2000]) * 0.3 else MAX_CHARS_LATIN


def _pieces(section: Section) -> list[str]:
    budget = _budget(section.text)
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(section.text):
        while len(sentence) > budget:  # one endless "sentence" (a table, a log)
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:budget])
            sentence = sentence[budget:]
        # Chinese sentences join without a space; everything else with one.
        joiner = "" if _CJK.match(sentence[:1] or "x") or _CJK.match(current[-1:] or "x") \
            else " "
        if current and len(current) + len(joiner) + len(sentence) > budget:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current}{joiner}{sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def chunk_id(path: str, content_hash: str, ordinal: int) -> str:
    """Deterministic, so a resumed run writes the same ids (no duplicates)."""
    return hashlib.sha1(f"{path}\0{content_hash}\0{ordinal}".encode()).hexdigest()


def chunk_document(doc: Document, *, path: str, content_hash: str) -> list[Chunk]:
    chunks: list[Chunk] = []

    def add(text: str, section: Section, source: str, embed: str | None = None) -> None:
        ordinal = len(chunks)
        chunks.append(Chunk(id=chunk_id(path, content_hash, ordinal), source=source,
                            path=path, ordinal=ordinal, text=text,
                            headings=section.heading_path, page=section.page,
                            row_id=section.row_id, embed=embed))

    for section in doc.sections:
        if section.row_id:
            # An FAQ row is found by its question; a long answer dilutes that vector.  The
            # row is stored up to three times (question with answer, question alone, its
            # labels such as "cancel order"), shown once: search drops the identical twins.
            source = f"{path}#{section.row_id}"
            add(section.text, section, source, embed=section.text)  # heading = question
            question = section.headings[0] if section.headings else ""
            if question and question != section.text:
                add(section.text, section, source, embed=question)
            if section.labels:
                add(section.text, section, source, embed=section.labels)
            continue
        for text in _pieces(section):
            add(text, section, path)
    return chunks
