"""An ONNX export is trusted only for the model files it was made from: a fine-tuned copy of
a model (same files, same sizes, other weights) must not pass for the original, or the
queries would be embedded by the old weights and the passages by the new ones."""

from __future__ import annotations

import numpy as np

from core.kb.onnxquery import fingerprint


def _model(folder, weights: np.ndarray, config: str = '{"hidden_size": 384}'):
    folder.mkdir()
    (folder / "config.json").write_text(config, encoding="utf-8")
    (folder / "model.safetensors").write_bytes(weights.tobytes())
    return folder


def test_other_weights_of_the_same_size_change_the_fingerprint(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=3_000_000).astype(np.float32)      # 12 MB: sampled, not read
    base = fingerprint(_model(tmp_path / "a", weights))
    assert fingerprint(_model(tmp_path / "b", weights.copy())) == base
    tuned = weights.copy()
    tuned[1_000_000:2_000_000] += 1e-3          # a middle block of layers, as fine-tuning does
    assert fingerprint(_model(tmp_path / "c", tuned)) != base
    # And a config that differs in content, not length.
    assert fingerprint(_model(tmp_path / "d", weights, '{"hidden_size": 385}')) != base


def test_files_that_are_not_model_files_do_not_count(tmp_path):
    folder = _model(tmp_path / "a", np.zeros(10, dtype=np.float32))
    before = fingerprint(folder)
    (folder / "notes.md").write_text("anything", encoding="utf-8")
    assert fingerprint(folder) == before
