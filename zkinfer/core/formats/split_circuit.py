"""A split circuit directory: one model cut into segments, each a circuit of its own, linked by commitments.

Layout: `manifest.json` (kind "split": the segments in order, the cuts, the end-to-end fidelity),
`model.onnx` (the whole model, for the fast answer), and one circuit directory per segment
(`seg0/`, `seg1/`, ...: `zkinfer.core.formats.circuit`'s layout, each with its own manifest). Segment i's
output is Poseidon-hashed and segment i+1's input is hashed at the same scale, so the two proofs'
public commitments are equal exactly when segment i+1 was proven on segment i's output; with
`links: polycommit` both sides are instead committed by KZG (an unblinded advice column each, every
segment at one k and SRS), and the two commitments sit in the proofs' transcripts. The first
input and the last output keep the visibility the user chose. Loading checks every file against
the manifests, and each segment's manifest against the digests the split manifest recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer.core.crypto.digest import digest_file
from zkinfer.core.formats import circuit
from zkinfer.core.formats.chains import MAX_SEGMENTS as MAX_SEGMENTS
from zkinfer.core.formats.circuit import MANIFEST_FILE, MODEL_FILE, Circuit, Described, LinkKind, Visibility
from zkinfer.core.support.errors import CircuitError


class Segment(BaseModel):
    """One segment as the split manifest records it: where it lives, what crosses in and out, its digests."""

    model_config = ConfigDict(extra="forbid")
    directory: str
    inputs: list[str]  # tensor names of the whole model that this segment reads
    outputs: list[str]
    compiled_digest: str
    settings_digest: str
    estimated_cost: int  # the planner's estimate (multiply-accumulates, elements, link hashing), what --split balanced
    logrows: int
    num_rows: int


class SplitManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["split"] = "split"
    name: str
    model_digest: str
    visibility: Visibility
    cuts: list[str]  # the tensors at which the model is cut, in order
    links: LinkKind = "hashed"
    segments: list[Segment] = Field(min_length=2, max_length=MAX_SEGMENTS)
    inputs: list[circuit.Tensor]
    outputs: list[circuit.Tensor]
    calibration_samples: int
    fidelity_samples: int
    max_abs_error: float  # the chained witnesses' final output against onnxruntime on the whole model
    mean_abs_error: float
    created_at: str


@dataclass(frozen=True)
class SplitCircuit(Described):
    """A loaded, digest-checked split circuit: its manifest and its segments' circuits, in order."""

    path: Path
    manifest: SplitManifest
    segments: tuple[Circuit, ...]

    @property
    def links(self) -> LinkKind:
        return self.manifest.links


def is_split(path: Path) -> bool:
    """Whether `path` is a split circuit directory (a cheap look at its manifest; `load` checks it)."""
    manifest = path / MANIFEST_FILE
    return manifest.is_file() and circuit.is_split_manifest(manifest.read_text())


def load(path: Path) -> SplitCircuit:
    """Load `path` as a split circuit, checking the whole model and every segment against the manifests."""
    manifest_path = path / MANIFEST_FILE
    if not is_split(path):
        raise CircuitError(
            f"{path}: not a split circuit directory (no {MANIFEST_FILE} of kind split); compile one with "
            "`zkinfer compile MODEL.onnx --split K`"
        )
    try:
        manifest = SplitManifest.model_validate_json(manifest_path.read_text())
    except (ValidationError, ValueError) as exc:
        raise CircuitError(f"{manifest_path}: malformed split manifest: {exc}; recompile the circuit") from exc
    if not (path / MODEL_FILE).is_file():
        raise CircuitError(f"{path / MODEL_FILE}: missing from the split circuit directory; recompile the circuit")
    if digest_file(path / MODEL_FILE) != manifest.model_digest:
        raise CircuitError(
            f"{path / MODEL_FILE}: digest does not match the split manifest's {manifest.model_digest}; recompile the "
            "circuit"
        )
    segments = []
    for i, segment in enumerate(manifest.segments):
        folder = path / segment.directory
        if Path(segment.directory).name != segment.directory or segment.directory in ("", ".", ".."):
            raise CircuitError(
                f"{manifest_path}: field segments[{i}].directory {segment.directory!r} is not a sub-directory name; "
                "recompile the circuit"
            )
        loaded = circuit.load(folder)
        if (loaded.manifest.compiled_digest, loaded.manifest.settings_digest) != (
            segment.compiled_digest,
            segment.settings_digest,
        ):
            raise CircuitError(
                f"{folder}: is not the segment {i} the split manifest records (its compiled circuit or settings "
                "differ); recompile the circuit"
            )
        segments.append(loaded)
    return SplitCircuit(path=path, manifest=manifest, segments=tuple(segments))


AnyCircuit = Circuit | SplitCircuit


def load_any(path: Path) -> AnyCircuit:
    """A circuit directory, split or not (by its manifest's kind), loaded and digest-checked."""
    return load(path) if is_split(path) else circuit.load(path)


def write_manifest(path: Path, manifest: SplitManifest) -> None:
    (path / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")
