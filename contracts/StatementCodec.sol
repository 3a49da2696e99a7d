// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title StatementCodec: read a signed zkinfer statement's bytes on chain.
/// @notice What a node signs is `DOMAIN ‖ canonical_json(statement)` (zkinfer/core/formats/statement.py):
///  DOMAIN = "zkinfer.statement/1\x00", then the JSON with sorted keys and no spaces:
///    {"circuit":"sha256:<64 hex>","input_digest":"sha256:<64 hex>","output":[[<int>,...],...],
///     "output_scales":[<int>,...],"request_id":"<id>","schema":"zkinfer.statement/1",
///     "weights_commitment":null | ["<64 hex>",...]}
///  `parse` accepts exactly that grammar and nothing else (lowercase hex; integers as Python writes them,
///  -?(0|[1-9][0-9]*) and at most 77 digits; request ids [A-Za-z0-9._:-]{1,128}, which need no escapes), so
///  the fields it returns are the statement's fields, and two statements have equal values exactly when the
///  bytes of those fields are equal. It reverts NotAStatement(offset) at the first byte that does not fit.
library StatementCodec {
    error NotAStatement(uint256 offset);

    /// Where each field lies in the message (offsets into it; ends exclusive), and the two digests decoded.
    struct Statement {
        bytes32 circuit; // the circuit digest's 32 bytes (sha256:<hex> decoded): the stake contract's modelId
        bytes32 inputDigest; // the input digest's 32 bytes
        uint256 outputStart; // the output array, `[[...],...]`
        uint256 outputEnd;
        uint256 scalesStart; // the output scales array, `[...]`
        uint256 scalesEnd;
        uint256 requestIdStart; // the request id's characters (no quotes)
        uint256 requestIdEnd;
        uint256 weightsStart; // `null` or `["<64 hex>",...]`
        uint256 weightsEnd;
    }

    bytes internal constant DOMAIN = "zkinfer.statement/1\x00";
    bytes private constant HEAD = 'zkinfer.statement/1\x00{"circuit":"sha256:';
    bytes private constant INPUT_KEY = '","input_digest":"sha256:';
    bytes private constant OUTPUT_KEY = '","output":';
    bytes private constant SCALES_KEY = ',"output_scales":';
    bytes private constant REQUEST_KEY = ',"request_id":"';
    bytes private constant SCHEMA_KEY = '","schema":"zkinfer.statement/1","weights_commitment":';
    uint256 private constant CIRCUIT_AT = 39; // HEAD.length
    uint256 private constant INPUT_AT = 128; // CIRCUIT_AT + 64 + INPUT_KEY.length
    uint256 private constant OUTPUT_AT = 203; // INPUT_AT + 64 + OUTPUT_KEY.length
    uint256 private constant MAX_DIGITS = 77; // |value| <= (BN254 r - 1) / 2 < 10^77
    uint256 private constant MAX_REQUEST_ID = 128;
    uint256 internal constant FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    // ---- parsing ----

    function parse(bytes calldata m) internal pure returns (Statement memory s) {
        _expect(m, 0, HEAD);
        s.circuit = _hex32(m, CIRCUIT_AT);
        _expect(m, CIRCUIT_AT + 64, INPUT_KEY);
        s.inputDigest = _hex32(m, INPUT_AT);
        _expect(m, INPUT_AT + 64, OUTPUT_KEY);
        s.outputStart = OUTPUT_AT;
        s.outputEnd = _intArrays(m, OUTPUT_AT);
        _expect(m, s.outputEnd, SCALES_KEY);
        s.scalesStart = s.outputEnd + SCALES_KEY.length;
        s.scalesEnd = _intArray(m, s.scalesStart);
        _expect(m, s.scalesEnd, REQUEST_KEY);
        s.requestIdStart = s.scalesEnd + REQUEST_KEY.length;
        s.requestIdEnd = _requestId(m, s.requestIdStart);
        _expect(m, s.requestIdEnd, SCHEMA_KEY);
        s.weightsStart = s.requestIdEnd + SCHEMA_KEY.length;
        s.weightsEnd = _weights(m, s.weightsStart);
        if (s.weightsEnd + 1 != m.length || m[s.weightsEnd] != "}") revert NotAStatement(s.weightsEnd);
    }

    // ---- what a parsed statement says ----

    function requestId(bytes calldata m, Statement memory s) internal pure returns (bytes calldata) {
        return m[s.requestIdStart:s.requestIdEnd];
    }

    /// What the output is a function of: circuit, input and weights (zkinfer's Statement.claim()). Two
    /// statements of one claim with different answers are a lie: the circuit is deterministic.
    function claimHash(bytes calldata m, Statement memory s) internal pure returns (bytes32) {
        return keccak256(abi.encode(s.circuit, s.inputDigest, keccak256(m[s.weightsStart:s.weightsEnd])));
    }

    /// The answer: output values and their scales (equal hashes <=> equal values, the grammar being canonical).
    function answerHash(bytes calldata m, Statement memory s) internal pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(m[s.outputStart:s.outputEnd]), keccak256(m[s.scalesStart:s.scalesEnd])));
    }

    /// True when the weights commitment is null (the circuit does not hash its weights).
    function weightsNull(Statement memory s) internal pure returns (bool) {
        return s.weightsEnd - s.weightsStart == 4;
    }

    /// The weights commitment's field elements as the proof's instances carry them: ezkl writes a felt as 64
    /// hex digits of its little-endian bytes. Empty when the commitment is null.
    function weightsFelts(bytes calldata m, Statement memory s) internal pure returns (uint256[] memory felts) {
        if (weightsNull(s)) return felts;
        uint256 count = (s.weightsEnd - s.weightsStart - 1) / 67; // each `"<64>"` plus `,` or `]`
        felts = new uint256[](count);
        for (uint256 k = 0; k < count; ++k) {
            felts[k] = _reverseBytes(uint256(_hex32(m, s.weightsStart + 2 + 67 * k)));
        }
    }

    /// The output values, flat in row-major order, and how many values each output tensor has.
    function outputValues(bytes calldata m, Statement memory s)
        internal
        pure
        returns (int256[] memory values, uint256[] memory lengths)
    {
        (uint256 nTensors, uint256 nValues) = _countArrays(m, s.outputStart, s.outputEnd);
        values = new int256[](nValues);
        lengths = new uint256[](nTensors);
        uint256 v;
        uint256 t;
        uint256 i = s.outputStart + 1;
        while (t < nTensors) {
            uint256 start = v;
            i += 1; // '['
            while (m[i] != "]") {
                (values[v++], i) = _readInt(m, i);
                if (m[i] == ",") i += 1;
            }
            lengths[t++] = v - start;
            i += 2; // "]," or "]]"
        }
    }

    /// The output scales, one per output tensor.
    function outputScales(bytes calldata m, Statement memory s) internal pure returns (int256[] memory scales) {
        (, uint256 count) = _countArrays(m, s.scalesStart, s.scalesEnd);
        scales = new int256[](count);
        uint256 i = s.scalesStart + 1;
        for (uint256 k = 0; k < count; ++k) {
            (scales[k], i) = _readInt(m, i);
            i += 1;
        }
    }

    /// A signed output value as the BN254 field element the proof carries (negative v is r + v).
    function toFelt(int256 value) internal pure returns (uint256) {
        return value >= 0 ? uint256(value) : FIELD_MODULUS - uint256(-value);
    }

    // ---- the grammar ----

    function _expect(bytes calldata m, uint256 at, bytes memory literal) private pure {
        uint256 end = at + literal.length;
        if (end > m.length || keccak256(m[at:end]) != keccak256(literal)) revert NotAStatement(at);
    }

    /// 64 lowercase hex digits at `at`, as 32 bytes (big-endian, as written).
    function _hex32(bytes calldata m, uint256 at) private pure returns (bytes32 out) {
        if (at + 64 > m.length) revert NotAStatement(at);
        uint256 value;
        for (uint256 k = 0; k < 64; ++k) {
            uint8 c = uint8(m[at + k]);
            uint256 digit;
            if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
            else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
            else revert NotAStatement(at + k);
            value = (value << 4) | digit;
        }
        out = bytes32(value);
    }

    /// `[[ints],[ints],...]` (possibly `[]`, tensors possibly `[]`); returns the offset after it.
    function _intArrays(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (i + 1 >= m.length || m[i] != "[") revert NotAStatement(i);
        if (m[i + 1] == "]") return i + 2;
        i += 1;
        while (true) {
            i = _intArray(m, i);
            if (i >= m.length) revert NotAStatement(i);
            if (m[i] == "]") return i + 1;
            if (m[i] != ",") revert NotAStatement(i);
            i += 1;
        }
        return i; // unreachable
    }

    /// `[int,int,...]` (possibly `[]`); returns the offset after it.
    function _intArray(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (i + 1 >= m.length || m[i] != "[") revert NotAStatement(i);
        if (m[i + 1] == "]") return i + 2;
        i += 1;
        while (true) {
            i = _skipInt(m, i);
            if (i >= m.length) revert NotAStatement(i);
            if (m[i] == "]") return i + 1;
            if (m[i] != ",") revert NotAStatement(i);
            i += 1;
        }
        return i; // unreachable
    }

    /// -?(0|[1-9][0-9]*), at most MAX_DIGITS digits; returns the offset after it.
    function _skipInt(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (i < m.length && m[i] == "-") i += 1;
        uint256 start = i;
        while (i < m.length && uint8(m[i]) >= 0x30 && uint8(m[i]) <= 0x39) i += 1;
        uint256 digits = i - start;
        if (digits == 0 || digits > MAX_DIGITS || (digits > 1 && m[start] == "0")) revert NotAStatement(start);
        if (digits == 1 && m[start] == "0" && start > 0 && m[start - 1] == "-") revert NotAStatement(start); // -0
        return i;
    }

    /// A request id's characters up to its closing quote; returns the quote's offset.
    function _requestId(bytes calldata m, uint256 i) private pure returns (uint256) {
        uint256 start = i;
        while (i < m.length && i - start <= MAX_REQUEST_ID) {
            bytes1 c = m[i];
            if (c == '"') break;
            bool ok = (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "."
                || c == "_" || c == ":" || c == "-";
            if (!ok) revert NotAStatement(i);
            i += 1;
        }
        if (i == start || i - start > MAX_REQUEST_ID || i >= m.length) revert NotAStatement(i);
        return i;
    }

    /// `null` or `["<64 hex>",...]` (possibly `[]`); returns the offset after it.
    function _weights(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (i + 4 <= m.length && keccak256(m[i:i + 4]) == keccak256("null")) return i + 4;
        if (i + 1 >= m.length || m[i] != "[") revert NotAStatement(i);
        if (m[i + 1] == "]") return i + 2;
        i += 1;
        while (true) {
            if (i + 67 > m.length || m[i] != '"' || m[i + 65] != '"') revert NotAStatement(i);
            _hex32(m, i + 1);
            i += 66;
            if (m[i] == "]") return i + 1;
            if (m[i] != ",") revert NotAStatement(i);
            i += 1;
        }
        return i; // unreachable
    }

    /// How many inner arrays and values lie in the validated `[[...],...]` or `[...]` slice [start, end).
    function _countArrays(bytes calldata m, uint256 start, uint256 end) private pure returns (uint256 arrays, uint256 values) {
        bool inNumber;
        for (uint256 i = start + 1; i + 1 < end; ++i) {
            bytes1 c = m[i];
            if (c == "[") arrays += 1;
            bool digit = c == "-" || (c >= "0" && c <= "9");
            if (digit && !inNumber) values += 1;
            inNumber = digit;
        }
    }

    /// The integer at `i` (validated by the grammar) and the offset after it.
    function _readInt(bytes calldata m, uint256 i) private pure returns (int256 value, uint256 next) {
        bool negative = m[i] == "-";
        if (negative) i += 1;
        uint256 magnitude;
        while (i < m.length && uint8(m[i]) >= 0x30 && uint8(m[i]) <= 0x39) {
            magnitude = magnitude * 10 + (uint8(m[i]) - 0x30);
            i += 1;
        }
        if (magnitude > FIELD_MODULUS / 2) revert NotAStatement(i);
        value = negative ? -int256(magnitude) : int256(magnitude);
        next = i;
    }

    function _reverseBytes(uint256 v) private pure returns (uint256 r) {
        for (uint256 k = 0; k < 32; ++k) {
            r = (r << 8) | (v & 0xff);
            v >>= 8;
        }
    }
}
