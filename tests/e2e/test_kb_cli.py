"""End-to-end knowledge base through the real CLI: real embedder, real chromadb."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from core.kb.keyword import tokenize
from core.lang import detect_language
from tests.conftest import ROOT
from tests.e2e.conftest import run_kefu, write_ticket
from tests.kbfixtures import encrypted_pdf, minimal_pdf

pytestmark = pytest.mark.model


def workspace(tmp_path, e5_model):
    """A workspace on the shipped default (``kb_embedder = auto``: e5 from the workspace's
    models folder paired with the MiniLM package, queries through the ONNX exports)."""
    ws = tmp_path / "ws"
    (ws / "config").mkdir(parents=True)
    (ws / "data" / "models").mkdir(parents=True)
    (ws / "data" / "models" / "multilingual-e5-small").symlink_to(e5_model,
                                                                  target_is_directory=True)
    (ws / "data" / "models" / "onnx").symlink_to(e5_model.parent / "onnx",
                                                 target_is_directory=True)
    return ws


def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "refunds.md").write_text(
        "# Refunds\nCard refunds reach the original card 5-10 business days after the "
        "warehouse inspects the return.", encoding="utf-8")
    (folder / "router.md").write_text(
        "# Troubleshooting\nFault ZX-9041: hold the reset pin for 8 seconds, then wait for "
        "the blue light.", encoding="utf-8")
    (folder / "退货.txt").write_bytes(
        "一、退货运费\n因质量问题退货，运费由本店承担；七天无理由退货的运费由买家承担。"
        .encode("gbk"))
    (folder / "faq.csv").write_text(
        'faq_id,question,answer\nFAQ-9,"Do gift cards expire?","Lumen gift cards never '
        'expire and work on every product."\n', encoding="utf-8")
    (folder / "copy-of-refunds.md").write_text((folder / "refunds.md").read_text("utf-8"),
                                               encoding="utf-8")
    (folder / "manual.pdf").write_bytes(minimal_pdf(["Descale the kettle monthly with "
                                                     "citric acid."]))
    (folder / "locked.pdf").write_bytes(encrypted_pdf(["secret"]))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a real pdf")
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "photo.txt").write_bytes(bytes(range(256)) * 40)
    return folder


def test_add_search_and_queries(tmp_path, e5_model):
    ws, folder = workspace(tmp_path, e5_model), docs(tmp_path)
    added = run_kefu("kb", "add", str(folder), "--json", workspace=ws)
    assert added.returncode == 0, added.stderr
    summary = json.loads(added.stdout)
    names = {p.rsplit("/", 1)[-1] for p in summary["added"]}
    # Of two identical files the first in name order is indexed, the other skipped.
    assert names == {"copy-of-refunds.md", "router.md", "退货.txt", "faq.csv", "manual.pdf"}
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in summary["skipped"]}
    assert "encrypted PDF" in reasons["locked.pdf"]
    assert "not a readable PDF" in reasons["broken.pdf"]
    assert "empty" in reasons["empty.md"] and "binary" in reasons["photo.txt"]
    assert "identical to" in reasons["refunds.md"]

    # A paraphrase sharing no keyword with its passage, and a code only keywords catch.
    paraphrase = "When will the money be back in my account?"
    assert not set(tokenize(paraphrase)) & set(tokenize(
        (folder / "refunds.md").read_text("utf-8")))
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps({"query": q}, ensure_ascii=False) for q in [
        paraphrase, "ZX-9041", "退货运费谁出", "do gift cards expire", "运费谁承担？质量问题",
        "how do I descale the kettle"]), encoding="utf-8")
    result = run_kefu("kb", "search", "--queries", str(queries), "--k", "3", "--json",
                      workspace=ws)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines][:2] == [paraphrase, "ZX-9041"]
    top = [line["results"][0]["source"].rsplit("/", 1)[-1] for line in lines]
    assert top == ["copy-of-refunds.md", "router.md", "退货.txt", "faq.csv#FAQ-9", "退货.txt",
                   "manual.pdf"]
    first = lines[0]["results"][0]
    assert set(first) >= {"source", "score", "text"} and "5-10 business days" in first["text"]

    single = run_kefu("kb", "search", "gift card expiry", "--json", workspace=ws)
    assert json.loads(single.stdout)["results"][0]["source"].endswith("faq.csv#FAQ-9")
    nothing = run_kefu("kb", "search", "best hiking trails in the Alps", "--json",
                       workspace=ws)
    assert json.loads(nothing.stdout)["results"] == []


def test_cross_lingual(tmp_path, e5_model):
    ws, folder = workspace(tmp_path, e5_model), docs(tmp_path)
    run_kefu("kb", "add", str(folder), workspace=ws)
    result = run_kefu("kb", "search", "我的信用卡退款多久能到账？", "--json", "--k", "3",
                      workspace=ws)
    sources = [r["source"] for r in json.loads(result.stdout)["results"]]
    # The answer is only in English; results keep slots for the other language.
    assert any(s.endswith("copy-of-refunds.md") for s in sources), sources


def test_cross_lingual_by_the_models_translation(tmp_path, e5_model, small_model):
    """`kb search --translate`: the real small model translates a Chinese question, and
    the English page that answers it is found by that translation."""
    ws = workspace(tmp_path, e5_model)
    folder = tmp_path / "bilingual"
    folder.mkdir()
    pages = {
        "warranty.md": "# Warranty\nElectric kettles carry a two-year warranty from the "
                       "delivery date. Keep the order number for any claim.",
        "shipping.md": "# Shipping\nOrders to Canada ship by courier in 5-8 business days.",
        "配送说明.txt": "配送说明：订单满99元包邮，偏远地区运费另计。",
        "发票说明.txt": "发票说明：下单时可申请电子发票，开票后发送到邮箱。",
        "退货政策.txt": "退货政策：七天无理由退货，商品需保持完好。",
    }
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    assert run_kefu("kb", "add", str(folder), workspace=ws).returncode == 0
    result = run_kefu("kb", "search", "电热水壶坏了，保修期是多久？", "--translate", "--model",
                      str(small_model), "--json", "--k", "3", workspace=ws)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["translated"] and detect_language(out["translated"]) == "en", out
    found = {r["source"].rsplit("/", 1)[-1]: r for r in out["results"]}
    assert found["warranty.md"]["translated"] is True, out
    # Drafting does the same: the English page is among the draft's sources.
    ticket = write_ticket(tmp_path / "t.json", {"subject": "电热水壶保修", "messages": [
        {"from": "customer", "text": "电热水壶坏了，保修期是多久？"}]})
    drafted = run_kefu("draft", "--ticket", str(ticket), "--json", "--max-tokens", "10",
                       "--model", str(small_model), workspace=ws)
    assert drafted.returncode == 0, drafted.stderr
    sources = [s["source"].rsplit("/", 1)[-1] for s in json.loads(drafted.stdout)["sources"]]
    assert "warranty.md" in sources, sources
    log = (ws / "logs" / "kefu.log").read_text(encoding="utf-8")
    assert len(re.findall(r"Search query translated into en \(\d+ characters\)", log)) == 2, \
        log[-2000:]
    # Without --translate: no model, no translation, and the same command shape.
    plain = json.loads(run_kefu("kb", "search", "电热水壶坏了，保修期是多久？", "--json",
                                "--k", "3", workspace=ws).stdout)
    assert "translated" not in plain and not any(r["translated"] for r in plain["results"])


def test_changed_and_deleted_files_between_runs(tmp_path, e5_model):
    ws, folder = workspace(tmp_path, e5_model), docs(tmp_path)
    run_kefu("kb", "add", str(folder), workspace=ws)
    (folder / "router.md").write_text("# Troubleshooting\nFault ZX-9041 was fixed in "
                                      "firmware 2.1.", encoding="utf-8")
    (folder / "manual.pdf").unlink()
    second = json.loads(run_kefu("kb", "sync", "--json", workspace=ws).stdout)
    assert [p.rsplit("/", 1)[-1] for p in second["updated"]] == ["router.md"]
    assert [p.rsplit("/", 1)[-1] for p in second["removed"]] == ["manual.pdf"]
    assert second["unchanged"] == 3
    listed = json.loads(run_kefu("kb", "list", "--json", workspace=ws).stdout)
    assert {d["status"] for d in listed["documents"]} == {"indexed", "skipped"}


def test_sigkill_mid_index_then_resume_is_consistent(tmp_path, e5_model):
    ws = workspace(tmp_path, e5_model)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(24):
        (folder / f"policy{i:02d}.md").write_text(
            "# Policy\n" + f"Rule {i}: parcels are insured up to a value. " * 400,
            encoding="utf-8")
    env = dict(os.environ, KEFU_HOME=str(ws), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "app.launcher", "kb", "add", str(folder)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    manifest = ws / "data" / "kb" / "manifest.sqlite"
    deadline = time.monotonic() + 300
    indexed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists():
            try:
                with sqlite3.connect(manifest) as db:
                    indexed = db.execute("SELECT COUNT(*) FROM documents WHERE status = "
                                         "'indexed'").fetchone()[0]
            except sqlite3.OperationalError:
                indexed = 0
            if indexed >= 2:
                break
        time.sleep(0.05)  # polling another process, not pacing the test's own work
    assert proc.poll() is None, "indexing finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= indexed < 24

    again = run_kefu("kb", "add", str(folder), "--json", workspace=ws)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["unchanged"] + len(summary["added"]) == 24

    check = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from core.kb.index import KnowledgeBase\n"
        "from core.kb.embedder import load_embedder\n"
        f"kb = KnowledgeBase(Path({str(ws / 'data' / 'kb')!r}), embedder_factory=lambda: "
        f"load_embedder('auto', Path({str(ws / 'data' / 'models')!r})))\n"
        "stored = kb.collection.get(include=[])['ids']\n"
        "planned = [c for d in kb.documents() for c in kb.manifest.chunk_ids(d.path)]\n"
        "print(json.dumps({'stored': len(stored), 'unique': len(set(stored)),\n"
        "  'planned': len(planned), 'same': set(stored) == set(planned),\n"
        "  'statuses': sorted({d.status for d in kb.documents()})}))\n")
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["same"] and report["stored"] == report["unique"] == report["planned"]
    assert report["statuses"] == ["indexed"]
