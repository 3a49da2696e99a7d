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
        if (m.length < OUTPUT_AT + 1 || m[m.length - 1] != "}") revert NotAStatement(m.length);
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

    /// The byte at `i`, or 0 past the end (no character of the grammar is 0).
    function _at(bytes calldata m, uint256 i) private pure returns (uint256 c) {
        if (i >= m.length) return 0;
        assembly ("memory-safe") {
            c := byte(0, calldataload(add(m.offset, i)))
        }
    }

    /// 64 lowercase hex digits at `at`, as 32 bytes (big-endian, as written).
    function _hex32(bytes calldata m, uint256 at) private pure returns (bytes32) {
        if (at + 64 > m.length) revert NotAStatement(at);
        uint256 high;
        uint256 low;
        assembly ("memory-safe") {
            high := calldataload(add(m.offset, at))
            low := calldataload(add(m.offset, add(at, 32)))
        }
        (bool okHigh, uint256 h) = _hexWord(high);
        (bool okLow, uint256 l) = _hexWord(low);
        if (!okHigh || !okLow) revert NotAStatement(at);
        return bytes32((h << 128) | l);
    }

    uint256 private constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;
    uint256 private constant HIGHS = ONES * 0x80;

    /// 32 ASCII characters, each [0-9a-f], as the 16 bytes they spell; SWAR, a byte per lane (no byte carries
    /// into the next: every sum below stays under 0x100 for bytes under 0x80, and a byte of 0x80 or more fails).
    function _hexWord(uint256 w) private pure returns (bool ok, uint256 x) {
        unchecked {
            uint256 digit = (w + ONES * (0x80 - 0x30)) & ~(w + ONES * (0x7f - 0x39)) & HIGHS; // 0-9
            uint256 letter = (w + ONES * (0x80 - 0x61)) & ~(w + ONES * (0x7f - 0x66)) & HIGHS; // a-f
            ok = (w & HIGHS) == 0 && (digit | letter) == HIGHS;
            x = (w & (ONES * 0x0f)) + ((w >> 6) & ONES) * 9; // a nibble per byte ('a' has bit 6 set)
            x = (x | (x >> 4)) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
            x = (x | (x >> 8)) & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;
            x = (x | (x >> 16)) & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
            x = (x | (x >> 32)) & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff;
            x = (x | (x >> 64)) & 0x00000000000000000000000000000000ffffffffffffffffffffffffffffffff;
        }
    }

    /// `[[ints],[ints],...]` (possibly `[]`, tensors possibly `[]`); returns the offset after it.
    function _intArrays(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (_at(m, i) != 0x5b) revert NotAStatement(i); // [
        if (_at(m, i + 1) == 0x5d) return i + 2; // ]
        i += 1;
        while (true) {
            i = _intArray(m, i);
            uint256 c = _at(m, i);
            if (c == 0x5d) return i + 1;
            if (c != 0x2c) revert NotAStatement(i); // ,
            i += 1;
        }
        return i; // unreachable
    }

    /// `[int,int,...]` (possibly `[]`), each -?(0|[1-9][0-9]*) of at most MAX_DIGITS digits (no leading zero,
    /// no -0); returns the offset after it. One assembly loop, as this runs over every output value; it reads
    /// no byte past the message's last, a `}` (parse checks it first) that stops every loop here.
    function _intArray(bytes calldata m, uint256 i) private pure returns (uint256) {
        uint256 bad;
        uint256 p;
        assembly ("memory-safe") {
            p := add(m.offset, i)
            switch eq(byte(0, calldataload(p)), 0x5b) // [
            case 0 { bad := 1 }
            default {
                p := add(p, 1)
                switch eq(byte(0, calldataload(p)), 0x5d) // ]
                case 1 { p := add(p, 1) }
                default {
                    for {} 1 {} {
                        let c := byte(0, calldataload(p))
                        let negative := eq(c, 0x2d) // -
                        if negative {
                            p := add(p, 1)
                            c := byte(0, calldataload(p))
                        }
                        let start := p
                        let zero := eq(c, 0x30)
                        for {} lt(sub(c, 0x30), 10) {} {
                            p := add(p, 1)
                            c := byte(0, calldataload(p))
                        }
                        let digits := sub(p, start)
                        if or(or(iszero(digits), gt(digits, MAX_DIGITS)), and(zero, or(gt(digits, 1), negative))) {
                            bad := 1
                            break
                        }
                        p := add(p, 1)
                        if eq(c, 0x5d) { break } // ]
                        if iszero(eq(c, 0x2c)) { // ,
                            bad := 1
                            break
                        }
                    }
                }
            }
            p := sub(p, m.offset)
        }
        if (bad != 0) revert NotAStatement(p);
        return p;
    }

    /// A request id's characters up to its closing quote; returns the quote's offset.
    function _requestId(bytes calldata m, uint256 i) private pure returns (uint256) {
        uint256 start = i;
        uint256 c = _at(m, i);
        while (c != 0x22) { // "
            bool ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e
                || c == 0x5f || c == 0x3a || c == 0x2d; // A-Z a-z 0-9 . _ : -
            if (!ok || i - start >= MAX_REQUEST_ID) revert NotAStatement(i);
            c = _at(m, ++i);
        }
        if (i == start) revert NotAStatement(i);
        return i;
    }

    /// `null` or `["<64 hex>",...]` (possibly `[]`); returns the offset after it.
    function _weights(bytes calldata m, uint256 i) private pure returns (uint256) {
        if (i + 4 <= m.length && bytes4(m[i:i + 4]) == bytes4("null")) return i + 4;
        if (_at(m, i) != 0x5b) revert NotAStatement(i);
        if (_at(m, i + 1) == 0x5d) return i + 2;
        i += 1;
        while (true) {
            if (_at(m, i) != 0x22 || _at(m, i + 65) != 0x22) revert NotAStatement(i);
            _hex32(m, i + 1);
            i += 66;
            uint256 c = _at(m, i);
            if (c == 0x5d) return i + 1;
            if (c != 0x2c) revert NotAStatement(i);
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
