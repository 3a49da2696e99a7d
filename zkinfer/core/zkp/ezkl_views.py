"""Typed views of ezkl's settings and witness documents, so no module reads their dicts itself.

ezkl 23 writes both as JSON whose layout changes between versions; this is the one place that
knows it. A receipt's settings are hostile, so every field is checked when it is read and a bad
one raises `SettingsError` naming it (`model.settings.run_args.logrows is 99, ...`); a verifier
turns that into a failed check, never a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from zkinfer.core.support.errors import UsageError

MAX_LOGROWS = 26  # the largest SRS size zkinfer handles
MAX_INNER_COLS = 64  # ezkl allocates per column: 0 divides by zero, 128 ran a key setup for 10 min and 12 GB
MAX_TENSOR_VALUES = 1 << 24


class SettingsError(UsageError):
    """A settings field is missing or not what ezkl writes there."""


def visibility_name(value: Any) -> str:
    """ezkl's settings spell visibility "Public" / "Fixed" / "Private" / {"Hashed": {...}}; zkinfer
    says public / fixed / private / hashed (with the commitment public, as zkinfer requires) / polycommit."""
    if isinstance(value, str):
        return "polycommit" if value == "KZGCommit" else value.lower()  # ezkl's settings name polycommit "KZGCommit"
    if isinstance(value, dict) and list(value) == ["Hashed"]:
        hashed = value["Hashed"]
        return (
            "hashed"
            if isinstance(hashed, dict) and hashed.get("hash_is_public") is True
            else "hashed (commitment not public)"
        )
    return repr(value)


@dataclass(frozen=True)
class Settings:
    """An ezkl settings document; `where` names it in errors (e.g. "model.settings")."""

    raw: dict[str, Any]
    where: str = "settings"

    def _fail(self, field: str, value: Any, expected: str) -> SettingsError:
        return SettingsError(f"field {self.where}.{field} is {str(value)[:80]!s}, {expected}")

    @property
    def run_args(self) -> dict[str, Any]:
        run_args = self.raw.get("run_args")
        if not isinstance(run_args, dict):
            raise SettingsError(f"field {self.where}.run_args is missing or not an object")
        return run_args

    def _run_arg_within(self, key: str, high: int, what: str) -> int:
        value = self.run_args.get(key)
        if type(value) is not int or not 1 <= value <= high:
            raise self._fail(f"run_args.{key}", repr(value), f"not {what} between 1 and {high}")
        return value

    @property
    def logrows(self) -> int:
        return self._run_arg_within("logrows", MAX_LOGROWS, "a circuit size")

    @property
    def num_inner_cols(self) -> int:
        return self._run_arg_within("num_inner_cols", MAX_INNER_COLS, "a column count")

    def visibility(self, part: str) -> str:
        """ "input", "param" or "output", as zkinfer names it (see `visibility_name`)."""
        return visibility_name(self.run_args.get(f"{part}_visibility"))

    def _int(self, value: Any, field: str) -> int:
        if type(value) is not int:
            raise self._fail(field, repr(value), "not an integer")
        return value

    @property
    def input_scale(self) -> int:
        return self._int(self.run_args.get("input_scale"), "run_args.input_scale")

    @property
    def param_scale(self) -> int:
        return self._int(self.run_args.get("param_scale"), "run_args.param_scale")

    @property
    def num_rows(self) -> int:
        return self._int(self.raw.get("num_rows"), "num_rows")

    @property
    def batch_size(self) -> int:
        variables = self.run_args.get("variables") or []
        return next((int(v) for name, v in variables if name == "batch_size"), 1)

    def _scales(self, key: str) -> list[int]:
        value = self.raw.get(key)
        if not (isinstance(value, list) and all(type(s) is int for s in value)):
            raise self._fail(key, value, "not a list of integer scales")
        return value

    @property
    def input_scales(self) -> list[int]:
        return self._scales("model_input_scales")

    @property
    def output_scales(self) -> list[int]:
        return self._scales("model_output_scales")

    @property
    def poseidon_instances(self) -> int:
        """How many public instances ezkl's Poseidon module adds (`module_sizes.poseidon` is
        [rows, [instances]]): the input's, weights' and output's commitments together."""
        sizes = self.raw.get("module_sizes")
        poseidon = sizes.get("poseidon") if isinstance(sizes, dict) else None
        counts = poseidon[1] if isinstance(poseidon, list) and len(poseidon) == 2 else None
        if not (isinstance(counts, list) and all(type(n) is int and 0 <= n <= MAX_TENSOR_VALUES for n in counts)):
            raise self._fail("module_sizes.poseidon", poseidon, "not [rows, [instance counts]]")
        return sum(counts)

    @property
    def polycommit_sizes(self) -> Any:
        """`module_sizes.polycommit` as ezkl wrote it (checked by `zkinfer.core.crypto.polycommit.positions`)."""
        sizes = self.raw.get("module_sizes")
        return sizes.get("polycommit") if isinstance(sizes, dict) else None

    def stated(self, key: str) -> Any:
        """A top-level field exactly as the document states it (None when absent): for comparing with
        what ezkl derives (`zkinfer.verify.reproduce.DECODING_FIELDS`), never for reading a value."""
        return self.raw.get(key)

    def with_logrows(self, k: int) -> dict[str, Any]:
        """A copy of the document with `run_args.logrows` set to `k` (the rest untouched)."""
        return {**self.raw, "run_args": {**self.run_args, "logrows": k}}

    @property
    def instance_shapes(self) -> list[list[int]]:
        """The public instances' shapes: the public inputs' (none when the input is hashed), then the outputs'."""
        shapes = self.raw.get("model_instance_shapes")
        if not isinstance(shapes, list):
            raise self._fail("model_instance_shapes", shapes, "not a list of shapes")
        for i, shape in enumerate(shapes):
            if not (
                isinstance(shape, list)
                and all(type(d) is int and d >= 0 for d in shape)
                and math.prod(shape) <= MAX_TENSOR_VALUES
            ):
                raise self._fail(
                    f"model_instance_shapes[{i}]", shape, f"not a tensor shape (at most {MAX_TENSOR_VALUES} values)"
                )
        return shapes


@dataclass(frozen=True)
class Witness:
    """What zkinfer reads from ezkl's witness: the quantized outputs and the Poseidon commitments."""

    inputs: list[list[str]]  # one list of field elements per input tensor (the quantized input)
    outputs: list[list[str]]  # one list of field elements per output tensor
    input_commitment: list[str] | None  # one hash per input tensor, when the input is hashed
    params_commitment: list[str] | None  # the weights' hash(es), when the weights are hashed

    @classmethod
    def of(cls, document: dict[str, Any]) -> Witness:
        def hashes(part: str) -> list[str] | None:
            processed = document.get(part)
            found = processed.get("poseidon_hash") if isinstance(processed, dict) else None
            return None if found is None else [str(h) for h in found]

        return cls(
            inputs=[[str(f) for f in tensor] for tensor in document.get("inputs") or []],
            outputs=[[str(f) for f in out] for out in document["outputs"]],
            input_commitment=hashes("processed_inputs"),
            params_commitment=hashes("processed_params"),
        )
