// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "./BLS.sol";
import {InputDigest} from "./InputDigest.sol";
import {StatementCodec} from "./StatementCodec.sol";

/// What the oracle needs of the stake contract (ZkinferStake grants the oracle its SLASHER_ROLE).
interface IOracleStake {
    function slashFor(address node, address beneficiary, bytes32 reason) external;
    function lockBond(address node, uint64 until) external;
    function challengeWindow() external view returns (uint64);
    function isActiveNode(address node) external view returns (bool);
    function verifyModelProof(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        returns (bytes32 inputHash, bytes32 outputHash);
    function models(bytes32 modelId)
        external
        view
        returns (
            address verifier,
            uint16 nInput,
            uint16 nParams,
            uint16 nOutput,
            bool inputFirst,
            bytes32 paramsHash,
            bytes32 codeHash
        );
    function nodes(address node)
        external
        view
        returns (uint128 bond, uint64 lastWindowEnd, uint32 openChallenges, bool registered, bool slashed);
}

/// What the oracle needs of the key registry (ZkinferSignatures: keys registered with a proof of possession).
interface IKeyRegistry {
    function nodeOf(bytes32 keyHash) external view returns (address);
}

/// @title ZkinferOracle: quorum-certified answers other contracts can read, and lies slashed on signatures.
/// @notice
///  - A quorum certificate (zkinfer.certificate/1 with one statement: zkinfer/network/certificate.py) is accepted
///    when at least `threshold` distinct keys signed it, each registered (with its proof of possession) by a node
///    the stake contract calls active, and their aggregate signature verifies over the statement's signed bytes
///    (the keys summed with G1ADD, one pairing check). The statement's fields are read from those bytes
///    (StatementCodec), so what is recorded is exactly what the quorum signed: the output values, scales and
///    signers, by (circuit, request id); one certificate per (circuit, request id), the first accepted.
///  - A contradiction is a valid proof (the model's verifier, through the stake's verifyModelProof) of the same
///    circuit, input and weights with another output. Against a certificate, it slashes every signer that still
///    has a bond; against one signed statement of a registered key, it slashes that key's node. The input is
///    tied to the proof by rebuilding the statement's input digest from the proof's input instances
///    (InputDigest); the weights commitment must be the proof's weights instances; the outputs are compared as
///    the field elements the proof carries (keccak256 over 32-byte words: the stake's outputHash).
///  - Only values are compared: a statement with the proven values but other output scales or tensor split is
///    not slashed here (the off-chain evidence check calls that a contradiction too). A circuit proving several
///    requests at once (batch size over 1) is not registered on the stake, so none of its statements is judged.
///  - Nobody slashes through a statement or certificate of their own (a signer's own report would move part of
///    its bond back to itself).
contract ZkinferOracle {
    // Set once by the constructor. Storage, not `immutable`: the deployed code is exactly the compiled runtime
    // code, which anyone can compare byte for byte (zkinfer.chain.deploy.code_matches).
    address public stake;
    address public keys;
    uint32 public threshold;

    /// A certified answer (what a consumer reads).
    struct Answer {
        bytes32 statementDigest; // sha256 of the signed bytes (zkinfer's Statement.digest())
        bytes32 inputDigest;
        bytes32 outputHash; // keccak256 over the output values as field elements (the stake's outputHash)
        bytes32 weightsHash; // keccak256 over the weights commitment's felts (0: the statement says null)
        bool hasWeights;
        bool contradicted;
        uint64 postedAt;
        int256[] output; // every output tensor's values, concatenated
        uint256[] tensorSizes;
        int256[] outputScales; // value / 2^scale is the float answer
        address[] signers; // the signers' nodes
    }

    /// A proof to judge a statement by: the model's proof and public instances, and the values per input tensor
    /// (one per tensor when the input is hashed) as the statement's input digest splits them.
    struct Proven {
        bytes proof;
        uint256[] instances;
        uint256[] inputSizes;
    }

    mapping(bytes32 => Answer) private answers; // answerKey(circuit, request id) ->
    mapping(bytes32 => bool) public slashedStatements; // contradictionReason -> already slashed

    event CertificatePosted(
        bytes32 indexed key,
        bytes32 indexed circuit,
        string requestId,
        bytes32 statementDigest,
        bytes32 outputHash,
        address[] signers,
        address poster
    );
    event CertificateContradicted(
        bytes32 indexed key, address indexed prover, bytes32 provenOutputHash, uint256 slashedSigners
    );
    event ContradictionSlashed(
        address indexed node, bytes32 indexed reason, address indexed beneficiary, bytes32 statementDigest
    );

    error BadSetup();
    error BelowThreshold(uint256 signers, uint256 threshold);
    error SignersNotSorted(uint256 index);
    error KeyMismatch(uint256 index);
    error UnknownKey(bytes32 keyHash);
    error NotActiveNode(address node);
    error InvalidSignature();
    error UnknownModel(bytes32 circuit);
    error AlreadyCertified(bytes32 key);
    error NotCertified(bytes32 key);
    error AlreadyContradicted(bytes32 key);
    error OtherInput(bytes32 statement, bytes32 proof);
    error OtherWeights();
    error NotContradicted();
    error SelfReport(address node);
    error AlreadySlashed(bytes32 reason);

    constructor(address stake_, address keys_, uint32 threshold_) {
        if (stake_.code.length == 0 || keys_.code.length == 0 || threshold_ == 0) revert BadSetup();
        stake = stake_;
        keys = keys_;
        threshold = threshold_;
    }

    // ---- certificates ----

    /// Accept a certificate: the statement's signed bytes, the signers' keys (48-byte compressed, as the
    /// certificate names them) with the same points uncompressed (128 bytes), in increasing order of their
    /// nodes' addresses, and the aggregate signature uncompressed (256 bytes).
    function postCertificate(
        bytes calldata statement,
        bytes[] calldata signerKeys,
        bytes[] calldata signerPoints,
        bytes calldata aggregateSignature
    ) external returns (bytes32 key) {
        StatementCodec.Statement memory st = StatementCodec.parse(statement);
        (address verifier,,,,,,) = IOracleStake(stake).models(st.circuit);
        if (verifier == address(0)) revert UnknownModel(st.circuit);
        key = answerKey(st.circuit, string(StatementCodec.requestId(statement, st)));
        if (answers[key].postedAt != 0) revert AlreadyCertified(key);
        (address[] memory signers, bytes memory aggregate) = _signers(signerKeys, signerPoints);
        if (!BLS.verify(aggregate, statement, aggregateSignature, BLS.DST_SIG)) revert InvalidSignature();
        _record(key, statement, st, signers);
        // every signer's bond stays for the stake's challenge window: a contradiction proven in it finds it there
        uint64 until = uint64(block.timestamp) + IOracleStake(stake).challengeWindow();
        for (uint256 i = 0; i < signers.length; ++i) {
            IOracleStake(stake).lockBond(signers[i], until);
        }
    }

    /// Slash every signer (with a bond left) of the certificate for (circuit, requestId) that `proof` contradicts:
    /// a valid proof of that circuit, input and weights with another output. `inputSizes`: the values per input
    /// tensor (one per tensor when the input is hashed), as the statement's input digest splits them.
    function contradictCertificate(
        bytes32 circuit,
        string calldata requestId,
        Proven calldata p
    ) external returns (uint256 slashedSigners) {
        bytes32 key = answerKey(circuit, requestId);
        Answer storage a = answers[key];
        if (a.postedAt == 0) revert NotCertified(key);
        if (a.contradicted) revert AlreadyContradicted(key);
        for (uint256 i = 0; i < a.signers.length; ++i) {
            if (a.signers[i] == msg.sender) revert SelfReport(msg.sender);
        }
        bytes32 proven = _provenOutput(circuit, a.inputDigest, a.hasWeights, a.weightsHash, p);
        if (proven == a.outputHash) revert NotContradicted();
        a.contradicted = true;
        address[] memory signers = a.signers;
        for (uint256 i = 0; i < signers.length; ++i) {
            (uint128 bond,,,,) = IOracleStake(stake).nodes(signers[i]);
            if (bond == 0) continue; // slashed before (another lie): nothing left to take
            IOracleStake(stake).slashFor(signers[i], msg.sender, keccak256(abi.encode("zkinfer.certified/1", key, signers[i])));
            ++slashedSigners;
        }
        emit CertificateContradicted(key, msg.sender, proven, slashedSigners);
    }

    // ---- one signed statement ----

    /// Slash the node whose registered key (`publicKey` compressed, `publicKeyPoint` uncompressed) signed
    /// `statement` (its signed bytes; `signature` uncompressed, 256 bytes) when `proof` contradicts it.
    function slashContradiction(
        bytes calldata statement,
        bytes calldata publicKey,
        bytes calldata publicKeyPoint,
        bytes calldata signature,
        Proven calldata p
    ) external returns (bytes32 reason) {
        address node;
        (node, reason) = _signedBy(statement, publicKey, publicKeyPoint, signature);
        _requireContradicted(statement, p);
        slashedStatements[reason] = true;
        emit ContradictionSlashed(node, reason, msg.sender, sha256(statement));
        IOracleStake(stake).slashFor(node, msg.sender, reason);
    }

    /// The node of the registered key that signed `statement`, and the reason its slash is recorded under.
    function _signedBy(
        bytes calldata statement,
        bytes calldata publicKey,
        bytes calldata publicKeyPoint,
        bytes calldata signature
    ) private view returns (address node, bytes32 reason) {
        node = _nodeOf(publicKey);
        if (msg.sender == node) revert SelfReport(node);
        reason = keccak256(abi.encode("zkinfer.contradiction/1", keccak256(publicKey), sha256(statement)));
        if (slashedStatements[reason]) revert AlreadySlashed(reason);
        if (!BLS.g1Matches(publicKey, publicKeyPoint)) revert KeyMismatch(0);
        if (!BLS.verify(publicKeyPoint, statement, signature, BLS.DST_SIG)) revert InvalidSignature();
    }

    function _requireContradicted(bytes calldata statement, Proven calldata p) private {
        StatementCodec.Statement memory st = StatementCodec.parse(statement);
        (bool hasWeights, bytes32 weightsHash) = _weights(statement, st);
        bytes32 proven = _provenOutput(st.circuit, st.inputDigest, hasWeights, weightsHash, p);
        if (proven == _outputHash(statement, st)) revert NotContradicted();
    }

    // ---- reading ----

    function answerKey(bytes32 circuit, string memory requestId) public pure returns (bytes32) {
        return keccak256(abi.encode(circuit, keccak256(bytes(requestId))));
    }

    function isCertified(bytes32 circuit, string calldata requestId) external view returns (bool) {
        return answers[answerKey(circuit, requestId)].postedAt != 0;
    }

    /// The certified answer for (circuit, requestId); reverts NotCertified when there is none.
    function certified(bytes32 circuit, string calldata requestId) external view returns (Answer memory) {
        bytes32 key = answerKey(circuit, requestId);
        if (answers[key].postedAt == 0) revert NotCertified(key);
        return answers[key];
    }

    /// The input digest a statement would name for these input instances (for tools: the contract's own rule).
    function inputDigestOf(uint256[] calldata instances, uint256 start, uint256 count, uint256[] calldata sizes, bool hashed)
        external
        pure
        returns (bytes32)
    {
        return InputDigest.compute(instances, start, count, sizes, hashed);
    }

    // ---- internals ----

    function _nodeOf(bytes calldata publicKey) private view returns (address node) {
        bytes32 keyHash = keccak256(publicKey);
        node = IKeyRegistry(keys).nodeOf(keyHash);
        if (node == address(0)) revert UnknownKey(keyHash);
    }

    function _activeNodeOf(bytes calldata publicKey) private view returns (address node) {
        node = _nodeOf(publicKey);
        if (!IOracleStake(stake).isActiveNode(node)) revert NotActiveNode(node);
    }

    /// The signers' nodes (each registered and active, in increasing order) and the sum of their keys.
    function _signers(bytes[] calldata signerKeys, bytes[] calldata signerPoints)
        private
        view
        returns (address[] memory signers, bytes memory aggregate)
    {
        uint256 n = signerKeys.length;
        if (n < threshold) revert BelowThreshold(n, threshold);
        if (signerPoints.length != n) revert KeyMismatch(signerPoints.length);
        signers = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            signers[i] = _activeNodeOf(signerKeys[i]);
            if (i != 0 && signers[i] <= signers[i - 1]) revert SignersNotSorted(i);
            if (!BLS.g1Matches(signerKeys[i], signerPoints[i])) revert KeyMismatch(i);
            if (i == 0) aggregate = signerPoints[i];
            else aggregate = BLS.addG1(aggregate, signerPoints[i]);
        }
    }

    function _record(bytes32 key, bytes calldata statement, StatementCodec.Statement memory st, address[] memory signers)
        private
    {
        Answer storage a = answers[key];
        a.statementDigest = sha256(statement);
        a.inputDigest = st.inputDigest;
        (int256[] memory output, uint256[] memory sizes) = StatementCodec.outputValues(statement, st);
        a.outputHash = _feltsHash(output);
        (a.hasWeights, a.weightsHash) = _weights(statement, st);
        a.postedAt = uint64(block.timestamp);
        a.output = output;
        a.tensorSizes = sizes;
        a.outputScales = StatementCodec.outputScales(statement, st);
        a.signers = signers;
        bytes calldata requestId = StatementCodec.requestId(statement, st);
        emit CertificatePosted(key, st.circuit, string(requestId), a.statementDigest, a.outputHash, signers, msg.sender);
    }

    function _weights(bytes calldata statement, StatementCodec.Statement memory st) private pure returns (bool, bytes32) {
        if (StatementCodec.weightsNull(st)) return (false, bytes32(0));
        return (true, keccak256(abi.encodePacked(StatementCodec.weightsFelts(statement, st))));
    }

    /// keccak256 over the output values as the field elements a proof carries (the stake's outputHash).
    function _outputHash(bytes calldata statement, StatementCodec.Statement memory st) private pure returns (bytes32) {
        (int256[] memory values,) = StatementCodec.outputValues(statement, st);
        return _feltsHash(values);
    }

    function _feltsHash(int256[] memory values) private pure returns (bytes32) {
        uint256[] memory felts = new uint256[](values.length);
        for (uint256 i = 0; i < values.length; ++i) felts[i] = StatementCodec.toFelt(values[i]);
        return keccak256(abi.encodePacked(felts));
    }

    /// The output hash of a valid proof of `circuit` whose input and weights are the statement's (else a revert).
    function _provenOutput(
        bytes32 circuit,
        bytes32 inputDigest,
        bool hasWeights,
        bytes32 weightsHash,
        Proven calldata p
    ) private returns (bytes32 outputHash) {
        (address verifier, uint16 nInput, uint16 nParams,, bool inputFirst,,) = IOracleStake(stake).models(circuit);
        if (verifier == address(0)) revert UnknownModel(circuit);
        // the cheap checks first; the stake then checks the instance count, the field and the proof itself
        uint256 inputStart = inputFirst ? 0 : nParams;
        bytes32 provenInput = InputDigest.compute(p.instances, inputStart, nInput, p.inputSizes, inputFirst);
        if (provenInput != inputDigest) revert OtherInput(inputDigest, provenInput);
        if (hasWeights != (nParams != 0)) revert OtherWeights();
        if (nParams != 0) {
            uint256 paramsStart = inputFirst ? nInput : 0;
            if (paramsStart + nParams > p.instances.length) revert OtherWeights();
            if (keccak256(abi.encodePacked(p.instances[paramsStart:paramsStart + nParams])) != weightsHash) {
                revert OtherWeights();
            }
        }
        (, outputHash) = IOracleStake(stake).verifyModelProof(circuit, p.proof, p.instances);
    }
}
