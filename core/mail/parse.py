"""Decode one customer e-mail, whatever its client did to it, into plain typed values.

Support mail arrives from every client Chinese and English customers use: UTF-8,
GB2312/GBK/GB18030, Big5, charsets declared wrongly or not at all, raw 8-bit
bytes in headers, RFC 2047 and RFC 2231 encoded names, HTML-only bodies,
truncated multiparts.  ``parse_message`` never gives up on such a message: it
decodes what it can, says in ``charset_note`` which charset it had to guess and
in ``defects`` what was broken, and raises ``TicketError`` only for input that
is not an e-mail at all.

Attachments are listed, never opened; HTML becomes plain text, so no remote
content can load.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from core.errors import KbError, TicketError
from core.kb.textenc import decode_text


@dataclass(frozen=True)
class Attachment:
    filename: str          # decoded (RFC 2231 / RFC 2047), "" if none
    content_type: str
    size: int              # bytes of the decoded payload


@dataclass(frozen=True)
class MailMessage:
    message_id: str        # "<...>"; synthetic "<sha256-of-raw@kefu.local>" when missing
    in_reply_to: str       # "" if none
    references: tuple[str, ...]
    subject: str           # decoded, whitespace collapsed
    from_name: str
    from_addr: str         # lower-cased, "" if unparseable
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None  # aware, UTC; None when missing or unparseable
    text: str              # the whole body as plain text, "\n" line ends
    quoted_from: int | None  # offset in ``text`` where quoted history / signature starts
    html_only: bool        # ``text`` was converted from HTML
    attachments: tuple[Attachment, ...]
    charset_note: str      # "" unless a charset had to be guessed or replaced
    raw_size: int
    defects: tuple[str, ...]


def parse_message(raw: bytes, *, name: str = "The input") -> MailMessage:
    """Parse one raw RFC 5322 message leniently; ``name`` only words the error.

    Raises ``TicketError`` for empty input or input with neither headers nor body.
    """
    if not raw.strip():
        raise TicketError(f"{name} is empty: it is not an e-mail message.")
    root = BytesParser(policy=_RAW_HEADERS).parsebytes(raw)
    report = _Report()
    body = _Body()
    _collect(root, body, report)
    text = _body_text(body)
    if not root.keys() and not text.strip() and not body.attachments:
        raise TicketError(f"{name} has neither headers nor a body: it is not an e-mail message.")
    from_name, from_addr = _sender(root, report)
    return MailMessage(
        message_id=_message_id(root, raw, report),
        in_reply_to=next(iter(_ids(_header(root, "In-Reply-To"))), ""),
        references=_ids(_header(root, "References")),
        subject=" ".join(_decode_header(_header(root, "Subject"), "Subject", report).split()),
        from_name=from_name,
        from_addr=from_addr,
        to=_recipients(root, "To", report),
        cc=_recipients(root, "Cc", report),
        date=_date(root, report),
        text=text,
        quoted_from=quote_start(text),
        html_only=bool(body.segments) and all(html for html, _ in body.segments),
        attachments=tuple(body.attachments),
        charset_note="; ".join(dict.fromkeys(report.charset_notes + body.charset_notes)),
        raw_size=len(raw),
        defects=tuple(dict.fromkeys(report.defects)),
    )


# --- headers -------------------------------------------------------------------------------


class _RawHeaders(Compat32):
    """compat32 (the most tolerant policy) that hands header values back untouched.

    The values keep raw 8-bit bytes as surrogate escapes, so this module can decode
    them itself; compat32 would wrap them in ``Header`` objects, and the default policy
    parses them eagerly and raises on some broken ones.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_RAW_HEADERS = _RawHeaders()

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_MSG_ID = re.compile(r"<[^<>]*>")


@dataclass
class _Report:
    """What went wrong while reading the headers, in words for the agent."""

    charset_notes: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    return None if value is None else _FOLD.sub("", str(value))


def _decode_header(value: str | None, where: str, report: _Report) -> str:
    """An unstructured header value as text: raw 8-bit bytes and RFC 2047 words decoded."""
    if value is None:
        return ""
    notes: list[str] = []
    text = _decode_encoded_words(_decode_raw_8bit(value, notes), notes)
    report.charset_notes.extend(f"{where}: {note}" for note in notes)
    return text


def _decode_raw_8bit(value: str, notes: list[str]) -> str:
    """Undo the parser's surrogate escapes: raw header bytes are UTF-8 (RFC 6532) or,
    from older Chinese clients, GBK or Big5."""
    if value.isascii():
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text, note = decode_bytes(data, "")
        notes.append(f"raw 8-bit header, {note}")
        return text


def _decode_encoded_words(text: str, notes: list[str]) -> str:
    """Decode RFC 2047 words.  Adjacent words in one charset are decoded together,
    because clients split a multi-byte character across two words."""
    out: list[str] = []
    run = bytearray()
    run_charset: str | None = None

    def flush() -> None:
        nonlocal run_charset
        if run_charset is not None:
            decoded, note = decode_bytes(bytes(run), run_charset)
            out.append(decoded)
            if note:
                notes.append(note)
        run.clear()
        run_charset = None

    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos:match.start()]
        # Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
        if gap and not (run_charset is not None and gap.isspace()):
            flush()
            out.append(gap)
        charset = match[1].split("*")[0].lower()  # drop an RFC 2231 language tag
        if charset != run_charset:
            flush()
            run_charset = charset
        run.extend(_word_payload(match[2], match[3]))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def _word_payload(encoding: str, payload: str) -> bytes:
    data = payload.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return _lenient_b64(data)


def _lenient_b64(data: bytes) -> bytes:
    """Base64 with missing or extra padding and stray characters, as clients send it."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(data) % 4 == 1:  # one dangling character carries no whole byte
        data = data[:-1]
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


def _sender(msg: Message, report: _Report) -> tuple[str, str]:
    value = _header(msg, "From")
    if value is None:
        report.defects.append("no From header")
        return "", ""
    notes: list[str] = []
    # Addresses are split before the display names are decoded: a decoded name may
    # hold commas or angle brackets of its own.
    text = _decode_raw_8bit(value, notes)
    pairs = getaddresses([text])
    name, addr = pairs[0] if pairs else ("", "")
    name = " ".join(_decode_encoded_words(name, notes).split())
    addr = _clean_address(addr)
    if not addr:
        report.defects.append(f"unreadable From address: {_excerpt(value)}")
        name = name or " ".join(_decode_encoded_words(text, notes).split())
    report.charset_notes.extend(f"From: {note}" for note in notes)
    return name, addr


def _recipients(msg: Message, name: str, report: _Report) -> tuple[str, ...]:
    values = msg.get_all(name) or []
    notes: list[str] = []
    texts = [_decode_raw_8bit(_FOLD.sub("", str(value)), notes) for value in values]
    report.charset_notes.extend(f"{name}: {note}" for note in notes)
    addresses = (_clean_address(addr) for _, addr in getaddresses(texts))
    return tuple(addr for addr in addresses if addr)


def _clean_address(addr: str) -> str:
    addr = addr.strip().lower()
    return addr if "@" in addr and not any(ch.isspace() for ch in addr) else ""


def _ids(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple("".join(found.split()) for found in _MSG_ID.findall(value))


def _message_id(msg: Message, raw: bytes, report: _Report) -> str:
    value = _header(msg, "Message-ID")
    found = _ids(value)
    if found:
        return found[0]
    if value and value.split():
        report.defects.append("Message-ID without angle brackets")
        return f"<{value.split()[0].strip('<>')}>"
    report.defects.append("no Message-ID header; a stable id was made from the message bytes")
    return f"<{hashlib.sha256(raw).hexdigest()}@kefu.local>"


def _date(msg: Message, report: _Report) -> datetime | None:
    value = _header(msg, "Date")
    if value is None or not value.strip():
        report.defects.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
        if parsed.tzinfo is None:  # "-0000": the time is UTC, the zone unknown (RFC 5322 3.3)
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, TypeError, IndexError, OverflowError):
        report.defects.append(f"unreadable Date header: {_excerpt(value)}")
        return None


def _excerpt(value: str, limit: int = 60) -> str:
    text = " ".join(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


# --- MIME structure ------------------------------------------------------------------------


@dataclass
class _Body:
    """Body text segments in message order, as (came from HTML, text), and attachments."""

    segments: list[tuple[bool, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    charset_notes: list[str] = field(default_factory=list)


# Short words for the email package's defect classes; others are spelled from the name.
_DEFECT_WORDS = {
    "MissingHeaderBodySeparatorDefect": "a line in the header block is not a header",
    "FirstHeaderLineIsContinuationDefect": "the first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "an mbox 'From ' line inside the headers",
    "NoBoundaryInMultipartDefect": "multipart without a boundary; read as plain text",
    "StartBoundaryNotFoundDefect": "multipart boundary never found",
    "CloseBoundaryNotFoundDefect": "multipart not closed (truncated message?)",
    "MultipartInvariantViolationDefect": "multipart content type on a single part",
    "InvalidBase64PaddingDefect": "base64 with bad padding",
    "InvalidBase64CharactersDefect": "base64 with invalid characters",
    "InvalidBase64LengthDefect": "base64 with an impossible length",
}


def _collect(part: Message, body: _Body, report: _Report) -> None:
    """Walk the MIME tree, adding body text and attachments to ``body``."""
    for defect in part.defects:
        name = type(defect).__name__
        report.defects.append(_DEFECT_WORDS.get(name) or _spell(name, defect))
    role = _role(part)
    if role == "attachment":
        body.attachments.append(_attachment(part, body))
    elif role == "container":
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if part.get_content_subtype() == "alternative":
            _collect_alternative(children, body, report)
        else:
            for child in children:
                _collect(child, body, report)
    elif role == "body":
        html = part.get_content_type() == "text/html"
        text = _part_text(part, body)
        body.segments.append((html, html_to_text(text) if html else text))


def _spell(name: str, defect: Exception) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()
    detail = str(defect)
    return f"{words}: {detail}" if detail else words


def _collect_alternative(children: list[Message], body: _Body, report: _Report) -> None:
    """Prefer a non-empty text/plain alternative; else the richest (last) one with text.
    Attachments in every alternative are listed (related images live under the HTML)."""
    options = []
    for child in children:
        option = _Body()
        _collect(child, option, report)
        body.attachments.extend(option.attachments)
        if any(text.strip() for _, text in option.segments):
            options.append(option)
    plain = [o for o in options if not any(html for html, _ in o.segments)]
    chosen = plain[0] if plain else options[-1] if options else None
    if chosen is not None:
        body.segments.extend(chosen.segments)
        body.charset_notes.extend(chosen.charset_notes)


def _role(part: Message) -> str:
    """"container", "body", "attachment", or "skip" for a nameless inline image."""
    if part.get_content_maintype() == "message":  # a forwarded mail is a file, not our body
        return "attachment"
    if part.is_multipart():
        return "container"
    disposition = part.get_content_disposition()
    if disposition == "attachment":
        return "attachment"
    maintype = part.get_content_maintype()
    if part.get_content_type() in ("text/plain", "text/html"):
        named = disposition != "inline" and _raw_filename(part) is not None
        return "attachment" if named else "body"
    if maintype == "multipart":  # a multipart with no boundary: its text is the body
        return "body"
    if maintype == "image" and _raw_filename(part) is None:
        return "skip"  # nameless inline images are logos and spacers, not files
    return "attachment"


def _attachment(part: Message, body: _Body) -> Attachment:
    return Attachment(filename=_filename(part, body), content_type=part.get_content_type(),
                      size=_payload_size(part))


def _raw_filename(part: Message) -> str | tuple[str, str, str] | None:
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(param, None, header)
        if value is not None:
            return value
    return None


def _filename(part: Message, body: _Body) -> str:
    value = _raw_filename(part)
    notes: list[str] = []
    if value is None:
        name = ""
    elif isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded octets)
        charset, _, octets = value
        name, note = decode_bytes(octets.encode("latin-1", "surrogateescape"), charset or "")
        notes += [note] if note else []
    else:  # RFC 2047 words in a filename are not standard, but common
        name = _decode_encoded_words(_decode_raw_8bit(value, notes), notes)
    body.charset_notes.extend(f"attachment name: {note}" for note in notes)
    return " ".join(name.split())


def _payload_size(part: Message) -> int:
    if part.is_multipart():  # message/rfc822 and kin: the size of the enclosed message
        try:
            return sum(len(sub.as_bytes()) for sub in part.get_payload())
        except (ValueError, TypeError, LookupError):
            return 0
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _part_text(part: Message, body: _Body) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text, note = decode_bytes(data, part.get_content_charset() or "")
    if note:
        body.charset_notes.append(note)
    return text


def _body_text(body: _Body) -> str:
    pieces = [text for _, text in body.segments if text]
    joined = "".join(p if p.endswith("\n") or i == len(pieces) - 1 else p + "\n"
                     for i, p in enumerate(pieces))
    return joined.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")


# --- charsets ------------------------------------------------------------------------------

# Decoders tried, in order, for a declared charset, by its name squashed to letters and
# digits.  GB18030 is the superset of GB2312 and GBK that clients really write; Big5 text
# often carries HKSCS or Microsoft additions; "ISO-8859-1" mail is usually Windows-1252.
_CHAINS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("gb2312", "gb231280", "gb23121980", "csgb2312", "csgb231280", "euccn",
                     "xeuccn", "gbk", "xgbk", "cp936", "ms936", "windows936", "gb18030",
                     "chinese"), ("gb18030",)),
    **dict.fromkeys(("big5", "xbig5", "csbig5", "big5tw", "cp950", "ms950", "windows950",
                     "big5hkscs"), ("big5", "big5hkscs", "cp950")),
    **dict.fromkeys(("iso88591", "latin1", "l1", "cp819", "ibm819", "csisolatin1"),
                    ("cp1252", "latin-1")),
    **dict.fromkeys(("usascii", "ascii", "csascii", "ansix341968"), ("ascii", "cp1252")),
}
# Codecs that write ASCII bytes for non-ASCII text: ASCII input is not plain ASCII for them.
_NOT_ASCII_SAFE = ("utf-16", "utf-32", "utf-7", "hz", "iso2022")
_SINGLE_BYTE = ("ascii", "iso8859", "cp125", "cp437", "cp850", "cp866", "cp874", "koi8", "mac-",
                "tis-620")
# What ``decode_text`` answers when the whole input decoded strictly (not a statistical guess).
_STRICT_FINDS = ("utf-8", "gb18030", "big5")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")


def decode_bytes(data: bytes, declared: str) -> tuple[str, str]:
    """Decode ``data`` declared as charset ``declared`` ("" if none); never raises.

    Returns (text, note); the note is "" when the declared charset decoded the bytes,
    else it says what was used instead.  Unknown names and wrong declarations fall
    back to detection; the last resort is replacement characters.
    """
    label = declared.strip().strip("\"'").lower()
    chain = _chain(label)
    if data.isascii() and not (chain and chain[0].startswith(_NOT_ASCII_SAFE)):
        return data.decode("ascii"), ""
    if chain:
        decoded = _decode_declared(data, label, chain)
        if decoded is not None:
            return decoded
    return _decode_detected(data, label, chain)


def _chain(label: str) -> tuple[str, ...]:
    squashed = re.sub(r"[^a-z0-9]", "", label)
    if squashed in _CHAINS:
        return _CHAINS[squashed]
    try:
        info = codecs.lookup(label)
    except LookupError:
        return ()
    # Names like "rot13" or "zlib" are codecs but not text encodings.
    return (info.name,) if _strict(b"", info.name) is not None else ()


def _decode_declared(data: bytes, label: str, chain: tuple[str, ...]) -> tuple[str, str] | None:
    if chain[0] != "utf-8":
        # Valid multi-byte UTF-8 is almost never an accident of another charset.
        utf8 = _strict(data, "utf-8")
        if utf8 is not None and len(data) - len(utf8) >= 2:
            return utf8, f"declared {label} but was utf-8"
        if chain[0].startswith(_SINGLE_BYTE) and _looks_double_byte(data):
            found = _detect(data)
            if found is not None and found[1] in _STRICT_FINDS:
                return found[0], f"declared {label} but was {found[1]}"
    for codec in chain:
        text = _strict(data, codec)
        if text is not None:
            same = _same_codec(label, codec) or _strict(data, label) is not None
            return text, "" if same else f"declared {label}, decoded as {codec}"
    return None


def _decode_detected(data: bytes, label: str, chain: tuple[str, ...]) -> tuple[str, str]:
    found = _detect(data)
    # A statistical guess is trusted over a declared multi-byte charset only when the
    # whole text decoded strictly; a GBK body with one bad byte stays GBK.
    trust_declared = bool(chain) and chain[0] != "utf-8" and not chain[0].startswith(_SINGLE_BYTE)
    if found is not None and (found[1] in _STRICT_FINDS or not trust_declared):
        text, encoding = found
        if not label:
            return text, f"no charset declared, decoded as {encoding}"
        if not chain:
            return text, f"unknown charset {label}, decoded as {encoding}"
        return text, f"declared {label} but was {encoding}"
    codec = chain[0] if chain else "utf-8"
    note = f"undecodable bytes in {label or 'undeclared'} text were replaced"
    return data.decode(codec, errors="replace"), note


def _detect(data: bytes) -> tuple[str, str] | None:
    try:
        return decode_text(data, name="mail part")
    except KbError:  # looks binary: only replacement characters can help
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _same_codec(label: str, codec: str) -> bool:
    try:
        return codecs.lookup(label).name == codecs.lookup(codec).name
    except LookupError:
        return False


def _looks_double_byte(data: bytes) -> bool:
    """GBK and Big5 bytes come in pairs; Latin-1 accents mostly stand alone."""
    runs = _HIGH_RUN.findall(data)
    total = sum(map(len, runs))
    paired = sum(len(run) for run in runs if len(run) % 2 == 0)
    return total >= 2 and paired >= 0.9 * total


# --- HTML to plain text --------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """Visible text of an HTML body, as safe plain text: no scripts, styles or head,
    block elements as line breaks, blockquotes as "> " lines, entities unescaped."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):
        # html.parser gives up on some hostile markup; keep the text read up to there
        # rather than stripping tags by hand, which would let script text through.
        pass
    return parser.text()


class _HtmlText(HTMLParser):
    _DROPPED = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe",
                          "object", "svg"})
    _HEAD_CONTENT = frozenset({"meta", "link", "base", "title", "style", "script", "noscript",
                               "template"})
    _BLOCK = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd", "h1",
                        "h2", "h3", "h4", "h5", "h6", "hr", "pre", "section", "article",
                        "header", "footer", "address", "center", "form", "fieldset"})
    _CELL = frozenset({"td", "th"})
    _SPACE = re.compile(r"[ \t\n\r\f\v]+")  # not \s: a no-break space is content

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._dropped: list[str] = []
        self._quote_depth = 0
        self._pre = 0
        self._newlines = 2  # no breaks before the first text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._DROPPED:
            self._dropped.append(tag)
            return
        if "head" in self._dropped and tag not in self._HEAD_CONTENT:
            # The body began without </head>: stop dropping.
            del self._dropped[self._dropped.index("head"):]
        if self._dropped:
            return
        if tag == "br":
            self._emit("\n")
            self._newlines += 1
        elif tag == "blockquote":
            self._break()
            self._quote_depth += 1
        elif tag in self._BLOCK:
            self._break()
            if tag == "pre":
                self._pre += 1
        elif tag in self._CELL:
            self._emit(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._dropped:
            del self._dropped[len(self._dropped) - 1 - self._dropped[::-1].index(tag):]
            return
        if self._dropped:
            return
        if tag == "blockquote":
            self._break()
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in self._BLOCK:
            self._break()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._dropped:
            return
        if not self._pre:
            data = self._SPACE.sub(" ", data)
            if self._newlines:
                data = data.lstrip(" ")
        if not data:
            return
        if self._newlines and self._quote_depth:
            self._out.append("> " * self._quote_depth)
        self._out.append(data)
        self._newlines = 0

    def _emit(self, text: str) -> None:
        if self._out:
            self._out.append(text)

    def _break(self) -> None:
        if not self._newlines:
            self._out.append("\n")
            self._newlines = 1

    def text(self) -> str:
        return _tidy_lines("".join(self._out))


def _tidy_lines(text: str) -> str:
    text = text.replace("\xa0", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- quoted history ------------------------------------------------------------------------

_ON_WROTE = re.compile(r"On\b.{0,400}\bwrote:\s*", re.IGNORECASE)
_ZH_WROTE = ("写道：", "写道:", "寫道：", "寫道:")
_ORIGINAL = re.compile(r"\s*-{2,}\s*(?:original message|原始邮件|原始郵件|原邮件)\s*-{2,}\s*",
                       re.IGNORECASE)
_HEADER_FIRST = re.compile(r"\s*\*?(?:from|发件人|發件人|寄件者|寄件人)\*?\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"\s*\*?(?:sent|date|to|cc|subject|发送时间|時間|时间|日期|收件人|收件者|"
                          r"抄送|副本|主题|主旨|寄件日期)\*?\s*[:：]", re.IGNORECASE)
_RULE = re.compile(r"\s*_{10,}\s*")
_MAX_MARKER_LINE = 400


def quote_start(text: str) -> int | None:
    """Offset where quoted history or the signature starts, None if none (or if it
    would start before any text of the customer's own)."""
    lines = text.split("\n")
    offset = prev_offset = 0
    seen = seen_before_prev = False  # own text before this line / before the previous one
    for i, line in enumerate(lines):
        if seen and _is_marker(lines, i):
            # Outlook draws a rule above its header block: fold from the rule.
            if i and _RULE.fullmatch(lines[i - 1]) and seen_before_prev:
                return prev_offset
            return offset
        seen_before_prev = seen
        seen = seen or bool(line.strip()) and not line.startswith(">")
        prev_offset, offset = offset, offset + len(line) + 1
    return None


def _is_marker(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith(">"):
        return _quote_run(lines, i)
    if line in ("-- ", "--"):
        return True
    if len(line) > _MAX_MARKER_LINE:
        return False
    stripped = line.strip()
    if stripped.endswith(_ZH_WROTE) or _ORIGINAL.fullmatch(line):
        return True
    if stripped[:3].lower() == "on ":
        if _ON_WROTE.fullmatch(stripped):
            return True
        # Gmail wraps long "On ... wrote:" lines in two.
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        return len(following) <= _MAX_MARKER_LINE and bool(
            _ON_WROTE.fullmatch(f"{stripped} {following}"))
    if _HEADER_FIRST.match(line):
        return any(_HEADER_NEXT.match(nxt) for nxt in lines[i + 1:i + 4])
    return False


def _quote_run(lines: list[str], i: int) -> bool:
    """A quoted line starts history when the next non-blank line is quoted too, or
    when nothing follows it."""
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j == len(lines) or lines[j].startswith(">")


# --- threading -----------------------------------------------------------------------------

_REPLY_PREFIX = re.compile(r"(?:re|fwd?|回复|回覆|答复|答覆|转发|轉發|转寄|轉寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
                           re.IGNORECASE)
_LIST_TAG = re.compile(r"\[[^\[\]]*\]\s*")


def normalize_subject(subject: str) -> str:
    """The subject as a threading key: leading reply/forward prefixes (any number, in
    English or Chinese, ASCII or full-width colon, "Re[2]:") removed, list tags such
    as "[Shop]" kept once, whitespace collapsed, casefolded."""
    text = " ".join(subject.split())
    tags: list[str] = []
    pos = 0
    while True:
        prefix = _REPLY_PREFIX.match(text, pos)
        tag = None if prefix else _LIST_TAG.match(text, pos)
        if prefix:
            pos = prefix.end()
        elif tag:
            if not tags or tags[-1].casefold() != tag[0].strip().casefold():
                tags.append(tag[0].strip())
            pos = tag.end()
        else:
            break
    return " ".join([*tags, text[pos:]]).strip().casefold()
