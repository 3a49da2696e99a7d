"""A compiled circuit directory (`circuits/<name>/`) and its manifest.

Layout: `model.onnx` (the exact model, for fast inference), `settings.json`, `model.compiled`,
`manifest.json`. Loading checks every file against the digests in the manifest, so a stale or
edited circuit is caught before it is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from zkinfer.core.crypto.digest import digest_file, digest_json
from zkinfer.core.formats.chains import LinkKind as LinkKind
from zkinfer.core.support.errors import CircuitError
from zkinfer.core.zkp.ezkl_views import Settings
from zkinfer.core.zkp.onnx_model import TensorSpec

MODEL_FILE = "model.onnx"
SETTINGS_FILE = "settings.json"
COMPILED_FILE = "model.compiled"
MANIFEST_FILE = "manifest.json"

InputVisibility = Literal["public", "hashed"]
ParamVisibility = Literal["fixed", "hashed"]


class Tensor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shape: list[int]


class Visibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: InputVisibility | Literal["polycommit"] = "public"  # polycommit: only a split circuit's inner segments
    output: Literal["public"] | LinkKind = (
        "public"  # hashed / polycommit: only a split circuit's inner segments (zkinfer.core.formats.split_circuit)
    )
    params: ParamVisibility = "fixed"

    @property
    def stated_input(self) -> InputVisibility:
        """The input's visibility as a receipt states it (polycommit exists only between a split chain's segments)."""
        if self.input == "polycommit":
            raise CircuitError(
                "a circuit whose input is polycommit is an inner segment of a split circuit: prove the split circuit, "
                "not the segment"
            )
        return self.input


class Candidate(BaseModel):
    """One run-args configuration tried by the compile search, with what it measured."""

    model_config = ConfigDict(extra="forbid")
    decomp_base: int
    decomp_legs: int
    logrows: int | None = None
    num_rows: int | None = None
    input_scale: int | None = None
    param_scale: int | None = None
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    failed: str | None = None
    chosen: bool = False


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    model_digest: str
    settings_digest: str
    compiled_digest: str
    ezkl_version: str
    visibility: Visibility
    batch_size: int = 1
    inputs: list[Tensor]
    outputs: list[Tensor]
    logrows: int
    decomp_base: int
    decomp_legs: int
    calibration_samples: int
    calibration_digest: str
    search: list[Candidate]
    created_at: str


class Stated(Protocol):
    """What every circuit manifest states, split or not."""

    @property
    def name(self) -> str: ...
    @property
    def visibility(self) -> Visibility: ...
    @property
    def inputs(self) -> list[Tensor]: ...
    @property
    def outputs(self) -> list[Tensor]: ...


class Described:
    """The accessors a circuit directory and a split one share (their manifests state the same)."""

    path: Path
    manifest: Stated

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def visibility(self) -> Visibility:
        return self.manifest.visibility

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, tuple(t.shape)) for t in self.manifest.inputs)

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, tuple(t.shape)) for t in self.manifest.outputs)


@dataclass(frozen=True)
class Circuit(Described):
    """A loaded, digest-checked circuit directory: one segment, or (with `segments`) a chain of one,
    so that the prover and the verifier treat it as a split circuit with no links."""

    path: Path
    manifest: Manifest
    settings: Settings  # the typed view of settings.json (`settings.raw`: the document as ezkl wrote it)

    @property
    def segments(self) -> tuple[Circuit, ...]:
        """The circuits proven in order: this one alone."""
        return (self,)

    @property
    def links(self) -> LinkKind | None:
        """How segments commit to the tensor between them: none between one segment."""
        return None

    @property
    def settings_path(self) -> Path:
        return self.path / SETTINGS_FILE

    @property
    def compiled_path(self) -> Path:
        return self.path / COMPILED_FILE

    @property
    def logrows(self) -> int:
        return self.settings.logrows

    @property
    def key_id(self) -> str:
        """What proving keys depend on: the compiled circuit and its settings."""
        return digest_json({"compiled": self.manifest.compiled_digest, "settings": self.manifest.settings_digest})


def settings_digest(settings: dict[str, Any]) -> str:
    return digest_json(settings)


def is_split_manifest(text: str) -> bool:
    """Whether a manifest's text is a split circuit's (`zkinfer.core.formats.split_circuit`), not a circuit's."""
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("kind") == "split"


def load(path: Path) -> Circuit:
    """Load `path` as a circuit directory, checking each file against the manifest."""
    manifest_path = path / MANIFEST_FILE
    if path.is_file() and path.suffix.lower() == ".onnx":
        raise CircuitError(
            f"{path}: is an ONNX model, not a compiled circuit directory; compile it first with "
            f"`zkinfer compile {path} --data CALIB.json -o circuits/{path.stem}`, then give circuits/{path.stem}"
        )
    if not path.is_dir():
        raise CircuitError(
            f"{path}: no such circuit directory; make one with `zkinfer compile MODEL.onnx --data CALIB -o {path}`"
        )
    if not manifest_path.is_file():
        raise CircuitError(f"{manifest_path}: missing; {path} is not a compiled circuit (run `zkinfer compile`)")
    text = manifest_path.read_text()
    if is_split_manifest(text):
        raise CircuitError(
            f"{path}: is a split circuit (segments in sub-directories); `zkinfer prove` and "
            "`zkinfer.prover.prove.ChainProver` prove it, and one of its segments is not a model of its own"
        )
    try:
        manifest = Manifest.model_validate_json(text)
    except (ValidationError, ValueError) as exc:
        raise CircuitError(f"{manifest_path}: malformed manifest: {exc}; recompile the circuit") from exc
    for filename in (MODEL_FILE, SETTINGS_FILE, COMPILED_FILE):
        if not (path / filename).is_file():
            raise CircuitError(f"{path / filename}: missing from the circuit directory; recompile the circuit")
    try:
        settings = json.loads((path / SETTINGS_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise CircuitError(f"{path / SETTINGS_FILE}: not valid JSON: {exc}; recompile the circuit") from exc
    checks = {
        MODEL_FILE: (digest_file(path / MODEL_FILE), manifest.model_digest),
        SETTINGS_FILE: (settings_digest(settings), manifest.settings_digest),
        COMPILED_FILE: (digest_file(path / COMPILED_FILE), manifest.compiled_digest),
    }
    for filename, (actual, expected) in checks.items():
        if actual != expected:
            raise CircuitError(
                f"{path / filename}: digest {actual} does not match manifest {expected}; recompile the circuit"
            )
    return Circuit(path=path, manifest=manifest, settings=Settings(settings, str(path / SETTINGS_FILE)))
