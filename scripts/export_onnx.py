#!/usr/bin/env python3
"""Export the installed embedding models' query path to ONNX (setup runs this once).

    python scripts/export_onnx.py [--models-dir DIR] [--check]

Needs the ``onnx`` package (setup installs it); the app itself only needs onnxruntime.
Each export is checked against sentence-transformers (core/kb/onnxquery.py) and skipped if
it is already there for the same model files.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.kb import onnxquery  # noqa: E402
from core.kb.embedder import SPECS, available, onnx_folder  # noqa: E402
from core.paths import Workspace  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--check", action="store_true",
                        help="export nothing: exit 0 when every export is up to date, else 1")
    args = parser.parse_args()
    models_dir = args.models_dir or Workspace.resolve().models_dir
    stale = []
    for key, folder in available(models_dir).items():
        out = onnx_folder(models_dir, key)
        if onnxquery.export_state(out, folder) == "current":
            print(f"{key}: up to date")
            continue
        stale.append(key)
        if args.check:
            print(f"{key}: out of date")
            continue
        spec = SPECS[key]
        worst = onnxquery.export(folder, out, prefix=spec.query_prefix,
                                 max_seq_length=spec.max_seq_length)
        print(f"{key}: exported to {out} (lowest cosine to sentence-transformers {worst:.6f})")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
