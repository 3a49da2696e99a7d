"""A bad model registration must never cost an honest node its bond (issue 18, item 3).

The stake contract's owner registers a real circuit's model id with a verifier that accepts any
proof (tests/contracts/AcceptAnyProof.sol). A node that stakes on that registration can be slashed
by anyone with a "fraud proof" of 32 zero bytes and made-up outputs. So the node checks, before it
bonds (`chain register-node --circuit`), when it starts (`serve --mode optimistic`) and before each
claim batch, that the registered verifier's code is, byte for byte, the verifier it compiles from
its own circuit (the contract records its EXTCODEHASH at registration) and that the registered
instance layout is its circuit's; `chain status --circuit` shows the same check per model.

Real anvil, real verifier, a real node subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_hash.auto import keccak

from tests import chain_harness
from tests.cli import REPO
from tests.node_harness import API_KEY, SAMPLE, copy_circuits, free_port, not_pending, stop_process
from tests.waiting import wait_until
from zkinfer.chain import claims, devchain, solidity
from zkinfer.chain.claims import Layout
from zkinfer.chain.deploy import deploy
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import StakeParams, StakeReverted
from zkinfer.core.formats import circuit

anvil = chain_harness.anvil  # a fixture, requested by name
PARAMS = StakeParams(
    min_bond=10**18, challenge_bond=10**17, challenge_window_s=600, answer_period_s=300, slash_share_bps=5000
)
OWNER, NODE, STRANGER = 0, 1, 3


@dataclass(frozen=True)
class World:
    dev: devchain.DevChain
    circuit_dir: Path
    circuits: Path  # a --circuits folder serving it
    work: Path
    accept_any: str  # AcceptAnyProof's address
    genuine: str  # the circuit's own verifier
    runtime: bytes  # its runtime code
    model_id: bytes
    layout: Layout

    def key_file(self, who: int) -> Path:
        return chain_harness.key_file(self.dev, who, self.work)

    def stake(self, verifier: str, layout: Layout | None = None) -> Stake:
        """A fresh stake contract whose owner registered the circuit's model id with `verifier` and
        `layout` directly (`chain register-model` would refuse a wrong one), NODE bonded."""
        stake, _ = Stake.deploy(chain_harness.other_account(self.dev, OWNER), PARAMS)
        stake.register_model(self.model_id, verifier, layout or self.layout)
        return stake

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zkinfer", *args], cwd=REPO, capture_output=True, text=True, timeout=300
        )


@pytest.fixture(scope="module")
def world(anvil: devchain.DevChain, small_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    from zkinfer.chain.verifier import deploy_verifier, for_circuit

    work = tmp_path_factory.mktemp("registration")
    owner = chain_harness.other_account(anvil, OWNER)
    accept_any = deploy(
        owner,
        solidity.compile_file(
            Path(__file__).resolve().parents[1] / "contracts" / "AcceptAnyProof.sol", "AcceptAnyProof"
        ),
    ).contract_address
    assert accept_any is not None
    artifact = for_circuit(small_circuit)
    genuine = deploy_verifier(small_circuit, owner, work / "verifiers.json").deployment.address
    layout = Layout.of_settings(circuit.load(small_circuit).settings)
    return World(
        anvil,
        small_circuit,
        copy_circuits(small_circuit, work / "circuits"),
        work,
        accept_any,
        genuine,
        artifact.compiled.runtime,
        claims.model_id(artifact.circuit_digest),
        layout,
    )


def _slash_with_a_made_up_fraud_proof(world: World, stake: Stake, url: str) -> Any:
    """What a stranger does to a node serving on the bad registration: ask it once, then prove
    "fraud" on its claim with 32 zero bytes and outputs of his own choosing."""
    from tests.node_harness import MODEL
    from zkinfer.chain.challenge import parse_claim_file
    from zkinfer.core.formats.inputs import from_values
    from zkinfer.prover.prove import Prover

    body = {"id": "victim-1", "inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}]}
    answered = httpx.post(
        f"{url}/v2/models/{MODEL}/infer", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )
    assert answered.status_code == 200, answered.text
    got = wait_until(
        lambda: not_pending(
            httpx.get(f"{url}/v1/claims/victim-1", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        ),
        what="the victim's claim file",
        timeout_s=60,
        interval_s=0.3,
    )
    document = parse_claim_file(got.json(), "claim file")
    prover = Prover(world.circuit_dir, prefer_gpu=False)
    _, input_felts = prover.claimable_statement(
        from_values([[SAMPLE]], prover.circuit.input_specs, "input"), "victim-1"
    )
    instances = [claims.felt_int(f) for t in input_felts for f in t] + [1] * world.layout.n_output  # made-up outputs
    stranger = stake.as_signer(chain_harness.other_account(world.dev, STRANGER))
    return stranger._send(
        "proveFraud", document.batch_id, document.claim.as_tuple(), list(document.merkle_proof), bytes(32), instances
    )


def test_an_optimistic_node_refuses_a_model_registered_with_a_verifier_that_accepts_anything(world: World) -> None:
    stake = world.stake(world.accept_any)
    node_address = chain_harness.other_account(world.dev, NODE).address
    stake.as_signer(chain_harness.other_account(world.dev, NODE)).register_node(
        PARAMS.min_bond
    )  # bonded with no --circuit check
    port = free_port()
    keys = world.work / "api-keys"
    keys.write_text(f"{API_KEY}\n")
    command = [
        sys.executable,
        "-m",
        "zkinfer",
        "serve",
        "--circuits",
        str(world.circuits),
        "--port",
        str(port),
        "--state-dir",
        str(world.work / "victim"),
        "--api-keys",
        str(keys),
        "--mode",
        "optimistic",
        "--rpc-url",
        world.dev.rpc_url,
        "--chain-key-file",
        str(world.key_file(NODE)),
        "--stake",
        stake.address,
        "--spot-check",
        "0",
        "--claim-batch",
        "1",
        "--claim-interval",
        "1",
    ]
    log = world.work / "victim.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:

        def exited_or_ready() -> bool:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                ready = False
            return process.poll() is not None or ready

        wait_until(exited_or_ready, what="the node refusing to start, or ready", timeout_s=300, interval_s=0.2)
        if process.poll() is None:  # it started on the bad registration: show what that costs it
            sent = _slash_with_a_made_up_fraud_proof(world, stake, f"http://127.0.0.1:{port}")
            info = stake.node(node_address)
            pytest.fail(
                "the node started on a model whose verifier accepts anything; a stranger's 32-byte 'proof' (tx "
                f"{sent.tx_hash}) left it "
                f"slashed={info.slashed}, bond {info.bond} of {PARAMS.min_bond} wei"
            )
    finally:
        stop_process(process)
    output = log.read_text()
    assert process.returncode == 2, output
    assert "verifier" in output and world.accept_any.lower() in output.lower() and "not the verifier" in output, output
    info = stake.node(node_address)
    assert info.bond == PARAMS.min_bond and not info.slashed and stake.status().claims_posted == 0


def test_the_contract_records_the_verifiers_code_hash_and_register_node_and_status_check_it(world: World) -> None:
    bad_code = world.stake(world.accept_any)
    bad_layout = world.stake(
        world.genuine, Layout(world.layout.n_input, 0, world.layout.n_output + 1, False, bytes(32))
    )
    good = world.stake(world.genuine)
    registered = good.model(world.model_id)
    assert registered.verifier.lower() == world.genuine.lower() and registered.layout == world.layout
    assert registered.code_hash == keccak(world.runtime)  # EXTCODEHASH at registration: the runtime code's keccak
    assert bad_code.model(world.model_id).code_hash == keccak(devchain_code(world, world.accept_any))
    chain = ["--rpc-url", world.dev.rpc_url, "--key-file", str(world.key_file(NODE))]
    # the node refuses to bond on a registration its circuit does not match, naming the mismatch (exit 2)
    for stake, what in ((bad_code, "not the verifier"), (bad_layout, "layout")):
        done = world.cli(
            "chain",
            "register-node",
            "--bond",
            "1",
            "--circuit",
            str(world.circuit_dir),
            "--stake",
            stake.address,
            *chain,
        )
        assert done.returncode == 2 and what in done.stderr + done.stdout, done.stdout + done.stderr
        assert not stake.node(chain_harness.other_account(world.dev, NODE).address).registered
    done = world.cli(
        "chain", "register-node", "--bond", "1", "--circuit", str(world.circuit_dir), "--stake", good.address, *chain
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert good.node(chain_harness.other_account(world.dev, NODE).address).bond == PARAMS.min_bond
    # status says, per registered model, whether its verifier and layout are the circuit's
    verdicts = {}
    for name, stake in (("code", bad_code), ("layout", bad_layout), ("good", good)):
        done = world.cli(
            "chain",
            "status",
            "--circuit",
            str(world.circuit_dir),
            "--stake",
            stake.address,
            "--rpc-url",
            world.dev.rpc_url,
            "--json",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (model,) = json.loads(done.stdout)["models"]
        assert (
            model["model_id"] == "0x" + world.model_id.hex()
            and model["code_hash"] == "0x" + keccak(devchain_code(world, model["verifier"])).hex()
        )
        verdicts[name] = model["check"]
    assert (
        verdicts["good"]["status"] == "match"
        and verdicts["code"]["status"] == "mismatch"
        and verdicts["layout"]["status"] == "mismatch"
    )
    assert "not the verifier" in verdicts["code"]["detail"] and "layout" in verdicts["layout"]["detail"]
    text = world.cli(
        "chain",
        "status",
        "--circuit",
        str(world.circuit_dir),
        "--stake",
        bad_code.address,
        "--rpc-url",
        world.dev.rpc_url,
    )
    assert text.returncode == 0 and "MISMATCH" in text.stdout, text.stdout + text.stderr
    # without --circuit, status checks against the verifier the deployments file records for the model
    done = world.cli(
        "chain",
        "status",
        "--stake",
        good.address,
        "--rpc-url",
        world.dev.rpc_url,
        "--verifier-registry",
        str(world.work / "verifiers.json"),
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        json.loads(done.stdout)["models"][0]["check"]["status"] == "recorded"
    )  # the code only: a record holds no layout
    with pytest.raises(StakeReverted, match="ModelExists"):  # and a registration never changes
        good.register_model(world.model_id, world.accept_any, world.layout)


def devchain_code(world: World, address: str) -> bytes:
    from zkinfer.chain.deploy import code_at

    return code_at(chain_harness.other_account(world.dev, OWNER), address)


def test_hashed_weights_are_checked_against_the_commitment_their_proofs_carry(
    world: World, hashed_circuit: Path, hashed_receipt_file: Path
) -> None:
    """The node derives its circuit's weights pin from a witness (no receipt at hand); it must be the one
    `chain register-model --receipt` pins from a proof, or an honest node would refuse a right registration."""
    from zkinfer.chain import registration
    from zkinfer.chain.stake import register_circuit
    from zkinfer.chain.verifier import deploy_verifier
    from zkinfer.core.formats.receipt import load

    want = registration.expected(hashed_circuit)
    receipt = load(hashed_receipt_file)
    assert want.layout == Layout.of_receipt(receipt) and want.layout.n_params > 0 and want.layout.input_first
    owner = chain_harness.other_account(world.dev, OWNER)
    stake, _ = Stake.deploy(owner, PARAMS)
    deploy_verifier(hashed_circuit, owner, world.work / "hashed-verifiers.json")
    register_circuit(stake, hashed_circuit, None, world.work / "hashed-verifiers.json", receipt)
    assert registration.check(stake, want).code_hash == want.code_hash
