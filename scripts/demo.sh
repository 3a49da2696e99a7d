#!/usr/bin/env bash
# The main job on a bundled model: compile (calibrate, search run args, set up keys once),
# prove one input (fast answer + proof → signed receipt), verify it as an auditor would.
set -euo pipefail
cd "$(dirname "$0")/.."
zk=.venv/bin/zkinfer
mkdir -p build
[ -f build/node.key ] || $zk keys new -o build/node.key
$zk compile models/digits_mlp.onnx --data models/digits_mlp_calibration.json -o build/digits_mlp
$zk prove build/digits_mlp --input models/digits_mlp_input.json --key build/node.key -o build/receipt.json
$zk verify build/receipt.json
