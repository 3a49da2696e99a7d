// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BLS: zkinfer's BLS12-381 signatures checked on chain with the EIP-2537 precompiles.
/// @notice The ciphersuite is py_ecc's G2ProofOfPossession (IETF BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_):
///  public keys in G1 (48-byte compressed), signatures in G2 (96-byte compressed), hash_to_G2 per RFC 9380.
///  The precompiles take uncompressed points (G1: x ‖ y, G2: x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1, each field element
///  64 bytes: 16 zero bytes and 48 big-endian bytes), so a caller passes each point uncompressed and
///  `g1Matches` / `g2Matches` check that it is exactly the compressed bytes' point: the same x, the y the sign
///  bit picks (the precompiles check that the point is on the curve: x then fixes y up to its sign). The
///  compressed key stays the identity. Subgroup membership: the PAIRING precompile checks every input point
///  (EIP-2537; the execution specs raise on a failed check), so `verify` relies on it; G1ADD / G2ADD do not
///  check it (only the curve equation): sum only keys checked before (a proof of possession verified).
///  A failing precompile consumes the gas it is given: each call here gets exactly its EIP-2537 price, so a
///  hostile point costs the caller that and `verify` returns false.
library BLS {
    bytes internal constant DST_SIG = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    bytes internal constant DST_POP = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    uint256 internal constant G1_POINT_BYTES = 128;
    uint256 internal constant G2_POINT_BYTES = 256;
    uint256 internal constant PUBLIC_KEY_BYTES = 48;
    uint256 internal constant SIGNATURE_BYTES = 96;

    // EIP-2537 addresses and prices (Prague).
    address private constant G1ADD = address(0x0b);
    address private constant G2ADD = address(0x0d);
    address private constant PAIRING = address(0x0f);
    address private constant MAP_FP2_TO_G2 = address(0x11);
    address private constant MODEXP = address(0x05);
    uint256 private constant G1ADD_GAS = 375;
    uint256 private constant G2ADD_GAS = 600;
    uint256 private constant MAP_FP2_TO_G2_GAS = 23_800;
    uint256 private constant PAIRING_BASE_GAS = 37_700;
    uint256 private constant PAIRING_PER_PAIR_GAS = 32_600;

    // The base field modulus p in two words (high 16 bytes, low 32 bytes), and (p - 1) / 2 the same way.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    uint256 private constant HALF_HI = 0x0d0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant HALF_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;
    // -G1, the negated generator (x, p - y), as the pairing check's second G1 input.
    bytes private constant NEG_G1 =
        hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca";

    uint256 private constant FLAGS_MASK = 0xe0 << 120; // the three flag bits atop a 16-byte high word
    uint256 private constant FLAG_COMPRESSED = 0x80;
    uint256 private constant FLAG_INFINITY = 0x40;
    uint256 private constant FLAG_SIGN = 0x20;

    // ---- encodings ----

    /// True when `point` (128 bytes) is the point the compressed key `compressed` (48 bytes) names: compressed
    /// flag set, not infinity, same x, and the y its sign bit picks. (On the curve: checked by the precompiles.)
    function g1Matches(bytes memory compressed, bytes memory point) internal pure returns (bool) {
        if (compressed.length != PUBLIC_KEY_BYTES || point.length != G1_POINT_BYTES) return false;
        (uint256 flags, uint256 xHi, uint256 xLo) = _compressedField(compressed, 0);
        if (flags & (FLAG_COMPRESSED | FLAG_INFINITY) != FLAG_COMPRESSED) return false;
        (uint256 pxHi, uint256 pxLo) = _paddedField(point, 0);
        (uint256 yHi, uint256 yLo) = _paddedField(point, 64);
        if (pxHi != xHi || pxLo != xLo || (yHi | yLo) == 0) return false;
        return _isLarger(yHi, yLo) == (flags & FLAG_SIGN != 0);
    }

    /// True when `point` (256 bytes) is the point the compressed signature `compressed` (96 bytes: x.c1 with
    /// the flags, then x.c0) names; the sign bit is y.c1's, or y.c0's when y.c1 is zero (ZCash's encoding).
    function g2Matches(bytes memory compressed, bytes memory point) internal pure returns (bool) {
        if (compressed.length != SIGNATURE_BYTES || point.length != G2_POINT_BYTES) return false;
        (uint256 flags, uint256 x1Hi, uint256 x1Lo) = _compressedField(compressed, 0);
        (, uint256 x0Hi, uint256 x0Lo) = _compressedField(compressed, 48);
        if (flags & (FLAG_COMPRESSED | FLAG_INFINITY) != FLAG_COMPRESSED) return false;
        if (uint8(compressed[48]) & 0xe0 != 0) return false; // the second half carries no flags
        (uint256 px0Hi, uint256 px0Lo) = _paddedField(point, 0);
        (uint256 px1Hi, uint256 px1Lo) = _paddedField(point, 64);
        if (px0Hi != x0Hi || px0Lo != x0Lo || px1Hi != x1Hi || px1Lo != x1Lo) return false;
        (uint256 y0Hi, uint256 y0Lo) = _paddedField(point, 128);
        (uint256 y1Hi, uint256 y1Lo) = _paddedField(point, 192);
        if ((y0Hi | y0Lo | y1Hi | y1Lo) == 0) return false;
        bool larger = (y1Hi | y1Lo) != 0 ? _isLarger(y1Hi, y1Lo) : _isLarger(y0Hi, y0Lo);
        return larger == (flags & FLAG_SIGN != 0);
    }

    // ---- hashing to G2 (RFC 9380, BLS12381G2_XMD:SHA-256_SSWU_RO_) ----

    /// hash_to_curve: two field elements of Fp2 mapped (MAP_FP2_TO_G2 clears the cofactor) and added.
    function hashToG2(bytes memory message, bytes memory dst) internal view returns (bytes memory) {
        bytes memory uniform = expandMessageXmd(message, dst);
        bytes memory u0 = new bytes(128);
        bytes memory u1 = new bytes(128);
        _reduce(uniform, 0, u0, 0);
        _reduce(uniform, 64, u0, 64);
        _reduce(uniform, 128, u1, 0);
        _reduce(uniform, 192, u1, 64);
        return addG2(_call(MAP_FP2_TO_G2, u0, MAP_FP2_TO_G2_GAS, 256), _call(MAP_FP2_TO_G2, u1, MAP_FP2_TO_G2_GAS, 256));
    }

    /// expand_message_xmd with SHA-256 to 256 bytes (what hash_to_field needs for 2 elements of Fp2).
    function expandMessageXmd(bytes memory message, bytes memory dst) internal view returns (bytes memory out) {
        require(dst.length <= 255, "BLS: DST too long");
        bytes memory dstPrime = abi.encodePacked(dst, uint8(dst.length));
        bytes32 b0 = sha256(abi.encodePacked(new bytes(64), message, uint16(256), uint8(0), dstPrime));
        bytes32 bi = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        out = new bytes(256);
        assembly ("memory-safe") {
            mstore(add(out, 0x20), bi)
        }
        for (uint256 i = 2; i <= 8; ++i) {
            bi = sha256(abi.encodePacked(b0 ^ bi, uint8(i), dstPrime));
            assembly ("memory-safe") {
                mstore(add(out, mul(i, 0x20)), bi)
            }
        }
    }

    // ---- group operations and the pairing check ----

    /// a + b in G1 (128-byte points; reverts unless both are on the curve). For aggregating keys.
    function addG1(bytes memory a, bytes memory b) internal view returns (bytes memory) {
        return _call(G1ADD, abi.encodePacked(a, b), G1ADD_GAS, 128);
    }

    /// a + b in G2 (256-byte points; reverts unless both are on the curve). For aggregating signatures.
    function addG2(bytes memory a, bytes memory b) internal view returns (bytes memory) {
        return _call(G2ADD, abi.encodePacked(a, b), G2ADD_GAS, 256);
    }

    /// e(publicKey, hashed) == e(g1, signature), for a message already hashed to G2: false (never a revert)
    /// for points off the curve, outside the subgroup or not canonically encoded.
    function verifyHashed(bytes memory publicKey, bytes memory hashed, bytes memory signature) internal view returns (bool) {
        if (publicKey.length != G1_POINT_BYTES || hashed.length != G2_POINT_BYTES || signature.length != G2_POINT_BYTES) {
            return false;
        }
        bytes memory input = abi.encodePacked(publicKey, hashed, NEG_G1, signature);
        (bool ok, bytes memory out) = PAIRING.staticcall{gas: PAIRING_BASE_GAS + 2 * PAIRING_PER_PAIR_GAS}(input);
        return ok && out.length == 32 && uint256(bytes32(out)) == 1;
    }

    /// A signature (uncompressed) by a key (uncompressed) of `message` under `dst`.
    function verify(bytes memory publicKey, bytes memory message, bytes memory signature, bytes memory dst)
        internal
        view
        returns (bool)
    {
        return verifyHashed(publicKey, hashToG2(message, dst), signature);
    }

    /// A proof of possession: the key's signature of its own compressed bytes under the POP tag.
    function verifyPossession(bytes memory compressed, bytes memory publicKey, bytes memory proof) internal view returns (bool) {
        return g1Matches(compressed, publicKey) && verify(publicKey, compressed, proof, DST_POP);
    }

    // ---- internals ----

    /// The 64 bytes at `from` of `uniform` reduced mod p (MODEXP with exponent 1), written padded at `at` of `into`.
    function _reduce(bytes memory uniform, uint256 from, bytes memory into, uint256 at) private view {
        bytes32 hi;
        bytes32 lo;
        assembly ("memory-safe") {
            hi := mload(add(add(uniform, 0x20), from))
            lo := mload(add(add(uniform, 0x40), from))
        }
        bytes memory input = abi.encodePacked(uint256(64), uint256(1), uint256(48), hi, lo, uint8(1), uint128(P_HI), P_LO);
        (bool ok, bytes memory reduced) = MODEXP.staticcall(input);
        require(ok && reduced.length == 48, "BLS: MODEXP failed");
        assembly ("memory-safe") {
            let dst := add(add(into, 0x20), at)
            mstore(dst, 0)
            mstore(add(dst, 0x10), mload(add(reduced, 0x20)))
            mstore(add(dst, 0x20), mload(add(reduced, 0x30)))
        }
    }

    /// A precompile call that must succeed (inputs made here or checked before) and return `size` bytes.
    function _call(address precompile, bytes memory input, uint256 gasLimit, uint256 size)
        private
        view
        returns (bytes memory out)
    {
        bool ok;
        (ok, out) = precompile.staticcall{gas: gasLimit}(input);
        require(ok && out.length == size, "BLS: precompile refused its input");
    }

    /// The flags (top 3 bits of the first byte) and the 381-bit value of the 48 bytes at `at` of `data`.
    function _compressedField(bytes memory data, uint256 at) private pure returns (uint256 flags, uint256 hi, uint256 lo) {
        assembly ("memory-safe") {
            let word := mload(add(add(data, 0x20), at))
            hi := shr(128, word)
            lo := mload(add(add(data, 0x30), at))
        }
        flags = hi >> 120;
        hi &= ~FLAGS_MASK;
    }

    /// The field element at `at` of a precompile encoding (64 bytes), as (high 16 bytes, low 32 bytes); an
    /// element whose top 16 padding bytes are not zero comes back with a high word no x or y can have.
    function _paddedField(bytes memory data, uint256 at) private pure returns (uint256 hi, uint256 lo) {
        assembly ("memory-safe") {
            hi := mload(add(add(data, 0x20), at))
            lo := mload(add(add(data, 0x40), at))
        }
    }

    /// y > (p - 1) / 2: the sign bit's meaning (the larger of y and p - y).
    function _isLarger(uint256 hi, uint256 lo) private pure returns (bool) {
        return hi > HALF_HI || (hi == HALF_HI && lo > HALF_LO);
    }
}
