"""What a newcomer following the README meets at the command line (issue 19 item 9): `--verbose`
after any command, whole SRS fingerprints, verdict statuses that do not say PASS for what was not
established, a flat summary, `keys show --api-key-env`, `network status` within 80 columns, claims'
request ids and the one deployments registry. Real CLI runs, as a user's shell makes them."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import REPO, zkinfer
from zkinfer.core.crypto import srs

STORED = (
    REPO / "tests" / "data" / "receipt_fb59ffd.json"
)  # a signed receipt of a tiny MLP, verified without compiling anything


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkinfer", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_verbose_is_accepted_after_every_command(tmp_path: Path) -> None:
    made = zkinfer("keys", "new", "-o", tmp_path / "node.key", "--verbose")
    assert made.returncode == 0, made.stderr
    cases = [
        (("srs", "list", "--verbose"), 0),
        (("keys", "show", tmp_path / "node.key", "-v"), 0),
        (("verify", tmp_path / "absent.json", "--verbose"), 2),
        (("inspect", tmp_path / "absent.json", "--verbose"), 2),
        (("network", "status", "--gateway", "http://127.0.0.1:9", "--verbose"), 3),  # nothing listens: infrastructure
        (("chain", "down", "--state-dir", tmp_path / "chain", "--verbose"), 0),
        (("--verbose", "verify", tmp_path / "absent.json"), 2),  # before the command, as before
    ]
    for args, code in cases:
        ran = zkinfer(*args)
        assert "No such option" not in ran.stderr, (args, ran.stderr)
        assert ran.returncode == code, (args, ran.stdout, ran.stderr)
    assert "no such receipt" in zkinfer("verify", tmp_path / "absent.json", "--verbose").stderr
    for command in (("verify",), ("serve",), ("chain", "post-claims"), ("srs", "new")):
        assert "--verbose" in zkinfer(*command, "--help").stdout, command


def test_verbose_after_a_command_turns_ezkl_logs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from zkinfer import cli
    from zkinfer.core.support import logs

    calls: list[bool] = []
    monkeypatch.setattr(logs, "configure", lambda verbose=False: calls.append(verbose))
    result = CliRunner().invoke(cli.app, ["srs", "list", "--verbose"])
    assert result.exit_code == 0, result.output
    assert calls[-1] is True  # after the top-level callback's quiet default
    calls.clear()
    CliRunner().invoke(cli.app, ["srs", "list"])
    assert True not in calls


def _raw_srs(k: int, tail: bytes) -> bytes:
    """A raw-format SRS file of 2^k rows (the generator first, as `srs.parse` checks) with chosen g2 points."""
    points = srs.G1_GENERATOR_RAW + bytes(srs.G1_BYTES * (2 * (1 << k) - 1))
    return k.to_bytes(4, "little") + points + tail


def test_srs_list_prints_whole_fingerprints_to_pin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = []
    for i, k in enumerate((3, 2)):
        path = tmp_path / f"ceremony{i}.srs"
        path.write_bytes(_raw_srs(k, bytes([i + 1]) * (2 * srs.G2_BYTES)))
        files.append(path)
    env = {"ZKINFER_HOME": str(home), "COLUMNS": "80"}
    assert "no SRS cached yet" in run("srs", "list", env=env).stdout
    printed = [run("srs", "import", f, env=env) for f in files]
    fingerprints = [srs.fingerprint_of(f.read_bytes()) for f in files]
    for ran, fingerprint in zip(printed, fingerprints, strict=True):
        assert ran.returncode == 0 and fingerprint in ran.stdout, ran.stdout + ran.stderr
    listed = run("srs", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "--trusted-srs" in lines[0]
    # k order, whole fingerprints (71 characters) even at 80 columns: what --trusted-srs takes
    assert [line.split() for line in lines[1:]] == [
        ["2", "ceremony", fingerprints[1]],
        ["3", "ceremony", fingerprints[0]],
    ]
    as_json = json.loads(run("srs", "list", "--json", env=env).stdout)["srs"]
    assert [(e["k"], e["fingerprint"], e["kind"]) for e in as_json] == [
        (2, fingerprints[1], "ceremony"),
        (3, fingerprints[0], "ceremony"),
    ]


def test_a_verdict_does_not_pass_what_it_did_not_establish(tmp_path: Path) -> None:
    """No pins: identity is UNPINNED, not PASS; no signature: UNSIGNED. Both still verify (exit 0)."""
    document = json.loads(STORED.read_text())
    unpinned = zkinfer("verify", STORED)
    assert unpinned.returncode == 0, unpinned.stdout + unpinned.stderr
    assert re.search(r"^UNPINNED identity ", unpinned.stdout, re.M) and "PASS identity" not in unpinned.stdout
    assert re.search(r"^PASS\s+signature ", unpinned.stdout, re.M) and re.search(
        r"^PASS\s+proof ", unpinned.stdout, re.M
    )
    document["signature"] = None
    (tmp_path / "unsigned.json").write_text(json.dumps(document))
    unsigned = zkinfer("verify", tmp_path / "unsigned.json", "--json")
    assert unsigned.returncode == 0, unsigned.stdout + unsigned.stderr
    verdict = json.loads(unsigned.stdout)
    statuses = {c["name"]: c["status"] for c in verdict["checks"]}
    assert verdict["verified"] is True and statuses["identity"] == "unpinned" and statuses["signature"] == "unsigned"
    assert {s for n, s in statuses.items() if n not in ("identity", "signature")} == {"pass"}
    shown = zkinfer("verify", tmp_path / "unsigned.json")
    assert re.search(r"^UNSIGNED signature ", shown.stdout, re.M) and "PASS signature" not in shown.stdout


def test_a_pinned_verdict_passes_identity() -> None:
    from zkinfer.core.crypto.digest import circuit_digest

    document = json.loads(STORED.read_text())
    circuit = circuit_digest(document["model"]["vk_digest"], document["model"]["settings"])
    ran = zkinfer(
        "verify",
        STORED,
        "--expect-circuit",
        circuit,
        "--trusted-srs",
        document["srs"]["fingerprint"],
        "--expect-signer",
        document["signature"]["public_key"],
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"^PASS\s+identity\s+pinned", ran.stdout, re.M) and "UNPINNED" not in ran.stdout


def _nested_parentheses(text: str) -> bool:
    depth = 0
    for char in text:
        depth += char == "("
        if depth > 1:
            return True
        depth -= char == ")" and depth > 0
    return False


def test_the_summary_names_each_missing_pin_without_nesting() -> None:
    ran = zkinfer("verify", STORED)
    summary = ran.stdout.strip().splitlines()[-1]
    assert summary.startswith("VERIFIED (identity unpinned)"), summary
    assert "the circuit: pin expect_circuit/--expect-circuit or model_file/--model" in summary
    assert "the SRS ceremony: pin trusted_srs/--trusted-srs" in summary
    identity_line = next(line for line in ran.stdout.splitlines() if line.startswith("UNPINNED identity"))
    for line in (summary, identity_line):
        assert not _nested_parentheses(line), line


def test_keys_show_prints_api_key_env(tmp_path: Path) -> None:
    import tomllib

    assert zkinfer("keys", "new", "-o", tmp_path / "node.key").returncode == 0
    plain = zkinfer("keys", "show", tmp_path / "node.key", "--name", "alpha")
    assert '# api_key_env = "ALPHA_API_KEY"' in plain.stdout  # printed, commented out: the gateway needs one
    given = zkinfer("keys", "show", tmp_path / "node.key", "--name", "alpha", "--api-key-env", "ALPHA_KEY")
    entry = tomllib.loads(given.stdout.split("# nodes.toml entry for this node:")[1])["nodes"][0]
    assert entry["api_key_env"] == "ALPHA_KEY"
    bad = zkinfer("keys", "show", tmp_path / "node.key", "--api-key-env", "1-not a name")
    assert bad.returncode == 2 and "--api-key-env" in bad.stderr


@pytest.fixture
def fake_gateway() -> Iterator[str]:
    """A stand-in gateway answering /v1/nodes with wide numbers and a long node name."""
    nodes = [
        {
            "name": "a-rather-long-node-name-of-32-ch",
            "reputation": 0.987654,
            "agreed": 123456,
            "dissented": 12345,
            "timeouts": 1234,
            "receipts_valid": 123456,
            "receipts_invalid": 123,
            "evidence": 12,
            "latency_p50_ms": 35.25,
            "latency_p99_ms": 12345.5,
            "status": "ok",
        },
        {
            "name": "beta",
            "reputation": 0.5,
            "agreed": 1,
            "dissented": 0,
            "timeouts": 0,
            "receipts_valid": 0,
            "receipts_invalid": 0,
            "evidence": 0,
            "latency_p50_ms": None,
            "latency_p99_ms": None,
            "status": "unreachable",
        },
    ]
    body = json.dumps(
        {
            "nodes": nodes,
            "quorum": {"threshold": 2, "total_weight": 3, "agree_on": "output", "weighting": "static"},
            "watching": 0,
        }
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_network_status_fits_80_columns(fake_gateway: str) -> None:
    ran = run("network", "status", "--gateway", fake_gateway, env={"COLUMNS": "80"})
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = lines[0].split()
    assert header[-2:] == ["p99", "ms"] and "…" not in ran.stdout
    first = next(line for line in lines if "123456" in line).split()
    assert first[-1] == "12345.5"  # the p99 column whole, never cut
    assert "0.988" in first and "12345" in first
    assert "node beta: unreachable" in ran.stdout


def test_post_claims_names_a_receipt_by_its_digest(tmp_path: Path) -> None:
    from zkinfer.chain.claims import default_request_id
    from zkinfer.core.crypto.digest import digest_file

    (tmp_path / "receipt.json").write_bytes(STORED.read_bytes())
    named = default_request_id(tmp_path / "receipt.json")
    assert named == "receipt-" + digest_file(STORED).removeprefix("sha256:")[:16]
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", named)  # a valid request id
    twice = zkinfer(
        "chain", "post-claims", tmp_path / "receipt.json", tmp_path / "receipt.json", "--rpc-url", "http://127.0.0.1:9"
    )
    assert twice.returncode == 2 and "unique" in twice.stderr
    missing = zkinfer("chain", "post-claims", tmp_path / "absent.json", "--rpc-url", "http://127.0.0.1:9")
    assert missing.returncode == 2 and "absent.json" in missing.stderr and "Traceback" not in missing.stderr


def _entry(contract: str, address: str, chain_id: int = 31337) -> dict[str, object]:
    return {
        "contract": contract,
        "name": contract,
        "chain_id": chain_id,
        "address": address,
        "runtime_digest": "sha256:" + "1" * 64,
        "compiler": "sha256:" + "2" * 64,
        "tx_hash": "0x" + "3" * 64,
        "block": 1,
        "gas_used": 1,
        "deployed_at": "2026-01-01T00:00:00+00:00",
        "deployer": "0x" + "4" * 40,
    }


def test_one_registry_adopts_the_old_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verifiers were recorded in circuits/X/deployments.json and the stake contract in ./deployments.json:
    both now live in .zkinfer-chain/deployments.json, and what the old files record is found there."""
    from zkinfer.chain import registry

    monkeypatch.chdir(tmp_path)
    stake_old = {"schema_version": "zkinfer.deployments/1", "deployments": [_entry("stake", "0x" + "a" * 40)]}
    verifier_old = {"schema_version": "zkinfer.deployments/1", "deployments": [_entry("verifier", "0x" + "b" * 40)]}
    Path("deployments.json").write_text(json.dumps(stake_old))
    (tmp_path / "circuits" / "mine").mkdir(parents=True)
    Path("circuits/mine/deployments.json").write_text(json.dumps(verifier_old))
    newer = registry.Deployment.model_validate(_entry("stake", "0x" + "c" * 40))
    registry.record(registry.default_path(), newer)  # a deployment made in the one registry since
    found = registry.resolve(None)
    assert found.path == Path(".zkinfer-chain/deployments.json")
    assert set(found.adopted) == {Path("deployments.json"), Path("circuits/mine/deployments.json")}
    one = registry.load(found.path)
    assert registry.find(one, "verifier", 31337) is not None
    assert registry.find(one, "stake", 31337) == newer  # the latest stays the latest
    again = registry.resolve(None)
    assert again.adopted == () and len(registry.load(again.path).deployments) == 3  # adopted once
    given = registry.resolve(tmp_path / "elsewhere.json")
    assert given.path == tmp_path / "elsewhere.json" and not given.path.exists()


def test_chain_commands_default_to_the_one_registry(tmp_path: Path) -> None:
    """deploy-stake on the dev chain, run as the README says, records in .zkinfer-chain/deployments.json,
    where every other chain command (here `chain status`) finds it; nothing lands in the current directory."""
    from zkinfer.chain import devchain

    state = tmp_path / ".zkinfer-chain"
    started = zkinfer("chain", "up", "--port", str(devchain.free_port()), cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        deployed = zkinfer("chain", "deploy-stake", "--json", cwd=tmp_path)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        address = json.loads(deployed.stdout)["address"]
        recorded = json.loads((state / "deployments.json").read_text())["deployments"]
        assert [(d["contract"], d["address"]) for d in recorded] == [("stake", address)]
        assert not (tmp_path / "deployments.json").exists()
        status = zkinfer("chain", "status", "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["contract"] == address
    finally:
        zkinfer("chain", "down", cwd=tmp_path)
