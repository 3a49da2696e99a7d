"""ONNX model + calibration samples → a compiled circuit directory, with a run-args search.

ezkl's defaults (decomp_base=16384, decomp_legs=2) often give a circuit larger than needed. We try
a few decompositions, calibrate each on *all* the given samples, measure each one's fidelity
against onnxruntime on those samples, and keep the smallest circuit whose error is as good as
the best one's. Every candidate's numbers are recorded in the manifest.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from zkinfer.core.crypto.digest import digest_file, digest_json
from zkinfer.core.formats import inputs
from zkinfer.core.formats.circuit import (
    COMPILED_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SETTINGS_FILE,
    Candidate,
    Circuit,
    Manifest,
    Tensor,
    Visibility,
    load,
    settings_digest,
)
from zkinfer.core.support.errors import CircuitError, ModelError, ZkinferError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp import onnx_model
from zkinfer.core.zkp.ezkl_views import Settings
from zkinfer.prover import locate
from zkinfer.prover.runtime import open_session

# (decomp_base, decomp_legs) tried by the search; ezkl's default comes first.
SEARCH_SPACE: tuple[tuple[int, int], ...] = (_ezkl.default_decomposition(), (4096, 3), (1024, 3), (256, 4))
# A candidate is "as faithful" as the best one when its max error is within this factor or slack.
FIDELITY_FACTOR = 1.5
FIDELITY_SLACK = 1e-4
MAX_FIDELITY_SAMPLES = 64
# An output whose max |error| passes this fraction of its range on the calibration samples is coarse: compile warns.
COARSE_FRACTION = 0.01
# Within this many steps of its scale an output's error is rounding, which a finer scale shrinks.
ROUNDING_STEPS = 4

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _run_args(
    candidate: Candidate,
    visibility: Visibility,
    batch_size: int,
    symbols: tuple[tuple[str, int], ...],
    inner_cols: int | None = None,
) -> _ezkl.RunArgs:
    return _ezkl.run_args(
        input_visibility=visibility.input,
        output_visibility=visibility.output,
        param_visibility=visibility.params,
        decomp_base=candidate.decomp_base,
        decomp_legs=candidate.decomp_legs,
        batch_size=batch_size,
        symbols=symbols,
        inner_cols=inner_cols,
    )


def _makes_settings(model: Path, args: _ezkl.RunArgs, work: Path) -> bool:
    """Whether ezkl can make settings for `model` (a probe while locating the node it refuses)."""
    try:
        _ezkl.gen_settings(model, work / "probe-settings.json", args)
    except ModelError:
        return False
    return True


def _measure(
    work: Path,
    model: Path,
    samples: list[inputs.Sample],
    expected: list[list[np.ndarray]],
    candidate: Candidate,
    visibility: Visibility,
    batch_size: int,
    calib_file: Path,
    symbols: tuple[tuple[str, int], ...] = (),
    input_scale: int | None = None,
    max_logrows: int | None = None,
    inner_cols: int | None = None,
) -> list[float]:
    """Calibrate and compile one candidate in `work`, filling in its size and error; returns the
    max |error| of each output."""
    settings = work / SETTINGS_FILE
    _ezkl.gen_settings(model, settings, _run_args(candidate, visibility, batch_size, symbols, inner_cols))
    _ezkl.calibrate(calib_file, model, settings, input_scale=input_scale, max_logrows=max_logrows)
    _ezkl.compile_circuit(model, work / COMPILED_FILE, settings)
    made = Settings(json.loads(settings.read_text()), str(settings))
    candidate.logrows, candidate.num_rows = made.logrows, made.num_rows
    candidate.input_scale, candidate.param_scale = made.input_scale, made.param_scale
    errors: list[float] = []
    per_output = [0.0] * len(made.output_scales)
    for sample, want in zip(samples, expected, strict=True):
        sample_file = work / "sample.json"
        sample_file.write_text(json.dumps(inputs.to_ezkl_data([sample])))
        witness = _ezkl.gen_witness(sample_file, work / COMPILED_FILE, work / "witness.json")
        if visibility.params == "hashed" and witness.params_commitment is None:
            raise ModelError(
                f"{model}: the model has no weights or constants for hashed weight visibility to commit to; use fixed"
            )
        got = _ezkl.witness_outputs(witness, made.output_scales)
        for i, (out_got, out_want) in enumerate(zip(got, want, strict=True)):
            off = np.abs(out_got - out_want.ravel())
            errors.extend(off.tolist())
            per_output[i] = max(per_output[i], float(off.max(initial=0.0)))
    candidate.max_abs_error = float(max(errors))
    candidate.mean_abs_error = float(np.mean(errors))
    return per_output


class CoarseOutputWarning(UserWarning):
    """The chosen circuit's answer for an output is far from onnxruntime's, against that output's range."""


def coarse_outputs(
    names: list[str], errors: list[float], expected: list[list[np.ndarray]], scales: list[int], input_scale: int
) -> list[str]:
    """One message per output whose max |error| (on the calibration samples, against onnxruntime)
    passes COARSE_FRACTION of the range its float answers span there, saying how to get a finer
    circuit when rounding explains the error, and that the circuit computes it differently when not."""
    messages = []
    for i, (name, error, scale) in enumerate(zip(names, errors, scales, strict=True)):
        values = np.concatenate([np.asarray(sample[i], np.float64).ravel() for sample in expected])
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        span = (high - low) or max(abs(low), abs(high)) or 1.0
        if error <= COARSE_FRACTION * span:
            continue
        step = 2.0**-scale
        what = (
            f"output {name!r} (#{i}): the circuit's answers differ from onnxruntime's by up to {error:.3g} "
            f"on the calibration samples, {100 * error / span:.0f}% of the output's range [{low:.4g}, {high:.4g}]; "
            f"the circuit holds it at scale {scale} (steps of {step:g})"
        )
        if error <= ROUNDING_STEPS * step:
            finer = (
                input_scale + 1 + max(0, math.ceil(math.log2(error / (COARSE_FRACTION * span))))
            )  # each step halves the rounding
            how = (
                f"For a finer circuit recompile with a larger input scale (this circuit's is {input_scale}): "
                f"`zkinfer compile ... --input-scale {finer}` or compile_model(..., input_scale={finer}); "
                "each step up halves the rounding (the circuit may grow)"
            )
        else:
            how = (
                f"That is {error / step:.0f} steps of its scale, more than rounding: "
                "the circuit computes part of the model differently from onnxruntime "
                "(ezkl 23 does not round an integer Div down, for one), "
                f"so a larger --input-scale (this circuit's is {input_scale}) may not help; "
                "check the operators that make this output"
            )
        messages.append(f"{what}. {how}")
    return messages


def _refuse_scalar_inputs(model: Path, specs: tuple[onnx_model.TensorSpec, ...]) -> None:
    """ezkl 23 cannot feed a rank-0 input: it hands tract one value of shape [1] for it, and its
    calibration fails with "incorrect dtype or shape". Say which input and what to change instead.
    (Rank-0 *outputs* are fine: their instance shape is [1], see `core.instance_layout`.)"""
    for spec in specs:
        if len(spec.shape) == 0:
            raise ModelError(
                f"{model}: input {spec.name!r} is a scalar (rank 0), which ezkl 23 cannot take as a circuit input; "
                f"give it shape [1] in the model (torch: take x of shape [1] and x.reshape(()) inside forward)"
            )


def _choose(candidates: list[Candidate]) -> Candidate:
    ok = [c for c in candidates if c.failed is None and c.max_abs_error is not None]
    if not ok:
        reasons = "; ".join(f"base {c.decomp_base}/legs {c.decomp_legs}: {c.failed}" for c in candidates)
        raise CircuitError(f"no run-args candidate compiled: {reasons}")
    best_error = min(c.max_abs_error for c in ok if c.max_abs_error is not None)
    bound = max(best_error * FIDELITY_FACTOR, best_error + FIDELITY_SLACK)
    faithful = [c for c in ok if c.max_abs_error is not None and c.max_abs_error <= bound]
    chosen = min(faithful, key=lambda c: (c.logrows or 0, c.num_rows or 0))
    chosen.chosen = True
    return chosen


def compile_model(
    model_path: Path,
    calibration: Path,
    out_dir: Path,
    *,
    name: str | None = None,
    visibility: Visibility | None = None,
    search: bool = True,
    decomposition: tuple[int, int] | None = None,
    batch_size: int = 1,
    input_scale: int | None = None,
    max_logrows: int | None = None,
    inner_cols: int | None = None,
    progress: Progress = _quiet,
) -> Circuit:
    """Compile `model_path` into `out_dir`, calibrated on every sample in `calibration`.
    `input_scale` fixes the input's fixed-point scale instead of calibrating it (split segments, or a
    finer circuit); `max_logrows` caps k (lookup tables wider than 2^k take several columns); `inner_cols`
    spreads dot products over more columns (fewer rows, so a smaller k for a circuit whose rows, not its
    lookup tables, set k). Warns (`CoarseOutputWarning`) once per output whose error on the calibration
    samples is large against its range, naming it and saying how to get a finer circuit."""
    visibility = visibility or Visibility()
    info = onnx_model.load(model_path, batch_size=batch_size)
    _refuse_scalar_inputs(model_path, info.inputs)
    samples = inputs.load_samples(calibration, info.inputs)
    session = open_session(model_path, prefer_gpu=False)  # the float answers the circuit's fidelity is measured against
    progress(f"running {len(samples)} calibration sample(s) through {session.provider}")
    fidelity_samples = samples[:MAX_FIDELITY_SAMPLES]
    expected = [session.run(s) for s in fidelity_samples]
    if decomposition is not None:
        space: tuple[tuple[int, int], ...] = (decomposition,)
    elif search:
        space = SEARCH_SPACE
    else:
        space = (_ezkl.default_decomposition(),)
    candidates = [Candidate(decomp_base=b, decomp_legs=legs) for b, legs in space]
    first_error: ZkinferError | None = None
    output_errors: dict[int, list[float]] = {}  # each candidate's max |error| per output
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zkinfer-compile-") as tmp:
        calib_file = Path(tmp) / "calibration.json"
        calib_file.write_text(json.dumps(inputs.to_ezkl_data(samples)))
        source, model_path = model_path, onnx_model.without_empty_trailing_inputs(model_path, Path(tmp) / MODEL_FILE)
        for candidate in candidates:
            work = Path(tmp) / f"b{candidate.decomp_base}-l{candidate.decomp_legs}"
            work.mkdir()
            progress(f"calibrating with decomp_base={candidate.decomp_base}, decomp_legs={candidate.decomp_legs}")
            try:
                output_errors[id(candidate)] = _measure(
                    work,
                    model_path,
                    fidelity_samples,
                    expected,
                    candidate,
                    visibility,
                    batch_size,
                    calib_file,
                    info.symbols,
                    input_scale,
                    max_logrows,
                    inner_cols,
                )
            except ZkinferError as exc:  # a decomposition too narrow for this model: try the others
                first_error = first_error or exc
                candidate.failed = str(exc)
        if first_error is not None and all(c.failed for c in candidates):  # name the user's file, not our copy
            message = str(first_error).replace(str(model_path), str(source))
            if not isinstance(first_error, ModelError):
                raise type(first_error)(message) from first_error
            if first_error.node is not None:
                raise type(first_error)(message, node=first_error.node) from first_error
            args = _run_args(candidates[0], visibility, batch_size, info.symbols, inner_cols)
            culprit = locate.first_failing_node(model_path, lambda m: _makes_settings(m, args, Path(tmp)))
            raise locate.named(type(first_error)(message), source, culprit) from first_error
        chosen = _choose(candidates)
        src = Path(tmp) / f"b{chosen.decomp_base}-l{chosen.decomp_legs}"
        progress(f"chose decomp_base={chosen.decomp_base}, decomp_legs={chosen.decomp_legs}: k={chosen.logrows}")
        shutil.copyfile(model_path, out_dir / MODEL_FILE)
        shutil.copyfile(src / SETTINGS_FILE, out_dir / SETTINGS_FILE)
        shutil.copyfile(src / COMPILED_FILE, out_dir / COMPILED_FILE)
    settings = json.loads((out_dir / SETTINGS_FILE).read_text())
    assert chosen.logrows is not None
    made = Settings(settings, str(out_dir / SETTINGS_FILE))
    for message in coarse_outputs(
        [s.name for s in info.outputs], output_errors[id(chosen)], expected, made.output_scales, made.input_scale
    ):
        warnings.warn(CoarseOutputWarning(message), stacklevel=2)
    manifest = Manifest(
        name=name or out_dir.name,
        model_digest=digest_file(out_dir / MODEL_FILE),
        settings_digest=settings_digest(settings),
        compiled_digest=digest_file(out_dir / COMPILED_FILE),
        ezkl_version=_ezkl.VERSION,
        visibility=visibility,
        batch_size=batch_size,
        inputs=[Tensor(name=s.name, shape=list(s.shape)) for s in info.inputs],
        # the shapes onnxruntime produced: a declared output shape may be symbolic (torch's export of F.pad)
        outputs=[Tensor(name=s.name, shape=list(y.shape)) for s, y in zip(info.outputs, expected[0], strict=True)],
        logrows=chosen.logrows,
        decomp_base=chosen.decomp_base,
        decomp_legs=chosen.decomp_legs,
        calibration_samples=len(samples),
        calibration_digest=digest_json(inputs.to_ezkl_data(samples)),
        search=candidates,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    (out_dir / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
    return load(out_dir)
