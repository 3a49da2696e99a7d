"""Importing zkinfer costs nothing it does not use and changes no global state (each case in a fresh
interpreter: what a module imports stays imported for the rest of a test session)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zkinfer

HEAVY = (
    "onnxruntime",
    "torch",
    "onnx",
    "py_ecc",
    "zkinfer.prover.prove",
    "zkinfer.prover.compile",
    "zkinfer.prover.runtime",
    "zkinfer.prover.export",
)
PROBE = """
import json, logging, sys
limit, handlers = sys.getrecursionlimit(), list(logging.getLogger().handlers)
levels = {name: logging.getLogger(name).level for name in ("ezkl", "tract_onnx", "halo2_proofs")}
path = list(sys.path)
IMPORTS
print(json.dumps({
    "loaded": sorted(m for m in HEAVY if m in sys.modules),
    "limit": [limit, sys.getrecursionlimit()],
    "handlers": [len(handlers), len(logging.getLogger().handlers)],
    "levels": [levels, {name: logging.getLogger(name).level for name in levels}],
    "path": path == sys.path,
}))
"""


def _probe(imports: str) -> dict[str, object]:
    code = PROBE.replace("IMPORTS", imports).replace("HEAVY", repr(HEAVY))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize(
    "imports",
    [
        "import zkinfer",
        "import zkinfer.verify",
        "from zkinfer import Policy, Receipt, Verdict, ZkinferError, load_receipt, verify_file, verify_receipt",
        "from zkinfer.core.crypto import identity, bls; from zkinfer.core.support import logs; from zkinfer.core.zkp "
        "import ezkl_adapter",
        "import zkinfer.cli",
    ],
)
def test_importing_loads_no_prover_and_changes_no_global_state(imports: str) -> None:
    probe = _probe(imports)
    assert probe["loaded"] == [], f"{imports!r} imported {probe['loaded']}"
    limit, handlers, levels = probe["limit"], probe["handlers"], probe["levels"]
    assert isinstance(limit, list) and limit[0] == limit[1]
    assert isinstance(handlers, list) and handlers[0] == handlers[1]
    assert isinstance(levels, list) and levels[0] == levels[1]
    assert probe["path"] is True


def test_the_lazy_api_resolves_every_public_name() -> None:
    for name in zkinfer.__all__:
        assert getattr(zkinfer, name) is not None, name
        assert name in dir(zkinfer)
    with pytest.raises(AttributeError):
        _ = zkinfer.no_such_name
    from zkinfer.prover.prove import Prover

    assert zkinfer.Prover is Prover
