// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// The ezkl (halo2-solidity-verifier) interface: true for a valid proof of these public instances.
/// A verifier may also revert on an invalid proof; the stake contract treats both as "not valid".
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// @title ZkinferStake: bonded nodes, optimistic claims, challenges answered by ZK proofs, slashing.
/// @notice Trust model (see zkinfer/chain/stake.py and README):
///  - Audited parts: OpenZeppelin Contracts 5.7.0 (pinned in package.json) gives the access control
///    (AccessControlDefaultAdminRules: one admin, the deployer, handed over in two steps after ADMIN_DELAY; `owner()`
///    is that admin), the reentrancy guard (ReentrancyGuardTransient: EIP-1153 transient storage, which the
///    cancun EVM this compiles for has), the Merkle proof check (MerkleProof with its commutative keccak), the
///    payout (Address.sendValue) and the narrowing of amounts (SafeCast).
///  - The owner (the deployer, holder of DEFAULT_ADMIN_ROLE) registers models: circuit id (the bytes of the circuit's sha256 digest) ->
///    verifier + instance layout, and the verifier's runtime code hash (EXTCODEHASH) at registration. A model,
///    once registered, never changes: nobody (the owner included) can swap the verifier under a claim, and a
///    proof is judged only while the verifier's code is still the registered one. A node checks, before it
///    stakes on a model, that the code behind `codeHash` is exactly the verifier its own circuit compiles to
///    and that the layout is its circuit's (a verifier that accepts anything would let anyone slash it).
///  - A node bonds ETH (at least `minBond`) and posts claims: one (modelId, requestId, inputHash, outputHash)
///    or the Merkle root of a batch of them. inputHash/outputHash are keccak256 over the field elements
///    (32-byte big-endian words) exactly as the proof's public instances carry them.
///  - Within `challengeWindow` of posting, anyone but the node itself may challenge one claim with
///    `challengeBond` (a node's own account may neither challenge nor prove fraud on its claims). The node
///    answers within `answerPeriod` with a proof the model's verifier accepts and whose instances hash to
///    the claimed input and output: the challenger's bond goes to the node. Otherwise anyone may `slash`:
///    the node's whole bond is slashed, `slashShareBps` of it (plus the challenger's own bond) to the
///    challenger, the rest burned (locked in this contract forever, counted in `burned`).
///  - A fraud proof (a valid proof for the claim's model and input with another output) slashes at once,
///    the share going to whoever submits it.
///  - A claim is a promise to answer with a proof its model's verifier accepts. A batch leaf naming a model
///    that is not registered can still be challenged; no proof answers it while the model is unregistered,
///    so it is slashed like any claim left unanswered past its deadline.
///  - Contracts the admin grants SLASHER_ROLE (the signature-evidence and certificate contracts) slash a node at
///    once with `slashFor`, each reason once; a node should check who holds that role before it bonds.
///  - Payouts are credited and pulled with `withdraw` (checks-effects-interactions, reentrancy guard).
///  - ETH held = every bond + every withdrawable balance + the bond of every open challenge + `burned` (burned ETH
///    stays locked in this contract forever: nothing can move it).
/// Merkle tree: leaf = keccak256(0x00 ‖ modelId ‖ requestId ‖ inputHash ‖ outputHash) (a 129-byte preimage), inner
/// node = keccak256(min(a, b) ‖ max(a, b)) (OpenZeppelin's commutative hash of sorted pairs, a 64-byte preimage, so a
/// proof is just the siblings and an inner node never passes for a leaf); an odd node is carried up unchanged.
contract ZkinferStake is AccessControlDefaultAdminRules, ReentrancyGuardTransient {
    /// May slash a node at once with `slashFor` (granted by the admin with grantRole).
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// How long a new admin waits before accepting the handover (AccessControlDefaultAdminRules' delay).
    uint48 public constant ADMIN_DELAY = 1 days;
    uint256 internal constant FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant MAX_BATCH_DEPTH = 32;

    enum ClaimState { None, Challenged, Answered, Slashed, Fraud }

    struct Node {
        uint128 bond;
        uint64 lastWindowEnd; // the latest challenge window of any of its claims
        uint32 openChallenges;
        bool registered;
        bool slashed;
    }

    struct Model {
        address verifier;
        uint16 nInput; // input felts (or the input's Poseidon commitments)
        uint16 nParams; // weights' Poseidon commitments (0 for fixed weights), pinned by paramsHash
        uint16 nOutput;
        bool inputFirst; // ezkl's order: hashed input -> [input][params][output]; public -> [params][input][output]
        bytes32 paramsHash;
        bytes32 codeHash; // the verifier's EXTCODEHASH at registration: keccak256 of its runtime code
    }

    struct Batch {
        address node;
        uint64 windowEnd;
        uint32 count;
        bytes32 root; // a single claim is a batch of one whose root is its leaf
    }

    /// One claim: what a node says a model output for a request (the leaf of its batch).
    struct Claim {
        bytes32 modelId;
        bytes32 requestId;
        bytes32 inputHash;
        bytes32 outputHash;
    }

    struct Challenge {
        address challenger;
        uint64 deadline;
        ClaimState state;
    }

    // Set once by the constructor and never changed. Storage, not `immutable`: the deployed code is then
    // exactly the compiled runtime code, which anyone can compare byte for byte (zkinfer.chain.deploy).
    uint128 public minBond;
    uint128 public challengeBond;
    uint64 public challengeWindow;
    uint64 public answerPeriod;
    uint16 public slashShareBps;

    mapping(address => Node) public nodes;
    mapping(bytes32 => Model) public models;
    mapping(uint256 => Batch) public batches;
    mapping(bytes32 => Challenge) public challenges; // keyed by claimKey(batchId, leaf)
    mapping(address => uint256) public balances; // pull payments
    uint256 public nextBatchId = 1;
    uint256 public burned;
    mapping(bytes32 => bool) public slashedFor; // the reasons `slashFor` has slashed for (each once)

    event NodeRegistered(address indexed node, uint256 bond);
    event BondAdded(address indexed node, uint256 amount, uint256 bond);
    event BondWithdrawn(address indexed node, uint256 amount, uint256 bond);
    event ModelRegistered(bytes32 indexed modelId, address verifier, uint16 nInput, uint16 nParams, uint16 nOutput, bool inputFirst, bytes32 paramsHash, bytes32 codeHash);
    event ClaimPosted(uint256 indexed batchId, address indexed node, bytes32 indexed modelId, bytes32 requestId, bytes32 inputHash, bytes32 outputHash, uint64 windowEnd);
    event BatchPosted(uint256 indexed batchId, address indexed node, bytes32 root, uint32 count, uint64 windowEnd);
    event Challenged(bytes32 indexed claimKey, uint256 indexed batchId, address indexed challenger, bytes32 leaf, uint64 deadline);
    event ChallengeAnswered(bytes32 indexed claimKey, uint256 indexed batchId, address indexed node, address challenger, uint256 bondToNode);
    event ChallengeRefunded(bytes32 indexed claimKey, address indexed challenger, uint256 amount);
    event FraudProven(bytes32 indexed claimKey, uint256 indexed batchId, address indexed prover, bytes32 provenOutputHash);
    /// `reason`: the claim's key (a challenge or fraud proof) or the reason a SLASHER_ROLE contract gave.
    event Slashed(bytes32 indexed reason, address indexed node, address indexed beneficiary, uint256 amount, uint256 reward, uint256 burnedAmount);
    event Withdrawn(address indexed account, uint256 amount);
    event BondLocked(address indexed node, uint64 until);

    error NotRegistered(address node);
    error AlreadyRegistered(address node);
    error NodeIsSlashed(address node);
    error BondTooLow(uint256 bond, uint256 minBond);
    error WrongChallengeBond(uint256 sent, uint256 required);
    error ZeroAmount();
    error AmountExceedsBond(uint256 amount, uint256 bond);
    error ClaimsInWindow(uint64 until);
    error ChallengesOpen(uint32 count);
    error ModelExists(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error BadLayout();
    error EmptyBatch();
    error UnknownBatch(uint256 batchId);
    error NotInBatch(uint256 batchId, bytes32 leaf);
    error ChallengeWindowClosed(uint64 windowEnd);
    error AlreadyChallenged(bytes32 claimKey);
    error ClaimResolved(bytes32 claimKey, ClaimState state);
    error NothingAtStake(address node);
    error NoOpenChallenge(bytes32 claimKey);
    error NotClaimant(address node);
    error SelfChallenge(address node);
    error VerifierCodeChanged(bytes32 modelId, bytes32 codeHash, bytes32 registered);
    error AnswerTooLate(uint64 deadline);
    error DeadlineNotPassed(uint64 deadline);
    error WrongInstanceCount(uint256 got, uint256 expected);
    error InstanceNotInField(uint256 index);
    error InvalidProof();
    error InputMismatch(bytes32 proven, bytes32 claimed);
    error OutputMismatch(bytes32 proven, bytes32 claimed);
    error ParamsMismatch(bytes32 proven, bytes32 registered);
    error NotFraud();
    error NothingToWithdraw();
    error AlreadySlashedFor(bytes32 reason);

    modifier onlyActiveNode() {
        Node storage n = nodes[msg.sender];
        if (!n.registered) revert NotRegistered(msg.sender);
        if (n.slashed) revert NodeIsSlashed(msg.sender);
        if (n.bond < minBond) revert BondTooLow(n.bond, minBond);
        _;
    }

    constructor(uint128 minBond_, uint128 challengeBond_, uint64 challengeWindow_, uint64 answerPeriod_, uint16 slashShareBps_)
        AccessControlDefaultAdminRules(ADMIN_DELAY, msg.sender)
    {
        if (minBond_ == 0 || challengeBond_ == 0 || challengeWindow_ == 0 || answerPeriod_ == 0 || slashShareBps_ > 10_000) revert BadLayout();
        minBond = minBond_;
        challengeBond = challengeBond_;
        challengeWindow = challengeWindow_;
        answerPeriod = answerPeriod_;
        slashShareBps = slashShareBps_;
    }

    // ---- nodes and their bonds ----

    function registerNode() external payable {
        Node storage n = nodes[msg.sender];
        if (n.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value < minBond) revert BondTooLow(msg.value, minBond);
        n.registered = true;
        n.bond = SafeCast.toUint128(msg.value);
        emit NodeRegistered(msg.sender, msg.value);
    }

    function addBond() external payable {
        Node storage n = nodes[msg.sender];
        if (!n.registered) revert NotRegistered(msg.sender);
        if (n.slashed) revert NodeIsSlashed(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        n.bond += SafeCast.toUint128(msg.value);
        emit BondAdded(msg.sender, msg.value, n.bond);
    }

    /// Moves `amount` of the bond to the node's withdrawable balance; refused while any of its claims can
    /// still be challenged or any challenge against it is open (a node cannot run from a challenge).
    function withdrawBond(uint256 amount) external {
        Node storage n = nodes[msg.sender];
        if (!n.registered) revert NotRegistered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (amount > n.bond) revert AmountExceedsBond(amount, n.bond);
        if (block.timestamp <= n.lastWindowEnd) revert ClaimsInWindow(n.lastWindowEnd);
        if (n.openChallenges != 0) revert ChallengesOpen(n.openChallenges);
        n.bond -= SafeCast.toUint128(amount);
        balances[msg.sender] += amount;
        emit BondWithdrawn(msg.sender, amount, n.bond);
    }

    /// A slasher (the certificate oracle) holds a node's bond while what the node signed can still be proven a lie:
    /// `withdrawBond` refuses until `until`, as during a claim's window. It only ever extends the hold.
    function lockBond(address node, uint64 until) external onlyRole(SLASHER_ROLE) {
        Node storage n = nodes[node];
        if (!n.registered) revert NotRegistered(node);
        if (until > n.lastWindowEnd) {
            n.lastWindowEnd = until;
            emit BondLocked(node, until);
        }
    }

    /// What may post claims: registered, not slashed, bonded at least `minBond`.
    function isActiveNode(address node) external view returns (bool) {
        Node storage n = nodes[node];
        return n.registered && !n.slashed && n.bond >= minBond;
    }

    // ---- models ----

    function registerModel(bytes32 modelId, address verifier, uint16 nInput, uint16 nParams, uint16 nOutput, bool inputFirst, bytes32 paramsHash) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (models[modelId].verifier != address(0)) revert ModelExists(modelId);
        if (verifier.code.length == 0 || nInput == 0 || nOutput == 0 || (nParams == 0) != (paramsHash == bytes32(0))) revert BadLayout();
        bytes32 codeHash = verifier.codehash;
        models[modelId] = Model(verifier, nInput, nParams, nOutput, inputFirst, paramsHash, codeHash);
        emit ModelRegistered(modelId, verifier, nInput, nParams, nOutput, inputFirst, paramsHash, codeHash);
    }

    // ---- claims ----

    function postClaim(bytes32 modelId, bytes32 requestId, bytes32 inputHash, bytes32 outputHash) external onlyActiveNode returns (uint256 batchId) {
        if (models[modelId].verifier == address(0)) revert UnknownModel(modelId);
        uint64 windowEnd;
        (batchId, windowEnd) = _post(leafHash(modelId, requestId, inputHash, outputHash), 1);
        emit ClaimPosted(batchId, msg.sender, modelId, requestId, inputHash, outputHash, windowEnd);
    }

    function postBatch(bytes32 root, uint32 count) external onlyActiveNode returns (uint256 batchId) {
        if (count == 0 || root == bytes32(0)) revert EmptyBatch();
        uint64 windowEnd;
        (batchId, windowEnd) = _post(root, count);
        emit BatchPosted(batchId, msg.sender, root, count, windowEnd);
    }

    function _post(bytes32 root, uint32 count) private returns (uint256 batchId, uint64 windowEnd) {
        windowEnd = uint64(block.timestamp) + challengeWindow;
        batchId = nextBatchId++;
        batches[batchId] = Batch(msg.sender, windowEnd, count, root);
        nodes[msg.sender].lastWindowEnd = windowEnd;
    }

    // ---- challenges ----

    /// A claim naming an unregistered model is challengeable too: nothing can answer it, so it is slashed
    /// past the deadline (a node cannot post claims nobody can hold it to).
    function challenge(uint256 batchId, Claim calldata claim, bytes32[] calldata merkleProof) external payable nonReentrant returns (bytes32 key) {
        if (msg.value != challengeBond) revert WrongChallengeBond(msg.value, challengeBond);
        Batch storage b = _batch(batchId);
        if (msg.sender == b.node) revert SelfChallenge(b.node);
        if (block.timestamp > b.windowEnd) revert ChallengeWindowClosed(b.windowEnd);
        bytes32 leaf = leafOf(claim);
        _requireIncluded(batchId, b.root, leaf, merkleProof);
        key = claimKey(batchId, leaf);
        Challenge storage c = challenges[key];
        if (c.state == ClaimState.Challenged) revert AlreadyChallenged(key);
        if (c.state != ClaimState.None) revert ClaimResolved(key, c.state);
        Node storage n = nodes[b.node];
        if (n.bond == 0) revert NothingAtStake(b.node);
        uint64 deadline = uint64(block.timestamp) + answerPeriod;
        challenges[key] = Challenge(msg.sender, deadline, ClaimState.Challenged);
        n.openChallenges += 1;
        emit Challenged(key, batchId, msg.sender, leaf, deadline);
    }

    /// The node answers a challenge with the proof; a valid one wins it the challenger's bond.
    function answer(uint256 batchId, Claim calldata claim, bytes calldata proof, uint256[] calldata instances) external nonReentrant {
        Batch storage b = _batch(batchId);
        if (msg.sender != b.node) revert NotClaimant(b.node);
        bytes32 key = claimKey(batchId, leafOf(claim));
        Challenge storage c = challenges[key];
        if (c.state != ClaimState.Challenged) revert NoOpenChallenge(key);
        if (block.timestamp > c.deadline) revert AnswerTooLate(c.deadline);
        (bytes32 provenInput, bytes32 provenOutput) = _verified(claim.modelId, proof, instances);
        if (provenInput != claim.inputHash) revert InputMismatch(provenInput, claim.inputHash);
        if (provenOutput != claim.outputHash) revert OutputMismatch(provenOutput, claim.outputHash);
        c.state = ClaimState.Answered;
        nodes[b.node].openChallenges -= 1;
        balances[b.node] += challengeBond;
        emit ChallengeAnswered(key, batchId, b.node, c.challenger, challengeBond);
    }

    /// Past the answer deadline of an unanswered challenge, anyone may slash the node.
    function slash(uint256 batchId, bytes32 leaf) external nonReentrant {
        Batch storage b = _batch(batchId);
        bytes32 key = claimKey(batchId, leaf);
        Challenge storage c = challenges[key];
        if (c.state != ClaimState.Challenged) revert NoOpenChallenge(key);
        if (block.timestamp <= c.deadline) revert DeadlineNotPassed(c.deadline);
        c.state = ClaimState.Slashed;
        Node storage n = nodes[b.node];
        n.openChallenges -= 1;
        balances[c.challenger] += challengeBond;
        _slash(key, b.node, c.challenger);
    }

    /// A valid proof for the claim's model and input with another output: the claim was a lie.
    /// Not by the node itself: it would take the reward of a challenger who caught its lie.
    function proveFraud(uint256 batchId, Claim calldata claim, bytes32[] calldata merkleProof, bytes calldata proof, uint256[] calldata instances) external nonReentrant {
        Batch storage b = _batch(batchId);
        if (msg.sender == b.node) revert SelfChallenge(b.node);
        bytes32 leaf = leafOf(claim);
        _requireIncluded(batchId, b.root, leaf, merkleProof);
        bytes32 key = claimKey(batchId, leaf);
        Challenge storage c = challenges[key];
        if (c.state != ClaimState.None && c.state != ClaimState.Challenged) revert ClaimResolved(key, c.state);
        Node storage n = nodes[b.node];
        if (n.bond == 0) revert NothingAtStake(b.node);
        (bytes32 provenInput, bytes32 provenOutput) = _verified(claim.modelId, proof, instances);
        if (provenInput != claim.inputHash) revert InputMismatch(provenInput, claim.inputHash);
        if (provenOutput == claim.outputHash) revert NotFraud();
        if (c.state == ClaimState.Challenged) {
            n.openChallenges -= 1;
            balances[c.challenger] += challengeBond;
            emit ChallengeRefunded(key, c.challenger, challengeBond);
        }
        c.state = ClaimState.Fraud;
        emit FraudProven(key, batchId, msg.sender, provenOutput);
        _slash(key, b.node, msg.sender);
    }

    /// A SLASHER_ROLE contract (one that checked signed evidence or a certificate against a proof) slashes
    /// `node` at once, exactly as an unanswered challenge does, `beneficiary` taking the share; each reason once.
    function slashFor(address node, address beneficiary, bytes32 reason) external onlyRole(SLASHER_ROLE) nonReentrant {
        if (slashedFor[reason]) revert AlreadySlashedFor(reason);
        if (nodes[node].bond == 0) revert NothingAtStake(node);
        slashedFor[reason] = true;
        _slash(reason, node, beneficiary);
    }

    function _slash(bytes32 reason, address node, address beneficiary) private {
        Node storage n = nodes[node];
        uint256 amount = n.bond;
        uint256 reward = (amount * slashShareBps) / 10_000;
        n.bond = 0;
        n.slashed = true;
        balances[beneficiary] += reward;
        burned += amount - reward;
        emit Slashed(reason, node, beneficiary, amount, reward, amount - reward);
    }

    // ---- payouts ----

    function withdraw() external nonReentrant {
        uint256 amount = balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    // ---- views and helpers ----

    function leafHash(bytes32 modelId, bytes32 requestId, bytes32 inputHash, bytes32 outputHash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), modelId, requestId, inputHash, outputHash));
    }

    function leafOf(Claim calldata claim) public pure returns (bytes32) {
        return leafHash(claim.modelId, claim.requestId, claim.inputHash, claim.outputHash);
    }

    function claimKey(uint256 batchId, bytes32 leaf) public pure returns (bytes32) {
        return keccak256(abi.encode(batchId, leaf));
    }

    /// The root a leaf and its sibling path give (OpenZeppelin's MerkleProof: sorted pairs).
    function merkleRoot(bytes32 leaf, bytes32[] calldata merkleProof) public pure returns (bytes32) {
        return MerkleProof.processProofCalldata(merkleProof, leaf);
    }

    /// keccak256 over `count` instances from `start`, as 32-byte words (what inputHash / outputHash are).
    function hashFelts(uint256[] calldata instances, uint256 start, uint256 count) public pure returns (bytes32 h) {
        if (start + count > instances.length) revert WrongInstanceCount(instances.length, start + count);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := mul(count, 0x20)
            calldatacopy(ptr, add(instances.offset, mul(start, 0x20)), size)
            h := keccak256(ptr, size)
        }
    }

    function _batch(uint256 batchId) private view returns (Batch storage b) {
        b = batches[batchId];
        if (b.node == address(0)) revert UnknownBatch(batchId);
    }

    function _requireIncluded(uint256 batchId, bytes32 root, bytes32 leaf, bytes32[] calldata merkleProof) private pure {
        if (merkleProof.length > MAX_BATCH_DEPTH || !MerkleProof.verifyCalldata(merkleProof, root, leaf)) revert NotInBatch(batchId, leaf);
    }

    /// `_verified` for other contracts (the signature-evidence and certificate contracts): reverts unless
    /// `proof` is valid for the model, else returns the hashes of its input and output instances.
    function verifyModelProof(bytes32 modelId, bytes calldata proof, uint256[] calldata instances) external returns (bytes32 inputHash, bytes32 outputHash) {
        return _verified(modelId, proof, instances);
    }

    /// Verifies `proof` with the model's verifier and returns the hashes of its input and output instances;
    /// the weights' commitments must be the registered ones, every instance a canonical field element, and the
    /// verifier's code still the registered code (no verifier whose code changed, e.g. redeployed by CREATE2 after
    /// a self-destruct on a chain without EIP-6780, judges anything).
    function _verified(bytes32 modelId, bytes calldata proof, uint256[] calldata instances) private returns (bytes32 inputHash, bytes32 outputHash) {
        Model storage m = models[modelId];
        if (m.verifier == address(0)) revert UnknownModel(modelId);
        bytes32 codeHash = m.verifier.codehash;
        if (codeHash != m.codeHash) revert VerifierCodeChanged(modelId, codeHash, m.codeHash);
        uint256 total = uint256(m.nInput) + m.nParams + m.nOutput;
        if (instances.length != total) revert WrongInstanceCount(instances.length, total);
        for (uint256 i = 0; i < total; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceNotInField(i);
        }
        uint256 inputStart = m.inputFirst ? 0 : m.nParams;
        uint256 paramsStart = m.inputFirst ? m.nInput : 0;
        if (m.nParams != 0) {
            bytes32 params = hashFelts(instances, paramsStart, m.nParams);
            if (params != m.paramsHash) revert ParamsMismatch(params, m.paramsHash);
        }
        try IHalo2Verifier(m.verifier).verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }
        inputHash = hashFelts(instances, inputStart, m.nInput);
        outputHash = hashFelts(instances, uint256(m.nInput) + m.nParams, m.nOutput);
    }
}
