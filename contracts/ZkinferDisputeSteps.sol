// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ZkinferDispute, IRefereeVerifier, IStakeSlasher} from "./ZkinferDispute.sol";

/// The dispute game (ZkinferDispute.sol) with referees for `pre` and `post` leaves as well as `attend`.
///
/// `pre` and `post` fix a layer's weights in their circuits, so each (kind, layer, part) has its own
/// verifier and tolerance (grid steps; measured per circuit: zkinfer.llm.referee.tolerance), registered
/// once each by the deployer before the first dispute opens (registration is then
/// closed: no game in flight can meet a verifier that changed under it; `registered` counts them, and a
/// node checks it is 2 · layers · HEADS before it serves). The part is what the challenger named with
/// `pickHead` (zkinfer.llm.referee.part_columns; w = head width, W = heads · w): for `pre`, head h's columns
/// of q, k and v (W inputs, 3w outputs); for `post`, output columns hw … hw + w − 1 (d ‖ n ‖ h_{ℓ-1}[t]:
/// heads + 2W inputs, w outputs). As for attend, the contract lays out the proof's public instances itself
/// from the openings of the step's inputs against the root, and takes the outputs as int16 deltas from
/// the node's leaf, each within the registered tolerance. Kept apart from the game's core so that the
/// two can change independently.
contract ZkinferDisputeSteps is ZkinferDispute {
    uint8 public constant PRE = 1;
    uint8 public constant POST = 2;

    address public registrar; // storage, not immutable: `deploy` compares the code at an address with the compiled runtime
    uint256 public registered;
    mapping(uint256 => IRefereeVerifier) public verifiers; // by verifierKey(kind, layer, part)
    mapping(uint256 => int256) public tolerances; // |circuit − claimed| allowed per value, by verifierKey

    event VerifierRegistered(uint8 kind, uint8 layer, uint8 part, address verifier, int256 toleranceSteps);

    error NotRegistrar(address caller);
    error RegistrationClosed();
    error BadVerifierKey(uint8 kind, uint8 layer, uint8 part);
    error AlreadyRegistered(uint8 kind, uint8 layer, uint8 part);
    error NoVerifier(uint256 key);
    error WrongStepKind();

    constructor(
        IStakeSlasher stake_,
        IRefereeVerifier attendVerifier_,
        uint256 bond_,
        uint32 turn_,
        uint16 layers_,
        uint16 heads_,
        uint16 headWidth_,
        int64 attendToleranceSteps,
        Binding memory binding_
    )
        ZkinferDispute(stake_, attendVerifier_, bond_, turn_, layers_, heads_, headWidth_, attendToleranceSteps, binding_)
    {
        registrar = msg.sender;
    }

    function verifierKey(uint8 kind, uint256 layer, uint256 part) public pure returns (uint256) {
        return (uint256(kind) << 16) | (layer << 8) | part;
    }

    /// The verifier of one (kind, layer, part) circuit and its tolerance: once each, by the deployer, before
    /// any dispute.
    function registerVerifier(uint8 kind, uint8 layer, uint8 part, IRefereeVerifier verifier, int256 toleranceSteps)
        external
    {
        if (msg.sender != registrar) revert NotRegistrar(msg.sender);
        if (disputeCount != 0) revert RegistrationClosed();
        if (
            (kind != PRE && kind != POST) || layer >= layers || part >= heads || address(verifier) == address(0)
                || toleranceSteps < 0 || toleranceSteps > type(int16).max
        ) {
            revert BadVerifierKey(kind, layer, part); // a delta (int16) must be able to reach the tolerance
        }
        uint256 key = verifierKey(kind, layer, part);
        if (address(verifiers[key]) != address(0)) revert AlreadyRegistered(kind, layer, part);
        verifiers[key] = verifier;
        tolerances[key] = toleranceSteps;
        registered++;
        emit VerifierRegistered(kind, layer, part, address(verifier), toleranceSteps);
    }

    /// The node's defence of a `pre` leaf (ℓ, t): its input h_{ℓ-1}[t] (the embed leaf, or post(ℓ-1, t))
    /// opened against the root; the instances are [h_{ℓ-1}[t] ‖ head h's q, k, v]; `deltas` as settleAttend's.
    function settlePre(
        uint256 id,
        uint256 t,
        Opening calldata hidden,
        bytes calldata claimed,
        bytes calldata proof,
        bytes calldata deltas
    ) external {
        Dispute storage d = _turn(id, Phase.AwaitProof, true);
        (uint256 key, uint256[] memory instances) = _preInstances(d, t, hidden, claimed, deltas);
        _verify(key, proof, instances);
        _resolve(id, d, true, "node proved the step");
    }

    /// The node's defence of a `post` leaf (ℓ, t): its inputs attend(ℓ, t, t) (the leaf before it) and
    /// h_{ℓ-1}[t], opened in that order; the instances are [d ‖ n ‖ h_{ℓ-1}[t] ‖ part h of h_ℓ[t]].
    function settlePost(
        uint256 id,
        uint256 t,
        Opening[2] calldata inputs,
        bytes calldata claimed,
        bytes calldata proof,
        bytes calldata deltas
    ) external {
        Dispute storage d = _turn(id, Phase.AwaitProof, true);
        (uint256 key, uint256[] memory instances) = _postInstances(d, t, inputs, claimed, deltas);
        _verify(key, proof, instances);
        _resolve(id, d, true, "node proved the step");
    }

    function _preInstances(
        Dispute storage d,
        uint256 t,
        Opening calldata hidden,
        bytes calldata claimed,
        bytes calldata deltas
    ) internal view returns (uint256 key, uint256[] memory instances) {
        uint256 layer = _layerOf(d, t, false);
        uint256 width = uint256(heads) * headWidth;
        _claimedLeaf(d, claimed, 3 * width);
        _openAt(d, hidden, offset(t) + layer * (t + 3), width, "hidden");
        instances = new uint256[](width + 3 * uint256(headWidth));
        _copy(instances, 0, hidden.values, 0, width);
        key = verifierKey(PRE, layer, d.head);
        _partOutputs(d, instances, deltas, claimed, key, width);
    }

    function _postInstances(
        Dispute storage d,
        uint256 t,
        Opening[2] calldata inputs,
        bytes calldata claimed,
        bytes calldata deltas
    ) internal view returns (uint256 key, uint256[] memory instances) {
        uint256 layer = _layerOf(d, t, true);
        uint256 width = uint256(heads) * headWidth;
        _claimedLeaf(d, claimed, width);
        _openAt(d, inputs[0], d.index - 1, 2 * uint256(heads) + width, "state");
        _openAt(d, inputs[1], offset(t) + layer * (t + 3), width, "hidden");
        instances = new uint256[](heads + 2 * width + headWidth);
        _copy(instances, 0, inputs[0].values, heads, heads + width); // d ‖ n
        _copy(instances, heads + width, inputs[1].values, 0, width);
        key = verifierKey(POST, layer, d.head);
        _partOutputs(d, instances, deltas, claimed, key, 0);
    }

    /// The layer of the current leaf, a pre (or, with `post`, a post) step at position t.
    function _layerOf(Dispute storage d, uint256 t, bool post) internal view returns (uint256 layer) {
        uint256 inner;
        (layer, inner) = _locate(d, t);
        if (inner != (post ? t + 2 : 0)) revert WrongStepKind();
    }

    function _openAt(Dispute storage d, Opening calldata o, uint256 index, uint256 words, string memory which)
        internal
        view
    {
        _open(d.root, depthFor(offset(d.positions)), o, index, words, which);
    }

    function _claimedLeaf(Dispute storage d, bytes calldata claimed, uint256 words) internal view {
        if (claimed.length != 4 * words || _leaf(claimed) != d.current) revert BadOpening("claimed");
    }

    /// The outputs, laid after the inputs: claimed word at(i) + delta i, every delta within the verifier's
    /// tolerance; the part's words are runs of the head width from head · width, `stride` apart (pre: q, k
    /// and v, 3 runs; post: stride 0, one run).
    function _partOutputs(
        Dispute storage d,
        uint256[] memory instances,
        bytes calldata deltas,
        bytes calldata claimed,
        uint256 key,
        uint256 stride
    ) internal view {
        int256 tolerance = tolerances[key];
        uint256 w = headWidth;
        uint256 first = d.head * w;
        uint256 out = instances.length - (stride == 0 ? w : 3 * w);
        if (deltas.length != 2 * (instances.length - out)) revert InstanceMismatch(deltas.length);
        for (uint256 i = 0; out + i < instances.length; i++) {
            uint256 at = first + (i / w) * stride + (i % w);
            int256 claim = _word(claimed, at);
            int256 delta;
            assembly {
                delta := signextend(1, shr(240, calldataload(add(deltas.offset, shl(1, i)))))
            }
            if (delta > tolerance || -delta > tolerance) revert OutsideTolerance(at, claim + delta, claim);
            instances[out + i] = _felt(claim + delta);
        }
    }

    function _verify(uint256 key, bytes calldata proof, uint256[] memory instances) internal {
        IRefereeVerifier verifier = verifiers[key];
        if (address(verifier) == address(0)) revert NoVerifier(key);
        (bool ok, bytes memory answer) =
            address(verifier).call(abi.encodeCall(IRefereeVerifier.verifyProof, (proof, instances)));
        if (!ok || answer.length != 32 || abi.decode(answer, (uint256)) != 1) revert InvalidProof();
    }
}
