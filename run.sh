#!/usr/bin/env bash
# One entry point for a fresh machine with Python 3.11 and pip:
#   ./run.sh demo   set up, train on sample_images/, inspect the sample test images, write a report
#   ./run.sh test   set up and run the test suite
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

setup() {
    if [ ! -x .venv/bin/python ]; then
        "$PY" -m venv .venv
    fi
    # The marker file skips the (slow) resolver when nothing changed since the last install.
    local stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
    if [ ! -f "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e ".[test,onnx]"
        touch "$stamp"
    fi
}

case "${1:-demo}" in
    demo)
        setup
        .venv/bin/inspector demo --out out/demo
        ;;
    test)
        setup
        .venv/bin/python -m pytest -q "${@:2}"
        ;;
    *)
        echo "usage: ./run.sh [demo|test]" >&2
        exit 2
        ;;
esac
