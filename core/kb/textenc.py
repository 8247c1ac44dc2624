"""Decode a text file whatever its encoding: UTF-8 (with or without BOM), UTF-16,
GBK/GB18030, Big5, and say clearly when a file is not text at all."""

from __future__ import annotations

import codecs

from core.errors import KbError

# Encodings Chinese and English support documents are actually saved in, tried in
# this order when the bytes are not valid UTF-8.  GB18030 is a superset of GBK and
# GB2312; Big5 covers traditional Chinese.
_CANDIDATES = ("gb18030", "big5")


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control / len(sample) > 0.05


def decode_text(data: bytes, *, name: str = "file") -> tuple[str, str]:
    """Return (text, encoding used); raise ``KbError`` for binary data."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if looks_binary(data):
        raise KbError(f"{name} looks like a binary file, not text.")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best: tuple[int, str, str] | None = None
    for encoding in _CANDIDATES:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # Prefer the decoding that yields the most common CJK characters: Big5 bytes
        # often decode as (rare) GB18030 characters too, and the reverse.
        score = _plausibility(text)
        if best is None or score > best[0]:
            best = (score, text, encoding)
    if best is not None:
        return best[1], best[2]
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None:
        raise KbError(f"{name}: the text encoding could not be recognised; save it as UTF-8.")
    return str(match), match.encoding


# Very common characters in simplified and traditional Chinese support text.
_COMMON = set("的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得"
              "于着下自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天"
              "分还进好小部其些主样理心她本前开但因只从想实日军者意无力它与长把机十民第公此已"
              "工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什"
              "二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声"
              "提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报"
              "才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决"
              "治展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求"
              "據們這個為來時會說還對沒麼發貨單號訂購買賣運過錢換請問謝價讓應該經與業產從開關"
              "東車條網頁電話聯絡處實際間題體點幾樣後邊裡務當給備證戶帳壞損退款換貨")


def _plausibility(text: str) -> int:
    return sum(1 for ch in text[:5000] if ch in _COMMON)
