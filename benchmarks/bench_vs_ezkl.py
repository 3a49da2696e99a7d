"""zkinfer's pipeline against the same steps called directly on ezkl, in one process.

Part 1 (overhead, goal ≤ 1.03x): compile, set up, prove and verify one model both ways with the
same run args (zkinfer's `compile_model(decomposition=...)` vs `ezkl.gen_settings` +
`calibrate_settings` + `compile_circuit` with identical arguments), the same calibration file and
the same SRS file (zkinfer's cached one). Repetitions are interleaved (zkinfer first on even
repetitions, raw ezkl first on odd ones) and medians are compared, so a noisy shared machine
hurts both sides alike. zkinfer's API calls also do work raw ezkl does not (fidelity check,
digests, receipt): the breakdown says how much of each API call is ezkl itself.

Then, per call (`benchmarks/per_call.py`, issue 21): witness (goal ≤ 1.1x raw) and `verify_file` (goal
≤ 1.2x raw) in many short interleaved blocks, the median block ratio with its spread, each goal
printed met / not met.

Part 2 (goal ≥ 3x faster prove at equal fidelity): zkinfer's default circuit (run-args search)
against ezkl's default decomposition (`compile_model(search=False)`), proving the same test inputs.

    python -m benchmarks.bench_vs_ezkl               # 64-32-10 digits MLP, 5 repetitions (~3 min)
    python -m benchmarks.bench_vs_ezkl --reps 1      # quick look
    python -m benchmarks.bench_vs_ezkl --reps 1 --skip-default   # the per-call witness/verify goals only (~1 min)
    python -m benchmarks.bench_vs_ezkl --large       # LeNet-5-size CNN, k≈20: ~10 GB RAM, many minutes; never in CI

Keys and the SRS go to a fresh temporary $ZKINFER_HOME unless --home is given (reuse it to skip
making a large development SRS again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/bench_vs_ezkl.py` as well as `-m`
    sys.path.insert(0, str(REPO))

from benchmarks import per_call  # noqa: E402  (after the path is set)

SAMPLES_DEFAULT = 5  # test inputs proven per circuit in part 2
VERIFY_CALLS = 20  # a verify takes milliseconds: time a run of them, so one scheduler hiccup does not decide the ratio


# ---------------------------------------------------------------- measuring


class RssSampler:
    """Peak resident memory of this process while a block runs.

    Linux keeps the peak (VmHWM) and lets a process reset it (`5` into /proc/self/clear_refs), so
    the peak is exact even while ezkl holds the GIL (a sampling thread would be blocked then).
    Elsewhere: the process's lifetime peak (ru_maxrss), an upper bound.
    """

    lifetime_peak = 0  # resetting VmHWM also resets ru_maxrss, so the process's peak is kept here

    def __init__(self) -> None:
        self.peak = 0

    @staticmethod
    def _status(field: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def __enter__(self) -> RssSampler:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        return self

    def __exit__(self, *exc: object) -> None:
        peak = self._status("VmHWM")
        self.peak = peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        RssSampler.lifetime_peak = max(RssSampler.lifetime_peak, self.peak)


Times = tuple[float, float]  # (wall seconds, CPU seconds of every thread of this process)


def _now() -> Times:
    return time.perf_counter(), time.process_time()


@dataclass
class Record:
    """Per (side, stage): one (wall, CPU) entry per repetition, the ezkl calls made inside it, peak RSS.

    CPU seconds are reported beside wall seconds because on a shared 2-core machine wall time
    mostly measures the neighbours; CPU time measures the work this process did.
    """

    times: dict[tuple[str, str], list[Times]] = field(default_factory=lambda: defaultdict(list))
    peak_rss: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    _outer: tuple[str, str] | None = None
    _inner: dict[str, list[float]] = field(default_factory=dict)

    @contextlib.contextmanager
    def time(self, side: str, stage: str) -> Iterator[None]:
        self._outer, self._inner = (side, stage), {}
        with RssSampler() as rss:
            wall, cpu = _now()
            yield
            wall2, cpu2 = _now()
        self.times[side, stage].append((wall2 - wall, cpu2 - cpu))
        for name, (w, c) in self._inner.items():  # the ezkl calls made during this stage, summed
            self.times[side, f"{stage}:{name}"].append((w, c))
        self._outer = None
        self.peak_rss[side, stage] = max(self.peak_rss[side, stage], rss.peak)

    def inner(self, name: str, wall: float, cpu: float) -> None:
        if self._outer is not None:
            acc = self._inner.setdefault(name, [0.0, 0.0])
            acc[0] += wall
            acc[1] += cpu

    def median(self, side: str, *stages: str) -> Times:
        """Median over repetitions of the summed stages (wall, CPU); NaN when not measured."""
        columns = [self.times.get((side, s)) for s in stages]
        if not all(columns):
            return float("nan"), float("nan")
        sums = [tuple(map(sum, zip(*per_rep, strict=True))) for per_rep in zip(*columns, strict=True)]
        return statistics.median(s[0] for s in sums), statistics.median(s[1] for s in sums)

    def own(self, side: str, stage: str) -> float:
        """Median wall seconds a stage spent outside ezkl: its time minus the ezkl calls made inside it."""
        inner = [v for (sd, st), v in self.times.items() if sd == side and st.startswith(f"{stage}:")]
        per_rep = [
            total[0] - sum(call[0] for call in calls)
            for total, *calls in zip(self.times[side, stage], *inner, strict=True)
        ]
        return statistics.median(per_rep)


@contextlib.contextmanager
def ezkl_calls_timed(record: Record) -> Iterator[None]:
    """Time every ezkl call zkinfer makes (by wrapping `zkinfer.core.zkp.ezkl_adapter`), to split API calls into
    parts."""
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    names = ("gen_settings", "calibrate", "compile_circuit", "setup", "gen_witness", "prove", "verify")
    originals = {name: getattr(_ezkl, name) for name in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = _now()
            try:
                return fn(*args, **kwargs)
            finally:
                wall2, cpu2 = _now()
                record.inner(name, wall2 - wall, cpu2 - cpu)

        return timed

    for name, fn in originals.items():
        setattr(_ezkl, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(_ezkl, name, fn)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class Case:
    name: str
    model: Path
    calibration: Path
    inputs: list[np.ndarray]  # test inputs, each in the model's input shape


def digits_case(work: Path, n_inputs: int) -> Case:
    """The bundled 64-32-10 digits MLP (built with torch here if models/ does not have it)."""
    from models.digits import load_split

    _, x_test, _, _ = load_split()
    model, calibration = REPO / "models" / "digits_mlp.onnx", REPO / "models" / "digits_mlp_calibration.json"
    if not (model.is_file() and calibration.is_file()):
        import torch

        from zkinfer.prover.export import export

        x_train = load_split()[0]
        torch.manual_seed(0)
        mlp = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
        model, calibration = work / "digits_mlp.onnx", work / "digits_mlp_calibration.json"
        export(mlp, [x_train[:1]], model)
        calibration.write_text(json.dumps({"input_data": [x_train[:32].ravel().tolist()]}))
    return Case("digits MLP 64-32-10", model, calibration, [x.reshape(1, 64) for x in x_test[:n_inputs]])


def lenet5_case(work: Path, n_inputs: int) -> Case:
    """A LeNet-5-size CNN on 1x28x28 inputs with seeded random weights, calibrated on synthetic data."""
    import torch

    from zkinfer.prover.export import export

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    data = rng.random((4 + n_inputs, 1, 1, 28, 28), dtype=np.float32).round(3)
    model, calibration = work / "lenet5.onnx", work / "lenet5_calibration.json"
    export(net, [data[0]], model)
    calibration.write_text(json.dumps({"input_data": [data[:4].ravel().tolist()]}))
    return Case("LeNet-5-size CNN 1x28x28 (random weights)", model, calibration, list(data[4:]))


# ---------------------------------------------------------------- the raw ezkl side


def raw_run_args(base: int, legs: int) -> Any:
    import ezkl

    args: Any = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = "public", "public", "fixed"
    args.decomp_base, args.decomp_legs = base, legs
    args.variables = [("batch_size", 1)]
    return args


def raw_pipeline(
    record: Record, case: Case, work: Path, base: int, legs: int, srs_path: Path, input_file: Path
) -> dict[str, Path]:
    """gen_settings+calibrate, compile, setup, witness, prove, verify: ezkl's Python API, nothing else."""
    import ezkl

    work.mkdir(parents=True)
    p = {name: work / name for name in ("settings.json", "model.compiled", "vk", "pk", "witness.json", "proof.json")}
    with record.time("raw", "gen_settings+calibrate"):
        ezkl.gen_settings(str(case.model), str(p["settings.json"]), py_run_args=raw_run_args(base, legs))
        ezkl.calibrate_settings(
            str(case.calibration), str(case.model), str(p["settings.json"]), "resources", 2.0, None, [1], None
        )
    with record.time("raw", "compile"):
        ezkl.compile_circuit(str(case.model), str(p["model.compiled"]), str(p["settings.json"]))
    with record.time("raw", "setup"):
        ezkl.setup(str(p["model.compiled"]), str(p["vk"]), str(p["pk"]), str(srs_path), None, False)
    with record.time("raw", "witness"):
        ezkl.gen_witness(str(input_file), str(p["model.compiled"]), str(p["witness.json"]), None, None)
    with record.time("raw", "prove"):
        ezkl.prove(str(p["witness.json"]), str(p["model.compiled"]), str(p["pk"]), str(p["proof.json"]), str(srs_path))
    with record.time("raw", "verify"):
        for _ in range(VERIFY_CALLS):
            assert ezkl.verify(str(p["proof.json"]), str(p["settings.json"]), str(p["vk"]), str(srs_path), False)
    return p


# ---------------------------------------------------------------- the zkinfer side


def zk_pipeline(record: Record, case: Case, work: Path, base: int, legs: int, input_file: Path) -> tuple[Any, Any]:
    """The same steps through zkinfer's API: compile_model, keys.ensure, Prover.prove (+ save), verify_file."""
    import shutil

    from zkinfer import Prover, compile_model, save_receipt, verify_file
    from zkinfer.prover import keys

    with ezkl_calls_timed(record):
        with record.time("zk", "compile_model"):
            circuit = compile_model(case.model, case.calibration, work / "circuit", decomposition=(base, legs))
        cached = keys.cached(circuit)
        if cached is not None:  # an earlier repetition's keys: remove them so setup really runs
            shutil.rmtree(cached.pk.parent)
        with record.time("zk", "keys.ensure"):
            found = keys.ensure(circuit)
        with record.time("zk", "Prover()"):
            prover = Prover(circuit, prefer_gpu=False)
        with record.time("zk", "prove+save"):
            receipt = prover.prove(prover.load_input(input_file))
            save_receipt(receipt, work / "receipt.json")
        with record.time("zk", "verify_file"):
            for _ in range(VERIFY_CALLS):
                verdict = verify_file(work / "receipt.json")
    assert verdict.verified, verdict.summary
    return circuit, found


# ---------------------------------------------------------------- part 1


def signed_verify_s(folder: Path) -> float:
    """Median seconds to verify a signed copy of the receipt in `folder` (the signature check included)."""
    from zkinfer import load_receipt, save_receipt, verify_file
    from zkinfer.core.crypto import identity

    signed = folder / "signed.json"
    save_receipt(identity.sign_receipt(load_receipt(folder / "receipt.json"), identity.new_key()), signed)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        assert verify_file(signed).verified
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def overhead(
    case: Case, work: Path, reps: int, decomposition: tuple[int, int] | None, blocks: int = 30, calls: int = 10
) -> None:
    from zkinfer import compile_model
    from zkinfer.core.crypto import srs
    from zkinfer.prover.compile import MAX_FIDELITY_SAMPLES

    if decomposition is None:  # the decomposition zkinfer's search picks for this model
        print("choosing the decomposition with zkinfer's search ...", flush=True)
        searched = compile_model(case.model, case.calibration, work / "search")
        decomposition = (searched.manifest.decomp_base, searched.manifest.decomp_legs)
    base, legs = decomposition
    work.mkdir(parents=True, exist_ok=True)
    input_file = work / "input.json"
    input_file.write_text(json.dumps({"input_data": [case.inputs[0].ravel().tolist()]}))
    print(f"warm-up (not timed): compile, make the development SRS; decomp_base={base}, decomp_legs={legs}", flush=True)
    warm = compile_model(case.model, case.calibration, work / "warm", decomposition=decomposition)
    srs_path = srs.for_circuit(warm.logrows).path  # the SRS both sides use; keys are set up inside the repetitions
    record = Record()
    zk_circuit, zk_keys, raw_paths = None, None, {}
    for rep in range(reps):
        order = ("zk", "raw") if rep % 2 == 0 else ("raw", "zk")
        for side in order:
            print(f"repetition {rep + 1}/{reps}: {side}", flush=True)
            if side == "zk":
                zk_circuit, zk_keys = zk_pipeline(record, case, work / f"zk{rep}", base, legs, input_file)
            else:
                raw_paths = raw_pipeline(record, case, work / f"raw{rep}", base, legs, srs_path, input_file)
    assert zk_circuit is not None and zk_keys is not None

    def settings(path: Path) -> dict[str, Any]:  # ezkl lists range checks/lookups in hash-set order; zkinfer sorts them
        data = {k: v for k, v in json.loads(path.read_text()).items() if k != "timestamp"}
        return {
            k: sorted(v, key=json.dumps) if k in ("required_lookups", "required_range_checks") else v
            for k, v in data.items()
        }

    same_settings = settings(zk_circuit.settings_path) == settings(raw_paths["settings.json"])
    m = record.median

    def cells(raw: Times, zk: Times, cpu: bool = True) -> str:
        wall = f"{raw[0]:.3f} | {zk[0]:.3f} | {zk[0] / raw[0]:.3f}x"
        if not cpu:  # zkinfer verifies in a worker process, whose CPU time this process does not see
            return f"{wall} | {raw[1]:.3f} | n/a | n/a"
        return f"{wall} | {raw[1]:.3f} | {zk[1]:.3f} | {zk[1] / raw[1]:.3f}x"

    header = "raw wall s | zkinfer wall s | wall ratio | raw CPU s | zkinfer CPU s | CPU ratio"
    print(
        f"\n## zkinfer vs raw ezkl: {case.name}, decomp {base}/{legs}, k={zk_circuit.logrows}, "
        f"{reps} interleaved repetitions (medians)\n"
    )
    print(
        f"same settings (up to timestamp and list order): {same_settings}; "
        f"same SRS file: {srs_path.name} from zkinfer's cache"
    )
    print(f"pk: zkinfer {mb(zk_keys.pk.stat().st_size)}, raw {mb(raw_paths['pk'].stat().st_size)}\n")
    print("Each ezkl step, raw vs the same ezkl call made inside zkinfer's API (same arguments, same files?):\n")
    print(f"| stage | {header} |\n|---|---:|---:|---:|---:|---:|---:|")
    zk_steps = {
        "gen_settings+calibrate": ("compile_model:gen_settings", "compile_model:calibrate"),
        "compile": ("compile_model:compile_circuit",),
        "setup": ("keys.ensure:setup",),
        "witness": ("prove+save:gen_witness",),
        "prove": ("prove+save:prove",),
        "verify": ("verify_file:verify",),
    }
    for stage, parts in zk_steps.items():
        label = f"verify ×{VERIFY_CALLS}" if stage == "verify" else stage
        print(f"| {label} | {cells(m('raw', stage), m('zk', *parts), cpu=stage != 'verify')} |")
    fidelity = m("zk", "compile_model:gen_witness")
    n_fidelity = min(zk_circuit.manifest.calibration_samples, MAX_FIDELITY_SAMPLES)
    rows = [
        (
            "compile_model",
            "gen_settings+calibrate+compile",
            ("gen_settings+calibrate", "compile"),
            "compile_model",
            f"fidelity check: {n_fidelity} witnesses, {fidelity[0]:.3f} s wall / {fidelity[1]:.3f} s CPU",
        ),
        ("keys.ensure", "setup", ("setup",), "keys.ensure", "find the SRS, atomic rename into the cache"),
        (
            "Prover.prove + save",
            "witness+prove",
            ("witness", "prove"),
            "prove+save",
            "onnxruntime answer, receipt (digests, felts), JSON",
        ),
        (
            f"verify_file ×{VERIFY_CALLS}",
            f"verify ×{VERIFY_CALLS}",
            ("verify",),
            "verify_file",
            "ezkl.verify in a memory-limited worker (untrusted input), overlapped with digests and the binding check",
        ),
    ]
    print("\nEach zkinfer API call vs the raw ezkl steps it replaces (what a user waits for):\n")
    print(
        f"| zkinfer call | raw ezkl steps | {header} | outside ezkl s | zkinfer's extra work |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    for call, steps, raw_stages, zk_stage, extra in rows:
        own = record.own("zk", zk_stage)
        print(
            f"| {call} | {steps} "
            f"| {cells(m('raw', *raw_stages), m('zk', zk_stage), cpu=not call.startswith('verify_file'))} "
            f"| {own:.3f} ({own / m('raw', *raw_stages)[0]:.1%}) | {extra} |"
        )
    raw_compile, zk_compile = m("raw", "gen_settings+calibrate", "compile"), m("zk", "compile_model")
    without = (zk_compile[0] - fidelity[0], zk_compile[1] - fidelity[1])
    print(
        "| compile_model without the fidelity check | gen_settings+calibrate+compile "
        f"| {cells(raw_compile, without)} | | |"
    )
    print(
        "\n'outside ezkl': the call's wall time minus the ezkl calls made inside it "
        "(median per repetition; the fidelity"
    )
    print(
        "check's witnesses are ezkl calls, so they are not in it): "
        "zkinfer's own Python work, which load on the machine barely moves."
    )
    print(
        "\nzkinfer only: Prover() (load circuit, find keys, onnxruntime session, read SRS) "
        f"{m('zk', 'Prover()')[0]:.3f} s, once per process"
    )
    print(
        "zkinfer only: verify_file on the same receipt signed by a node key (BLS12-381: blspy, or py_ecc without it) "
        f"{signed_verify_s(work / f'zk{reps - 1}'):.3f} s"
    )
    print(
        "peak RSS per stage (MB): "
        + ", ".join(f"{side} {stage} {rss / 1e6:,.0f}" for (side, stage), rss in sorted(record.peak_rss.items()))
    )
    from zkinfer import Prover

    print(f"\nper-call comparison: {blocks} blocks of {calls} calls per side ...", flush=True)
    ratios = per_call.run(
        zk_circuit.compiled_path,
        input_file,
        [case.inputs[0].astype(np.float32)],
        Prover(zk_circuit, prefer_gpu=False),
        (raw_paths["proof.json"], raw_paths["settings.json"], raw_paths["vk"], srs_path),
        work / f"zk{reps - 1}" / "receipt.json",
        blocks,
        calls,
    )
    per_call.report(ratios, blocks, calls, os.getloadavg())


# ---------------------------------------------------------------- part 2


@dataclass(frozen=True)
class DefaultRow:
    label: str
    decomposition: str
    k: int
    num_rows: int
    compile_s: float
    setup_s: float
    pk_bytes: int
    prove_s: float
    max_abs_error: float
    agree: int


def default_vs_search(case: Case, work: Path) -> None:
    from zkinfer import Prover, compile_model
    from zkinfer.core.crypto import srs
    from zkinfer.prover import keys

    built = {}
    for label, search in (("zkinfer default (search)", True), ("ezkl default decomposition", False)):
        print(f"compiling: {label} ...", flush=True)
        start = time.perf_counter()
        circuit = compile_model(case.model, case.calibration, work / ("search" if search else "default"), search=search)
        compile_s = time.perf_counter() - start
        srs.for_circuit(circuit.logrows)  # make the development SRS first: it is not part of key setup
        start = time.perf_counter()
        found = keys.ensure(circuit)
        built[label] = (circuit, found, compile_s, time.perf_counter() - start)
    provers = {label: Prover(c, prefer_gpu=False) for label, (c, *_) in built.items()}
    prove_s: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[float]] = defaultdict(list)
    agree: dict[str, int] = defaultdict(int)
    for i, x in enumerate(case.inputs):  # interleaved: each input proven by both circuits in turn
        labels = list(provers) if i % 2 == 0 else list(reversed(provers))
        for label in labels:
            print(f"proving input {i + 1}/{len(case.inputs)} with {label}", flush=True)
            receipt = provers[label].prove([x.astype(np.float32)])
            prove_s[label].append(receipt.timings.prove_ms / 1000)
            errors[label].append(receipt.fast.max_abs_deviation)
            proven, fast = receipt.output.tensors[0].values, receipt.fast.tensors[0].values
            agree[label] += int(np.argmax(proven) == np.argmax(fast))
    rows = []
    for label, (circuit, found, compile_s, setup_s) in built.items():
        manifest = circuit.manifest
        rows.append(
            DefaultRow(
                label, f"{manifest.decomp_base}/{manifest.decomp_legs}", circuit.logrows,
                circuit.settings.num_rows, compile_s, setup_s,
                found.pk.stat().st_size, statistics.median(prove_s[label]), max(errors[label]), agree[label],
            )
        )  # fmt: skip
    ours, theirs = rows
    print(
        f"\n## zkinfer's default circuit vs ezkl's default decomposition: {case.name}, "
        f"{len(case.inputs)} test inputs (median prove)\n"
    )
    print(
        "| circuit | decomp | k | rows | compile s | setup s | pk | prove s | max abs error vs float | argmax agrees |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.label} | {r.decomposition} | {r.k} | {r.num_rows:,} | {r.compile_s:.1f} | {r.setup_s:.2f} "
            f"| {mb(r.pk_bytes)} | {r.prove_s:.3f} | {r.max_abs_error:.2e} | {r.agree}/{len(case.inputs)} |"
        )
    print(
        f"\nprove speed-up: {theirs.prove_s / ours.prove_s:.2f}x (goal ≥ 3x); "
        f"setup {theirs.setup_s / ours.setup_s:.2f}x; pk {theirs.pk_bytes / ours.pk_bytes:.1f}x smaller"
    )
    print(
        f"max abs error: zkinfer {ours.max_abs_error:.2e} vs ezkl default {theirs.max_abs_error:.2e} "
        "(the search keeps only circuits within 1.5x of the best error)"
    )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reps", type=int, default=None, help="interleaved repetitions per side (default 5; 1 with --large)"
    )
    parser.add_argument("--samples", type=int, default=SAMPLES_DEFAULT, help="test inputs proven per circuit in part 2")
    parser.add_argument("--large", action="store_true", help="a LeNet-5-size CNN (k≈20, ~10 GB RAM, many minutes)")
    parser.add_argument(
        "--decomposition", default=None, help="BASE/LEGS for part 1 (default: the one zkinfer's search picks)"
    )
    parser.add_argument(
        "--skip-default",
        action="store_true",
        help="skip part 2 (default vs search); implied by --large unless --with-default",
    )
    parser.add_argument("--with-default", action="store_true", help="run part 2 with --large too")
    parser.add_argument("--home", type=Path, default=None, help="$ZKINFER_HOME to use (default: a fresh temporary one)")
    parser.add_argument("--blocks", type=int, default=30, help="blocks of the per-call witness/verify goals")
    parser.add_argument("--calls", type=int, default=10, help="calls per side in each block")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.large else 5)
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-") as tmp:
        work = Path(tmp)
        os.environ["ZKINFER_HOME"] = str(args.home or work / "home")
        import zkinfer  # noqa: F401  (after $ZKINFER_HOME is set; quiets ezkl's logs)

        case = (lenet5_case if args.large else digits_case)(work, args.samples)
        decomposition = None
        if args.decomposition:
            base, _, legs = args.decomposition.partition("/")
            decomposition = (int(base), int(legs))
        start = time.perf_counter()
        overhead(case, work / "overhead", reps, decomposition, args.blocks, args.calls)
        if not (args.skip_default or (args.large and not args.with_default)):
            default_vs_search(case, work / "default")
        print(
            f"\ntotal {time.perf_counter() - start:.0f} s; "
            f"peak RSS of the measured stages {RssSampler.lifetime_peak / 1e9:.2f} GB"
        )


if __name__ == "__main__":
    main()
