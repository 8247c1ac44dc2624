"""The ticket commands through the real CLI, as automation would call them."""

from __future__ import annotations

import json

from tests.e2e.conftest import run_kefu

ORIGINAL = ("From: =?gbk?B?1cXI/Q==?= <zhang@example.cn>\nTo: support@lumen.example\n"
            "Subject: =?utf-8?B?6YCA5qy+6Zeu6aKY?=\nMessage-ID: <a1@example.cn>\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0800\nContent-Type: text/plain; charset=gbk\n"
            "Content-Transfer-Encoding: base64\n\n")


def test_import_list_show(tmp_path):
    import base64

    body = base64.b64encode("我的退款还没到账，订单 LM1001。".encode("gbk")).decode()
    (tmp_path / "a.eml").write_text(ORIGINAL + body + "\n", encoding="ascii")
    (tmp_path / "b.eml").write_text(
        "From: zhang@example.cn\nSubject: Re: 退款问题\nMessage-ID: <a2@example.cn>\n"
        "In-Reply-To: <a1@example.cn>\nContent-Type: text/plain; charset=utf-8\n\n还是没有。\n"
        "\n--\n张三\n", encoding="utf-8")
    ws = tmp_path / "ws"
    out = run_kefu("tickets", "import", str(tmp_path / "a.eml"), str(tmp_path / "b.eml"),
                   str(tmp_path / "a.eml"), str(tmp_path / "missing.mbox"), workspace=ws)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["tickets"], summary["messages"], summary["duplicates"]) == (1, 2, 1)
    assert summary["errors"] == [{"source": str(tmp_path / "missing.mbox"),
                                  "error": "no such file"}]

    listed = json.loads(run_kefu("tickets", "list", "--json", workspace=ws).stdout)
    assert [{k: t[k] for k in ("id", "subject", "lang", "status", "messages")}
            for t in listed] == [{"id": 1, "subject": "退款问题", "lang": "zh", "status": "new",
                                  "messages": 2}]
    shown = json.loads(run_kefu("tickets", "show", "1", "--json", workspace=ws).stdout)
    first, second = shown["thread"]
    assert first["from"] == "zhang@example.cn" and first["from_name"] == "张三"
    assert first["text"].strip() == "我的退款还没到账，订单 LM1001。"
    assert first["date"] == "2026-11-23T02:00:00+00:00" and first["attachments"] == []
    assert second["subject"] == "Re: 退款问题" and second["date"] is not None
    assert second["text"][second["quoted_from"]:].startswith("--")   # the signature folds

    missing = run_kefu("tickets", "show", "99", workspace=ws)
    assert missing.returncode != 0 and "There is no ticket 99" in missing.stderr
