"""When a product suggestion fits a conversation, and which kinds.

``policy_for`` reads the analyser's mood (intent, sentiment, escalation) and the customer's
own words (a replacement asked for, suggestions asked for, either refused) and returns the
weight of each kind of suggestion, or none with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Intents (core.analysis) for which a suggestion is out of place unless asked for.
QUIET_INTENTS = frozenset({"complaint", "cancel_order", "payment", "account", "invoice",
                           "shipping_delay", "order_status", "shipping_info", "change_order",
                           "contact_agent", "coupon", "return_refund"})
# ... and those for which even a replacement is not the topic.
NEVER_INTENTS = frozenset({"invoice", "account", "payment", "cancel_order"})
# The kinds of suggestion that fit each intent, with their weight.  "part" is a
# consumable or spare part that fits what the customer has (a filter, a bulb, a shade).
POLICY: dict[str, dict[str, float]] = {
    "product_question": {"match": 1.0, "part": 1.0, "variant": 0.9, "substitute": 0.7,
                         "complement": 0.45, "refill": 0.4},
    "purchase": {"match": 1.0, "part": 1.0, "variant": 0.9, "substitute": 0.7,
                 "complement": 0.45, "refill": 0.4},
    "praise": {"complement": 1.0, "refill": 0.8, "match": 0.6, "part": 0.5},
    "exchange": {"variant": 1.0, "substitute": 0.7, "match": 0.5},
    "damaged_item": {"part": 1.0, "replacement": 1.0, "match": 0.5},
    "": {"match": 1.0, "part": 0.8, "variant": 0.8, "substitute": 0.6, "complement": 0.4,
         "refill": 0.4},
}
# Intents with no table of their own: "feedback" is read as praise when happy and as a
# quiet one when not; "other" gets the default.  Every intent the analyser knows is in
# QUIET_INTENTS, POLICY or here (a test checks it against the shipped heads).
OTHER_INTENTS = frozenset({"feedback", "other"})
# A replacement asked for in a complaint, an escalation or an angry message.
REPLACEMENT_ONLY = {"part": 1.0, "replacement": 1.0, "variant": 0.8, "substitute": 0.6}
# Suggestions asked for in a conversation about something else (a coupon, a return).
ASKED = {"match": 1.0, "part": 0.9, "substitute": 0.8, "variant": 0.8, "complement": 0.5,
         "refill": 0.5}
# Variants of a product the customer owns are for exchanges and replacements only.
VARIANT_INTENTS = frozenset({"exchange", "return_refund", "damaged_item"})

# Request-shaped: "send a replacement", "replace it", "exchange it for"; not "the
# replacement" (one already promised: "no tracking number for the replacement yet").
_ASKS_REPLACEMENT = re.compile(
    r"\b((?:an?|another|new) replacement|replacements? (?:for|of)|replace (?:it|this|them|"
    r"the|my|mine)|send (?:me )?(?:a |an )?(?:new|another)(?: one)?|exchange|swap|"
    r"reship|re-ship|spare|a new one|buy just|order just|just the)\b|补发|换货|换一个|换个|"
    r"换成|换一套|换套|换新的|重新发|再发一(?:个|套)|换新|重发|配件|单独买|单买|在哪里买|"
    r"哪里能买", re.IGNORECASE)
# "Not a replacement", "我不要换货": the request is refused, not made.
_NEGATED = re.compile(r"(?:(?:\bnot?\b|\bnor\b|n't|\bwithout\b|\brather than\b)"
                      r"\W{0,3}(?:[A-Za-z]+\W{1,2}){0,5}"
                      r"|(?:不要|不用|不想|不需要|别|不)[\u4e00-\u9fff]{0,2})$", re.IGNORECASE)
_ASKS_SUGGESTION = re.compile(
    r"\b(recommend\w*|suggest\w*|alternative\w*|similar|other (?:options?|models?|styles?)|"
    r"any other|what else|gift\w*|looking for|do you (?:have|sell|carry)|which (?:one|\w+) "
    r"(?:should|would)|instead|anything (?:small|else)|what (?:would|should) I)\b|推荐|"
    r"有没有别的|有没有其他|其他款|别的款|类似|替代|送礼|礼物|还有什么|有没有.{0,12}(?:的|款)|"
    r"哪款|哪个好|想买|想要一|搭配|凑单|用得上", re.IGNORECASE)


def _asks(pattern: re.Pattern, text: str) -> bool:
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 48):match.start()]
        if not _NEGATED.search(before):
            return True
    return False


def asks_replacement(text: str) -> bool:
    """The customer asks for a replacement or a part (and does not refuse one)."""
    return _asks(_ASKS_REPLACEMENT, text)


_ASKS_OTHER = re.compile(r"\b(other|another|alternatives?|instead|similar|else)\b|别的|其他|"
                         r"其它|另外的|换一款|替代|类似", re.IGNORECASE)


def asks_other(text: str) -> bool:
    """The customer asks for something else than the product in question."""
    return bool(_ASKS_OTHER.search(text))


def asks_suggestion(text: str) -> bool:
    """The customer asks what to buy ("any other", "推荐"), and does not refuse it."""
    return _asks(_ASKS_SUGGESTION, text)


@dataclass(frozen=True)
class Mood:
    """What the analyser says about the conversation (core.analysis), or nothing."""
    intent: str = ""
    sentiment: str = ""
    escalation: bool = False

    @classmethod
    def from_analysis(cls, analysis) -> "Mood":
        if analysis is None:
            return cls()
        get = analysis.get if isinstance(analysis, dict) else \
            (lambda k, d=None: getattr(analysis, k, d))
        return cls(intent=str(get("intent", "") or ""),
                   sentiment=str(get("sentiment", "") or ""),
                   escalation=bool(get("escalation", False)))


def policy_for(mood: Mood, text: str) -> tuple[dict[str, float], str]:
    """(weights of the kinds of suggestion that fit, why none when empty)."""
    suggestion = asks_suggestion(text)
    negative = mood.sentiment in ("negative", "very_negative")
    # Thanks for a replacement already sent ("had a replacement shipped") asks for none;
    # a lost parcel sent again ("补发", "reship") is delivery, not a product to suggest.
    replacement = asks_replacement(text) and mood.intent not in (
        "praise", "feedback", "shipping_delay", "order_status", "shipping_info")
    if mood.escalation:
        if replacement:
            return REPLACEMENT_ONLY, ""
        return {}, "the customer is escalating: no product suggestions"
    unhappy_feedback = mood.intent == "feedback" and negative
    if mood.intent in QUIET_INTENTS or unhappy_feedback:
        if replacement and mood.intent not in NEVER_INTENTS:
            return REPLACEMENT_ONLY, ""
        if suggestion and mood.sentiment != "very_negative" \
                and mood.intent not in NEVER_INTENTS:
            return ASKED, ""
        what = mood.intent.replace("_", " ") or "this request"
        article = "an" if what[0] in "aeiou" else "a"
        return {}, (f"an unhappy {what}" if negative else f"{article} {what} request") + \
            ": a product suggestion would be out of place"
    if mood.sentiment == "very_negative" and not replacement:
        return {}, "the customer is very unhappy: no product suggestions"
    weights = dict(POLICY.get("praise" if mood.intent == "feedback" else mood.intent,
                              POLICY[""]))
    if replacement:
        for kind, weight in REPLACEMENT_ONLY.items():
            weights[kind] = max(weights.get(kind, 0.0), weight)
    if suggestion:
        for kind, weight in ASKED.items():
            weights[kind] = max(weights.get(kind, 0.0), weight)
    return weights, ""


# "a budget of $70", "under $30", "$30 limit", "预算300以内", "¥200以内", "不超过150元".
_BUDGET = [
    re.compile(r"(?:budget(?: is| of)?|under|below|less than|up to|no more than|max(?:imum)?|"
               r"at most)\s*(?:about|around|roughly)?\s*(?P<cur>[$€£¥￥])\s*(?P<n>\d[\d,]*"
               r"(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"(?P<cur>[$€£¥￥])\s*(?P<n>\d[\d,]*(?:\.\d+)?)\s*(?:limit|max(?:imum)?|"
               r"budget|or less|or under)", re.IGNORECASE),
    re.compile(r"预算\s*(?:是|在|大概|大约)?\s*(?P<cur>[¥￥])?\s*(?P<n>\d+(?:\.\d+)?)\s*"
               r"(?:元|块)?"),
    # "7天以内" is a time: a sum needs its sign or its unit.
    re.compile(r"(?P<cur>[¥￥])\s*(?P<n>\d+(?:\.\d+)?)\s*(?:元|块)?\s*(?:以内|以下|之内)"),
    re.compile(r"(?P<cur>)(?P<n>\d+(?:\.\d+)?)\s*(?:元|块)\s*(?:以内|以下|之内)"),
    re.compile(r"不超过\s*(?:(?P<cur>[¥￥])\s*(?P<n>\d+(?:\.\d+)?)|(?P<n2>\d+(?:\.\d+)?)\s*"
               r"(?:元|块))"),
]
_SYMBOL_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY"}


def budget(text: str) -> tuple[float, str] | None:
    """The most the customer wants to spend, if they say so: (amount, currency or "")."""
    for pattern in _BUDGET:
        match = pattern.search(text)
        if match:
            number = match.group("n") or match.groupdict().get("n2") or "0"
            amount = float(number.replace(",", ""))
            symbol = match.group("cur") or ("¥" if re.search(r"[\u4e00-\u9fff]",
                                                              match.group(0)) else "")
            if amount > 0:
                return amount, _SYMBOL_CURRENCY.get(symbol, "")
    return None
