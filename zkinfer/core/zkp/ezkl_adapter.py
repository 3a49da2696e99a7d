"""The one thin place that calls ezkl (version 23): argument order, error translation, quiet logs.

ezkl raises bare RuntimeErrors with messages like `[graph] [tract] Translating node #1 "x"
Unimplemented(Det)`; we turn them into typed zkinfer errors that name the file and the node.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import ezkl

from zkinfer.core.support.errors import CircuitError, ModelError, ProvingError, UnsupportedOperatorError
from zkinfer.core.zkp import ezkl_worker as _ezkl_isolated
from zkinfer.core.zkp.ezkl_views import Witness

if TYPE_CHECKING:  # numpy is imported where it is used: verifying a receipt needs none
    import numpy as np

VERSION: str = getattr(ezkl, "__version__", "23")
_NODE_RE = re.compile(r'node #\d+ "([^"]+)"\s*(?:(?:Unimplemented|Unsupported)\((\w+)\))?')
# ezkl's own refusal, after tract loaded the node: "an unsupported method was called on node 6 (shift left)";
# its node numbers are tract's, not the ONNX graph's, so only the operation can be named.
_METHOD_RE = re.compile(r"unsupported method was called on node \d+ \(([^)]+)\)")


def _model_error(model: Path, exc: Exception) -> ModelError:
    """Translate an ezkl/tract failure on a model into an error naming the offending node."""
    message = str(exc)
    match = _NODE_RE.search(message)
    if match and ("Unimplemented" in message or "nsupported" in message):
        op = match.group(2) or "operator"
        return UnsupportedOperatorError(
            f"{model}: node {match.group(1)!r} uses {op}, which ezkl cannot turn into a circuit; "
            f"rewrite that part of the model with supported operators ({message})",
            node=match.group(1),
        )
    method = _METHOD_RE.search(message)
    if method:
        return UnsupportedOperatorError(
            f"{model}: the model uses the operation {method.group(1)!r}, which ezkl cannot turn into a circuit; "
            f"rewrite that part of the model with supported operators ({message})"
        )
    if "Undetermined symbol" in message:
        return ModelError(
            f"{model}: a tensor's shape depends on the input values (an operator such as NonZero or Unique); "
            f"a circuit needs every shape fixed, so replace that operator ({message})"
        )
    if match:
        return ModelError(f"{model}: ezkl could not process node {match.group(1)!r}: {message}", node=match.group(1))
    return ModelError(f"{model}: ezkl could not process the model: {message}")


RunArgs = ezkl.PyRunArgs  # for callers' type hints: the adapter is the one module that names ezkl


def run_args(
    *,
    input_visibility: str = "public",
    output_visibility: str = "public",
    param_visibility: str = "fixed",
    decomp_base: int | None = None,
    decomp_legs: int | None = None,
    batch_size: int = 1,
    symbols: tuple[tuple[str, int], ...] = (),
    inner_cols: int | None = None,
) -> ezkl.PyRunArgs:
    """ezkl run arguments; None keeps ezkl's default. `symbols` gives every symbolic dim of the
    model a value: tract refuses a model with any it cannot resolve ("Undetermined symbol").
    `inner_cols` (ezkl's num_inner_cols, default 2) spreads a dot product over more columns: fewer rows."""
    args: Any = ezkl.PyRunArgs()  # its attributes are not in ezkl's stubs
    args.input_visibility = input_visibility
    args.output_visibility = output_visibility
    args.param_visibility = param_visibility
    if decomp_base is not None:
        args.decomp_base = decomp_base
    if decomp_legs is not None:
        args.decomp_legs = decomp_legs
    if inner_cols is not None:
        args.num_inner_cols = inner_cols
    args.variables = [("batch_size", batch_size), *((name, value) for name, value in symbols if name != "batch_size")]
    made: ezkl.PyRunArgs = args
    return made


def default_decomposition() -> tuple[int, int]:
    """ezkl's own default (decomp_base, decomp_legs), to compare our search against."""
    args: Any = ezkl.PyRunArgs()
    return int(args.decomp_base), int(args.decomp_legs)


def gen_settings(model: Path, settings: Path, args: ezkl.PyRunArgs) -> None:
    try:
        ezkl.gen_settings(str(model), str(settings), py_run_args=args)
    except RuntimeError as exc:
        raise _model_error(model, exc) from exc


_hidden_lock = threading.Lock()
_hidden_depth = 0
_hidden: list[tuple[int, int, TextIO | None, TextIO | None]] = []  # (fd, saved copy, Python stream, its stand-in)


def _hide_fd(fd: int) -> tuple[int, int, TextIO | None, TextIO | None]:
    """Point `fd` at /dev/null; if Python's sys.stdout/sys.stderr writes to that fd, give it a stand-in
    on a copy of the real one, so Python's own output (rich's spinner, other threads) still shows."""
    name = "stdout" if fd == 1 else "stderr"
    stream: TextIO = getattr(sys, name)
    try:
        stream.flush()
        uses_fd = stream.fileno() == fd
    except (AttributeError, OSError, ValueError):  # a captured or closed stream: leave it alone
        uses_fd = False
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    if not uses_fd:
        return fd, saved, None, None
    stand_in = os.fdopen(os.dup(saved), "w", buffering=1, encoding=stream.encoding, errors=stream.errors)
    setattr(sys, name, stand_in)
    return fd, saved, stream, stand_in


def _restore_fd(fd: int, saved: int, stream: TextIO | None, stand_in: TextIO | None) -> None:
    name = "stdout" if fd == 1 else "stderr"
    if stand_in is not None:
        stand_in.flush()
        if getattr(sys, name) is stand_in:  # unless someone replaced it meanwhile
            setattr(sys, name, stream)
        stand_in.close()
    os.dup2(saved, fd)
    os.close(saved)


@contextmanager
def native_output_hidden() -> Iterator[None]:
    """Keep what ezkl's Rust code writes straight to the terminal (indicatif progress bars, once per
    calibration: they bypass Python's logging) out of sight, unless ezkl's loggers are verbose
    (`--verbose`). File descriptors 1 and 2 are process-wide: threads calibrating at once share one
    redirection (the last one out restores it), and meanwhile only native writes are dropped; Python's
    sys.stdout/sys.stderr keep reaching the terminal through stand-ins."""
    global _hidden_depth
    if logging.getLogger("ezkl").isEnabledFor(logging.INFO):
        yield
        return
    with _hidden_lock:
        if _hidden_depth == 0:
            _hidden[:] = [_hide_fd(fd) for fd in (1, 2)]
        _hidden_depth += 1
    try:
        yield
    finally:
        with _hidden_lock:
            _hidden_depth -= 1
            if _hidden_depth == 0:
                for item in reversed(_hidden):
                    _restore_fd(*item)
                _hidden.clear()


def calibrate(
    data: Path,
    model: Path,
    settings: Path,
    target: str = "resources",
    input_scale: int | None = None,
    max_logrows: int | None = None,
) -> None:
    """Calibrate scales on every sample in `data` (ezkl splits the flat data into batches).
    `input_scale` fixes the input's scale (a split circuit's segment reads its predecessor's output
    field elements as they are, so it must read them at the scale they were made at). `max_logrows`
    caps k: ezkl then spreads a lookup table wider than 2^k over several columns (a faster proof)."""
    scales = None if input_scale is None else [input_scale]
    try:
        with native_output_hidden():
            ezkl.calibrate_settings(str(data), str(model), str(settings), target, 2.0, scales, [1], max_logrows)
    except RuntimeError as exc:
        raise _model_error(model, exc) from exc
    _sort_hash_set_lists(settings)


def _sort_hash_set_lists(settings: Path) -> None:
    """ezkl lists the lookups and range checks in hash-set order, which changes from run to run and
    with it the circuit and the verifying key; sorted, the same model and run args give the same key."""
    data = json.loads(settings.read_text())
    for key in ("required_lookups", "required_range_checks"):
        if isinstance(data.get(key), list):
            data[key] = sorted(data[key], key=lambda item: json.dumps(item, sort_keys=True))
    settings.write_text(json.dumps(data))


def compile_circuit(model: Path, compiled: Path, settings: Path) -> None:
    try:
        ezkl.compile_circuit(str(model), str(compiled), str(settings))
    except RuntimeError as exc:
        raise _model_error(model, exc) from exc


def gen_srs(path: Path, k: int) -> None:
    ezkl.gen_srs(str(path), k)


def setup(compiled: Path, vk: Path, pk: Path, srs: Path) -> None:
    try:
        ezkl.setup(str(compiled), str(vk), str(pk), str(srs), None, False)
    except RuntimeError as exc:
        raise CircuitError(f"{compiled}: key setup failed: {exc}") from exc


def gen_witness(data: Path, compiled: Path, witness: Path) -> Witness:
    """Run the quantized forward pass. Out-of-range inputs fail here with ezkl's reason. ezkl's
    console output is hidden (for a polycommit circuit it prints that it has no SRS to commit with:
    zkinfer reads those commitments from the proofs instead)."""
    try:
        with native_output_hidden():
            ezkl.gen_witness(str(data), str(compiled), str(witness), None, None)
    except RuntimeError as exc:
        raise ProvingError(
            f"{compiled}: witness generation failed ({exc}); the input may lie outside the range the "
            "circuit was calibrated on: recompile with calibration data that covers it"
        ) from exc
    return Witness.of(json.loads(witness.read_text()))


def prove(witness: Path, compiled: Path, pk: Path, proof: Path, srs: Path) -> dict[str, Any]:
    try:
        ezkl.prove(str(witness), str(compiled), str(pk), str(proof), str(srs))
    except RuntimeError as exc:
        raise ProvingError(f"{compiled}: proving failed: {exc}") from exc
    return dict(json.loads(proof.read_text()))


def verify(
    proof: Path, settings: Path, vk: Path, srs: Path, reduced_srs: bool, on_sent: Callable[[], None] = lambda: None
) -> tuple[bool, str]:
    """Check a proof: (ok, reason). Runs in a memory-limited worker process, because the files
    come from an untrusted receipt and ezkl panics, segfaults or exhausts memory on some.
    `on_sent` is called once the worker has the request (the caller may do other work meanwhile)."""
    ok, reason = _ezkl_isolated.verify(str(proof), str(settings), str(vk), str(srs), reduced_srs, on_sent)
    return ok, reason if reason or ok else "ezkl returned false"


def evm_verifier(vk: Path, settings: Path, srs: Path, sol: Path) -> None:
    """Write the Halo2 verifier contract (Solidity) for a verifying key, its settings and SRS (a full
    SRS or the reduced one a receipt embeds: both give the same .sol). ezkl's own compile step needs
    to download solc, so zkinfer compiles the .sol itself (zkinfer.chain.solidity)."""
    ok, reason = _ezkl_isolated.evm_verifier(str(vk), str(settings), str(srs), str(sol), str(sol.with_suffix(".abi")))
    if not ok or not sol.is_file():
        raise CircuitError(
            f"{vk}: ezkl could not generate the Solidity verifier for this key and {settings}: "
            f"{reason or 'no .sol written'}"
        )


def write_proof_file(path: Path, proof_bytes: bytes, instances: list[list[str]]) -> None:
    """The smallest proof document ezkl.verify accepts: the proof bytes and its instances."""
    path.write_text(json.dumps({"instances": instances, "proof": list(proof_bytes)}))


# BN254 scalar field order: ezkl's field elements are 32-byte little-endian hex below it.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
_FELT_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def is_felt(text: object) -> bool:
    """True for a string ezkl accepts as a field element; ezkl *panics* (not raises) on others."""
    return (
        isinstance(text, str)
        and bool(_FELT_RE.match(text))
        and int.from_bytes(bytes.fromhex(text), "little") < FIELD_MODULUS
    )


def float_to_felt(value: float, scale: int) -> str:
    return str(ezkl.float_to_felt(float(value), scale, ezkl.PyInputType.F32))


def felt_to_float(felt: str, scale: int) -> float:
    return float(ezkl.felt_to_float(felt, scale))


def witness_outputs(witness: Witness, scales: list[int]) -> list[np.ndarray]:
    """The witness's quantized outputs dequantized to floats (flat, one array per output)."""
    import numpy as np

    return [
        np.asarray([felt_to_float(f, int(scale)) for f in felts])
        for felts, scale in zip(witness.outputs, scales, strict=True)
    ]


def poseidon_hash(felts: list[str]) -> list[str]:
    return [str(x) for x in ezkl.poseidon_hash(felts)]


def commit_tensor(felts: list[str]) -> str:
    """ezkl's commitment to one hashed input tensor: one Poseidon hash over its quantized values
    (row-major, at the input's scale), as in the witness's `processed_inputs.poseidon_hash`."""
    return poseidon_hash(felts)[0]
