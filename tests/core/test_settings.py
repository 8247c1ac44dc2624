import json
import logging

import pytest

from core import settings as s
from core.errors import ConfigError


def test_defaults_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    assert s.load(path) == s.Settings()
    changed = s.Settings().replace(n_ctx=8192, store_name="店")
    s.save(path, changed)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == s.SCHEMA_VERSION
    assert s.load(path) == changed


def test_every_setting_has_help_and_bounds_are_enforced():
    for entry in s.describe():
        assert entry["help"], entry["name"]
    with pytest.raises(ConfigError, match="at least"):
        s.Settings().replace(n_ctx=10)
    with pytest.raises(ConfigError, match="must be int"):
        s.Settings().replace(n_ctx="big")
    with pytest.raises(ConfigError, match="invalid value"):
        s.Settings().replace(n_gpu_layers="lots")
    assert s.Settings().replace(n_gpu_layers="12").n_gpu_layers == "12"


def test_bad_values_fall_back_to_defaults(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": 1, "values": {
        "n_ctx": -5, "temperature": 1, "bogus": 1, "max_tokens": True}}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kefu.settings"):
        loaded = s.load(path)
    assert loaded.n_ctx == s.Settings().n_ctx
    assert loaded.temperature == 1.0
    assert loaded.max_tokens == s.Settings().max_tokens
    assert "bogus" in caplog.text


def test_damaged_file_is_kept_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json", encoding="utf-8")
    assert s.load(path) == s.Settings()
    assert (tmp_path / "settings.damaged.json").read_text(encoding="utf-8") == "{not json"


def test_schema_zero_is_migrated(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"n_ctx": 2048}), encoding="utf-8")
    assert s.load(path).n_ctx == 2048
