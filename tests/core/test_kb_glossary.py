"""The Chinese-English glossary that lets keywords cross languages."""

from __future__ import annotations

from core.kb.glossary import Glossary, default_glossary
from core.kb.index import KnowledgeBase, SearchParams
from tests.kbfixtures import FakeEmbedder


def test_terms_translate_both_ways_longest_match_first():
    g = Glossary.parse("# comment\n电热水壶,热水壶\telectric kettle,kettle\n水壶\tbottle\n"
                       "保修\twarranty,guarantee\nno tab here\n")
    assert g.translate_terms("电热水壶保修几年") == "electric kettle kettle warranty guarantee"
    assert g.translate_terms("我的水壶") == "bottle"
    assert g.translate_terms("Is the KETTLE under warranty?") == "电热水壶 热水壶 保修"
    assert g.translate_terms("hello there") == ""


def test_the_shipped_glossary_loads_and_a_store_can_add_terms(tmp_path):
    assert "refund" in default_glossary().translate_terms("退款多久到账")
    extra = tmp_path / "glossary.tsv"
    extra.write_text("月光台灯\tmoonlight lamp\n", encoding="utf-8")
    assert Glossary.load(extra).translate_terms("月光台灯坏了") == "moonlight lamp broken " \
        "faulty fault not working"


def test_a_chinese_question_reaches_the_english_page_through_the_glossary(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warranty.md").write_text("# Warranty\nEvery kettle has a two-year warranty.",
                                      encoding="utf-8")
    for n in range(6):
        (docs / f"other{n}.md").write_text(f"# Topic {n}\nShipping note number {n}.",
                                           encoding="utf-8")
    (docs / "退货.md").write_text("# 退货\n七天无理由退货。", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb", embedder_factory=FakeEmbedder,
                       params=SearchParams(min_similarity=-1.0, keyword_weight=0.0,
                                           other_language_slots=1, k=2,
                                           cross_keyword_weight=0.5))
    kb.add_paths([docs])
    list(kb.sync())
    # The bag-of-words fake shares no word with any English page, so all seven tie on
    # similarity (and the slot would go to any of them); only the glossary's "warranty"
    # and "kettle" lift this one into the slot kept for the other language, every time.
    for question in ("水壶保修几年", "保修期多久", "电热水壶坏了保修吗"):
        sources = [h.chunk.source.rsplit("/", 1)[-1] for h in kb.search(question)]
        assert "warranty.md" in sources
    kb.close()
