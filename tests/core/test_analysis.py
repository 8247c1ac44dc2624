"""The analyser's logic with a fake featurizer (the real models: tests/e2e/test_analyze.py):
sentence splitting, escalation cues and their gating, the five levels, the heads file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.analysis import escalation as rules
from core.analysis.analyzer import Analyzer
from core.analysis.features import E5_DIM, MINILM_DIM, MessageFeatures
from core.analysis.heads import AnalysisError, LinearHead, load_heads, save_heads
from core.analysis.lexicon import Lexicon
from core.analysis.sentences import formulaic, split
from core.lang import detect_language

GOOD = ("great", "love", "thanks", "好评", "满意", "喜欢")
BAD = ("broken", "terrible", "angry", "差", "坏", "退款", "垃圾")


class FakeFeaturizer:
    """Dimension 0 of a sentence vector: +1 per good word, -1 per bad word; dimension 1:
    how many such words (the fake heads below read only those); message vector: the
    mean of the sentences that are not greetings, closings or signature, as the real one."""

    def messages(self, texts, *, english_model=True):
        out = []
        for text in texts:
            spans = split(text[:20000])
            vectors = np.zeros((len(spans), E5_DIM), dtype=np.float32)
            for n, span in enumerate(spans):
                low = span.text.lower()
                good, bad = sum(w in low for w in GOOD), sum(w in low for w in BAD)
                vectors[n, 0], vectors[n, 1] = good - bad, good + bad
            marks = formulaic(spans)
            said = vectors[[not m for m in marks]]
            mean = said.mean(axis=0) if len(said) else np.zeros(E5_DIM, np.float32)
            out.append(MessageFeatures(detect_language(text), spans, vectors,
                                       np.concatenate([mean, np.zeros(MINILM_DIM, np.float32)]),
                                       tuple(marks)))
        return out


def fake_heads(tmp_path, *, escalation_bias=-10.0, lexicon_weight=0.0):
    dim = E5_DIM + MINILM_DIM
    w = np.zeros((E5_DIM, 2), np.float32)
    w[0] = [-4.0, 4.0]                             # negative, positive
    sentiment = LinearHead(("negative", "positive"), w, np.zeros(2, np.float32))
    s = np.zeros((E5_DIM, 2), np.float32)
    s[1] = [-6.0, 6.0]                             # neutral unless opinion words
    subjectivity = LinearHead(("neutral", "polar"), s, np.array([3.0, -3.0], np.float32))
    intent = LinearHead(("other", "return_refund"), np.zeros((dim, 2), np.float32),
                        np.array([0.0, 1.0], np.float32))
    escalation = LinearHead(rules.REASONS, np.zeros((dim, 6), np.float32),
                            np.full(6, escalation_bias, np.float32), independent=True)
    # The gate: yes for a strong cue that is not a question, or for the head's odds from
    # a negative message (the trained one weighs the same features).
    g = np.zeros((len(rules.GATE_FEATURES), 2), np.float32)
    for name, weight in (("strong_cue", 10.0), ("question_and_strong_cue", -12.0),
                         ("head_odds_and_negative", 10.0)):
        g[rules.GATE_FEATURES.index(name)] = [-weight / 2, weight / 2]
    gate = LinearHead(("no", "yes"), g, np.array([2.5, -2.5], np.float32))
    path = tmp_path / "heads.npz"
    # Chinese: the logit as it is, plus the lexicon's score times lexicon_weight.
    sentiment_zh = LinearHead(("negative", "positive"),
                              np.array([[-0.5, 0.5], [-lexicon_weight / 2, lexicon_weight / 2]],
                                       np.float32), np.zeros(2, np.float32))
    save_heads(path, {"sentiment": sentiment, "sentiment_zh": sentiment_zh,
                      "subjectivity": subjectivity, "intent": intent,
                      "escalation": escalation, "escalation_gate": gate},
               {"embedders": {"e5": "fake"}})
    return path


@pytest.fixture
def analyzer(tmp_path):
    return Analyzer(FakeFeaturizer(), load_heads(fake_heads(tmp_path)))


def test_sentences_keep_their_place_in_the_text():
    text = "你好！台灯坏了。Why?? I paid $59.99 for it.\nThanks"
    spans = split(text)
    assert [s.text for s in spans] == ["你好！", "台灯坏了。", "Why??", "I paid $59.99 for it.",
                                       "Thanks"]
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert split("") == [] and split("😀😀 !!!") == []
    assert len(split("好" * 1300)) == 3          # no punctuation: cut into pieces
    assert len(split("句子。" * 500)) == 64       # a huge message: its first sentences


@pytest.mark.parametrize("text, marks", [
    ("Hi there,\nI'd like to return it. It arrived broken!\nThanks,\nHannah",
     [True, False, False, True, True]),
    ("Hello,\nOur office bought 6 kettles.\nKind regards,\nJames Okafor\nOffice Manager",
     [True, False, True, True, True]),
    ("亲，你好，东西坏了。谢谢", [False, True]),
    ("您好！\n发票抬头写错了，麻烦重开。\n谢谢！\n王芳", [True, False, True, True]),
    ("Thanks!", [False]),                                  # all of it: kept
    ("Thank you so much, great service!", [False]),
    ("Best product ever. Thanks, Anna", [False, False]),   # "Thanks, Anna" is one sentence
    ("Thanks,\nbut the lamp still flickers after the second repair and I am tired of it.",
     [True, False]),                                       # long lines are not a signature
])
def test_greetings_closings_and_signatures(text, marks):
    assert formulaic(split(text)) == marks


def test_formulaic_sentences_carry_no_opinion(analyzer):
    result = analyzer.analyze("Hi,\nThe lamp is broken and terrible.\nThanks,\nHannah")
    assert result.sentiment in ("negative", "very_negative")
    assert [s.sentiment for s in result.sentences] == ["neutral", "very_negative", "neutral",
                                                       "neutral"]
    assert [s.score for s in result.sentences][2:] == [0.0, 0.0]
    # Without the closing and the greeting the same words give the same message score.
    assert result.score == pytest.approx(
        analyzer.analyze("The lamp is broken and terrible.").score)
    assert analyzer.analyze("Great, thanks!").sentiment != "neutral"


@pytest.mark.parametrize("text, reasons", [
    ("我要打12315投诉你们！", ["regulator"]),
    ("这是我第三次联系你们了，一直没人回复", ["repeated_contact"]),
    ("I will file a chargeback with my bank.", ["chargeback"]),
    ("再这样我就给差评，还要发到小红书曝光", ["public_review"]),
    ("This is the third email. My lawyer will be in touch.", ["legal", "repeated_contact"]),
    ("I will never buy from you again.", ["cancellation"]),
    ("I want to cancel this order, I picked the wrong size.", []),
    ("Can I leave a review with photos?", []),
    ("工商银行卡付款失败怎么办", []),
    ("这个券可以多次使用吗", []),
    ("价格315元，还有货吗", []),
])
def test_escalation_cues(text, reasons):
    assert rules.reasons_of(rules.find_cues(text)) == reasons


def test_weak_cues_are_told_apart():
    cues = rules.find_cues("Please close my account, I'm moving abroad.")
    assert [c.weak for c in cues] == [True]
    assert rules.reasons_of(cues) == []
    assert rules.reasons_of(cues, weak=True) == ["cancellation"]


@pytest.mark.parametrize("text, question", [
    ("能给个分享码吗？", True), ("还有货吗", True), ("有驼色吗？😊", True),
    ("Do you have it in blue?", True), ("Is it in stock? Thanks!", False),
    ("I will sue you.", False), ("退款！！！", False), ("", False)])
def test_questions(text, question):
    assert rules.is_question(text) is question


def test_gate_features_follow_their_names():
    text = "我在抖音上看到你们家的杯子，还有货吗？"
    cues = rules.find_cues(text)
    assert [c.weak for c in cues] == [True]
    odds = np.array([0.1, 0.2, 0.9, 0.0, 0.0, 0.0])
    x = dict(zip(rules.GATE_FEATURES, rules.gate_features(text, cues, odds, 0.25)))
    assert x["strong_cue"] == 0 and x["weak_cue"] == 1 and x["question"] == 1
    assert x["head_odds"] == pytest.approx(0.9) and x["head_logit"] == pytest.approx(2.197, 1e-3)
    assert x["negative"] == 0.25 and x["weak_cue_and_negative"] == 0.25
    assert x["head_odds_and_negative"] == pytest.approx(0.225)
    assert x["question_and_strong_cue"] == 0
    assert len(x) == len(rules.GATE_FEATURES)


def test_the_gate_decides_and_a_strong_cue_in_a_question_is_not_a_threat(analyzer):
    assert analyzer.analyze("I will report you to the BBB!").reasons == ("regulator",)
    asked = analyzer.analyze("Is the BBB rating on your site yours?")
    assert asked.escalation is False and asked.reasons == () and asked.cues == ()
    assert all(s.reasons == () for s in asked.sentences)


def test_levels_sentences_and_highlights(analyzer):
    angry = analyzer.analyze("The lamp is broken and terrible. I am angry. "
                             "I will report you to the BBB!")
    assert angry.sentiment == "very_negative" and angry.score < -0.5
    assert angry.escalation and angry.reasons == ("regulator",)
    assert angry.urgency == "high"
    assert [s.reasons for s in angry.sentences] == [(), (), ("regulator",)]
    assert angry.cues[0].text == "BBB"
    happy = analyzer.analyze("Great lamp, love it, thanks!")
    assert happy.sentiment == "very_positive" and happy.urgency == "low"
    assert not happy.escalation
    calm = analyzer.analyze("Where is my order LM20261112-0356? https://example.com/t/1")
    assert calm.sentiment == "neutral" and calm.urgency == "normal"
    assert calm.intent == "return_refund" and 0 < calm.intent_confidence < 1
    payload = angry.to_json()
    assert set(payload) >= {"sentiment", "score", "escalation", "reasons", "intent", "lang",
                            "sentences"}
    assert payload["sentences"][2] == {"text": "I will report you to the BBB!", "start": 45,
                                       "end": 74, "sentiment": "neutral", "score": 0.0,
                                       "reasons": ["regulator"]}


def test_chinese_sentiment_weighs_the_lexicon_in(tmp_path):
    lexicon = Lexicon(polarity={"物超所值": 3.0, "掉色": -2.0})
    text = "物超所值，物超所值！"          # no word the fake vectors know: neutral-ish
    plain = Analyzer(FakeFeaturizer(), load_heads(fake_heads(tmp_path)), lexicon)
    assert plain.analyze(text).score == pytest.approx(0.0)
    mixed = Analyzer(FakeFeaturizer(), load_heads(fake_heads(tmp_path, lexicon_weight=8.0)),
                     lexicon)
    result = mixed.analyze(text)
    assert result.sentiment == "neutral"        # no opinion words for the fake vectors ...
    assert result.score > 0                     # ... but the lexicon's opinion moves the score
    # A sentence the vectors call good but the lexicon knows is bad, per sentence too.
    both = mixed.analyze("这件衣服很好，喜欢。洗了一次就掉色掉色掉色。")
    assert [s.score > 0 for s in both.sentences] == [True, False]
    # The closing's thanks is not the customer's opinion for the lexicon either.
    thanks = Analyzer(FakeFeaturizer(), load_heads(fake_heads(tmp_path, lexicon_weight=8.0)),
                      Lexicon(polarity={"谢谢": 1.0}))
    assert thanks.analyze("订单什么时候发货。\n谢谢").score == pytest.approx(0.0)
    # English never goes through the lexicon.
    english = mixed.analyze("I love it, thanks!")
    assert english.score == plain.analyze("I love it, thanks!").score


def test_the_head_finds_threats_the_rules_miss_where_the_gate_lets_it(tmp_path):
    analyzer = Analyzer(FakeFeaturizer(), load_heads(fake_heads(tmp_path, escalation_bias=5)))
    assert analyzer.analyze("Broken and terrible.").reasons == rules.REASONS
    assert analyzer.analyze("Great, thanks!").escalation is False


def test_a_sure_gate_with_no_sure_reason_names_the_likeliest(tmp_path):
    path = fake_heads(tmp_path, escalation_bias=0.5)      # every reason at odds 0.62
    heads = load_heads(path)
    w = heads.escalation.weights.copy()
    b = heads.escalation.bias.copy()
    b[rules.REASONS.index("legal")] = 1.0                 # legal at 0.73: the likeliest
    heads = dataclasses.replace(heads, escalation=LinearHead(rules.REASONS, w, b,
                                                             independent=True))
    result = Analyzer(FakeFeaturizer(), heads).analyze("Broken and terrible.")
    assert result.escalation and result.reasons == ("legal",)


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "!!!", "x" * 100_000,
                                  "订单 LM123 https://a.cn/x?y=1 " * 2000,
                                  "這個檯燈壞了，我要退貨。", "这个lamp坏了 so disappointed"])
def test_bad_input_gives_a_result(analyzer, text):
    result = analyzer.analyze(text)
    assert result.sentiment in ("very_negative", "negative", "neutral", "positive",
                                "very_positive")
    assert len(result.sentences) <= 64


def test_batches_keep_their_order(analyzer):
    texts = [f"Great {i}" if i % 2 else f"Broken {i}" for i in range(150)]
    results = analyzer.analyze_many(texts, batch=32)
    assert [r.sentiment for r in results] == [
        "very_positive" if i % 2 else "very_negative" for i in range(150)]


def test_a_damaged_or_missing_heads_file_is_a_clear_error(tmp_path):
    with pytest.raises(AnalysisError, match="missing"):
        load_heads(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(AnalysisError, match="damaged"):
        load_heads(bad)
