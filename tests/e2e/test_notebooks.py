"""The notebooks a researcher opens first run top to bottom (tiny settings), as committed.

Each notebook asserts what its reader would check (the receipt verifies, a tampered one does not,
the wrong input or weights are caught, proven outputs match the float ones), so a clean run is
the test; here we also check the outputs a reader looks at are there, and that git holds the
notebooks with their outputs stripped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import link_tree

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
# Each notebook keeps about one core busy (training, calibration, compiling run on one thread): the
# module runs them two at a time (CI has two cores), slowest first, which takes ~40 s off running
# them one after the other. Seconds each took alone on CI, to order them:
AT_ONCE = 2
CI_SECONDS = {"02_privacy": 37, "03_cost": 27, "05_llm": 13, "01_quickstart": 11, "04_optimistic": 8, "06_disputes": 13}


def _text(nb: Any) -> str:
    """Everything the notebook printed, joined."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output["text"])
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)


def _execute(path: Path, work: Path, home: Path) -> Any:
    """Run one notebook in a fresh kernel with the CI settings; the kernel inherits this environment."""
    env = {
        **os.environ,
        "ZKINFER_NOTEBOOK_QUICK": "1",
        "ZKINFER_NOTEBOOK_WORK": str(work),
        "MPLBACKEND": "Agg",
        "ZKINFER_HOME": str(home),
    }
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute(env=env)
    return nb


@pytest.fixture(scope="module")
def notebook_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Path, Any]]:
    """Every notebook a selected test of this module executes, started at once (`AT_ONCE` at a time).
    Each gets its own $ZKINFER_HOME: a copy (hard links) of the session's isolated cache, never the
    user's, so two kernels never make the same development SRS in the same place."""
    session_home = Path(os.environ["ZKINFER_HOME"])  # the session's isolated cache (conftest), never the user's
    assert session_home.is_dir()
    selected = [
        item.callspec.params.get("executed")
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module and hasattr(item, "callspec")
    ]
    wanted = {path for path in selected if isinstance(path, Path)}
    with ThreadPoolExecutor(AT_ONCE) as pool:
        runs: dict[Path, Future[Any]] = {}
        for path in sorted(wanted, key=lambda p: -CI_SECONDS.get(p.stem, 0)):
            folder = tmp_path_factory.mktemp(f"notebook-{path.stem}")
            link_tree(session_home, folder / "home")
            runs[path] = pool.submit(_execute, path, folder / "work", folder / "home")
        yield runs
        for run in runs.values():
            run.cancel()  # the tests that wait for these were deselected or stopped (-x): do not start them


@pytest.fixture
def executed(request: pytest.FixtureRequest, notebook_runs: dict[Path, Any]) -> Any:
    """The notebook run top to bottom (a failing cell fails the test here, with its traceback)."""
    path: Path = request.param
    return notebook_runs[path].result()


def test_there_are_the_six_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_privacy.ipynb",
        "03_cost.ipynb",
        "04_optimistic.ipynb",
        "05_llm.ipynb",
        "06_disputes.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"{path.name}: strip outputs before committing"
    )


@pytest.mark.parametrize(
    "executed", [p for p in NOTEBOOKS if p.stem == "01_quickstart"], indirect=True, ids=["01_quickstart"]
)
def test_quickstart_runs_and_verifies(executed: Any) -> None:
    text = _text(executed)
    assert "VERIFIED: valid proof" in text  # the pinned verdict
    assert "NOT VERIFIED" in text  # the tampered receipt


@pytest.mark.parametrize(
    "executed", [p for p in NOTEBOOKS if p.stem == "02_privacy"], indirect=True, ids=["02_privacy"]
)
def test_privacy_runs_and_catches_wrong_input_and_weights(executed: Any) -> None:
    text = _text(executed)
    assert "found in the receipt: 0" in text
    assert "pin circuit + weights: trained True | altered False" in text


@pytest.mark.parametrize("executed", [p for p in NOTEBOOKS if p.stem == "03_cost"], indirect=True, ids=["03_cost"])
def test_cost_runs_and_plots(executed: Any) -> None:
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert "| hidden | batch | k | rows |" in _text(executed)


@pytest.mark.parametrize(
    "executed", [p for p in NOTEBOOKS if p.stem == "04_optimistic"], indirect=True, ids=["04_optimistic"]
)
def test_optimistic_measures_gas_on_a_real_chain_and_plots(executed: Any) -> None:
    """The notebook asserts the honest node keeps its bond and the liar is slashed; the reader sees the table and the
    plot."""
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
    text = _text(executed)
    assert "| step | gas |" in text and "| answer a challenge with the proof |" in text
    assert "anvil stopped" in text


@pytest.mark.parametrize("executed", [p for p in NOTEBOOKS if p.stem == "05_llm"], indirect=True, ids=["05_llm"])
def test_llm_verifies_an_answer_detects_every_attack_and_plots(executed: Any) -> None:
    """The notebook asserts the honest answer verifies, every attack is detected and no honest answer is
    accused; the reader sees the verdict, the tables and the two figures."""
    pytest.importorskip("transformers")
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2
    text = _text(executed)
    assert "VERIFIED: re-executed with your copy of the model" in text
    assert "FORM AND SIGNATURE ONLY" in text
    assert "| fp16 weights | 3 | 3 |" in text and "false accusations: 0 of 8" in text
    assert "| sampling | answers | generate ms |" in text


@pytest.mark.parametrize(
    "executed", [p for p in NOTEBOOKS if p.stem == "06_disputes"], indirect=True, ids=["06_disputes"]
)
def test_disputes_credits_the_honest_node_slashes_the_liar_and_plots(executed: Any) -> None:
    """The notebook asserts the honest node wins its dispute with a real referee proof (credited the frivolous
    challenger's bond) and the lying node is slashed through the stake; the reader sees each move's gas, the
    proof's k and seconds, and the figure. Its attend circuit is the tiny model's: compiled by
    test_llm_dispute_tiny.py (earlier in CI's order) into the session's $ZKINFER_HOME, which this module's
    kernels get a linked copy of (the same weights, seed 3: the same calibration, so the same cache key), else
    compiled here (~40 s more)."""
    images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
    text = _text(executed)
    assert "phase NodeWon" in text and "liar slashed: True" in text
    assert "settle refused (OutsideTolerance)" in text
    assert "referee proof: k 15" in text and "| move | honest game gas | liar game gas |" in text
    assert "anvil stopped" in text
