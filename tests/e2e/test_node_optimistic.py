"""`zkinfer serve --mode optimistic` against a real anvil: answers carry claims, not promises; claims
are posted in Merkle batches; nothing is proven until a challenge, which the node answers on chain.

One anvil, one verifier and one stake contract per module (the tiny MLP with the small decomposition:
proofs in ~1 s); a real node subprocess, killed mid-flow (SIGKILL) and restarted on the same state
directory; the challenger is another prefunded account using the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import chain_harness
from tests.cli import REPO
from tests.node_harness import OTHER_KEY, SAMPLE, RunningNode, copy_circuits, free_port, start_node
from tests.waiting import wait_until
from zkinfer.chain import claims, devchain
from zkinfer.chain.challenge import load_claim_file
from zkinfer.chain.stake import register_circuit
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import StakeParams
from zkinfer.core.formats.receipt import parse

anvil = chain_harness.anvil  # a fixture, requested by name
PARAMS = StakeParams(
    min_bond=10**18, challenge_bond=10**17, challenge_window_s=600, answer_period_s=300, slash_share_bps=5000
)
OWNER, NODE, CHALLENGER, STRANGER = 0, 1, 2, 3
INPUTS = [[round((i * 0.13 + j * 0.07) % 1.0, 2) for j in range(8)] for i in range(5)]


@dataclass(frozen=True)
class World:
    dev: devchain.DevChain
    stake: Stake  # signs as OWNER
    circuits: Path
    work: Path

    def key_file(self, who: int) -> Path:
        return chain_harness.key_file(self.dev, who, self.work)

    def options(self, who: int = NODE, stake: str | None = None) -> list[str]:
        return [
            "--mode",
            "optimistic",
            "--rpc-url",
            self.dev.rpc_url,
            "--chain-key-file",
            str(self.key_file(who)),
            "--stake",
            stake or self.stake.address,
        ]


@pytest.fixture(scope="module")
def world(anvil: devchain.DevChain, small_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    from zkinfer.chain.verifier import deploy_verifier

    work = tmp_path_factory.mktemp("optimistic")
    owner = chain_harness.other_account(anvil, OWNER)
    verifier = deploy_verifier(small_circuit, owner, work / "verifiers.json").deployment.address
    stake, _ = Stake.deploy(owner, PARAMS)
    register_circuit(stake, small_circuit, verifier, None)
    stake.as_signer(chain_harness.other_account(anvil, NODE)).register_node(PARAMS.min_bond)
    return World(anvil, stake, copy_circuits(small_circuit, work / "circuits"), work)


def claim_file(node: RunningNode, request_id: str, timeout_s: float = 60) -> dict[str, object]:
    """Poll the node's claim route until the claim's batch is posted, as a client would."""

    def posted() -> httpx.Response | None:
        response = httpx.get(f"{node.url}/v1/claims/{request_id}", headers=node.auth, timeout=30)
        return None if response.status_code == 202 else response

    response = wait_until(posted, what=f"the claim of {request_id} posted", timeout_s=timeout_s, interval_s=0.3)
    assert response.status_code == 200, response.text
    document: dict[str, object] = response.json()
    return document


def test_optimistic_answers_are_claimed_in_batches_survive_a_crash_and_a_challenge_is_answered_with_a_proof(
    world: World,
) -> None:
    state = world.work / "node"
    first = start_node(
        world.circuits, state, *world.options(), "--spot-check", "0", "--claim-batch", "4", "--claim-interval", "3600"
    )
    answers = []
    try:
        for values in INPUTS:
            response = first.infer(values)
            assert response.status_code == 200, response.text
            parameters = response.json()["parameters"]
            assert "zkinfer_statement" in parameters and "zkinfer_promise" not in parameters  # a bond, not a promise
            assert (
                parameters["receipt_status"] == "held"
                and parameters["zkinfer_claim"]["claim_url"]
                == f"/v1/claims/{parameters['zkinfer_claim']['request_id']}"
            )
            answers.append(parameters)
        files = [
            claim_file(first, a["zkinfer_claim"]["request_id"]) for a in answers[:4]
        ]  # a full batch is posted at once
        assert (
            httpx.get(
                f"{first.url}/v1/claims/{answers[4]['zkinfer_claim']['request_id']}", headers=first.auth, timeout=30
            ).status_code
            == 202
        )
    finally:
        first.process.kill()  # a crash: the fifth claim was committed before its answer left, but never posted
        first.process.wait()
    # restarted (now spot-checking every new answer): the fifth claim is posted alone once the interval passes
    node = start_node(
        world.circuits,
        state,
        *world.options(),
        "--spot-check",
        "1",
        "--claim-batch",
        "4",
        "--claim-interval",
        "1",
        "--metrics",
        "public",
    )
    try:
        files.append(claim_file(node, answers[4]["zkinfer_claim"]["request_id"]))
        assert world.stake.status().claims_posted == 5
        assert [int(e["args"]["count"]) for e in world.stake.events("BatchPosted")] == [4] and len(
            world.stake.events("ClaimPosted")
        ) == 1
        node_address = chain_harness.other_account(world.dev, NODE).address
        assert len({f["batch_id"] for f in files}) == 2 and all(f["node"] == node_address for f in files)
        for answer, document in zip(answers, files, strict=True):
            assert document["claim"] == {k: v for k, v in answer["zkinfer_claim"].items() if k != "claim_url"}
        # nothing proven: every job is held (202), none in the proving queue (the spot check draws at claim time)
        for answer in answers:
            response = httpx.get(f"{node.url}/v1/receipts/{answer['receipt_id']}", headers=node.auth, timeout=30)
            assert response.status_code == 202 and response.json()["status"] == "held"
        # another account challenges the third claim with the CLI; the node proves it and answers on chain
        path = world.work / "challenged.claim.json"
        path.write_text(json.dumps(files[2]))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "zkinfer",
                "challenge",
                "--claim",
                str(path),
                "--rpc-url",
                world.dev.rpc_url,
                "--key-file",
                str(world.key_file(CHALLENGER)),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        challenged = load_claim_file(path)
        key = claims.claim_key(challenged.batch_id, challenged.claim.leaf())
        wait_until(
            lambda: world.stake.challenge_info(key, challenged.batch_id).state != "challenged",
            what="the challenge answered",
            timeout_s=120,
            interval_s=0.5,
        )
        assert world.stake.challenge_info(key, challenged.batch_id).state == "answered", node.log.read_text()[-3000:]
        info = world.stake.node(challenged.node)
        assert (
            info.bond == PARAMS.min_bond and info.balance == PARAMS.challenge_bond and not info.slashed
        )  # the challenger's bond went to the node
        # the challenged job was proven (its receipt attests the claim); the others are still held
        proven = node.receipt(answers[2]["receipt_id"])
        assert proven.status_code == 200
        assert claims.from_verified_receipt(parse(proven.json()), challenged.claim.request_id) == challenged.claim
        for answer in answers[:2] + answers[3:]:
            assert (
                httpx.get(f"{node.url}/v1/receipts/{answer['receipt_id']}", headers=node.auth, timeout=30).json()[
                    "status"
                ]
                == "held"
            )
        # a new answer drawn by the spot check (p=1) is proven at once, unchallenged, and still claimed
        body = {"id": "dup-1", "inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}]}
        drawn, twin = (
            httpx.post(f"{node.url}/v2/models/circuit/infer", json=body, headers=node.auth, timeout=60)
            for _ in range(2)
        )
        assert drawn.status_code == 200 and drawn.json()["parameters"]["receipt_status"] == "accepted"
        assert (
            node.receipt(drawn.json()["parameters"]["receipt_id"]).status_code == 200
            and claim_file(node, "dup-1")["claim"]["request_id"] == "dup-1"  # type: ignore[index]
        )
        assert twin.status_code == 422 and "already claimed" in twin.text  # a request id names one claim
        metrics = httpx.get(f"{node.url}/metrics", timeout=30).text  # this process: the fifth claim, then dup-1
        assert (
            "zkinfer_claims_posted_total 2.0" in metrics
            and "zkinfer_claim_batches_total 2.0" in metrics
            and "zkinfer_challenges_answered_total 1.0" in metrics
        )
        other = httpx.get(
            f"{node.url}/v1/claims/{answers[0]['zkinfer_claim']['request_id']}",
            headers={"Authorization": f"Bearer {OTHER_KEY}"},
            timeout=30,
        )
        assert other.status_code == 404  # another API key cannot read this key's claim file
    finally:
        node.stop()


def test_a_node_with_an_unbonded_account_or_an_unregistered_model_exits_2_naming_the_fix(world: World) -> None:
    bare, _ = Stake.deploy(chain_harness.other_account(world.dev, OWNER), PARAMS)  # no model registered on it
    bare.as_signer(chain_harness.other_account(world.dev, NODE)).register_node(PARAMS.min_bond)
    cases = [
        (world.options(STRANGER), "chain register-node"),
        (world.options(NODE, bare.address), "chain register-model"),
    ]
    for options, fix in cases:
        command = [
            sys.executable,
            "-m",
            "zkinfer",
            "serve",
            "--circuits",
            str(world.circuits),
            "--port",
            str(free_port()),
            "--state-dir",
            str(world.work / "refused"),
            *options,
        ]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2 and fix in done.stderr, done.stdout + done.stderr
