// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// A halo2 verifier as ezkl writes it (one per referee circuit, deployed like `deploy-verifier`).
interface IRefereeVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// The stake contract's slashing entry point (contracts/ZkinferStake.sol, SLASHER_ROLE).
interface IStakeSlasher {
    function slashFor(address node, address beneficiary, bytes32 reason) external;
}

/// Disputes over a language model's answer, settled by bisection and one ZK-proven sub-step.
///
/// The node committed (zkinfer.llm.trace) to a Merkle root over its sub-step trace: leaf =
/// keccak256(0x00 ‖ int32 big-endian values), node = keccak256(0x01 ‖ 16 children), padded with
/// zero leaves to 16^depth. A challenger opens with a bond; the node posts its root, then on each turn
/// reveals the 16 children of the current node (an event: nothing stored) and the challenger picks the
/// child it disputes, until one leaf is left; the node shows that leaf's values and the challenger names
/// the attention head it disputes. The node must then prove, with the referee circuit of
/// that sub-step's kind, that the leaf's values are within tolerance of the step computed from its
/// own earlier leaves (opened by Merkle proofs against its root). Whoever misses a turn's deadline
/// loses: a node is slashed through the stake contract, a challenger forfeits its bond to the node.
/// Referee circuits so far: `attend` (one head's online-softmax update: 164 public instances; README).
contract ZkinferDispute {
    uint256 internal constant ARITY = 16;
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant HEADS = 4;
    uint256 internal constant WIDTH = 128;
    uint256 internal constant STATE = 2 * HEADS + WIDTH; // m ‖ d ‖ n, every head
    uint256 internal constant HEAD = WIDTH / HEADS;
    uint256 internal constant HEAD_STATE = 2 + HEAD; // one head's m, d, n: what the referee circuit updates
    int256 internal constant M0 = -1024 * 4096; // the running max before any key, at the trace's scale 2^12

    enum Phase { None, AwaitRoot, AwaitReveal, AwaitPick, AwaitLeaf, AwaitHead, AwaitProof, NodeWon, ChallengerWon }

    struct Dispute {
        address node;
        uint64 deadline;
        Phase phase;
        uint8 level; // the current node's height above the leaves
        uint8 head; // the attention head the challenger disputes in the leaf
        address challenger;
        uint32 positions;
        uint64 index; // the current node's index at its level
        bytes32 answer; // what is disputed (the LLM receipt's digest)
        bytes32 root;
        bytes32 current; // the hash of the current node (a leaf once level is 0)
    }

    // plain storage, not immutable: `deploy` compares the code at the address with the compiled runtime
    IStakeSlasher public stake;
    IRefereeVerifier public attendVerifier;
    uint256 public bond;
    uint64 public turn;
    uint256 public layers;
    int256 public toleranceSteps; // |circuit − claimed| allowed per value, in grid steps (2^-12)

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

    constructor(IStakeSlasher stake_, IRefereeVerifier attendVerifier_, uint256 bond_, uint64 turn_, uint256 layers_, int256 toleranceSteps_) {
        stake = stake_;
        attendVerifier = attendVerifier_;
        bond = bond_;
        turn = turn_;
        layers = layers_;
        toleranceSteps = toleranceSteps_;
    }

    // --- the trace's shape (zkinfer.llm.trace.Shape) ---

    function offset(uint256 t) public view returns (uint256) {
        return t == 0 ? 0 : t * (1 + 3 * layers) + (layers * t * (t - 1)) / 2;
    }

    function depthFor(uint256 count) public pure returns (uint8 depth) {
        uint256 size = 1;
        while (size < count) { size *= ARITY; depth++; }
        if (depth == 0) depth = 1;
    }

    // --- the game ---

    function open(address node, bytes32 answer, uint32 positions) external payable returns (uint256 id) {
        if (msg.value != bond) revert WrongBond(msg.value, bond);
        id = ++disputeCount;
        disputes[id] = Dispute(node, uint64(block.timestamp) + turn, Phase.AwaitRoot, 0, 0, msg.sender, positions, 0, answer, bytes32(0), bytes32(0));
        emit Opened(id, node, msg.sender, answer, positions);
    }

    function postRoot(uint256 id, bytes32 root) external {
        Dispute storage d = _turn(id, Phase.AwaitRoot, true);
        uint8 depth = depthFor(offset(d.positions));
        (d.root, d.current, d.level, d.index) = (root, root, depth, 0);
        _next(d, Phase.AwaitReveal);
        emit RootPosted(id, root, depth);
    }

    function reveal(uint256 id, bytes32[16] calldata children) external {
        Dispute storage d = _turn(id, Phase.AwaitReveal, true);
        if (keccak256(abi.encodePacked(bytes1(0x01), children)) != d.current) revert BadChildren();
        _next(d, Phase.AwaitPick);
        emit Revealed(id, d.level, d.index, children);
    }

    function pick(uint256 id, bytes32[16] calldata children, uint8 child) external {
        Dispute storage d = _turn(id, Phase.AwaitPick, false);
        if (child >= ARITY || keccak256(abi.encodePacked(bytes1(0x01), children)) != d.current) revert BadChildren();
        uint64 index = d.index * uint64(ARITY) + child;
        uint8 level = d.level - 1;
        if (uint256(index) * ARITY ** level >= offset(d.positions)) revert PaddingPicked();
        (d.index, d.level, d.current) = (index, level, children[child]);
        _next(d, level == 0 ? Phase.AwaitLeaf : Phase.AwaitReveal);
        emit Picked(id, level, index);
    }

    /// The node shows the disputed leaf's values (an event), so the challenger can name the head it disputes.
    function revealLeaf(uint256 id, bytes calldata values) external {
        Dispute storage d = _turn(id, Phase.AwaitLeaf, true);
        if (keccak256(abi.encodePacked(bytes1(0x00), values)) != d.current) revert BadOpening("leaf");
        _next(d, Phase.AwaitHead);
        emit LeafRevealed(id, d.index, values);
    }

    /// The challenger names the attention head whose update it disputes: the referee proves that head only.
    function pickHead(uint256 id, uint8 head) external {
        Dispute storage d = _turn(id, Phase.AwaitHead, false);
        if (head >= HEADS) revert BadChildren();
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

    struct Opening {
        bytes values; // int32 big-endian words
        bytes32[16][] path; // per level from the leaves up: the 16 children holding the path
    }

    /// The node's defence of an `attend` leaf: (layer, t, j) from the leaf index and `t`; the inputs are
    /// its leaves index − 1 (the state before key j; the initial state when j = 0), pre(layer, t) (q) and
    /// pre(layer, j) (k, v), opened in that order; `claimed` is the leaf's own values and `outputs` the
    /// circuit's public outputs (field elements). The contract lays out the proof's public instances
    /// itself, [state ‖ q ‖ k ‖ v ‖ outputs], from the opened values: the inputs cost no second calldata.
    function settleAttend(
        uint256 id,
        uint256 t,
        Opening[3] calldata inputs,
        bytes calldata claimed,
        bytes calldata proof,
        uint256[] calldata outputs
    ) external {
        Dispute storage d = _turn(id, Phase.AwaitProof, true);
        (uint256 layer, uint256 j) = _attendStep(d, t);
        if (claimed.length != 4 * STATE || keccak256(abi.encodePacked(bytes1(0x00), claimed)) != d.current) {
            revert BadOpening("claimed");
        }
        if (j > 0) _open(d, inputs[0], d.index - 1, "previous");
        _open(d, inputs[1], offset(t) + 1 + layer * (t + 3), "preT");
        _open(d, inputs[2], offset(j) + 1 + layer * (j + 3), "preJ");
        uint256[] memory instances = _instances(d.head, j > 0, inputs, claimed, outputs);
        try attendVerifier.verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }
        _resolve(id, d, true, "node proved the step");
    }

    function _attendStep(Dispute storage d, uint256 t) internal view returns (uint256 layer, uint256 j) {
        uint256 index = d.index;
        if (t >= d.positions || index < offset(t) || index >= offset(t + 1)) revert BadPosition();
        uint256 rest = index - offset(t);
        if (rest == 0) revert NotAnAttendStep();
        layer = (rest - 1) / (t + 3);
        uint256 inner = (rest - 1) % (t + 3);
        if (inner == 0 || inner == t + 2) revert NotAnAttendStep();
        j = inner - 1;
    }

    /// The head's instances [m, d, n ‖ q ‖ k ‖ v ‖ m', d', n'] as field elements, from the opened int32 words
    /// (leaf layouts: state m[4] ‖ d[4] ‖ n[128] by head; pre q[128] ‖ k[128] ‖ v[128]).
    function _instances(uint256 h, bool hasPrevious, Opening[3] calldata inputs, bytes calldata claimed, uint256[] calldata outputs)
        internal
        view
        returns (uint256[] memory instances)
    {
        if (outputs.length != HEAD_STATE) revert InstanceMismatch(outputs.length);
        instances = new uint256[](2 * HEAD_STATE + 3 * HEAD);
        instances[0] = _felt(hasPrevious ? _word(inputs[0].values, h) : M0);
        instances[1] = _felt(hasPrevious ? _word(inputs[0].values, HEADS + h) : int256(0));
        for (uint256 i = 0; i < HEAD; i++) {
            instances[2 + i] = _felt(hasPrevious ? _word(inputs[0].values, 2 * HEADS + h * HEAD + i) : int256(0));
            instances[HEAD_STATE + i] = _felt(_word(inputs[1].values, h * HEAD + i));
            instances[HEAD_STATE + HEAD + i] = _felt(_word(inputs[2].values, WIDTH + h * HEAD + i));
            instances[HEAD_STATE + 2 * HEAD + i] = _felt(_word(inputs[2].values, 2 * WIDTH + h * HEAD + i));
        }
        uint256 out = HEAD_STATE + 3 * HEAD;
        int256 tolerance = toleranceSteps;
        for (uint256 i = 0; i < HEAD_STATE; i++) {
            uint256 at = i < 2 ? i * HEADS + h : 2 * HEADS + h * HEAD + (i - 2);
            int256 proven = _signed(outputs[i]);
            int256 claim = _word(claimed, at);
            int256 gap = proven > claim ? proven - claim : claim - proven;
            if (gap > tolerance) revert OutsideTolerance(at, proven, claim);
            instances[out + i] = outputs[i];
        }
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
        d.phase = phase;
        d.deadline = uint64(block.timestamp) + turn;
    }

    function _resolve(uint256 id, Dispute storage d, bool nodeWon, string memory why) internal {
        d.phase = nodeWon ? Phase.NodeWon : Phase.ChallengerWon;
        if (nodeWon) {
            credit[d.node] += bond;
        } else {
            credit[d.challenger] += bond;
            if (address(stake) != address(0)) stake.slashFor(d.node, d.challenger, keccak256(abi.encode(address(this), id)));
        }
        emit Resolved(id, nodeWon, why);
    }

    function _open(Dispute storage d, Opening calldata o, uint256 index, string memory which) internal view {
        if (o.path.length != _depth(d)) revert BadOpening(which);
        bytes32 current = keccak256(abi.encodePacked(bytes1(0x00), o.values));
        for (uint256 level = 0; level < o.path.length; level++) {
            if (o.path[level][index % ARITY] != current) revert BadOpening(which);
            current = keccak256(abi.encodePacked(bytes1(0x01), o.path[level]));
            index /= ARITY;
        }
        if (current != d.root) revert BadOpening(which);
    }

    function _depth(Dispute storage d) internal view returns (uint256) {
        return depthFor(offset(d.positions));
    }

    function _word(bytes calldata data, uint256 i) internal pure returns (int256) {
        return int256(int32(uint32(bytes4(data[4 * i:4 * i + 4]))));
    }

    function _felt(int256 value) internal pure returns (uint256) {
        return value >= 0 ? uint256(value) : P - uint256(-value);
    }

    function _signed(uint256 felt) internal pure returns (int256) {
        if (felt >= P) return type(int256).min; // never equal to a committed value
        return felt > P / 2 ? -int256(P - felt) : int256(felt);
    }
}
