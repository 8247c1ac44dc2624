"""The Chinese sentiment lexicon's scoring (core/analysis/lexicon.py), on a small
lexicon written here, and the shipped lexicon file's shape."""

from __future__ import annotations

import pytest

from core.analysis.heads import AnalysisError
from core.analysis.lexicon import Lexicon

LEX = Lexicon(polarity={"好": 2.0, "不错": 2.0, "满意": 2.0, "掉色": -2.0, "失望": -2.0,
                        "物超所值": 3.0, "垃圾": -3.0, "質量好": 2.0},
              negators={"不", "没", "没有", "不太"}, degrees={"很": 1.5, "非常": 1.8, "有点": 0.8},
              contrasts={"但是", "不过"})


def test_words_negation_and_degree():
    assert LEX.score("") == 0.0 and LEX.score("今天下单") == 0.0
    assert LEX.score("不错") > 0             # a whole term wins over the negator in it
    assert LEX.score("不满意") < 0
    assert LEX.score("不太满意") < 0
    assert LEX.score("很好") > LEX.score("好") > LEX.score("有点好") > 0
    assert abs(LEX.score("不好")) < abs(LEX.score("好"))    # negated: flipped and smaller
    assert LEX.score("没有不满意") > 0                        # two negations
    assert LEX.score("質量好") > 0


def test_a_contrast_weighs_what_follows():
    assert LEX.score("颜色很好，但是掉色") < 0
    assert LEX.score("颜色很好但是掉色") < 0                  # within one clause too
    assert LEX.score("有点掉色，不过物超所值") > 0
    # Sentences are separate: a contrast turns only its own sentence.
    assert LEX.score("垃圾。好，但是失望") < LEX.score("好，但是失望")


def test_a_term_gives_its_last_character_to_a_term_of_the_other_sign():
    lexicon = Lexicon(polarity={"效果好": 2.0, "好差": -2.0, "好看": 2.0, "不好": -2.0,
                                "好用": 2.0},
                      negators={"不"})
    assert lexicon.score("效果好") > 0
    assert lexicon.score("效果好差") < 0          # 效果|好差: 好 is "very" here
    assert lexicon.score("不好看") < 0            # 不|好看: negated, not 不好 and a stray 看
    assert lexicon.score("不好看") > lexicon.score("不好")
    assert lexicon.score("效果好用") > 0          # the same sign: the longest match stands


def test_the_score_is_bounded_and_survives_huge_input():
    assert LEX.score("垃圾" * 100) == pytest.approx(-1.0)
    assert -1.0 <= LEX.score("好，" * 50_000) <= 1.0


def test_the_shipped_lexicon_loads():
    lexicon = Lexicon.load()
    assert len(lexicon.polarity) > 1000
    assert {"不", "没有"} <= lexicon.negators and "但是" in lexicon.contrasts
    assert all(-3 <= v <= 3 and v != 0 for v in lexicon.polarity.values())
    assert lexicon.score("物超所值，非常满意") > 0.5
    assert lexicon.score("质量太差了，非常失望") < -0.5
    assert lexicon.score("外观好看，但是用了两天就卡顿") < 0


def test_a_broken_line_is_skipped(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("term\tkind\tvalue\n好\tpol\t2\n坏了\tpol\n\n烂\tpol\tbad\n差\tpol\t-2\n",
                    encoding="utf-8")
    lexicon = Lexicon.load(path)
    assert lexicon.polarity == {"好": 2.0, "差": -2.0}


def test_a_missing_or_unreadable_lexicon_is_a_clear_error(tmp_path):
    with pytest.raises(AnalysisError, match="missing"):
        Lexicon.load(tmp_path / "nope.tsv")
    (tmp_path / "gbk.tsv").write_bytes("term\tkind\tvalue\n好\tpol\t2\n".encode("gbk"))
    with pytest.raises(AnalysisError, match="cannot be read"):
        Lexicon.load(tmp_path / "gbk.tsv")
