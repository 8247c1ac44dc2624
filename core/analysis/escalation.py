"""Escalation cues: what a customer threatens or announces that should bring in a
supervisor, found as spans of the message (so the app can highlight them).

Rules, not a model: each reason is a small set of Chinese and English patterns written
for this project.  They look for the threat itself (a regulator, a chargeback, a public
bad review, a lawyer, the third message about the same thing, leaving for good), not an
angry tone: "I want to cancel this order" or "can I leave a review?" is not a threat.

Whether a message is an escalation at all is the gate's call (``gate_features`` here, the
``escalation_gate`` head trained by scripts/train_analysis.py, applied in analyzer.py): it
weighs the cues with the escalation head's odds, the message's negativity and whether
it is a question, so "I saw your shop on Instagram, is the dress in stock?" is not a
threat and "my TikTok has 80k followers" can be one.
Measured on bench/analysis_sets (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

REASONS = ("regulator", "chargeback", "public_review", "legal", "repeated_contact",
           "cancellation")

REASON_NAMES = {
    "regulator": "complaint to a regulator or consumer body",
    "chargeback": "payment dispute or chargeback",
    "public_review": "public bad review or social media",
    "legal": "legal action",
    "repeated_contact": "has contacted several times",
    "cancellation": "threatens to leave",
}


@dataclass(frozen=True)
class Cue:
    reason: str
    start: int
    end: int
    text: str
    weak: bool = False       # a threat only when the customer is unhappy

    def to_json(self) -> dict:
        return {"reason": self.reason, "start": self.start, "end": self.end,
                "text": self.text}


_NUM_EN = r"(?:two|three|four|five|six|seven|eight|nine|ten|several|multiple|many|" \
          r"countless|numerous|a few|a dozen|\d+)"
_ORD_EN = r"(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))"
_NUM_ZH = r"[二两三四五六七八九十几好多nN\d]+"

_PATTERNS: dict[str, tuple[str, ...]] = {
    "regulator": (
        r"12315", r"315(?:晚会|晚會|热线|熱線)", r"(?:投诉|投訴|打)(?:到)?315(?!\d)", r"消[费費]者(?:权益)?(?:协会|協會|保护|保護)", r"消[协協]",
        r"市[场場]监[管督]", r"工商(?:局|部门|部門|所|行政)", r"[黑]猫投诉", r"黑貓投訴",
        r"(?:向|去|到|找)(?:相关|有关|相關|有關)?(?:部门|部門|政府|监管|監管)(?:投诉|投訴|举报|舉報|反映)",
        r"(?:举报|舉報)(?:你们|你們|商家|店铺|店鋪)",
        r"consumer (?:protection|rights|affairs|council|agency|association|ombudsman|watchdog)",
        r"\bBBB\b", r"better business bureau", r"\bFTC\b", r"federal trade commission",
        r"trading standards", r"\bombudsman\b", r"attorney general", r"\bACCC\b",
        r"report (?:you|this|your (?:company|shop|store))(?: \w+){0,3} to the "
        r"(?:authorities|regulators?|government)",
    ),
    "chargeback": (
        r"charge ?-?backs?", r"disput(?:e|ed|ing) (?:the|this|that|my) (?:charge|payment|transaction)",
        r"(?:card issuer|credit card company)(?: \w+){0,4} (?:informed|told|notified|contacted)",
        r"\breversal\b",
        r"(?:file|open|raise|start) an? (?:dispute|claim) with (?:my|the) "
        r"(?:bank|card|credit card|paypal|card issuer)",
        r"(?:paypal|credit card|card) (?:dispute|claim)",
        r"(?:call|contact|ask|tell) my (?:bank|credit card company|card issuer)"
        r"(?: \w+){0,6} (?:reverse|refund|cancel|block|stop|get (?:my|the) money)",
        r"reverse the (?:charge|payment)",
        r"拒付", r"(?:银行|銀行|信用卡)(?:申请|申請)?(?:退单|退單)", r"(?:信用卡|银行卡|銀行卡|支付宝|支付寶|花呗|花唄)(?:的)?(?:争议|爭議|申诉|申訴|拒付)",
        r"(?:找|联系|聯繫|打电话给|打電話給)(?:我的)?(?:银行|銀行|发卡行|發卡行)(?:.{0,8})(?:追回|拒付|冻结|凍結|撤销|撤銷|退回)",
        r"(?:申请|申請)(?:银行|銀行|支付宝|支付寶)?(?:争议|爭議|拒付|止付)",
        r"(?:开|開|发起|發起|提起|提交)(?:了)?(?:交易)?(?:争议|爭議|纠纷|糾紛)",
        r"(?:支付宝|支付寶|paypal|花呗|花唄|信用卡)(?:那边|那邊)?(?:.{0,6})(?:投诉|投訴|争议|爭議|申诉|申訴)",
    ),
    "public_review": (
        r"(?:bad|negative|terrible|horrible|scathing|honest|1[- ]star|one[- ]star|zero[- ]star)"
        r" reviews?(?! with photos)",
        r"(?:review|rate) (?:you|this shop|this store|it) (?:one|1|zero|0) stars?",
        r"(?:post|write|share|put|tweet|going|go|upload|make|making)(?:ing)?(?: \w+){0,5} "
        r"(?:on|to) (?:twitter|x|facebook|reddit|tiktok|instagram|youtube|social media|"
        r"the internet|every (?:site|forum))",
        r"(?:making|make|post|posting) an? (?:tiktok|youtube video|reddit post|thread)",
        r"tell (?:everyone|all my friends|everybody)", r"warn (?:other|everyone|others)",
        r"\bgo(?:es|ing)? viral\b", r"\bexpose (?:you|your|this)",
        r"(?:给|給|打|写|寫|留|刷)(?:你们|你們|个|個|一个|一個)*差[评評]", r"差[评評](?:警告|伺候)", r"曝光",
        r"(?:发|發|挂|掛|晒|曬|po|拍)(?:到|在|上)?(?:个|個)?(?:视频|視頻)?(?:.{0,4})?(?:微博|小红书|小紅書|抖音|朋友圈|网上|網上|知乎|贴吧|貼吧|论坛|論壇)",
        r"(?:去|到|上)(?:微博|小红书|小紅書|抖音|知乎|网上|網上)(?:.{0,6})(?:让|讓)?(?:大家|所有人|网友|網友)",
        r"让(?:大家|所有人)都知道", r"讓(?:大家|所有人)都知道", r"一星",
    ),
    "legal": (
        r"(?:my|get a|hire a|call a|call my|contact a|contact my|contacting (?:a|my)|"
        r"consult a|speak to (?:a|my)|speaking to (?:a|my)|hear from my) "
        r"(?:lawyer|attorney|solicitor)s?\b(?! and)",
        r"(?:lawyer|attorney|solicitor)s? (?:will|is going to|letter)", r"\bsu(?:e|ing)\b",
        r"\blaw ?suits?\b", r"legal (?:action|steps|proceedings|advice|route)",
        r"small[- ]claims", r"(?:see you|take (?:you|this|them)) (?:in|to) court",
        r"(?:找|请|請|联系|聯繫|咨询|諮詢|让|讓|我的)律[师師]", r"律[师師](?:函|信|会|會|来|來)",
        r"起诉", r"起訴", r"法院见", r"法院見", r"(?:上|去|告上|告到)法院",
        r"告(?:你们|你們|到你们|到你們)",
        r"法律(?:途径|途徑|手段|程序|责任|責任)", r"打官司", r"仲裁",
    ),
    "repeated_contact": (
        rf"(?:the |this is (?:the |my )?|for the |my ){_ORD_EN} (?:time|email|message|request|"
        rf"attempt|call)",
        rf"\b{_ORD_EN} (?:email|message|request|attempt|call|follow-up)\b",
        rf"\b{_ORD_EN} time (?:asking|writing|emailing|contacting|chasing|requesting|calling)",
        r"(?:been )?chasing (?:this|you|it) (?:since|for)",
        rf"(?:emailed|e-mailed|called|written|wrote|contacted|asked|messaged|chatted|"
        rf"reached out|complained|followed up)(?: \w+){{0,3}} {_NUM_EN} times",
        rf"{_NUM_EN} (?:emails|messages|calls|requests|times)(?: \w+){{0,3}} "
        rf"(?:already|and (?:still )?(?:no|nothing|not))",
        r"still (?:no|haven't (?:got|gotten|had|received)|not (?:got|gotten|received)|"
        r"waiting for an?) (?:reply|response|answer|update)",
        r"no(?: ?one|body) (?:has )?(?:ever )?(?:replied|responded|answered|got(?:ten)? back|"
        r"gets? back)",
        r"again and again", r"keep (?:asking|writing|emailing|calling|chasing)",
        r"(?:ignored|ignoring) (?:my|me)\b",
        rf"第{_NUM_ZH}次", rf"(?:问|問|催|找|联系|聯繫|发|發|打)了?{_NUM_ZH}[次遍回]",
        r"(?:问|問|催|找|联系|聯繫|说|說|反映|打|发|發|投诉|投訴)(?:了|过|過)?(?:好|很)(?:几|幾|多)次",
        r"(?:好几|好幾|多)次(?:联系|聯繫|询问|詢問|反映|投诉|投訴|催|找|打电话|打電話|发消息|發消息|留言)",
        r"三番五次", r"反反复复", r"反反覆覆",
        r"一直(?:都)?(?:没|沒)(?:有)?(?:人)?(?:回|理|处理|處理|答复|答覆|解决|解決)",
        r"(?:没|沒)(?:有)?人(?:回|理|管)", r"石沉大海", r"又(?:来|來)(?:问|問|找|催)",
    ),
    "cancellation": (
        r"never (?:buy|order|shop|purchase)(?:ing)?(?: \w+){0,3} (?:from you|here|again|with you)",
        r"(?:won't|will not|wont) (?:be )?(?:buy|order|shop|purchas)(?:e|ing)?(?: \w+){0,2} "
        r"(?:here|from you|with you|again)",
        r"(?:take|taking) my (?:business|money) elsewhere",
        r"cancel (?:all|every|every one of)(?: \w+){0,2} orders?", r"(?:lost|losing) (?:a|me as a) customer",
        r"(?:switch|go|going|move|moving) to (?:a |your )?(?:competitor|another (?:shop|store|seller))",
        r"(?:再也|以后|以後|永远|永遠)(?:都)?不(?:会|會)?(?:再)?(?:在你们|在你們|在你|在这|在這|来|來|用)?(?:家|平台|店)?(?:买|買|光顾|光顧|下单|下單|用|来|來)",
        r"取消(?:所有|全部)(?:的)?[订訂]单", r"(?:所有|全部)(?:的)?[订訂][单單](?:都)?(?:给我)?取消", r"全部取消", r"拉黑",
        r"[换換](?:一|别|別)?家", r"去[别別]家", r"[换換](?:个|個)平台",
    ),
}

# Cues that are threats only from an unhappy customer: "cancel my membership, I'm moving
# abroad" is not one, "after this, cancel my membership" is.  They count when the
# message's sentiment is negative (core/analysis/analyzer.py decides).
_WEAK_PATTERNS: dict[str, tuple[str, ...]] = {
    "cancellation": (
        r"(?:close|cancel|delete|terminate|end)(?:ling)? my (?:\w+ )?(?:account|membership|"
        r"subscription|plan)",
        r"(?:注销|註銷|取消|不续|不續)(?:了)?(?:我的)?(?:年费|年費)?(?:账号|帳號|账户|帳戶|会员|會員|订阅|訂閱)",
        r"(?:会员|會員|账号|帳號)(?:也)?(?:直接)?(?:注销|註銷|不续|不續)",
    ),
    "public_review": (
        r"\btrustpilot\b", r"\b(?:twitter|reddit|tiktok|facebook|instagram|youtube)\b",
        r"差[评評]", r"微博|小红书|小紅書|抖音|知乎|黑猫",
    ),
    "legal": (r"\b(?:lawyers?|attorneys?|solicitors?)\b", r"律[师師]", r"法院|法庭"),
}


def _compile(table: dict[str, tuple[str, ...]]) -> dict[str, list[re.Pattern]]:
    return {reason: [re.compile(p, re.IGNORECASE) for p in patterns]
            for reason, patterns in table.items()}


_COMPILED = _compile(_PATTERNS)
_WEAK = _compile(_WEAK_PATTERNS)

_URGENT = re.compile(
    r"\burgent(?:ly)?\b|\basap\b|\bimmediately\b|right now|\bemergency\b|by tomorrow|"
    r"\btoday\b|\btonight\b|as soon as possible|紧急|緊急|加急|马上|馬上|立刻|立即|尽快|儘快|"
    r"赶紧|趕緊|今天|今晚|急用|急需|十万火急|火速", re.IGNORECASE)


def find_cues(text: str) -> list[Cue]:
    """Every escalation cue in ``text``, strong and weak, in order; overlapping ones of
    the same reason are kept once (a strong one first)."""
    cues: list[Cue] = []
    for reason in REASONS:
        spans: list[tuple[int, int]] = []
        for weak, table in ((False, _COMPILED), (True, _WEAK)):
            for pattern in table.get(reason, ()):
                for match in pattern.finditer(text):
                    if not any(s < match.end() and match.start() < e
                               for s, e, _weak in spans):
                        spans.append((match.start(), match.end(), weak))
        cues += [Cue(reason, s, e, text[s:e], weak) for s, e, weak in spans]
    return sorted(cues, key=lambda c: (c.start, c.reason))


def reasons_of(cues: list[Cue], *, weak: bool = False) -> list[str]:
    """The distinct reasons of ``cues`` (strong ones; weak ones too with ``weak``), in
    the order of REASONS."""
    found = {c.reason for c in cues if weak or not c.weak}
    return [r for r in REASONS if r in found]


# What the gate reads, in this order (its weights are trained on these names).
GATE_FEATURES = ("strong_cue", "weak_cue", "head_odds", "head_logit", "negative",
                 "question", "question_and_strong_cue", "weak_cue_and_negative",
                 "head_odds_and_negative")
_QUESTION = re.compile(r"(?:[?？]|[吗嗎呢][。.!！~～]?)[\s\W]*$")


def is_question(text: str) -> bool:
    """The message ends in a question (what follows the last mark being only spaces,
    emoji or punctuation)."""
    return _QUESTION.search(text[-200:]) is not None


def gate_features(text: str, cues: list[Cue], odds: np.ndarray, negative: float) -> np.ndarray:
    """The gate's input for one message: its cues, the escalation head's per-reason
    ``odds`` and the polarity head's probability that it is ``negative``."""
    strong = float(any(not c.weak for c in cues))
    weak = float(any(c.weak for c in cues))
    best = float(np.clip(np.max(odds), 1e-6, 1 - 1e-6))
    question = float(is_question(text))
    return np.array([strong, weak, best, math.log(best / (1 - best)), negative, question,
                     question * strong, weak * negative, best * negative], dtype=np.float32)


def is_urgent(text: str) -> bool:
    return _URGENT.search(text) is not None
