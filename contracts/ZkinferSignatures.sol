// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "./BLS.sol";
import {StatementCodec} from "./StatementCodec.sol";

/// What this contract needs of the stake contract (ZkinferStake grants this contract its SLASHER_ROLE).
interface IZkinferStake {
    function slashFor(address node, address beneficiary, bytes32 reason) external;
    function isActiveNode(address node) external view returns (bool);
}

/// @title ZkinferSignatures: nodes' BLS keys on chain, and lies slashed on their signatures alone.
/// @notice
///  - A bonded node (the stake contract's isActiveNode) registers one BLS12-381 public key with its proof of
///    possession, checked here: one key per node, one node per key. The proof stops a rogue key (one made up
///    from others' keys to forge an aggregate) and a node claiming a key that is not its own.
///  - Equivocation: two signed statements of the same claim (circuit, input digest and weights commitment)
///    with different answers (output or output scales). zkinfer's circuits are deterministic, so one of the
///    two is false, whatever the request ids: the node is slashed at once through the stake contract, the
///    share going to whoever sent the evidence. The request id is not what makes two statements comparable:
///    a client may send one request id twice with other inputs, and an honest node signs both.
///  - One equivocation (key, claim) slashes once. Keys and points are passed uncompressed beside the
///    compressed key (BLS.g1Matches): the compressed key is the identity, as in zkinfer's documents.
contract ZkinferSignatures {
    // Set once by the constructor. Storage, not `immutable`: the deployed code is exactly the compiled runtime
    // code, which anyone can compare byte for byte (zkinfer.chain.deploy.code_matches).
    address public stake;
    mapping(address => bytes32) public keyOf; // node -> keccak256 of its 48-byte compressed key
    mapping(bytes32 => address) public nodeOf; // keccak256 of a compressed key -> the node that registered it
    mapping(bytes32 => bool) public slashed; // equivocation reasons already slashed

    event KeyRegistered(address indexed node, bytes32 indexed keyHash, bytes publicKey);
    event EquivocationSlashed(
        address indexed node, bytes32 indexed reason, address indexed beneficiary, bytes32 keyHash, bytes32 circuit
    );

    error NoStakeContract(address stake);
    error NotActiveNode(address node);
    error NodeHasKey(address node, bytes32 keyHash);
    error KeyTaken(bytes32 keyHash, address node);
    error BadKeyEncoding();
    error InvalidPossession();
    error UnknownKey(bytes32 keyHash);
    error SelfReport(address node);
    error DifferentClaims();
    error SameAnswer();
    error InvalidSignatures();
    error AlreadySlashed(bytes32 reason);

    constructor(address stake_) {
        if (stake_.code.length == 0) revert NoStakeContract(stake_);
        stake = stake_;
    }

    /// Register the caller's BLS key: `publicKey` 48 bytes compressed, `publicKeyPoint` the same point
    /// uncompressed (128 bytes), `proofPoint` its proof of possession uncompressed (256 bytes).
    function registerKey(bytes calldata publicKey, bytes calldata publicKeyPoint, bytes calldata proofPoint) external {
        if (!IZkinferStake(stake).isActiveNode(msg.sender)) revert NotActiveNode(msg.sender);
        bytes32 keyHash = keccak256(publicKey);
        if (keyOf[msg.sender] != bytes32(0)) revert NodeHasKey(msg.sender, keyOf[msg.sender]);
        if (nodeOf[keyHash] != address(0)) revert KeyTaken(keyHash, nodeOf[keyHash]);
        if (!BLS.g1Matches(publicKey, publicKeyPoint)) revert BadKeyEncoding();
        if (!BLS.verify(publicKeyPoint, publicKey, proofPoint, BLS.DST_POP)) revert InvalidPossession();
        keyOf[msg.sender] = keyHash;
        nodeOf[keyHash] = msg.sender;
        emit KeyRegistered(msg.sender, keyHash, publicKey);
    }

    /// One signed statement: its signing bytes (DOMAIN ‖ canonical JSON) and its signature, uncompressed (256 bytes).
    struct Signed {
        bytes statement;
        bytes signature;
    }

    /// Slash the node whose registered key (`publicKey` compressed, `publicKeyPoint` uncompressed) signed
    /// both statements, of one claim with different answers. Returns the reason key.
    function slashEquivocation(bytes calldata publicKey, bytes calldata publicKeyPoint, Signed calldata a, Signed calldata b)
        external
        returns (bytes32 reason)
    {
        bytes32 keyHash = keccak256(publicKey);
        address node = nodeOf[keyHash];
        if (node == address(0)) revert UnknownKey(keyHash);
        if (msg.sender == node) revert SelfReport(node);
        (bytes32 claim, bytes32 circuit) = _equivocated(a.statement, b.statement);
        reason = equivocationReason(keyHash, claim);
        if (slashed[reason]) revert AlreadySlashed(reason);
        if (!BLS.g1Matches(publicKey, publicKeyPoint)) revert BadKeyEncoding();
        // Both signatures in one pairing check: the aggregate of two signatures by one key over two different
        // messages (AggregateVerify, sound in the proof-of-possession scheme). A signature point off the curve
        // reverts in G2ADD; one outside the subgroup fails the pairing.
        bytes memory hashed = BLS.addG2(BLS.hashToG2(a.statement, BLS.DST_SIG), BLS.hashToG2(b.statement, BLS.DST_SIG));
        if (!BLS.verifyHashed(publicKeyPoint, hashed, BLS.addG2(a.signature, b.signature))) revert InvalidSignatures();
        slashed[reason] = true;
        emit EquivocationSlashed(node, reason, msg.sender, keyHash, circuit);
        IZkinferStake(stake).slashFor(node, msg.sender, reason);
    }

    /// The claim two statements share, and its circuit; a revert unless they are one claim with two answers.
    function _equivocated(bytes calldata statementA, bytes calldata statementB) private pure returns (bytes32 claim, bytes32) {
        StatementCodec.Statement memory a = StatementCodec.parse(statementA);
        StatementCodec.Statement memory b = StatementCodec.parse(statementB);
        claim = StatementCodec.claimHash(statementA, a);
        if (StatementCodec.claimHash(statementB, b) != claim) revert DifferentClaims();
        if (StatementCodec.answerHash(statementA, a) == StatementCodec.answerHash(statementB, b)) revert SameAnswer();
        return (claim, a.circuit);
    }

    /// Whether a registered-style key (uncompressed) signed `message` (zkinfer's signature tag); for tools.
    function verifySignature(bytes calldata publicKeyPoint, bytes calldata message, bytes calldata signaturePoint)
        external
        view
        returns (bool)
    {
        return BLS.verify(publicKeyPoint, message, signaturePoint, BLS.DST_SIG);
    }

    /// The key of an equivocation: one per (key, claim), so one lie slashes once.
    function equivocationReason(bytes32 keyHash, bytes32 claim) public pure returns (bytes32) {
        return keccak256(abi.encode("zkinfer.equivocation/1", keyHash, claim));
    }
}
