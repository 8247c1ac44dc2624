"""Every format and encoding the knowledge base reads, and every bad file it refuses."""

from __future__ import annotations

import json

import pytest

from core.errors import KbError
from core.kb.chunking import chunk_document, split_sentences
from core.kb.readers import read_document
from tests.kbfixtures import docx_bytes, encrypted_pdf, minimal_pdf

ZH = "一、退货政策\n七天无理由退货，商品需保持完好。退货运费由买家承担；质量问题由我们承担！\n二、退款时效\n支付宝退款一般1到3天到账。"


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_markdown_heading_paths(tmp_path):
    doc = read_document(write(tmp_path, "r.md", "# Returns\nIntro.\n## Refunds\n### Cards\n"
                                                "Card refunds take 5-10 days.\n# Other\nx"))
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ("Returns", "Intro."), ("Returns > Refunds > Cards", "Card refunds take 5-10 days."),
        ("Other", "x")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_chinese_text_in_any_encoding(tmp_path, encoding):
    doc = read_document(write(tmp_path, "退货.txt", ZH.encode(encoding)))
    assert [s.heading_path for s in doc.sections] == ["一、退货政策", "二、退款时效"]
    assert "七天无理由退货" in doc.sections[0].text


def test_big5_traditional(tmp_path):
    text = "一、退貨政策\n七天無理由退貨，運費由買家承擔。"
    doc = read_document(write(tmp_path, "退貨.txt", text.encode("big5")))
    assert doc.encoding == "big5" and "運費由買家承擔" in doc.sections[0].text


def test_html_skips_scripts_and_keeps_headings(tmp_path):
    html = ("<html><head><title>t</title><style>p{}</style></head><body><h1>Shipping</h1>"
            "<p>We ship in 2 days.</p><script>alert(1)</script><h2>Late parcels</h2>"
            "<ul><li>Wait 7 days</li><li>Then write to us</li></ul></body></html>")
    doc = read_document(write(tmp_path, "s.html", html))
    assert [s.heading_path for s in doc.sections] == ["Shipping", "Shipping > Late parcels"]
    assert "alert" not in " ".join(s.text for s in doc.sections)
    assert "Wait 7 days\nThen write to us" in doc.sections[1].text


def test_pdf_pages_and_bad_pdfs(tmp_path):
    doc = read_document(write(tmp_path, "p.pdf", minimal_pdf(["Refunds take 5 days.", "Two"])))
    assert [(s.page, s.text) for s in doc.sections] == [(1, "Refunds take 5 days."), (2, "Two")]
    with pytest.raises(KbError, match="encrypted PDF"):
        read_document(write(tmp_path, "e.pdf", encrypted_pdf(["secret text"])))
    with pytest.raises(KbError, match="not a readable PDF"):
        read_document(write(tmp_path, "c.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog"))


def test_docx_headings(tmp_path):
    doc = read_document(write(tmp_path, "d.docx", docx_bytes("Policy", [
        ("Refunds", "Card refunds take 5 days."), ("Exchanges", "Free within 30 days.")])))
    assert [s.heading_path for s in doc.sections] == ["Policy > Refunds", "Policy > Exchanges"]
    with pytest.raises(KbError, match="not a readable Word document"):
        read_document(write(tmp_path, "bad.docx", b"PK\x03\x04 not really"))


def test_faq_tables(tmp_path):
    csv_text = 'faq_id,question,answer\nFAQ-7,"Can I pay by PayPal?","Yes, at checkout."\n,,\n'
    doc = read_document(write(tmp_path, "faq.csv", csv_text.encode("gbk")))
    assert [(s.row_id, s.text) for s in doc.sections] == [
        ("FAQ-7", "Can I pay by PayPal?\nYes, at checkout.")]
    lines = [json.dumps({"question": "运费多少？", "answer": "满99元包邮。"}, ensure_ascii=False),
             json.dumps({"id": 42, "question": "Q2", "answer": "A2"})]
    doc = read_document(write(tmp_path, "faq.jsonl", "\n".join(lines)))
    assert [s.row_id for s in doc.sections] == ["1", "42"]
    chunks = chunk_document(doc, path=str(tmp_path / "faq.jsonl"), content_hash="h")
    assert {c.source.rsplit("/", 1)[-1] for c in chunks} == {"faq.jsonl#1", "faq.jsonl#42"}
    twins = [c for c in chunks if c.row_id == "42"]
    assert [c.embed_text for c in twins] == ["Q2\nA2", "Q2"]  # found by its question too
    with pytest.raises(KbError, match="no question or answer column.*columns found: a, b"):
        read_document(write(tmp_path, "x.csv", "a,b\n1,2\n"))
    with pytest.raises(KbError, match="line 2 is not JSON"):
        read_document(write(tmp_path, "y.jsonl", '{"question": "q", "answer": "a"}\n{oops'))


def test_faq_label_columns_become_a_third_way_to_find_a_row(tmp_path):
    rows = [{"faq_id": "f1", "intent": "cancel_order", "category": "ORDER",
             "question": "cancelling order", "answer": "Use Account > Orders."},
            {"faq_id": "f2", "标签": "退款、物流", "question": "运费退吗", "answer": "退。"},
            {"faq_id": "f3", "question": "no labels here", "answer": "none"}]
    path = write(tmp_path, "faq.jsonl", "\n".join(json.dumps(r, ensure_ascii=False)
                                                  for r in rows))
    doc = read_document(path)
    assert [s.labels for s in doc.sections] == ["cancel order", "退款 物流", ""]
    chunks = chunk_document(doc, path=str(path), content_hash="h")
    by_row = {}
    for c in chunks:
        by_row.setdefault(c.row_id, []).append(c.embed_text)
    assert by_row["f1"] == ["cancelling order\nUse Account > Orders.", "cancelling order",
                            "cancel order"]
    assert by_row["f2"][-1] == "退款 物流"
    assert len(by_row["f3"]) == 2
    # Shown once: every twin carries the same passage and source.
    assert {(c.text, c.source) for c in chunks if c.row_id == "f1"} == {
        ("cancelling order\nUse Account > Orders.", f"{path}#f1")}


@pytest.mark.parametrize("name, data, words", [
    ("empty.md", b"", "is empty"),
    ("blank.txt", b"  \n\n ", "is empty"),
    ("bin.txt", bytes(range(256)) * 10, "binary file"),
    ("image.png", b"\x89PNG", "not supported"),
])
def test_bad_files_have_clear_reasons(tmp_path, name, data, words):
    with pytest.raises(KbError, match=words):
        read_document(write(tmp_path, name, data))


def test_chinese_sentence_boundaries_and_budget(tmp_path):
    assert split_sentences("你好。我想退货！可以吗？好的；谢谢") == [
        "你好。", "我想退货！", "可以吗？", "好的；", "谢谢"]
    long_zh = "退货需要在七天内申请，商品必须保持完好。" * 60
    doc = read_document(write(tmp_path, "long.md", f"# 退货\n{long_zh}"))
    chunks = chunk_document(doc, path="long.md", content_hash="abc")
    assert len(chunks) > 1
    assert all(c.text.endswith("。") for c in chunks)  # never cut inside a sentence
    assert all(" " not in c.text for c in chunks)      # Chinese joins without spaces
    assert chunks == chunk_document(doc, path="long.md", content_hash="abc")  # stable ids
    assert chunks[0].headings == "退货" and chunks[0].embed_text.startswith("退货\n")


def test_a_50_mb_document_is_chunked(tmp_path):
    paragraph = ("Our warranty covers manufacturing defects for two years. " * 20 + "\n\n")
    path = write(tmp_path, "big.txt", paragraph * (50_000_000 // len(paragraph)))
    assert path.stat().st_size > 49_000_000
    doc = read_document(path)
    chunks = chunk_document(doc, path=str(path), content_hash="big")
    assert len(chunks) > 40_000
    assert max(len(c.text) for c in chunks) <= 900
