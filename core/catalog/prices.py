"""Prices as shops and spreadsheets write them: ``¥1,299.00``, ``1.299,00 €``, ``$12.50``,
``RMB 459``, ``1 299,00 kr``, ``12,5``.

``parse_price`` returns the amount as a ``Decimal`` (money is never a float here) and the
ISO currency code when the text names one.  A comma or a dot is read as the decimal mark
when it is followed by one or two digits at the end and the other mark, if present, comes
before it; otherwise it separates thousands.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from core.errors import CatalogError

# Symbols and words, longest first where one is a prefix of another.
_CURRENCIES: tuple[tuple[str, str], ...] = (
    ("US$", "USD"), ("HK$", "HKD"), ("NT$", "TWD"), ("A$", "AUD"), ("C$", "CAD"),
    ("S$", "SGD"), ("RMB", "CNY"), ("CNY", "CNY"), ("USD", "USD"), ("EUR", "EUR"),
    ("GBP", "GBP"), ("JPY", "JPY"), ("HKD", "HKD"), ("TWD", "TWD"), ("AUD", "AUD"),
    ("CAD", "CAD"), ("SGD", "SGD"), ("KRW", "KRW"), ("SEK", "SEK"), ("NOK", "NOK"),
    ("DKK", "DKK"), ("CHF", "CHF"), ("元", "CNY"), ("￥", "CNY"), ("¥", "CNY"),
    ("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("₩", "KRW"), ("kr", "SEK"),
)
_SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$",
            "TWD": "NT$", "AUD": "A$", "CAD": "C$", "SGD": "S$", "KRW": "₩"}
_NUMBER = re.compile(r"[-+]?\d[\d.,\s\u00a0\u202f']*")


def parse_price(text: str | float | int | None, *, default_currency: str = ""
                ) -> tuple[Decimal | None, str]:
    """(amount, currency) from a price cell; (None, currency) when the cell is empty.

    Raises ``CatalogError`` for text that holds no number or an ambiguous one.
    """
    if text is None:
        return None, default_currency
    if isinstance(text, (int, float)):
        return Decimal(str(text)), default_currency
    raw = str(text).strip()
    if not raw:
        return None, default_currency
    currency = default_currency
    rest = raw
    for token, code in _CURRENCIES:
        if token in rest:
            # "kr" only counts as a unit, never inside a word
            if token == "kr" and not re.search(r"(?<![A-Za-z])kr\b", rest):
                continue
            currency = code
            rest = rest.replace(token, " ")
            break
    match = _NUMBER.search(rest)
    leftover = _NUMBER.sub(" ", rest, count=1).strip() if match else rest.strip()
    if not match or re.search(r"[A-Za-z0-9\u4e00-\u9fff]", leftover):
        raise CatalogError(f"{raw!r} is not a price.")
    number = re.sub(r"[\s\u00a0\u202f']", "", match.group(0))
    return _to_decimal(number, raw), currency


def _to_decimal(number: str, raw: str) -> Decimal:
    sign = ""
    if number[0] in "+-":
        sign, number = number[0].replace("+", ""), number[1:]
    last_comma, last_dot = number.rfind(","), number.rfind(".")
    decimal_mark = ""
    if last_comma >= 0 and last_dot >= 0:
        decimal_mark = "," if last_comma > last_dot else "."
    elif last_comma >= 0 or last_dot >= 0:
        mark = "," if last_comma >= 0 else "."
        position = max(last_comma, last_dot)
        digits_after = len(number) - position - 1
        if number.count(mark) == 1 and digits_after != 3:
            decimal_mark = mark          # "12,5", "12.50", "0,99"
        elif number.count(mark) == 1 and digits_after == 3 and number.startswith("0"):
            decimal_mark = mark          # "0.125" is not thousands
    if decimal_mark:
        thousands = "." if decimal_mark == "," else ","
        whole, _, fraction = number.rpartition(decimal_mark)
        if decimal_mark in whole:
            raise CatalogError(f"{raw!r} is not a price (two decimal marks).")
        whole = whole.replace(thousands, "")
        number = f"{whole}.{fraction}"
    else:
        number = number.replace(",", "").replace(".", "")
    try:
        value = Decimal(sign + number)
    except InvalidOperation:
        raise CatalogError(f"{raw!r} is not a price.") from None
    if not value.is_finite():
        raise CatalogError(f"{raw!r} is not a price.")
    return value


def format_price(amount: Decimal | float | None, currency: str) -> str:
    """``$249.99``, ``¥1,299.00``, ``249.99 CHF``; empty for no price."""
    if amount is None:
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    symbol = _SYMBOLS.get(currency)
    text = f"{value:,.2f}"
    if symbol:
        return f"{symbol}{text}"
    return f"{text} {currency}".strip()
