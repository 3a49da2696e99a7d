"""TOPLOC's encoding as implemented in zkinfer.llm.commitments: the package's bytes, its comparison, refusals."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from zkinfer.llm import commitments

# Made by the `toploc` package 0.1.6 itself (built from source against torch 2.13, since its wheel
# does not load with it): build_proofs_bytes(rows as bf16, decode_batching_size, topk, skip_prefill=True)
# over `hidden` below. The encoding here must give the same bytes.
TOPLOC_96x128_K128_DIGEST = (
    "a53c72e39a111e14bfbc4a2a67d8155df07309846ce41255bbd84c24767db734"  # 3 chunks of 32 rows, topk 128
)
TOPLOC_10x16_K4 = [
    b"\xff\xd9\x9c \xe7\x00\xe6\x10\xef\x92",
    b"\xff\xd9\xfb\x13\x86\xe4\xa0\t\x1fl",
    b"\xff\xd97\x8c7\x10\x01\xbb/s",
    b"\xff\xd9\xc2%\x9c5L\xa4\x02\xf7",
]  # rows [:10, :16], chunks of 3, topk 4
# The package's verify_proofs_bytes on hidden * 1.01 against its own proofs: (exponent mismatches, mantissa error mean,
# median) per chunk.
TOPLOC_JITTER_RESULTS = [(1, 1.80315, 2)] * 3


@pytest.fixture(scope="module")
def hidden() -> np.ndarray:
    """Small noise with 200 large values of distinct bf16 magnitudes per chunk: the top-k set is unambiguous.

    (Where the k-th and the next magnitude are equal in bf16, which torch.topk keeps is unspecified;
    this encoding keeps the lower index. The bytes may then differ from the package's, and a
    verifier's comparison counts the other index as one exponent mismatch, within tolerance.)
    """
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((96, 128)) * 0.5).astype(np.float32)
    for start in range(0, 96, 32):
        flat = values[start : start + 32].reshape(-1)
        where = rng.choice(4096, 200, replace=False)
        flat[where] = (8 * 1.01 ** np.arange(200) * rng.choice([-1, 1], 200)).astype(np.float32)
        values[start : start + 32] = flat.reshape(32, 128)
    return values


def test_commitments_are_the_toploc_package_bytes(hidden: np.ndarray) -> None:
    built = commitments.commit_chunks(hidden)
    assert [len(c) for c in built] == [258, 258, 258]  # 2 + 2 * 128 bytes per 32 tokens
    assert hashlib.sha256(b"".join(built)).hexdigest() == TOPLOC_96x128_K128_DIGEST
    assert commitments.commit_chunks(hidden[:10, :16], chunk_tokens=3, k=4) == TOPLOC_10x16_K4


def test_the_comparison_measures_as_toploc_does(hidden: np.ndarray) -> None:
    built = commitments.commit_chunks(hidden)
    jittered = hidden * np.float32(1.01)
    for index, (commitment, (mismatches, mean, median)) in enumerate(zip(built, TOPLOC_JITTER_RESULTS, strict=True)):
        result = commitments.check(commitment, jittered[index * 32 : (index + 1) * 32])
        assert result.exponent_mismatches == mismatches
        assert result.mantissa_error_mean == pytest.approx(mean, abs=1e-5)
        assert result.mantissa_error_median == median


def test_the_same_activations_match_exactly_and_others_do_not(hidden: np.ndarray) -> None:
    commitment = commitments.commit(hidden[:32])
    same = commitments.check(commitment, hidden[:32].copy())
    assert (same.exponent_mismatches, same.mantissa_error_mean, same.mantissa_error_median) == (0, 0.0, 0.0)
    assert same.within()
    other = commitments.check(commitment, hidden[32:64])
    assert other.exponent_mismatches > 64 and not other.within()
    rounded = commitments.check(commitment, hidden[:32] + np.float32(1e-4))  # float noise far below bf16's precision
    assert rounded.within()


def test_bf16_rounding_is_torchs() -> None:
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(1).standard_normal(4096).astype(np.float32) * 100
    expected = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(commitments.bf16_bits(values), expected)


@pytest.mark.parametrize(
    "data", [b"", b"\x00\x01", b"\xff\xd9\x00", b"\x00\x00\x00\x01", b"\xff\xff\x00\x01", b"\xff\xd9\xff\xff"]
)
def test_malformed_commitments_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        commitments.parse(data)


def test_a_rounding_flip_is_explained_only_within_float_noise() -> None:
    # 1.0 and 1.0078125 are neighbouring bf16 values; 1.00390625 is the boundary between them
    one, next_up = int(commitments.bf16_bits(np.array([1.0]))[0]), int(commitments.bf16_bits(np.array([1.0078125]))[0])
    assert next_up == one + 1
    committed = np.array([one, one, one, one, one])
    values = np.array([1.001, 1.0039065, 1.0040, 1.0078125, -1.0], dtype=np.float32)
    distance = commitments.rounding_distance(committed, values)
    assert distance[0] == 0.0  # rounds to the committed value
    assert 0 < distance[1] <= commitments.NOISE  # a hair past the boundary: float noise flips it
    assert distance[2] > commitments.NOISE  # ~1e-4 past it: more than noise
    assert distance[3] > 50 * commitments.NOISE  # the next bf16 value: half a step past the boundary
    assert distance[4] == np.inf  # the other sign


def test_honest_float_noise_passes_and_fp16_precision_does_not(hidden: np.ndarray) -> None:
    """A recomputation within float32 noise (1e-6 relative) is within tolerance with nothing unexplained;
    commitments of the same activations rounded through fp16 (what a node computing in fp16 commits)
    are not, though TOPLOC's own bounds would let them pass."""
    built = commitments.commit_chunks(hidden)
    noise = np.random.default_rng(2).uniform(-1e-6, 1e-6, hidden.shape).astype(np.float32)
    cheap = commitments.commit_chunks(hidden.astype(np.float16).astype(np.float32))
    for index in range(3):
        rows = slice(index * 32, (index + 1) * 32)
        honest = commitments.check(built[index], hidden[rows] * (1 + noise[rows]))
        assert honest.unexplained == 0 and honest.within()
        caught = commitments.check(cheap[index], hidden[rows])
        assert caught.exponent_mismatches <= commitments.TOLERANCE.max_exponent_mismatches
        assert caught.mantissa_error_mean <= commitments.TOLERANCE.max_mantissa_error_mean  # TOPLOC's bounds hold
        assert caught.unexplained > commitments.TOLERANCE.max_unexplained and not caught.within()
