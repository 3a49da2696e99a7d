"""Importing zkinfer costs nothing it does not use and changes no global state (each case in a fresh
interpreter: what a module imports stays imported for the rest of a test session)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zkinfer

HEAVY = (
    "numpy",  # ~70 ms: verifying a receipt needs none (only an auditor's own --input does)
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
        "from zkinfer.verify import documents, verifier",
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


COMMAND_MODULES = ("circuits", "prove", "inspection", "serve", "keys", "network", "chain", "stake", "stake_status")


def test_a_command_loads_only_its_own_module_and_help_still_lists_every_command() -> None:
    """`zkinfer verify` builds the verify command alone (typer reads every command's annotations to
    build it, ~30 ms for all of them); `--help` builds and lists them all, groups included."""
    probe = """
import json, sys
from typer.testing import CliRunner
from zkinfer import cli
runner = CliRunner()
verify_help = runner.invoke(cli.app, ["verify", "--help"])
loaded = sorted(m for m in sys.modules if m.startswith("zkinfer.cli."))
top, chain = runner.invoke(cli.app, ["--help"]), runner.invoke(cli.app, ["chain", "--help"])
typo = runner.invoke(cli.app, ["verfy"])
print(json.dumps({"loaded": loaded, "codes": [r.exit_code for r in (verify_help, top, chain, typo)],
                  "verify": verify_help.output, "top": top.output, "chain": chain.output, "typo": typo.output}))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=_wide())
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["codes"] == [0, 0, 0, 2]
    assert "--expect-signer" in result["verify"]
    assert not [m for m in result["loaded"] if m.removeprefix("zkinfer.cli.") in COMMAND_MODULES], result["loaded"]
    listed = [line.split()[1] for line in result["top"].splitlines() if line.startswith("│ ") and line[2] != " "]
    commands = ["export", "compile", "prove", "verify", "verify-evidence", "inspect", "serve", "gateway", "challenge"]
    assert [n for n in listed if not n.startswith("-")] == [*commands, "srs", "keys", "network", "chain"]
    for name in ("up", "deploy-verifier", "deploy-stake", "register-node", "withdraw", "status"):
        assert f"│ {name} " in result["chain"], name
    assert "Did you mean 'verify'?" in result["typo"]


def _wide() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "120", "TERM": "dumb"}
