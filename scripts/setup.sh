#!/usr/bin/env bash
# One-command setup on a fresh machine: a virtual environment with zkinfer and everything the
# tests, notebooks, node and sample-model training need. torch is pinned to the CPU build
# (a plain `torch` would pull several GB of CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[torch,node,dev]"
echo "zkinfer installed in .venv: activate with '. .venv/bin/activate'"
