"""The witnesses of a chain of segments, in order: what each segment's proof will attest.

An unsplit circuit is a chain of one. Each next segment reads the previous one's output field
elements as they are (no float round trip), so a link's commitments are equal by construction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zkinfer.core.formats import inputs
from zkinfer.core.formats.circuit import Circuit
from zkinfer.core.support.errors import CircuitError
from zkinfer.core.zkp import ezkl_adapter as _ezkl


def chain_witnesses(segments: tuple[Circuit, ...] | list[Circuit], sample: inputs.Sample, work: Path) -> list[Path]:
    """Each segment's witness file, in order: segment 0's from `sample`, each next one's from the
    previous segment's output field elements as they are (no float round trip). Raises
    ProvingError (from the adapter) for an input outside the calibrated range, and CircuitError
    when a link's commitments differ (a broken circuit directory, never a valid proof)."""
    files: list[Path] = []
    data: dict[str, Any] = inputs.to_ezkl_data([sample])
    previous: list[str] | None = None
    for i, segment in enumerate(segments):
        data_file, witness_file = work / f"seg{i}-input.json", work / f"seg{i}-witness.json"
        data_file.write_text(json.dumps(data))
        witness = _ezkl.gen_witness(data_file, segment.compiled_path, witness_file)
        if previous is not None and witness.input_commitment != previous:
            raise CircuitError(
                f"{segment.path}: its input commitment {witness.input_commitment} differs from segment {i - 1}'s "
                f"output commitment {previous}; recompile the split circuit"
            )
        previous = _output_commitment(witness_file)
        data = {"input_data": witness.outputs}
        files.append(witness_file)
    return files


def _output_commitment(witness_file: Path) -> list[str] | None:
    processed = json.loads(witness_file.read_text()).get("processed_outputs")
    hashes = processed.get("poseidon_hash") if isinstance(processed, dict) else None
    return None if hashes is None else [str(h) for h in hashes]
