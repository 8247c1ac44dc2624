"""Which language a customer writes in, from the characters alone.

Drafts must answer in the customer's language.  Support mail here is Chinese or
English, often mixed (order numbers, product names), so the rule is simple and
predictable: enough Han characters make it Chinese; traditional-only characters
make it traditional Chinese.
"""

from __future__ import annotations

import unicodedata

# Characters that exist only in traditional Chinese (their simplified forms differ) and
# are common in support mail.
_TRADITIONAL_ONLY = set(
    "們這個為來時會說還對沒麼發貨單號訂購買賣運過錢換請問謝禮價錢讓應該經與業"
    "產從開關東車條網頁電話聯絡處實際間題體點幾樣後邊裡務當給備貨幣證戶帳號壞損")

LANG_NAMES = {
    "en": "English",
    "zh": "Simplified Chinese (简体中文)",
    "zh-Hant": "Traditional Chinese (繁體中文)",
}


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
            or 0x20000 <= code <= 0x2A6DF or 0xF900 <= code <= 0xFAFF)


def detect_language(text: str, *, default: str = "en") -> str:
    """Return ``"zh"``, ``"zh-Hant"`` or ``"en"`` (the default when there are no letters)."""
    han = latin = traditional = 0
    for ch in text[:20000]:
        if _is_han(ch):
            han += 1
            if ch in _TRADITIONAL_ONLY:
                traditional += 1
        elif ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
            latin += 1
    if han == 0 and latin == 0:
        return default
    # One Han character carries about as much meaning as four Latin letters.
    if han * 4 >= latin and han >= 2:
        return "zh-Hant" if traditional >= max(2, han // 20) else "zh"
    return "en"
