"""Read knowledge-base files into sections: text with its heading path and position.

Formats: Markdown, plain text, HTML, PDF, DOCX, and FAQ tables (CSV or JSONL with
question and answer columns).  Every reader raises ``KbError`` with a reason a
person can act on (encrypted PDF, binary file, missing columns, ...).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from core.errors import KbError
from core.fsutil import FileTooLarge, jsonl_objects, read_bounded
from core.kb.textenc import decode_text

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".csv", ".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES | {".pdf", ".docx"}
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Section:
    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None        # PDF page, from 1
    row_id: str | None = None      # FAQ row: its id or faq_id column, else its row number
    labels: str = ""               # FAQ row: its intent / category / tags, as words

    @property
    def heading_path(self) -> str:
        return " > ".join(self.headings)


@dataclass(frozen=True)
class Document:
    path: Path
    kind: str
    sections: tuple[Section, ...]
    encoding: str = ""


class _Sections:
    """Collects text under a stack of headings: a heading closes the text before it and
    replaces the headings at its level and below."""

    def __init__(self, *, joiner: str = "\n", clean=str.strip) -> None:
        self.sections: list[Section] = []
        self._stack: list[tuple[int, str]] = []
        self._buffer: list[str] = []
        self._joiner = joiner
        self._clean = clean

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if title:
            self._stack.append((level, title))

    def text(self, line: str) -> None:
        self._buffer.append(line)

    def flush(self) -> None:
        body = self._clean(self._joiner.join(self._buffer))
        self._buffer.clear()
        if body:
            self.sections.append(Section(body, tuple(h for _, h in self._stack)))


# ---- Markdown and plain text ----------------------------------------------------------
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Plain-text headings in Chinese documents: 一、安全须知 / （二）清洁 / 第三章 ...
_ZH_HEADING = re.compile(r"^\s*((?:[一二三四五六七八九十]+、)|(?:[（(][一二三四五六七八九十]+[）)])"
                         r"|(?:第[一二三四五六七八九十百]+[章节条部分]))\s*\S.{0,40}$")


def _split_headed(text: str, *, markdown: bool) -> list[Section]:
    out = _Sections()
    for line in text.splitlines():
        m = _MD_HEADING.match(line) if markdown else None
        if m:
            out.heading(len(m.group(1)), m.group(2).strip())
        elif not markdown and _ZH_HEADING.match(line):
            out.heading(1, line.strip())
        else:
            out.text(line)
    out.flush()
    return out.sections


def read_text_file(path: Path, data: bytes) -> Document:
    text, encoding = decode_text(data, name=path.name)
    markdown = path.suffix.lower() in (".md", ".markdown")
    return Document(path, "markdown" if markdown else "text",
                    tuple(_split_headed(text, markdown=markdown)), encoding)


# ---- HTML ---------------------------------------------------------------------------------
def _clean_html_text(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n", text).strip()


class _HTMLSections(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCK = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "dd",
              "dt", "blockquote", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Sections(joiner="", clean=_clean_html_text)
        self.skip = 0
        self.heading_level = 0
        self.heading_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading_level = int(tag[1])
            self.heading_text = []
        elif tag in self._BLOCK:
            self.out.text("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading_level:
            self.out.heading(self.heading_level, " ".join("".join(self.heading_text).split()))
            self.heading_level = 0
        elif tag in self._BLOCK:
            self.out.text("\n")

    def handle_data(self, data):
        if self.skip:
            return
        if self.heading_level:
            self.heading_text.append(data)
        else:
            self.out.text(data)


def read_html(path: Path, data: bytes) -> Document:
    text, encoding = decode_text(data, name=path.name)
    parser = _HTMLSections()
    parser.feed(text)
    parser.close()
    parser.out.flush()
    return Document(path, "html", tuple(parser.out.sections), encoding)


# ---- PDF ------------------------------------------------------------------------------------
def read_pdf(path: Path, data: bytes) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns on every odd object
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise FileNotDecryptedError
            except (FileNotDecryptedError, NotImplementedError):
                raise KbError(f"{path.name} is an encrypted PDF; save an unprotected copy to "
                              f"index it.") from None
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                sections.append(Section(text=text, page=number))
    except KbError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:
        raise KbError(f"{path.name} is not a readable PDF ({type(exc).__name__}: {exc}).") \
            from None
    if not sections:
        raise KbError(f"{path.name} has no extractable text (a scanned PDF needs OCR first).")
    return Document(path, "pdf", tuple(sections))


# ---- DOCX -----------------------------------------------------------------------------------
def read_docx(path: Path, data: bytes) -> Document:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise KbError(f"{path.name} is not a readable Word document ({exc}).") from None
    out = _Sections()
    for paragraph in document.paragraphs:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        title = paragraph.text.strip()
        if style.startswith("Heading ") and style[8:].isdigit() and title:
            out.heading(int(style[8:]), title)
        elif style == "Title" and title:
            out.heading(0, title)
        elif title:
            out.text(paragraph.text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                out.text(" | ".join(cells))
    out.flush()
    return Document(path, "docx", tuple(out.sections))


# ---- FAQ tables -------------------------------------------------------------------------
_QUESTION = ("question", "问题", "問題")
_ANSWER = ("answer", "答案", "回答")
_ID = ("id", "faq_id")
# Columns that name what a row is about.  Helpdesk FAQ exports carry them (an intent such
# as ``cancel_order``, a category, tags); they say in a few words what a customer's
# question paraphrases, so a row is also found by them.
_LABELS = ("intent", "category", "topic", "tags", "keywords", "意图", "分类", "类别", "標籤",
           "标签", "关键词", "類別")
_LABEL_SPLIT = re.compile(r"[_\-/,;|，；、\s]+")


def _label_words(row: dict, columns: list[str]) -> str:
    words: list[str] = []
    for col in columns:
        value = str(row.get(col) or "").strip()
        for word in _LABEL_SPLIT.split(value):
            word = word.lower() if word.isascii() else word
            if word and word not in words:
                words.append(word)
    return " ".join(words)


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _faq_sections(path: Path, rows: list[dict], columns: list[str]) -> tuple[Section, ...]:
    q_col, a_col, id_col = _pick(columns, _QUESTION), _pick(columns, _ANSWER), _pick(columns, _ID)
    label_cols = [c for c in (_pick(columns, (name,)) for name in _LABELS) if c is not None]
    missing = [n for n, c in (("question", q_col), ("answer", a_col)) if c is None]
    if missing:
        raise KbError(f"{path.name} is not an FAQ table: no {' or '.join(missing)} column "
                      f"(columns found: {', '.join(columns) or 'none'}).")
    sections = []
    for number, row in enumerate(rows, start=1):
        question = str(row.get(q_col) or "").strip()
        answer = str(row.get(a_col) or "").strip()
        if not question and not answer:
            continue
        row_id = str(row.get(id_col) or "").strip() if id_col else ""
        sections.append(Section(text=f"{question}\n{answer}".strip(), headings=(question,),
                                row_id=row_id or str(number),
                                labels=_label_words(row, label_cols)))
    if not sections:
        raise KbError(f"{path.name} has no question and answer rows.")
    return tuple(sections)


def read_csv(path: Path, data: bytes) -> Document:
    text, encoding = decode_text(data, name=path.name)
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    except csv.Error as exc:
        raise KbError(f"{path.name} is not a valid CSV file ({exc}).") from None
    return Document(path, "faq", _faq_sections(path, rows, list(reader.fieldnames or [])),
                    encoding)


def read_jsonl(path: Path, data: bytes) -> Document:
    text, encoding = decode_text(data, name=path.name)
    rows = [row for _, row in jsonl_objects(text, name=path.name, error=KbError)]
    columns = sorted({key for row in rows for key in row})
    return Document(path, "faq", _faq_sections(path, rows, columns), encoding)


def read_document(path: Path) -> Document:
    """Read any supported file; ``KbError`` says why a file cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise KbError(f"{path.name}: {suffix or 'no extension'} files are not supported "
                      f"({', '.join(sorted(SUPPORTED))}).")
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except FileTooLarge as exc:
        raise KbError(f"{path.name} is {exc.size / 1e6:.0f} MB, over the "
                      f"{MAX_FILE_BYTES / 1e6:.0f} MB limit for one document.") from None
    except OSError as exc:
        raise KbError(f"{path.name} cannot be read ({exc.strerror}).") from None
    if not data.strip():
        raise KbError(f"{path.name} is empty.")
    if suffix in TEXT_SUFFIXES:
        doc = read_text_file(path, data)
    elif suffix in HTML_SUFFIXES:
        doc = read_html(path, data)
    elif suffix == ".pdf":
        doc = read_pdf(path, data)
    elif suffix == ".docx":
        doc = read_docx(path, data)
    elif suffix == ".csv":
        doc = read_csv(path, data)
    else:
        doc = read_jsonl(path, data)
    if not doc.sections:
        raise KbError(f"{path.name} has no text to index.")
    return doc
