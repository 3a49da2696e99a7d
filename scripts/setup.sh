#!/usr/bin/env bash
# One-command setup on a fresh machine: a virtual environment with zkinfer and everything the
# tests, notebooks, node and sample-model training need. torch is pinned to the CPU build
# (a plain `torch` would pull several GB of CUDA packages). Each step says what it installs
# and how long it took (the whole run takes a few minutes, mostly downloads); pip's two long steps
# show every package as it is fetched. The browser step (scripts/setup_browser.sh) waits for another
# apt holding the lock and never fails the setup: without a browser only the /ui browser test skips.
# pip byte-compiles at install on purpose: PYTHONDONTWRITEBYTECODE=1 is set on these machines, so
# without it every process of the test suite compiled torch and Ray from source (tried: +8 min).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "[setup $(( $(date +%s) - started ))s] $*"; }
say "creating the virtual environment in .venv"
python3 -m venv .venv
say "upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip
say "installing torch 2.13.0 (CPU build, ~750 MB installed: the longest step; pip shows each package)"
.venv/bin/python -m pip install torch==2.13.0
say "installing zkinfer (editable) with ezkl, onnxruntime, the node, web3, Ray, the LLM side (transformers) and the test tools (.[torch,node,ray,dev,chain,llm])"
.venv/bin/python -m pip install -e ".[torch,node,ray,dev,chain,llm]"
if ! command -v npm >/dev/null; then
  echo "[setup] error: npm is missing: the chain tools (solc 0.8.37, anvil and forge 1.7.1, OpenZeppelin Contracts 5.7.0) install with it; install node.js and npm (Debian: apt-get install nodejs npm), then rerun" >&2
  exit 1
fi
say "installing the chain tools pinned in package-lock.json (solc 0.8.37 as solcjs, anvil and forge 1.7.1, OpenZeppelin Contracts 5.7.0) into node_modules/ (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
say "the /ui page's browser test: chromium and chromedriver (never fatal: warns and skips that test when it cannot)"
bash scripts/setup_browser.sh
say "done: zkinfer installed in .venv: activate with '. .venv/bin/activate'"
