"""End-to-end: model manager and doctor through the real CLI."""

from __future__ import annotations

import json
import shutil

from tests.e2e.conftest import run_kefu


def test_import_list_and_refuse_bad_files(tmp_path, small_model):
    ws = tmp_path / "ws"
    listed = run_kefu("models", "list", "--json", workspace=ws)
    assert listed.returncode == 0, listed.stderr
    assert [m for m in json.loads(listed.stdout) if m["path"].startswith(str(ws))] == []

    imported = run_kefu("models", "import", str(small_model), "--json", workspace=ws)
    assert imported.returncode == 0, imported.stderr
    entry = json.loads(imported.stdout)
    assert entry["usable"] and entry["architecture"] == "qwen2"
    assert entry["quantization"] == "Q4_K_M" and entry["chat_template"]
    assert entry["path"].startswith(str(ws))

    again = run_kefu("models", "import", str(small_model), workspace=ws)
    assert again.returncode == 1 and "already in" in again.stderr

    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model", encoding="utf-8")
    truncated = tmp_path / "cut.gguf"
    with open(small_model, "rb") as src, open(truncated, "wb") as out:
        out.write(src.read(20_000_000))
    for bad, words in ((text, "not a GGUF file"), (truncated, "truncated"),
                       (tmp_path / "missing.gguf", "is not a file")):
        result = run_kefu("models", "import", str(bad), workspace=ws)
        assert result.returncode == 1, result.stdout
        assert words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    # A bad file dropped straight into the models folder is listed with its reason.
    shutil.copy(text, ws / "data" / "models" / "dropped.gguf")
    listed = json.loads(run_kefu("models", "list", "--json", workspace=ws).stdout)
    by_file = {m["file"]: m for m in listed if m["path"].startswith(str(ws))}
    assert by_file["dropped.gguf"]["usable"] is False
    assert "not a GGUF" in by_file["dropped.gguf"]["error"]
    assert by_file[small_model.name]["usable"] is True


def test_doctor_reports_build_and_device(tmp_path):
    result = run_kefu("doctor", "--json", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cpu"]["physical_cores"] >= 1
    assert "gpu_offload" in report["llama_cpp"]
    assert report["llama_cpp"]["device_plan"]
    assert report["llama_cpp"]["backends_from"] == "built in"   # the development build
    # The knowledge base's embedding models, none loaded (an empty workspace: only the
    # MiniLM package is there).
    assert report["embedders"]["setting"] == "auto"
    by_key = {m["key"]: m for m in report["embedders"]["models"]}
    assert by_key["all-MiniLM-L6-v2"]["folder"]
    human = run_kefu("doctor", workspace=tmp_path / "ws")
    assert "llama.cpp:" in human.stdout and "Device:" in human.stdout
    assert "Knowledge-base embedder (auto):" in human.stdout


def test_missing_model_is_a_clear_error(tmp_path):
    result = run_kefu("draft", "--demo", "1", "--model", str(tmp_path / "nope.gguf"),
                      workspace=tmp_path / "ws")
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
