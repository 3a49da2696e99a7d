"""Load input tensors from the formats users have: ezkl-style JSON, a plain JSON array, or `.npy`.

Every value is checked against the model's input shapes, for finiteness and for float32's range
(the model runs in float32: a larger value would become inf after the check) before any proving
starts, so a bad input fails in milliseconds with a message naming the file and the field. The
CLI's input files and the node's requests share these checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.core.formats import strict_json
from zkinfer.core.support.errors import InputError
from zkinfer.core.zkp.onnx_model import TensorSpec

Sample = list[np.ndarray]  # one array per model input, each in the model's input shape


def _as_float_array(value: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: expected numbers (a nested list of floats): {exc}") from exc
    if array.dtype == object:
        raise InputError(f"{where}: ragged or non-numeric values; give a rectangular array of numbers")
    return array


def check_tensor(array: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """Reshape `array` to `spec.shape` or raise; reject NaN/inf and values beyond float32,
    naming the first bad index."""
    if array.size != spec.size:
        raise InputError(
            f"{where}: input {spec.name!r} needs shape {list(spec.shape)} ({spec.size} values), "
            f"got {array.size} values of shape {list(array.shape)}"
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InputError(
            f"{where}: input {spec.name!r} has a non-finite value ({array.flat[bad[0]]}) at flat index {bad[0]}; "
            "replace NaN/inf with real numbers"
        )
    big = np.flatnonzero(np.abs(array) > strict_json.FLOAT32_MAX)
    if big.size:
        raise InputError(
            f"{where}: input {spec.name!r} has a value ({array.flat[big[0]]:.4g}) beyond float32's range "
            f"(±{strict_json.FLOAT32_MAX:.4g}) at flat index {big[0]}; the model computes in float32"
        )
    return array.reshape(spec.shape).astype(np.float32)


def from_values(values: list[Any], specs: tuple[TensorSpec, ...], where: str) -> Sample:
    """Build one sample from one value list per input (already parsed from JSON or an API call)."""
    if len(values) != len(specs):
        raise InputError(f"{where}: the model has {len(specs)} input(s), got {len(values)}")
    return [
        check_tensor(_as_float_array(v, f"{where}[{i}]"), s, f"{where}[{i}]")
        for i, (v, s) in enumerate(zip(values, specs, strict=True))
    ]


def _read(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: no such input file")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{path}: not a readable .npy array: {exc}") from exc
    try:
        return strict_json.loads(path.read_bytes())
    except strict_json.StrictJSONError as exc:
        raise InputError(f'{path}: {exc}; give {{"input_data": [[...]]}}, a JSON array, or a .npy file') from exc


def _per_input_lists(raw: Any, path: Path, n_inputs: int) -> tuple[list[Any], str]:
    """Split a parsed file into one flat-or-nested value list per model input."""
    if isinstance(raw, dict):
        if "input_data" not in raw:
            raise InputError(f"{path}: JSON object has no 'input_data' field; use {{\"input_data\": [[...]]}}")
        data = raw["input_data"]
        if not isinstance(data, list) or len(data) != n_inputs:
            raise InputError(f"{path}: field 'input_data' must be a list of {n_inputs} list(s), one per model input")
        return data, f"{path}: input_data"
    if n_inputs != 1:
        raise InputError(
            f'{path}: the model has {n_inputs} inputs; use {{"input_data": [[...], ...]}} with one list each'
        )
    return [raw], str(path)


def load_sample(path: Path, specs: tuple[TensorSpec, ...]) -> Sample:
    """Exactly one input sample for a model with the given input specs."""
    lists, where = _per_input_lists(_read(path), path, len(specs))
    return from_values(lists, specs, where)


def load_flat(path: Path) -> list[np.ndarray]:
    """One sample's values per input, flattened, when the model's shapes are unknown: an auditor
    checking a hashed input against its commitment has the receipt, not the model."""
    raw = _read(path)
    data = raw.get("input_data") if isinstance(raw, dict) else None
    lists, where = _per_input_lists(raw, path, len(data) if isinstance(data, list) else 1)
    arrays = [_as_float_array(v, f"{where}[{i}]").ravel() for i, v in enumerate(lists)]
    return [check_tensor(a, TensorSpec(f"input {i}", a.shape), f"{where}[{i}]") for i, a in enumerate(arrays)]


def load_example(path: Path) -> Sample:
    """One sample in the file's own shapes (1-D becomes a batch of one), for tracing a torch export
    before any ONNX model, and so any input shape, exists."""
    raw = _read(path)
    data = raw.get("input_data") if isinstance(raw, dict) else None
    lists, where = _per_input_lists(raw, path, len(data) if isinstance(data, list) else 1)
    arrays = [_as_float_array(v, f"{where}[{i}]") for i, v in enumerate(lists)]
    arrays = [a if a.ndim > 1 else a.reshape(1, -1) for a in arrays]
    return [check_tensor(a, TensorSpec(f"input {i}", a.shape), f"{where}[{i}]") for i, a in enumerate(arrays)]


def load_samples(path: Path, specs: tuple[TensorSpec, ...]) -> list[Sample]:
    """Many samples (for calibration): each input's values are N samples laid end to end."""
    lists, where = _per_input_lists(_read(path), path, len(specs))
    arrays = [_as_float_array(v, f"{where}[{i}]") for i, v in enumerate(lists)]
    counts = set()
    for i, (array, spec) in enumerate(zip(arrays, specs, strict=True)):
        if array.size == 0 or array.size % spec.size:
            raise InputError(
                f"{where}[{i}]: {array.size} values is not a whole number of samples of input {spec.name!r} "
                f"(shape {list(spec.shape)}, {spec.size} values each)"
            )
        counts.add(array.size // spec.size)
    if len(counts) != 1:
        raise InputError(f"{where}: inputs hold different numbers of samples ({sorted(counts)})")
    n = counts.pop()
    flats = [a.reshape(n, -1) for a in arrays]
    return [
        [
            check_tensor(flat[j], spec, f"{where}[{i}] sample {j}")
            for i, (flat, spec) in enumerate(zip(flats, specs, strict=True))
        ]
        for j in range(n)
    ]


def to_ezkl_data(samples: list[Sample]) -> dict[str, Any]:
    """ezkl's input document: per input, all samples' values flattened end to end."""
    n_inputs = len(samples[0])
    return {"input_data": [[float(x) for s in samples for x in s[i].ravel()] for i in range(n_inputs)]}
