// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ZkinferDisputeBinding} from "./ZkinferDisputeBinding.sol";

/// A halo2 verifier as ezkl writes it (one per referee circuit, deployed like `deploy-verifier`).
interface IRefereeVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// The stake contract's slashing entry point (contracts/ZkinferStake.sol, SLASHER_ROLE).
interface IStakeSlasher {
    function slashFor(address node, address beneficiary, bytes32 reason) external;
    function lockBond(address node, uint64 until) external;
}

/// Disputes over a language model's answer, settled by bisection and one ZK-proven sub-step.
///
/// The node committed (zkinfer.llm.trace) to a Merkle root over its sub-step trace: leaf =
/// keccak256(0x00 ‖ int32 big-endian values), pair = keccak256(0x01 ‖ left ‖ right); a 16-ary node
/// is the 4-level binary tree of pairs over its 16 children, and the leaves are padded with zero
/// leaves to 16^depth (zkinfer.llm.trace_tree). A challenger opens with a bond; the node posts its
/// root, then on each turn reveals the 16 children of the current node (an event: nothing stored) and
/// the challenger picks the child it disputes (the child's hash and its 4 siblings inside the node),
/// until one leaf is left; the node shows that leaf's values and the challenger names the attention
/// head it disputes. The node must then prove, with the referee circuit of that sub-step's kind, that
/// the leaf's values are within tolerance of the step computed from its own earlier leaves (each opened
/// by its 4 · depth binary siblings against the root). Whoever misses a turn's deadline loses: a node is
/// slashed through the stake contract, a challenger forfeits its bond to the node.
/// The model's shape (layers, heads, head width) is set at deployment: one game per model.
/// Referee circuits so far: `attend` (one head's online-softmax update: 2 + w state, 3w inputs, 2 + w
/// outputs for head width w; 164 public instances at w = 32; README).
/// Gas (README, "Disputes over LLM answers on chain"): every move reads and writes one packed slot of
/// the dispute; the game's settings fit one slot; settle decodes words with calldataload.
/// Binding (ZkinferDisputeBinding): `open` takes the node's BLS-signed trace claim, so a dispute is only ever
/// over an answer the node signed; `embed` leaves and greedy tokens are settled by the contract alone.
contract ZkinferDispute is ZkinferDisputeBinding {
    uint256 internal constant ARITY = 16;
    uint256 internal constant BITS = 4; // binary levels per 16-ary level
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    int256 internal constant M0 = -1024 * 4096; // the running max before any key, at the trace's scale 2^12
    bytes4 internal constant NOTHING_AT_STAKE = bytes4(keccak256("NothingAtStake(address)")); // ZkinferStake's

    enum Phase { None, AwaitRoot, AwaitReveal, AwaitPick, AwaitLeaf, AwaitHead, AwaitProof, NodeWon, ChallengerWon }

    struct Dispute {
        // one slot: what every move reads and writes
        address node;
        uint40 deadline;
        Phase phase;
        uint8 level; // the current node's height above the leaves
        uint8 head; // the attention head the challenger disputes in the leaf
        uint32 index; // the current node's index at its level (postRoot refuses a tree deeper than 8)
        // one slot
        address challenger;
        uint32 positions;
        bytes32 answer; // what is disputed: keccak256 of the node's signed trace claim
        bytes32 root;
        bytes32 current; // the hash of the current node (a leaf once level is 0)
    }

    // plain storage, not immutable: `deploy` compares the code at the address with the compiled runtime.
    // One slot for what every move reads (turn) and settle's shape; one for the verifier and the tolerance.
    IStakeSlasher public stake;
    uint32 public turn;
    uint16 public layers;
    uint16 public heads;
    uint16 public headWidth;
    IRefereeVerifier public attendVerifier;
    int64 public toleranceSteps; // |circuit − claimed| allowed per value, in grid steps (2^-12)
    uint256 public bond;

    uint256 public disputeCount;
    mapping(uint256 => Dispute) public disputes;
    mapping(address => uint256) public credit;

    event Opened(uint256 indexed id, address indexed node, address indexed challenger, bytes32 answer, uint32 positions);
    event RootPosted(uint256 indexed id, bytes32 root, uint8 depth);
    event Revealed(uint256 indexed id, uint8 level, uint64 index, bytes32[16] children);
    event Picked(uint256 indexed id, uint8 level, uint64 index);
    event LeafRevealed(uint256 indexed id, uint64 index, bytes values);
    event HeadPicked(uint256 indexed id, uint8 head);
    event Resolved(uint256 indexed id, bool nodeWon, string why);
    event NotSlashed(uint256 indexed id, address indexed node, bytes reason);

    error WrongBond(uint256 sent, uint256 required);
    error WrongPhase(Phase phase);
    error NotYourTurn(address caller);
    error TurnOver(uint64 deadline);
    error TurnNotOver(uint64 deadline);
    error BadChildren();
    error PaddingPicked();
    error NotAnAttendStep();
    error BadPosition();
    error BadOpening(string which);
    error InstanceMismatch(uint256 index);
    error OutsideTolerance(uint256 index, int256 proven, int256 claimed);
    error InvalidProof();
    error NothingToWithdraw();
    error TransferFailed();
    error BadShape();
    error TooLong(uint256 leaves);

    constructor(
        IStakeSlasher stake_,
        IRefereeVerifier attendVerifier_,
        uint256 bond_,
        uint32 turn_,
        uint16 layers_,
        uint16 heads_,
        uint16 headWidth_,
        int64 toleranceSteps_,
        Binding memory binding_
    ) ZkinferDisputeBinding(binding_) {
        if (layers_ == 0 || heads_ == 0 || headWidth_ == 0 || toleranceSteps_ < 0 || toleranceSteps_ > type(int16).max) {
            revert BadShape(); // a delta (int16) must be able to reach the tolerance
        }
        (stake, turn, layers, heads, headWidth) = (stake_, turn_, layers_, heads_, headWidth_);
        (attendVerifier, toleranceSteps, bond) = (attendVerifier_, toleranceSteps_, bond_);
    }

    // --- the trace's shape (zkinfer.llm.trace.Shape) ---

    function offset(uint256 t) public view override returns (uint256) {
        return t == 0 ? 0 : t * (1 + 3 * layers) + (layers * t * (t - 1)) / 2;
    }

    function depthFor(uint256 count) public pure returns (uint8 depth) {
        uint256 size = 1;
        while (size < count) { size *= ARITY; depth++; }
        if (depth == 0) depth = 1;
    }

    // --- the game ---

    /// Dispute the answer whose trace claim (zkinfer.llm.trace_claim) `node` signed with its registered key
    /// (`publicKey` compressed, `publicKeyPoint` and `signaturePoint` uncompressed); `answer` is the claim's
    /// keccak256. The node's bond is locked for the longest the game can last (the stake's lockBond).
    function open(address node, bytes calldata claim, bytes calldata publicKey, bytes calldata publicKeyPoint, bytes calldata signaturePoint)
        external
        payable
        returns (uint256 id)
    {
        if (msg.value != bond) revert WrongBond(msg.value, bond);
        uint32 positions = _bind(node, claim, publicKey, publicKeyPoint, signaturePoint);
        bytes32 answer = keccak256(claim);
        id = ++disputeCount;
        disputes[id] = Dispute(
            node, uint40(block.timestamp) + turn, Phase.AwaitRoot, 0, 0, 0, msg.sender, positions, answer, 0, 0
        );
        // every turn of the game (root, reveal and pick per level, leaf, head, proof) and one to claim a timeout
        _lockStake(node, uint64(block.timestamp) + uint64(turn) * uint64(2 * depthFor(offset(positions)) + 5));
        emit Opened(id, node, msg.sender, answer, positions);
    }

    function postRoot(uint256 id, bytes32 root) external {
        Dispute storage d = _turn(id, Phase.AwaitRoot, true);
        uint256 leaves = offset(d.positions);
        uint8 depth = depthFor(leaves);
        if (depth > 8) revert TooLong(leaves); // a node's index is 32 bits
        (d.root, d.current, d.level) = (root, root, depth);
        _next(d, Phase.AwaitReveal);
        emit RootPosted(id, root, depth);
    }

    /// The node shows the current node's 16 children; the contract hashes them as the node's pair tree.
    function reveal(uint256 id, bytes32[16] calldata children) external {
        Dispute storage d = _turn(id, Phase.AwaitReveal, true);
        if (_node(children) != d.current) revert BadChildren();
        _next(d, Phase.AwaitPick);
        emit Revealed(id, d.level, d.index, children);
    }

    /// The challenger names the child it disputes: its hash (as revealed) and its 4 siblings inside the node.
    function pick(uint256 id, uint8 child, bytes32 hash, bytes32[BITS] calldata siblings) external {
        Dispute storage d = _turn(id, Phase.AwaitPick, false);
        if (child >= ARITY || _climb(hash, child, siblings) != d.current) revert BadChildren();
        uint32 index = d.index * uint32(ARITY) + child;
        uint8 level = d.level - 1;
        if (uint256(index) * ARITY ** level >= offset(d.positions)) revert PaddingPicked();
        (d.index, d.level, d.current) = (index, level, hash);
        _next(d, level == 0 ? Phase.AwaitLeaf : Phase.AwaitReveal);
        emit Picked(id, level, index);
    }

    /// The node shows the disputed leaf's values (an event), so the challenger can name the head it disputes.
    function revealLeaf(uint256 id, bytes calldata values) external {
        Dispute storage d = _turn(id, Phase.AwaitLeaf, true);
        if (_leaf(values) != d.current) revert BadOpening("leaf");
        _next(d, Phase.AwaitHead);
        emit LeafRevealed(id, d.index, values);
    }

    /// The challenger names the attention head whose update it disputes: the referee proves that head only.
    function pickHead(uint256 id, uint8 head) external {
        Dispute storage d = _turn(id, Phase.AwaitHead, false);
        if (head >= heads) revert BadChildren();
        d.head = head;
        _next(d, Phase.AwaitProof);
        emit HeadPicked(id, head);
    }

    /// Whoever's turn it was when the deadline passed loses.
    function timeout(uint256 id) external {
        Dispute storage d = disputes[id];
        if (d.phase == Phase.None || d.phase == Phase.NodeWon || d.phase == Phase.ChallengerWon) revert WrongPhase(d.phase);
        if (block.timestamp <= d.deadline) revert TurnNotOver(d.deadline);
        if (d.phase == Phase.AwaitPick || d.phase == Phase.AwaitHead) _resolve(id, d, true, "challenger missed its turn");
        else _resolve(id, d, false, "node missed its turn");
    }

    /// The node's defence of an `attend` leaf: (layer, t, j) from the leaf index and `t`; the inputs are
    /// its leaves index − 1 (the state before key j; the initial state when j = 0), pre(layer, t) (q) and
    /// pre(layer, j) (k, v), opened in that order; `claimed` is the leaf's own values and `deltas` the
    /// circuit's public outputs minus the claimed head's values (int16 big-endian words, each within the
    /// tolerance). The contract lays out the proof's public instances itself, [state ‖ q ‖ k ‖ v ‖
    /// claimed + deltas], from the opened values: no instance travels as a 32-byte field element.
    function settleAttend(
        uint256 id,
        uint256 t,
        Opening[3] calldata inputs,
        bytes calldata claimed,
        bytes calldata proof,
        bytes calldata deltas
    ) external {
        Dispute storage d = _turn(id, Phase.AwaitProof, true);
        uint256[] memory instances = _attendInstances(d, t, inputs, claimed, deltas);
        (bool ok, bytes memory answer) =
            address(attendVerifier).call(abi.encodeCall(IRefereeVerifier.verifyProof, (proof, instances)));
        if (!ok || answer.length != 32 || abi.decode(answer, (uint256)) != 1) revert InvalidProof();
        _resolve(id, d, true, "node proved the step");
    }

    /// The proof's public instances for the disputed head, every input opened against the root and every
    /// output within tolerance of the claimed leaf (which is the current leaf).
    function _attendInstances(
        Dispute storage d,
        uint256 t,
        Opening[3] calldata inputs,
        bytes calldata claimed,
        bytes calldata deltas
    ) internal view returns (uint256[] memory instances) {
        (uint256 h, uint256 w, uint256 all) = (d.head, headWidth, heads);
        if (claimed.length != 4 * (2 * all + all * w) || _leaf(claimed) != d.current) revert BadOpening("claimed");
        if (deltas.length != 2 * (2 + w)) revert InstanceMismatch(deltas.length);
        bool first = _openInputs(d, t, inputs, all * w);
        instances = new uint256[](2 * (2 + w) + 3 * w);
        if (first) {
            instances[0] = _felt(M0); // d and n start at 0
        } else {
            bytes calldata previous = inputs[0].values;
            instances[0] = _felt(_word(previous, h));
            instances[1] = _felt(_word(previous, all + h));
            _copy(instances, 2, previous, 2 * all + h * w, w);
        }
        _copy(instances, 2 + w, inputs[1].values, h * w, w); // q_t
        _copy(instances, 2 + 2 * w, inputs[2].values, all * w + h * w, w); // k_j
        _copy(instances, 2 + 3 * w, inputs[2].values, 2 * all * w + h * w, w); // v_j
        _outputs(instances, deltas, claimed, h, all, 2 * all + h * w);
    }

    /// Opens the step's inputs against the root: the state before key j (none when j = 0: `first`),
    /// pre(layer, t) and pre(layer, j), each exactly as long as its kind's leaves.
    function _openInputs(Dispute storage d, uint256 t, Opening[3] calldata inputs, uint256 width)
        internal
        view
        returns (bool first)
    {
        (uint256 layer, uint256 j) = _attendStep(d, t);
        (bytes32 root, uint256 depth) = (d.root, depthFor(offset(d.positions)));
        first = j == 0;
        if (!first) _open(root, depth, inputs[0], d.index - 1, 2 * heads + width, "previous");
        _open(root, depth, inputs[1], offset(t) + 1 + layer * (t + 3), 3 * width, "preT");
        _open(root, depth, inputs[2], offset(j) + 1 + layer * (j + 3), 3 * width, "preJ");
    }

    /// The outputs, laid after the inputs: the claimed head's values (m, d of head h, then its numerator)
    /// plus each delta, every delta within the tolerance.
    function _outputs(
        uint256[] memory instances,
        bytes calldata deltas,
        bytes calldata claimed,
        uint256 h,
        uint256 all,
        uint256 numerator
    ) internal view {
        int256 tolerance = toleranceSteps;
        uint256 count = deltas.length / 2;
        uint256 out = instances.length - count;
        for (uint256 i = 0; i < count; i++) {
            uint256 at = i < 2 ? i * all + h : numerator + (i - 2);
            int256 claim = _word(claimed, at);
            int256 delta;
            assembly {
                delta := signextend(1, shr(240, calldataload(add(deltas.offset, shl(1, i)))))
            }
            if (delta > tolerance || -delta > tolerance) revert OutsideTolerance(at, claim + delta, claim);
            instances[out + i] = _felt(claim + delta);
        }
    }

    function _attendStep(Dispute storage d, uint256 t) internal view returns (uint256 layer, uint256 j) {
        uint256 inner;
        (layer, inner) = _locate(d, t);
        if (inner == 0 || inner >= t + 2) revert NotAnAttendStep();
        j = inner - 1;
    }

    /// The current leaf as (layer, inner) at position t (zkinfer.llm.trace.Shape): inner 0 is pre(ℓ, t),
    /// 1 … t + 1 attend(ℓ, t, inner − 1), t + 2 post(ℓ, t); embed(t) gives inner = type(uint256).max.
    function _locate(Dispute storage d, uint256 t) internal view returns (uint256 layer, uint256 inner) {
        uint256 index = d.index;
        if (t >= d.positions || index < offset(t) || index >= offset(t + 1)) revert BadPosition();
        uint256 rest = index - offset(t);
        if (rest == 0) return (0, type(uint256).max);
        layer = (rest - 1) / (t + 3);
        inner = (rest - 1) % (t + 3);
    }

    function withdraw() external {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credit[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // --- internals ---

    function _turn(uint256 id, Phase phase, bool nodesTurn) internal view returns (Dispute storage d) {
        d = disputes[id];
        if (d.phase != phase) revert WrongPhase(d.phase);
        if (msg.sender != (nodesTurn ? d.node : d.challenger)) revert NotYourTurn(msg.sender);
        if (block.timestamp > d.deadline) revert TurnOver(d.deadline);
    }

    function _next(Dispute storage d, Phase phase) internal {
        (d.phase, d.deadline) = (phase, uint40(block.timestamp) + turn);
    }

    function _resolve(uint256 id, Dispute storage d, bool nodeWon, string memory why) internal {
        d.phase = nodeWon ? Phase.NodeWon : Phase.ChallengerWon;
        if (nodeWon) {
            credit[d.node] += bond;
        } else {
            credit[d.challenger] += bond;
            // one reason per dispute: a node slashed once per dispute it loses. A node with nothing at stake
            // (slashed by an earlier dispute) must not keep the challenger's bond locked: that refusal alone is
            // logged and the game resolves; any other failure (a missing role, too little gas) reverts all.
            if (address(stake) != address(0)) {
                try stake.slashFor(d.node, d.challenger, keccak256(abi.encode(address(this), id))) {}
                catch (bytes memory reason) {
                    if (reason.length < 4 || bytes4(reason) != NOTHING_AT_STAKE) {
                        assembly ("memory-safe") {
                            revert(add(reason, 0x20), mload(reason))
                        }
                    }
                    emit NotSlashed(id, d.node, reason);
                }
            }
        }
        emit Resolved(id, nodeWon, why);
    }

    // --- the binding's hooks (ZkinferDisputeBinding) ---

    function _boundState(uint256 id) internal view override returns (GameState memory) {
        Dispute storage d = disputes[id];
        Phase p = d.phase;
        bool live = p != Phase.None && p != Phase.AwaitRoot && p != Phase.NodeWon && p != Phase.ChallengerWon;
        bool atLeaf = p == Phase.AwaitLeaf || p == Phase.AwaitHead || p == Phase.AwaitProof;
        return GameState(d.answer, d.root, d.current, d.index, d.positions, layers, d.node, d.challenger, turn, live, atLeaf);
    }

    /// h_L[t] (`index`: its leaf) opened against the dispute's root, exactly one state wide.
    function _openTraceLeaf(uint256 id, Opening calldata o, uint256 index) internal view override {
        Dispute storage d = disputes[id];
        _open(d.root, depthFor(offset(d.positions)), o, index, uint256(heads) * headWidth, "hidden");
    }

    /// The node's bond stays in the stake until `until` (it cannot withdraw before a loss is slashed).
    function _lockStake(address node, uint64 until) internal override {
        if (address(stake) != address(0)) stake.lockBond(node, until);
    }

    function _settleBound(uint256 id, bool nodeWon, string memory why) internal override {
        _resolve(id, disputes[id], nodeWon, why);
    }

    /// `o.values` (exactly `words` words) is leaf `index` of the tree under `root` (`depth` 16-ary levels).
    function _open(bytes32 root, uint256 depth, Opening calldata o, uint256 index, uint256 words, string memory which)
        internal
        pure
    {
        bytes32[] calldata path = o.path;
        if (o.values.length != 4 * words || path.length != BITS * depth) revert BadOpening(which);
        bytes32 current = _leaf(o.values);
        for (uint256 i = 0; i < path.length; i++) {
            current = index & 1 == 0 ? _pair(current, path[i]) : _pair(path[i], current);
            index >>= 1;
        }
        if (current != root) revert BadOpening(which);
    }

    /// A 16-ary node's hash: its children folded pairwise in place (8, 4, 2, 1 pairs), past the
    /// allocator's pointer.
    function _node(bytes32[16] calldata children) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let at := mload(0x40)
            let scratch := add(at, 512)
            calldatacopy(at, children, 512)
            mstore8(scratch, 1)
            for { let width := 8 } width { width := shr(1, width) } {
                for { let i := 0 } lt(i, width) { i := add(i, 1) } {
                    mcopy(add(scratch, 1), add(at, shl(6, i)), 64)
                    mstore(add(at, shl(5, i)), keccak256(scratch, 65))
                }
            }
            hash := mload(at)
        }
    }

    /// The node hash `siblings` lead to from child `child` of a 16-ary node.
    function _climb(bytes32 current, uint256 child, bytes32[BITS] calldata siblings) internal pure returns (bytes32) {
        for (uint256 i = 0; i < BITS; i++) {
            current = child & 1 == 0 ? _pair(current, siblings[i]) : _pair(siblings[i], current);
            child >>= 1;
        }
        return current;
    }

    /// keccak256(0x01 ‖ left ‖ right), hashed in the free memory past the allocator's pointer.
    function _pair(bytes32 left, bytes32 right) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let at := mload(0x40)
            mstore8(at, 1)
            mstore(add(at, 1), left)
            mstore(add(at, 33), right)
            hash := keccak256(at, 65)
        }
    }

    /// keccak256(0x00 ‖ values), hashed in the free memory past the allocator's pointer.
    function _leaf(bytes calldata values) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let at := mload(0x40)
            mstore8(at, 0)
            calldatacopy(add(at, 1), values.offset, values.length)
            hash := keccak256(at, add(values.length, 1))
        }
    }

    /// Word `i` of `data` as a signed integer. The caller has checked that `data` holds it: calldataload
    /// past `data` would read the calldata after it.
    function _word(bytes calldata data, uint256 i) internal pure returns (int256 value) {
        assembly {
            value := signextend(3, shr(224, calldataload(add(data.offset, shl(2, i)))))
        }
    }

    /// out[at + i] = felt(word(from, start + i)) for i < count (the caller has checked `from`'s length).
    function _copy(uint256[] memory out, uint256 at, bytes calldata from, uint256 start, uint256 count) internal pure {
        assembly ("memory-safe") {
            let target := add(add(out, 0x20), shl(5, at))
            let source := add(from.offset, shl(2, start))
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                let value := signextend(3, shr(224, calldataload(add(source, shl(2, i)))))
                if slt(value, 0) { value := add(P, value) } // P − |value|: |value| < 2^31 < P
                mstore(add(target, shl(5, i)), value)
            }
        }
    }

    function _felt(int256 value) internal pure returns (uint256) {
        unchecked {
            return value >= 0 ? uint256(value) : P - uint256(-value);
        }
    }

}
