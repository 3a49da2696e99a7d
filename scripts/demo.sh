#!/usr/bin/env bash
# The main job on a bundled model: compile (calibrate, search run args, set up keys once),
# prove one input (fast answer + proof → signed receipt), verify it as an auditor would,
# and say which digit the proven answer names.
set -euo pipefail
cd "$(dirname "$0")/.."
zk=.venv/bin/zkinfer
mkdir -p build
[ -f build/node.key ] || $zk keys new -o build/node.key
$zk compile models/digits_mlp.onnx --data models/digits_mlp_calibration.json -o build/digits_mlp
$zk prove build/digits_mlp --input models/digits_mlp_input.json --key build/node.key -o build/receipt.json
$zk verify build/receipt.json
# The input is the test split's first 8x8 digit (label 2, models/README.md); the receipt's proven
# output is the 10 class scores, and the largest one is the digit the model predicted.
$zk inspect build/receipt.json --json | .venv/bin/python -c '
import json, sys
summary = json.load(sys.stdin)
pixels = json.load(open("models/digits_mlp_input.json"))["input_data"][0]
while isinstance(pixels[0], list):
    pixels = [v for row in pixels for v in row]
for r in range(8):
    print("  " + "".join(" .:-=+*#%@"[min(9, int(v * 9.99))] * 2 for v in pixels[8 * r:8 * r + 8]))
digit = summary["outputs"][0]["argmax"]
print(f"predicted digit: {digit} (the proven output above verified; the true label is 2)")
'
