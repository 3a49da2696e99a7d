"""What the CLI and the node do with the stake contract, as functions: deploy one and record it in the
deployments registry, open the one recorded (or given), register a compiled circuit as a model. The
client itself is `zkinfer.chain.stake_client.Stake`; its values and errors are in `stake_types`."""

from __future__ import annotations

from pathlib import Path

from zkinfer.chain import claims as claims_mod
from zkinfer.chain.account import Chain
from zkinfer.chain.claims import ClaimError, Layout
from zkinfer.chain.deploy import Sent
from zkinfer.chain.stake_client import Stake as Stake
from zkinfer.chain.stake_client import compiled
from zkinfer.chain.stake_types import ModelNotRegistered as ModelNotRegistered
from zkinfer.chain.stake_types import StakeParams as StakeParams
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import proven_instances
from zkinfer.core.support.errors import ChainError

ROLE = "stake"


def deploy_and_record(chain: Chain, params: StakeParams, registry_file: Path) -> tuple[Stake, Sent]:
    """Deploy a stake contract and record it in `registry_file` (role "stake")."""
    from zkinfer.chain import registry

    deployed, sent = Stake.deploy(chain, params)
    entry = registry.deployed(ROLE, compiled(), chain.chain_id, chain.address, sent)
    registry.record(registry_file, entry)
    return deployed, sent


def open_stake(chain: Chain, address: str | None, registry_file: Path) -> Stake:
    """The stake contract at `address`, else the latest one `registry_file` records on this chain;
    either way only once the code there is exactly ZkinferStake."""
    from zkinfer.chain import registry

    if address is None:
        address = registry.recorded_address(
            registry_file, ROLE, chain.chain_id, "stake contract", "--stake", "deploy-stake"
        )
    return Stake(chain, address)


def register_circuit(
    stake: Stake,
    circuit_dir: Path,
    verifier_address: str | None,
    verifier_registry: Path | None,
    params_receipt: Receipt | None = None,
) -> tuple[bytes, str, Layout, Sent]:
    """Register a compiled circuit as a model: its circuit digest → its verifier (the address given or
    recorded by `chain deploy-verifier`, checked to hold exactly this circuit's verifier) and layout.
    Hashed weights take their commitment from a receipt of the circuit (`params_receipt`)."""
    from zkinfer.chain import registry, verifier

    artifact = verifier.for_circuit(circuit_dir)
    if verifier_address is None:
        path = verifier.registry_path(circuit_dir, verifier_registry)
        found = registry.find(
            registry.load(path),
            verifier.ROLE,
            stake.chain.chain_id,
            vk_digest=artifact.vk_digest,
            settings_digest=artifact.settings_digest,
        )
        if found is None:
            raise ChainError(
                f"{path}: no verifier for {circuit_dir} recorded on chain {stake.chain.chain_id}; "
                f"run `zkinfer chain deploy-verifier {circuit_dir}` first, or give --verifier"
            )
        verifier_address = found.address
    verifier.check_verifier_code(stake.chain, verifier_address, artifact)
    commitment = None
    if params_receipt is not None:
        from zkinfer.verify.policy import Policy
        from zkinfer.verify.verifier import verify_receipt

        if claims_mod.receipt_model_id(params_receipt) != claims_mod.model_id(artifact.circuit_digest):
            raise ClaimError(
                f"the --receipt is for another circuit than {circuit_dir}: "
                "its weights commitment cannot be pinned for it"
            )
        # a wrong pin would make every honest proof fail (ParamsMismatch) and every claim slashable:
        # only a proven commitment is pinned
        verdict = verify_receipt(params_receipt, Policy(expect_circuit=artifact.circuit_digest), "--receipt")
        if not verdict.verified:
            raise ClaimError(
                f"the --receipt does not verify ({', '.join(verdict.failed())} failed): "
                "its weights commitment is not proven, so it is not pinned"
            )
        commitment = (
            list(proven_instances(params_receipt)[1].weights_commitment or []) or None
        )  # what its proof attests
    from zkinfer.core.formats.circuit import load

    layout = Layout.of_settings(load(circuit_dir).settings, commitment, f"{circuit_dir}/settings.json")
    model = claims_mod.model_id(artifact.circuit_digest)
    return model, verifier_address, layout, stake.register_model(model, verifier_address, layout)
