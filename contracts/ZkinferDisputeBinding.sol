// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {BLS} from "./BLS.sol";

/// What the binding needs of ZkinferSignatures: the key each node registered (with its proof of possession),
/// and its BLS check of a signature (BLS.sol behind it).
interface IKeyRegistry {
    function keyOf(address node) external view returns (bytes32);
    function verifySignature(bytes calldata publicKeyPoint, bytes calldata message, bytes calldata signaturePoint)
        external
        view
        returns (bool);
}

/// @title ZkinferDisputeBinding: a dispute only over an answer the node signed, and the steps that read tokens.
/// @notice The game (ZkinferDispute) inherits this. Soundness in three parts (README, "Disputes over LLM answers"):
///  - `_bind` (at `open`): the 154-byte trace claim (zkinfer.llm.trace_claim: the model digest, keccak256 of
///    the prompt ‖ completion token ids as 4-byte words, the counts, the sampling parameters) must carry a BLS
///    signature by the key the node registered in ZkinferSignatures (proof of possession checked there), for the
///    model this game is deployed for. The claim's domain is signed with it, so no other zkinfer signature
///    (statement, receipt, promise) passes for one. The disputed positions are the claim's: prompt + completion
///    − 1. Nobody can open a dispute over an answer the node did not sign, so nobody can make it play (and lose
///    its stake by missing a turn) over one.
///  - `settleEmbed`: h₋₁[t] = round(wte[token_t]·2^12) + round(wpe[t]·2^12), exactly, with token_t read from
///    the token list whose hash the claim holds and both rows opened against `weightsRoot` (pinned at
///    deploy, zkinfer.llm.weights_tree). A node whose trace embeds another token than it signed loses there.
///  - `settleToken` (greedy answers only: temperature 0): the node's own committed h_L[t], ln_f and the two
///    tokens' rows give logit(rival) − logit(signed token at t + 1) in integers (zkinfer.llm.lm_head); above
///    `logitMargin` the node signed a token its trace does not produce and loses.
abstract contract ZkinferDisputeBinding {
    bytes internal constant CLAIM_DOMAIN = "zkinfer.llm-trace-claim/1\x00";
    uint256 internal constant CLAIM_BYTES = 154;
    int256 internal constant EPSILON_2_56 = 720575940379; // round(1e-5 · 2^56): ln_f's epsilon

    struct Binding {
        IKeyRegistry keys; // ZkinferSignatures: node → registered key
        bytes32 model; // the model digest (sha256) the game referees
        bytes32 weightsRoot; // zkinfer.llm.weights_tree's root of that model
        uint32 vocab;
        uint32 context; // position-embedding rows
        int256 logitMargin; // at scale 2^48
    }

    /// What a signed claim states (parsed from its bytes; nothing stored: the game keeps its keccak256).
    struct Bound {
        bytes32 tokens; // keccak256 of prompt ‖ completion ids, 4-byte words
        uint32 promptTokens;
        uint32 completionTokens;
        bool greedy;
    }

    /// A dispute's state as the binding reads it: `live` once a root is posted and until resolved,
    /// `atLeaf` once bisection reached a leaf.
    struct GameState {
        bytes32 answer; // keccak256 of the signed claim
        bytes32 root;
        bytes32 current;
        uint256 index;
        uint256 positions;
        uint256 layers;
        address node;
        address challenger;
        uint64 turn; // seconds a party has for a move
        bool live;
        bool atLeaf;
    }

    /// The disputed answer, given again at each move that reads it: the signed claim (its keccak256 is the
    /// dispute's `answer`) and the token list (its keccak256 is the claim's). Calldata, not storage: cheaper.
    struct Answer {
        bytes claim;
        bytes tokens;
    }

    /// A leaf's int32 big-endian words and its binary siblings from the leaf up: a trace leaf (4 siblings per
    /// 16-ary level, zkinfer.llm.trace_tree) or a row of the weights tree (zkinfer.llm.weights_tree).
    struct Opening {
        bytes values;
        bytes32[] path;
    }

    // storage, not immutable: the deployed code is exactly the compiled runtime (zkinfer.chain.deploy)
    IKeyRegistry public keys;
    bytes32 public model;
    bytes32 public weightsRoot;
    uint256 public vocab;
    uint256 public context;
    int256 public logitMargin;

    /// The challenger's one demand per dispute that the node open its final state h_L[t] (`demandFinalState`).
    struct Demand {
        uint64 deadline;
        uint32 t;
        bool answered;
    }

    mapping(uint256 => Demand) public demands;

    event FinalStateDemanded(uint256 indexed id, uint32 t, uint64 deadline);
    event FinalStateOpened(uint256 indexed id, uint32 t, bytes values, bytes32[] path);

    error BadClaim();
    error WrongModel(bytes32 model);
    error NoRegisteredKey(address node);
    error NotTheNodesKey(address node);
    error InvalidClaimSignature();
    error NotAnEmbedStep();
    error NotAtLeaf();
    error BadTokens();
    error BadRow(string which);
    error NotGreedy();
    error NotAGeneratedToken(uint256 t);
    error NotALie(int256 gap);
    error NotLive();
    error AlreadyDemanded();
    error NoOpenDemand();

    constructor(Binding memory b) {
        keys = b.keys;
        model = b.model;
        weightsRoot = b.weightsRoot;
        vocab = b.vocab;
        context = b.context;
        logitMargin = b.logitMargin;
    }

    // --- hooks the game implements ---

    /// The first leaf of position t (zkinfer.llm.trace.Shape.offset).
    function offset(uint256 t) public view virtual returns (uint256);

    /// A dispute's state (root, current hash and index, positions, layers, challenger, phase facts).
    function _boundState(uint256 id) internal view virtual returns (GameState memory);

    /// Reverts unless `o` is the trace leaf at `index` under the dispute's root, one state (h_L[t]) wide.
    function _openTraceLeaf(uint256 id, Opening calldata o, uint256 index) internal view virtual;

    /// Keep the node's bond in the stake until `until` (the stake's lockBond; it only ever extends).
    function _lockStake(address node, uint64 until) internal virtual;

    /// Resolve the dispute (the game pays the bond and slashes through the stake).
    function _settleBound(uint256 id, bool nodeWon, string memory why) internal virtual;

    // --- open ---

    /// The trace's positions (prompt + completion − 1), once `signaturePoint` is a signature of `claim` by the
    /// key `node` registered (`publicKey` compressed, `publicKeyPoint` uncompressed), for this game's model.
    function _bind(
        address node,
        bytes calldata claim,
        bytes calldata publicKey,
        bytes calldata publicKeyPoint,
        bytes calldata signaturePoint
    ) internal view returns (uint32 positions) {
        Bound memory b = _parseClaim(claim);
        bytes32 registered = keys.keyOf(node);
        if (registered == bytes32(0)) revert NoRegisteredKey(node);
        if (keccak256(publicKey) != registered || !BLS.g1Matches(publicKey, publicKeyPoint)) revert NotTheNodesKey(node);
        if (!keys.verifySignature(publicKeyPoint, claim, signaturePoint)) revert InvalidClaimSignature();
        uint256 count = uint256(b.promptTokens) + b.completionTokens;
        if (b.completionTokens == 0 || count < 2 || count - 1 > context) revert BadClaim();
        positions = uint32(count - 1);
    }

    /// The claim's fields, once it is a trace claim (length, domain) for this game's model.
    function _parseClaim(bytes calldata claim) internal view returns (Bound memory b) {
        if (claim.length != CLAIM_BYTES || keccak256(claim[:26]) != keccak256(CLAIM_DOMAIN)) revert BadClaim();
        if (bytes32(claim[26:58]) != model) revert WrongModel(bytes32(claim[26:58]));
        b.tokens = bytes32(claim[58:90]);
        b.promptTokens = uint32(bytes4(claim[122:126]));
        b.completionTokens = uint32(bytes4(claim[126:130]));
        b.greedy = uint64(bytes8(claim[130:138])) << 1 == 0; // +0.0 or -0.0
    }

    /// The dispute's claim (`claim` must hash to its answer), parsed.
    function _claimOf(GameState memory g, bytes calldata claim) internal view returns (Bound memory) {
        if (keccak256(claim) != g.answer) revert BadClaim();
        return _parseClaim(claim);
    }

    // --- steps settled by the contract alone ---

    /// Settle an `embed(t)` leaf: the node's leaf `values` must be the token's row plus the position's.
    /// Anyone may call once bisection reached the leaf; the outcome is the leaf's, whoever sends it.
    function settleEmbed(uint256 id, uint256 t, bytes calldata values, Answer calldata answer, Opening calldata tokenRow, Opening calldata positionRow)
        external
    {
        GameState memory g = _boundState(id);
        if (!g.live || !g.atLeaf) revert NotAtLeaf();
        if (t >= g.positions || g.index != offset(t)) revert NotAnEmbedStep();
        if (keccak256(abi.encodePacked(bytes1(0x00), values)) != g.current) revert BadRow("leaf");
        uint256 token = _tokenAt(g, answer, t);
        if (token >= vocab) return _settleBound(id, false, "signed a token id outside the vocabulary");
        _checkRow(tokenRow, token, "token");
        _checkRow(positionRow, vocab + t, "position");
        if (positionRow.values.length != tokenRow.values.length) revert BadRow("width");
        bool same = values.length == tokenRow.values.length;
        for (uint256 i = 0; same && i < values.length / 4; i++) {
            same = _int32At(values, i) == _int32At(tokenRow.values, i) + _int32At(positionRow.values, i);
        }
        _settleBound(id, same, same ? "embed leaf is the signed token's" : "embed leaf is not the signed token's");
    }

    /// The challenger shows that the node's own trace does not produce the token it signed after position t
    /// (greedy answers): `rival`'s logit beats it by more than `logitMargin`. `hidden` is the node's last
    /// `post` leaf at t opened against its root (by the challenger itself when its recomputed root is the
    /// node's, else as the node opened it on demand: `FinalStateOpened`); `rows` are ln_f's weight and bias,
    /// `rival`'s and the signed token's rows, opened against `weightsRoot`. Reverts unless it is a lie.
    function settleToken(uint256 id, uint256 t, uint256 rival, Answer calldata answer, Opening calldata hidden, Opening[4] calldata rows)
        external
    {
        GameState memory g = _boundState(id);
        if (!g.live || msg.sender != g.challenger) revert NotLive();
        Bound memory b = _claimOf(g, answer.claim);
        if (!b.greedy) revert NotGreedy();
        if (t >= g.positions || t + 1 < b.promptTokens) revert NotAGeneratedToken(t);
        uint256 signed = _tokenAt(g, answer, t + 1);
        if (signed >= vocab) return _settleBound(id, false, "signed a token id outside the vocabulary");
        if (rival == signed || rival >= vocab) revert NotALie(0);
        _checkHidden(id, t, g.layers, hidden);
        _checkRow(rows[0], vocab + context, "norm weight");
        _checkRow(rows[1], vocab + context + 1, "norm bias");
        _checkRow(rows[2], rival, "rival");
        _checkRow(rows[3], signed, "signed");
        int256 gap = logitGap(hidden.values, rows[0].values, rows[1].values, rows[2].values, rows[3].values);
        if (gap <= logitMargin) revert NotALie(gap);
        _settleBound(id, false, "signed token is not the greedy argmax of the node's trace");
    }

    /// The challenger demands that the node open h_L[t] against its root within one turn (once per dispute):
    /// how a challenger whose recomputed root differs from the node's (so it cannot open the node's leaves
    /// itself) gets the state `settleToken` reads. A node that does not answer loses (`finalStateTimeout`).
    function demandFinalState(uint256 id, uint32 t, bytes calldata claim) external {
        GameState memory g = _boundState(id);
        if (!g.live || msg.sender != g.challenger) revert NotLive();
        Bound memory b = _claimOf(g, claim);
        if (!b.greedy) revert NotGreedy();
        if (t >= g.positions || uint256(t) + 1 < b.promptTokens) revert NotAGeneratedToken(t);
        if (demands[id].deadline != 0) revert AlreadyDemanded();
        uint64 deadline = uint64(block.timestamp) + g.turn;
        demands[id] = Demand(deadline, t, false);
        _lockStake(g.node, deadline + g.turn); // this turn, and one to claim it (the game's lock may end sooner)
        emit FinalStateDemanded(id, t, deadline);
    }

    /// The node's answer: its leaf post(layers − 1, t) and the proof, checked against its root and logged.
    function openFinalState(uint256 id, Opening calldata hidden) external {
        GameState memory g = _boundState(id);
        Demand storage demand = demands[id];
        if (!g.live || msg.sender != g.node) revert NotLive();
        if (demand.deadline == 0 || demand.answered || block.timestamp > demand.deadline) revert NoOpenDemand();
        _checkHidden(id, demand.t, g.layers, hidden);
        demand.answered = true;
        emit FinalStateOpened(id, demand.t, hidden.values, hidden.path);
    }

    /// Anyone, once the node let a demand's turn pass unanswered: the node loses.
    function finalStateTimeout(uint256 id) external {
        GameState memory g = _boundState(id);
        Demand storage demand = demands[id];
        if (!g.live) revert NotLive();
        if (demand.deadline == 0 || demand.answered || block.timestamp <= demand.deadline) revert NoOpenDemand();
        _settleBound(id, false, "node did not open its final state");
    }

    /// logit(rival) − logit(signed) at scale 2^48 from h (zkinfer.llm.lm_head.gap, the same integers).
    function logitGap(bytes calldata h, bytes calldata w, bytes calldata bias, bytes calldata rival, bytes calldata signed)
        public
        pure
        returns (int256 gap)
    {
        if (h.length == 0 || h.length % 4 != 0 || rival.length != h.length || signed.length != h.length) revert BadRow("width");
        int256[] memory y = _normed(h, w, bias);
        unchecked {
            // |y| < 2^64 (`_normed`) and each difference of words < 2^32: every sum stays under 2^112
            for (uint256 i = 0; i < y.length; i++) gap += y[i] * (_int32At(rival, i) - _int32At(signed, i));
        }
    }

    /// ln_f(h) at scale 2^36: (h − mean) / sqrt(var + ε) at 2^24, times the weight, plus the bias.
    function _normed(bytes calldata h, bytes calldata w, bytes calldata bias) internal pure returns (int256[] memory y) {
        if (w.length != h.length || bias.length != h.length) revert BadRow("width");
        uint256 width = h.length / 4;
        if (width > 1 << 16) revert BadRow("width");
        y = new int256[](width);
        // unchecked: words are int32 and width ≤ 2^16, so |c| < 2^48, c² < 2^96, their sum < 2^112; the
        // normalized |x| ≤ 2^24 · √width ≤ 2^32, so |x · w + b · 2^24| < 2^64: nothing nears 2^255
        unchecked {
            int256 total;
            for (uint256 i = 0; i < width; i++) total += _int32At(h, i);
            int256 squares;
            for (uint256 i = 0; i < width; i++) {
                int256 c = int256(width) * _int32At(h, i) - total;
                y[i] = c;
                squares += c * c;
            }
            int256 q = int256(_sqrt(uint256(squares) * 2 ** 32 / width + uint256(EPSILON_2_56) * width * width));
            for (uint256 i = 0; i < width; i++) {
                y[i] = (y[i] * 2 ** 40 / q) * _int32At(w, i) + _int32At(bias, i) * 2 ** 24;
            }
        }
    }

    // --- internals ---

    /// Token t of the dispute's answer (the claim checked against the dispute, the list against the claim).
    function _tokenAt(GameState memory g, Answer calldata answer, uint256 t) internal view returns (uint256) {
        Bound memory b = _claimOf(g, answer.claim);
        bytes calldata tokens = answer.tokens;
        if (tokens.length != 4 * (uint256(b.promptTokens) + b.completionTokens) || keccak256(tokens) != b.tokens) {
            revert BadTokens();
        }
        return uint32(bytes4(tokens[4 * t:4 * t + 4]));
    }

    /// `hidden` must be the node's post(layers − 1, t) leaf: h_L[t].
    function _checkHidden(uint256 id, uint256 t, uint256 layers_, Opening calldata hidden) internal view {
        _openTraceLeaf(id, hidden, offset(t) + 1 + (layers_ - 1) * (t + 3) + t + 2);
    }

    function _checkRow(Opening calldata row, uint256 index, string memory which) internal view {
        if (_rowRoot(row, index) != weightsRoot) revert BadRow(which);
    }

    /// The root a row's siblings lead to from `index` (zero when the index lies beyond the tree).
    function _rowRoot(Opening calldata row, uint256 index) internal pure returns (bytes32 current) {
        current = keccak256(abi.encodePacked(bytes1(0x00), row.values));
        for (uint256 level = 0; level < row.path.length; level++) {
            bytes32 sibling = row.path[level];
            current = index % 2 == 0
                ? keccak256(abi.encodePacked(bytes1(0x01), current, sibling))
                : keccak256(abi.encodePacked(bytes1(0x01), sibling, current));
            index /= 2;
        }
        if (index != 0) return bytes32(0);
    }

    /// Word i of `data` as a signed int32 (callers check i against the length first).
    function _int32At(bytes calldata data, uint256 i) internal pure returns (int256 value) {
        assembly ("memory-safe") {
            value := signextend(3, shr(224, calldataload(add(data.offset, mul(4, i)))))
        }
    }

    /// ⌊√x⌋ (Newton's method from a power of two above the root).
    function _sqrt(uint256 x) internal pure returns (uint256 r) {
        if (x == 0) return 0;
        uint256 bits;
        for (uint256 y = x; y > 0; y >>= 1) bits++;
        r = 1 << ((bits + 1) / 2);
        while (true) {
            uint256 next = (r + x / r) / 2;
            if (next >= r) return r;
            r = next;
        }
    }
}
