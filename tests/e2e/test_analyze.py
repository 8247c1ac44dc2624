"""`kefu analyze` through the real CLI with the real models and the shipped heads:
clear cases in both languages, the batch form, and bad input."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import modules_after, run_kefu
from tests.e2e.test_kb_cli import workspace

pytestmark = pytest.mark.model

NEGATIVE = ("negative", "very_negative")
POSITIVE = ("positive", "very_positive")


def analyze(ws, *args):
    done = run_kefu("analyze", *args, "--json", workspace=ws)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_clear_cases_in_both_languages_in_one_batch(tmp_path, e5_model):
    ws = workspace(tmp_path, e5_model)
    cases = [
        ("The kettle leaks and the lid is cracked. If I don't get a refund this week "
         "my lawyer will be in touch.", NEGATIVE, "en", ["legal"]),
        ("Absolutely love the lamp, it looks beautiful and arrived early. Thank you!",
         POSITIVE, "en", []),
        ("质量太差了，用了两天就坏了，客服也不理人。再不处理我就打12315投诉！", NEGATIVE, "zh",
         ["regulator"]),
        ("东西很好，包装也很用心，物流超快，非常满意，下次还来买！", POSITIVE, "zh", []),
        ("請問這款檯燈可以用E27的燈泡嗎？", None, "zh-Hant", []),
    ]
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                               for t, *_ in cases), encoding="utf-8")
    results = analyze(ws, "--input", str(batch))
    assert len(results) == len(cases)
    for (text, sentiment, lang, reasons), result in zip(cases, results):
        assert set(result) >= {"sentiment", "score", "escalation", "reasons", "intent", "lang",
                               "sentences"}
        if sentiment:
            assert result["sentiment"] in sentiment, (text, result["sentiment"])
        assert result["lang"] == lang
        assert result["reasons"] == reasons, (text, result["reasons"])
        assert result["escalation"] is bool(reasons)
        assert all(text[s["start"]:s["end"]] == s["text"] for s in result["sentences"])
    threat = results[2]["sentences"][-1]
    assert threat["reasons"] == ["regulator"] and "12315" in threat["text"]


def test_one_text_and_bad_input(tmp_path, e5_model):
    ws = workspace(tmp_path, e5_model)
    (one,) = analyze(ws, "Where is my order LM20261112-0356? Tracking: https://t.example/x/1")
    assert one["intent"] in ("order_status", "shipping_delay") and not one["escalation"]
    batch = tmp_path / "bad.jsonl"
    batch.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in
                               ["", "😀😀😀", "退货 " * 30000, "这个lamp坏了 so disappointed"]),
                     encoding="utf-8")
    results = analyze(ws, "--input", str(batch))
    assert [r["sentiment"] for r in results[:2]] == ["neutral", "neutral"]
    assert len(results[2]["sentences"]) <= 64
    assert results[3]["sentiment"] in NEGATIVE
    missing = run_kefu("analyze", "--input", str(tmp_path / "nope.jsonl"), workspace=ws)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    neither = run_kefu("analyze", workspace=ws)
    assert neither.returncode == 1 and "TEXT or --input" in neither.stderr


def test_the_apps_analyser_process_answers_and_comes_back_after_a_crash(tmp_path, e5_model):
    import os
    import signal

    from core.analysis.heads import AnalysisError
    from core.analysis.isolated import ProcessAnalyzer
    from core.paths import Workspace

    ws = Workspace.at(workspace(tmp_path, e5_model))
    analyzer = ProcessAnalyzer(ws.models_dir)
    try:
        first = analyzer.analyze_many(["再不退款我就去法院起诉你们！", "Thanks, all good."])
        assert first[0]["reasons"] == ["legal"] and not first[1]["escalation"]
        dead = analyzer._proc.pid
        os.kill(dead, signal.SIGKILL)
        analyzer._proc.join(timeout=10)
        assert analyzer.analyze_many(["hello"])[0]["sentiment"]     # a new child
        assert analyzer._proc.pid != dead
        # A child that dies while answering: a clear error, not a hang.
        analyzer._conn.send(("analyze", ["x"]))
        os.kill(analyzer._proc.pid, signal.SIGKILL)
        with pytest.raises(AnalysisError, match="stopped unexpectedly"):
            analyzer._receive(30)
    finally:
        analyzer.close()


def test_the_analyser_runs_on_onnx_alone_with_the_models_vectors(tmp_path, e5_model):
    """With setup's ONNX exports the analyser needs no PyTorch (a fraction of the memory
    and load time), and its features are the sentence-transformers models' own."""
    import numpy as np

    from core.analysis.features import E5_DIM, Featurizer
    from tests.conftest import REAL_MODELS_DIR

    texts = ["The kettle leaks and the lid is cracked. My lawyer will be in touch.",
             "质量太差了，用了两天就坏了。再不处理我就打12315投诉！",
             "請問這款檯燈可以用E27的燈泡嗎？", "ok"]
    light = Featurizer(REAL_MODELS_DIR)
    assert light.runtime == {"e5": "onnxruntime", "minilm": "onnxruntime"}
    bare = tmp_path / "models"          # the model without its export: PyTorch
    bare.mkdir()
    (bare / "multilingual-e5-small").symlink_to(e5_model, target_is_directory=True)
    heavy = Featurizer(bare)
    assert heavy.runtime == {"e5": "pytorch", "minilm": "pytorch"}
    for mine, theirs in zip(light.messages(texts), heavy.messages(texts)):
        assert [s.text for s in mine.sentences] == [s.text for s in theirs.sentences]
        assert (np.sum(mine.sentence_vectors * theirs.sentence_vectors, axis=1) > 0.9999).all()
        assert float(np.dot(mine.message_vector[:E5_DIM], theirs.message_vector[:E5_DIM])) \
            > 0.9999
        english = mine.message_vector[E5_DIM:]
        assert np.allclose(english, theirs.message_vector[E5_DIM:], atol=1e-3)
    assert np.linalg.norm(light.messages(texts[:1])[0].message_vector[E5_DIM:]) > 0.99
    printed, torch = modules_after(
        "from core.analysis.analyzer import Analyzer\n"
        "a = Analyzer.load(MODELS)\n"
        "print(a.analyze('质量太差了，再不处理我就打12315投诉！').escalation)")
    assert printed == "True" and not torch
