"""The search query's translation (core/kb/translate.py) and the search that uses it
(``KnowledgeBase.search(translated=...)``), with fakes: a scripted engine and a
bag-of-words embedder that knows no language but its own words."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import StopFlag
from core.kb.index import KnowledgeBase, SearchParams
from core.kb.translate import (clean_translation, translate_query, translation_messages,
                               translation_target)
from core.settings import Settings
from tests.fakes import FakeEngine
from tests.kbfixtures import FakeEmbedder


def loaded(engine: FakeEngine) -> FakeEngine:
    engine.load(Path("fake.gguf"), Settings())
    return engine


def test_translation_target_follows_the_query_and_the_knowledge_base():
    assert translation_target("退货运费谁出", {"en", "zh"}) == "en"
    assert translation_target("Who pays return shipping?", {"en", "zh"}) == "zh"
    assert translation_target("退貨運費誰出", {"en"}) == "en"          # traditional too
    assert translation_target("Who pays return shipping?", {"en"}) is None
    assert translation_target("退货运费谁出", {"zh"}) is None
    assert translation_target("退货运费谁出", set()) is None


def test_the_prompt_shows_one_worked_example_and_caps_the_input():
    messages = translation_messages("退货 " * 500, "en")
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert "English" in messages[0].content and "Never answer" in messages[0].content
    assert "退货" in messages[1].content and "return" in messages[2].content
    assert len(messages[3].content) <= 200


def test_clean_translation_keeps_one_line_in_the_target_language():
    assert clean_translation('"Who pays the return shipping?"\nSure!', "en") == \
        "Who pays the return shipping?"
    assert clean_translation("\n  退货运费谁出？  ", "zh") == "退货运费谁出？"
    assert clean_translation("退货运费谁出？", "en") is None      # echoed, not translated
    assert clean_translation("   ", "en") is None


def test_translate_query_stops_at_the_first_line():
    engine = loaded(FakeEngine(translation="Who pays the return shipping?\nIt is free "
                                           "within 7 days, as our policy says at length."))
    assert translate_query(engine, "退货运费谁出？", "en") == "Who pays the return shipping?"
    assert engine.generated_tokens < len(engine.translation)   # the rest was not decoded
    assert engine.prompts[-1][0].content.startswith("You are a translator.")


def test_translate_query_gives_none_when_stopped_echoed_or_unsupported():
    engine = loaded(FakeEngine(translation="Who pays?"))
    stop = StopFlag()
    stop.set()
    assert translate_query(engine, "退货运费谁出？", "en", stop=stop) is None
    assert translate_query(loaded(FakeEngine(translation="退货运费谁出？")),
                           "退货运费谁出？", "en") is None
    assert translate_query(engine, "退货运费谁出？", "fr") is None
    assert translate_query(engine, "   ", "en") is None


DOCS = {
    # English pages: one answers the question, the others are about something else.
    "shipping-insurance.md": "Return shipping insurance refunds the courier fee for "
                             "returns sent from another province.",
    "lamps.md": "Lamp shades are replaced free of charge within thirty days.",
    "kettle.md": "Descale the kettle monthly with citric acid.",
    # Chinese pages that share the question's words but do not answer it.
    "配送.txt": "运费说明：订单满99元包邮，偏远地区运费另计。",
    "会员.txt": "会员积分说明：每消费1元积1分，积分可在下单时抵扣运费。",
    "发票.txt": "发票说明：下单时可申请电子发票，运费不开票。",
}


@pytest.fixture
def bilingual(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    embedder = FakeEmbedder()
    kb = KnowledgeBase(tmp_path / "kb", embedder_factory=lambda: embedder,
                       params=SearchParams(min_similarity=0.1, keyword_weight=0.0,
                                           other_language_slots=2, translated_penalty=0.03))
    kb.add_paths([folder])
    list(kb.sync())
    yield kb
    kb.close()


def names(hits) -> list[str]:
    return [h.chunk.source.replace("\\", "/").rsplit("/", 1)[-1] for h in hits]


def test_the_knowledge_base_knows_its_languages(bilingual, tmp_path):
    assert bilingual.languages() == {"en", "zh"}
    only_zh = tmp_path / "zh"
    only_zh.mkdir()
    (only_zh / "配送.txt").write_text(DOCS["配送.txt"], encoding="utf-8")
    (only_zh / "会员.txt").write_text(DOCS["会员.txt"], encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb-zh", embedder_factory=FakeEmbedder)
    kb.add_paths([only_zh])
    list(kb.sync())
    assert kb.languages() == {"zh"}
    kb.close()


def test_the_translation_finds_the_other_language_and_ranks_it_by_meaning(bilingual):
    query = "外省寄回来的退货，运费险能赔多少运费？"
    # Without a translation the words never meet the English page (this fake model has
    # no cross-lingual sense, like a real one at its weakest): Chinese pages only.
    plain = bilingual.search(query, k=4)
    assert "shipping-insurance.md" not in names(plain)
    hits = bilingual.search(query, k=4, translated="How much does return shipping "
                                                   "insurance refund for a return sent "
                                                   "from another province?")
    assert names(hits)[0] == "shipping-insurance.md"      # it matches the translation best
    assert hits[0].translated and not any(h.translated for h in hits
                                          if h.chunk.source.endswith(".txt"))
    assert sum(h.translated for h in hits) == 1               # the translated slot
    assert {"配送.txt"} <= set(names(hits))                     # the query's language stays
    assert hits[0].to_json()["translated"] is True


def test_a_weak_translated_match_yields_to_the_query_language(bilingual):
    # The translation matches an English page a little, the Chinese page matches the
    # query well: the Chinese page stays first and the English one takes a later slot.
    hits = bilingual.search("运费说明：订单满99元包邮", k=3, translated="free shipping over 99")
    assert names(hits)[0] == "配送.txt"
    assert all(not h.translated for h in hits[:1])


def test_an_empty_or_missing_translation_is_the_plain_search(bilingual):
    query = "订单满99元包邮吗"
    plain = names(bilingual.search(query, k=3))
    assert names(bilingual.search(query, k=3, translated="")) == plain
    assert names(bilingual.search(query, k=3, translated="   ")) == plain
