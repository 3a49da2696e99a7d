"""Activation commitments: TOPLOC's encoding of the last hidden states, one commitment per 32 tokens.

TOPLOC (Ong et al., 2025, arXiv:2501.16007; the MIT `toploc` package) commits to a chunk of
activations by the polynomial through its top-k values: take the chunk's hidden states, rounded to
bfloat16, flattened; pick the k entries of largest magnitude; find the largest modulus m ≤ 65497
under which their flat indices stay distinct; interpolate the polynomial over the prime field
GF(65497) through (index mod m, the value's 16 bf16 bits); the commitment is m and the k
coefficients, 2 bytes each, big-endian: 2 + 2k bytes (258 bytes per chunk at k = 128).

A verifier recomputes the activations, takes *its own* top-k, evaluates the polynomial at those
indices and compares each value's exponent and mantissa bits with its own: a different model or
prompt moves the top-k set and the exponents. `check` reports TOPLOC's three error measures, and
one of ours that catches a change of precision (`Tolerance`): TOPLOC's bounds are set for bf16
inference on GPUs, whereas a model computed in float32 recomputes within ~4e-6 relative, so a
committed value whose bf16 bits differ from the verifier's is explained only by a rounding-boundary
flip within float noise (2^-14 relative); a node computing in fp16, bf16 or int8 commits several
to dozens of unexplained values in every chunk, an honest one none.

This is the published encoding implemented here, in numpy, rather than the package itself: the
package's wheel does not load with this project's torch and its source build needs a compiler and
minutes at install time, and it refuses float32. tests/unit/test_llm_commitments.py checks the bytes
against the package's own output. No torch here: the auditor's side imports this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIME = 65497  # TOPLOC's field, and the top of the search for an injective modulus
TOPK = 128
CHUNK_TOKENS = 32
BF16_EXPONENT = 0x7F80
BF16_MANTISSA = 0x007F
NO_MANTISSA = float(2**64)  # the error measures when no exponent agrees (TOPLOC's value)
NOISE = 2.0**-14  # relative float32 noise an honest recomputation may show (measured: ≤ ~4e-6)


@dataclass(frozen=True)
class Tolerance:
    """What an honest recomputation may differ by, per chunk (every measure at or below its bound).

    TOPLOC's published bounds (exponent mismatches, mantissa error mean and median) are set for
    bf16 inference on GPUs; a model computed in float32, as here, reproduces its bf16-rounded
    activations far more closely, so they let a node that computes in fp16, bf16 or int8 pass. The
    rule that catches those: a top-k value whose committed bf16 bits differ from the verifier's is
    *explained* only when the verifier's float32 value lies within `noise` (relative) of the
    interval of reals that round to the committed bits, i.e. a rounding-boundary flip that float
    noise can cause; a chunk may hold at most `max_unexplained` other differing values (room for
    one top-k membership swap at a near-tie).

    Measured with the bundled model (benchmarks/bench_llm.py, the README's LLM section): honest
    recomputations on 1 or 2 threads, batch 1 or a padded 4, KV cache on or off differ from the
    generating pass by at most ~4e-6 relative, so at most 1 of 128 values per chunk flips, always
    explained; fp16 weights move values by up to ~5e-3 and flip 4 to 43 values a chunk, bf16 54 or
    more, int8 72 or more, almost all unexplained.
    """

    max_exponent_mismatches: int = 8
    max_mantissa_error_mean: float = 10.0
    max_mantissa_error_median: float = 8.0
    max_unexplained: int = 1
    noise: float = NOISE


TOLERANCE = Tolerance()


@dataclass(frozen=True)
class ChunkCheck:
    exponent_mismatches: int
    mantissa_error_mean: float
    mantissa_error_median: float
    differing: int = 0  # top-k values whose bf16 bits differ at all
    unexplained: int = 0  # of those, the ones float noise cannot explain (see Tolerance)

    def within(self, tolerance: Tolerance = TOLERANCE) -> bool:
        return (
            self.exponent_mismatches <= tolerance.max_exponent_mismatches
            and self.mantissa_error_mean <= tolerance.max_mantissa_error_mean
            and self.mantissa_error_median <= tolerance.max_mantissa_error_median
            and self.unexplained <= tolerance.max_unexplained
        )


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 → the 16 bits of bfloat16, rounded to nearest even (what torch's `.to(torch.bfloat16)`
    does for finite values)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def top_k(bits: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k bf16 values of largest magnitude; ties go to the lower index, so every
    verifier picks the same set."""
    magnitude = (bits & 0x7FFF).astype(np.int64)  # bf16 magnitudes order like their bits without the sign
    k = min(k, len(bits))
    order = np.lexsort((np.arange(len(bits)), -magnitude))
    return order[:k]


def injective_modulus(indices: list[int]) -> int:
    for modulus in range(PRIME, 0, -1):
        if len({i % modulus for i in indices}) == len(indices):
            return modulus
    raise ValueError("no modulus keeps these indices distinct")


_INVERSES: np.ndarray | None = None


def _inverses() -> np.ndarray:
    """Every inverse in GF(PRIME), once (Fermat: a^(p-2))."""
    global _INVERSES
    if _INVERSES is None:
        table = np.arange(PRIME, dtype=np.int64)
        result = np.ones(PRIME, dtype=np.int64)
        base, exponent = table.copy(), PRIME - 2
        while exponent:
            if exponent & 1:
                result = result * base % PRIME
            base = base * base % PRIME
            exponent >>= 1
        _INVERSES = result
    return _INVERSES


def interpolate(xs: list[int], ys: list[int]) -> list[int]:
    """Coefficients (lowest degree first) of the polynomial through (xs, ys) over GF(PRIME)."""
    return [int(c) for c in interpolate_many(np.array([xs], dtype=np.int64), np.array([ys], dtype=np.int64))[0]]


def interpolate_many(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Per row of xs and ys ([polynomials, points], distinct xs in a row), the coefficients (lowest degree
    first) of the polynomial through them over GF(PRIME): Newton's divided differences, expanded. All
    rows at once: the work is a few hundred numpy operations however many chunks an answer has."""
    inverse = _inverses()
    x = np.asarray(xs, dtype=np.int64) % PRIME
    dd = np.asarray(ys, dtype=np.int64) % PRIME
    n = x.shape[-1]
    for k in range(1, n):  # dd[j] becomes the divided difference over x_{j-k} ... x_j
        # a negative difference -d indexes inverse[PRIME - d], the inverse of -d mod PRIME
        dd[:, k:] = (dd[:, k:] - dd[:, k - 1 : n - 1] + PRIME) * inverse[x[:, k:] - x[:, : n - k]] % PRIME
    # expanded from the innermost term out: c(X) = dd_{n-1}; c(X) = c(X) (X - x_i) + dd_i for i = n-2 ... 0
    coeffs = np.zeros_like(dd)
    coeffs[:, 0] = dd[:, n - 1]
    negated = PRIME - x  # -x_i mod PRIME, plus PRIME where x_i is 0 (reduced below)
    for i in range(n - 2, -1, -1):
        width = n - i  # c has degree n - 2 - i before this step
        coeffs[:, 1:width] = (coeffs[:, : width - 1] + negated[:, i : i + 1] * coeffs[:, 1:width]) % PRIME
        coeffs[:, 0] = (negated[:, i] * coeffs[:, 0] + dd[:, i]) % PRIME
    return coeffs


def evaluate(coeffs: list[int], xs: np.ndarray) -> np.ndarray:
    """The polynomial at each x, over GF(PRIME) (Horner)."""
    values: np.ndarray = evaluate_many(np.array([coeffs], dtype=np.int64), np.asarray(xs)[None, :])[0]
    return values


def evaluate_many(coeffs: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Row by row ([polynomials, coefficients] and [polynomials, points]), each polynomial at its xs (Horner)."""
    x = np.asarray(xs, dtype=np.int64) % PRIME
    result = np.repeat(coeffs[:, -1:], x.shape[-1], axis=-1)
    for i in range(coeffs.shape[-1] - 2, -1, -1):
        result = (result * x + coeffs[:, i : i + 1]) % PRIME
    return result


def commit_bits(bits: np.ndarray, k: int = TOPK) -> bytes:
    """The commitment of one chunk given as bf16 bits (flattened): 2 + 2k bytes."""
    return _commit_many([np.asarray(bits)], k)[0]


def _commit_many(chunks: list[np.ndarray], k: int) -> list[bytes]:
    """Commitments of chunks given as bf16 bits (flattened); chunks of the same size interpolated together."""
    picked = [top_k(bits, k) for bits in chunks]
    moduli = [injective_modulus([int(i) for i in indices]) for indices in picked]
    result: list[bytes] = [b""] * len(chunks)
    for size in sorted({len(indices) for indices in picked}):
        group = [i for i, indices in enumerate(picked) if len(indices) == size]
        xs = np.array([picked[i] % moduli[i] for i in group], dtype=np.int64)
        ys = np.array([chunks[i][picked[i]] for i in group], dtype=np.int64)
        for i, coeffs in zip(group, interpolate_many(xs, ys), strict=True):
            result[i] = moduli[i].to_bytes(2, "big") + coeffs.astype(">u2").tobytes()
    return result


def commit(chunk: np.ndarray, k: int = TOPK) -> bytes:
    """The commitment of one chunk of hidden states (any shape, float32)."""
    return commit_bits(bf16_bits(chunk), k)


def commit_chunks(hidden: np.ndarray, chunk_tokens: int = CHUNK_TOKENS, k: int = TOPK) -> list[bytes]:
    """One commitment per `chunk_tokens` rows of `hidden` ([tokens, hidden size]); the last chunk may be shorter."""
    return _commit_many(
        [bf16_bits(hidden[start : start + chunk_tokens]) for start in range(0, len(hidden), chunk_tokens)], k
    )


def parse(commitment: bytes) -> tuple[int, list[int]]:
    """(modulus, coefficients); ValueError for bytes no honest builder writes."""
    if len(commitment) < 4 or len(commitment) % 2:
        raise ValueError(f"a commitment is 2 + 2k bytes with k ≥ 1, not {len(commitment)}")
    modulus = int.from_bytes(commitment[:2], "big")
    coeffs = [int.from_bytes(commitment[i : i + 2], "big") for i in range(2, len(commitment), 2)]
    if not 0 < modulus <= PRIME or any(c >= PRIME for c in coeffs):
        raise ValueError("a commitment's modulus or a coefficient is outside the field")
    return modulus, coeffs


def bf16_value(bits: np.ndarray) -> np.ndarray:
    """bf16 bit patterns → their float32 values (exact)."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def rounding_distance(committed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How far each float32 value lies outside the interval of reals that round to the committed bf16
    pattern, relative to the value's magnitude: 0 where it rounds to it; inf where no noise explains it
    (another sign, a pattern that is no finite bf16, or a value of 0)."""
    committed = np.asarray(committed, dtype=np.int64)
    magnitude = committed & 0x7FFF
    finite = (committed >= 0) & (committed < 1 << 16) & (magnitude < BF16_EXPONENT)
    magnitude = np.where(finite, magnitude, 0)
    centre = bf16_value(magnitude)
    below = np.where(magnitude > 0, bf16_value(np.maximum(magnitude - 1, 0)), 0.0)
    above = bf16_value(np.minimum(magnitude + 1, BF16_EXPONENT))  # the largest finite one's upper neighbour: inf
    low = (centre.astype(np.float64) + below) / 2
    high = (centre.astype(np.float64) + above) / 2
    v = np.asarray(values, dtype=np.float64)
    size = np.abs(v)
    same_sign = ((committed & 0x8000) != 0) == (v < 0)
    outside = np.maximum(np.maximum(low - size, size - high), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(size > 0, outside / size, np.inf)
    return np.where(finite & same_sign, relative, np.inf)


def check_values(commitment: bytes, values: np.ndarray, noise: float = NOISE) -> ChunkCheck:
    """TOPLOC's comparison of a commitment with a recomputed chunk (float32, any shape), and how many
    top-k values differ beyond float noise (`noise`, relative: see `Tolerance`)."""
    return check_chunks([commitment], np.asarray(values).reshape(1, -1), 1, noise)[0]


def check(commitment: bytes, chunk: np.ndarray, noise: float = NOISE) -> ChunkCheck:
    return check_values(commitment, chunk, noise)


def check_chunks(
    values: list[bytes], hidden: np.ndarray, chunk_tokens: int = CHUNK_TOKENS, noise: float = NOISE
) -> list[ChunkCheck]:
    """`check_values` of each commitment against its `chunk_tokens` rows of `hidden` ([tokens, hidden
    size]), the polynomials of a whole answer evaluated together; ValueError naming the commitment
    for bytes no honest builder writes."""
    parsed = []
    for index, value in enumerate(values):
        try:
            parsed.append(parse(value))
        except ValueError as exc:
            raise ValueError(f"commitment {index}: {exc}") from exc
    flats = [
        np.ascontiguousarray(hidden[i * chunk_tokens : (i + 1) * chunk_tokens], dtype=np.float32).reshape(-1)
        for i in range(len(values))
    ]
    bits = [bf16_bits(flat) for flat in flats]
    indices = [top_k(b, len(coeffs)) for b, (_, coeffs) in zip(bits, parsed, strict=True)]
    committed: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(values)
    for shape in sorted({(len(coeffs), len(picked)) for (_, coeffs), picked in zip(parsed, indices, strict=True)}):
        group = [i for i in range(len(values)) if (len(parsed[i][1]), len(indices[i])) == shape]
        at = evaluate_many(
            np.array([parsed[i][1] for i in group], dtype=np.int64),
            np.array([indices[i] % parsed[i][0] for i in group], dtype=np.int64).reshape(len(group), shape[1]),
        )
        for row, i in enumerate(group):
            committed[i] = at[row]
    return [
        _compare(committed[i], bits[i][indices[i]].astype(np.int64), flats[i][indices[i]], noise)
        for i in range(len(values))
    ]


def _compare(committed: np.ndarray, mine: np.ndarray, values: np.ndarray, noise: float) -> ChunkCheck:
    same_exponent = (committed & BF16_EXPONENT) == (mine & BF16_EXPONENT)
    errors = np.abs((committed & BF16_MANTISSA) - (mine & BF16_MANTISSA))[same_exponent]
    mismatches = int((~same_exponent).sum())
    differ = committed != mine
    unexplained = int((rounding_distance(committed[differ], values[differ]) > noise).sum())
    if len(errors) == 0:
        return ChunkCheck(mismatches, NO_MANTISSA, NO_MANTISSA, int(differ.sum()), unexplained)
    ordered = np.sort(errors)
    return ChunkCheck(
        mismatches, float(ordered.mean()), float(ordered[len(ordered) // 2]), int(differ.sum()), unexplained
    )
