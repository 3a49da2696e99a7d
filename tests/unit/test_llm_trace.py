"""The sub-step trace a disputed LLM answer commits to: its order, its root, and that it is the model's computation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zkinfer.llm import substeps, trace, trace_tree

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "llm" / "tiny-stdlib"
TOKENS = [int(x) for x in np.random.default_rng(7).integers(1, 4096, 12)]


@pytest.fixture(scope="module")
def weights() -> substeps.Weights:
    return substeps.load(MODEL)


@pytest.fixture(scope="module")
def computed(weights: substeps.Weights) -> trace.Trace:
    return trace.compute(weights, TOKENS)


def test_every_step_reads_only_earlier_steps_and_indices_round_trip() -> None:
    shape = trace.Shape(layers=4, positions=9)
    assert shape.count == sum(1 + 4 * (t + 3) for t in range(9))
    for index in range(shape.count):
        step = shape.step_at(index)
        assert shape.index(step) == index
        assert all(shape.index(earlier) < index for earlier in shape.inputs(step)), step
    with pytest.raises(IndexError):
        shape.step_at(shape.count)


def test_the_trace_is_the_models_computation(weights: substeps.Weights, computed: trace.Trace) -> None:
    """The last layer's states, after the final norm and the tied head, give the transformers model's logits."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([TOKENS]), output_hidden_states=True)
        last = torch.tensor(substeps.dequantize(computed.hidden[-1]), dtype=torch.float32)
        logits = model.lm_head(model.transformer.ln_f(last)).numpy()
    for layer in range(len(weights.layers)):  # hidden_states[ℓ] is the input of block ℓ
        assert np.abs(substeps.dequantize(computed.hidden[layer]) - out.hidden_states[layer][0].numpy()).max() < 0.02
    reference = out.logits[0].numpy()
    assert np.abs(logits - reference).max() < 0.05
    assert (logits.argmax(-1) == reference.argmax(-1)).all()


def test_a_changed_value_changes_its_leaf_and_the_root(weights: substeps.Weights, computed: trace.Trace) -> None:
    step = trace.Step("attend", position=5, layer=2, key=3)
    index = computed.shape.index(step)
    values = computed.values(step).copy()
    assert trace_tree.leaf(values) == computed.leaf(step)
    proof = computed.tree.proof(index)
    assert trace_tree.check_proof(computed.root, computed.leaf(step), index, proof)
    values[7] += 1  # one grid step in one numerator entry
    assert not trace_tree.check_proof(computed.root, trace_tree.leaf(values), index, proof)
    assert not trace_tree.check_proof(computed.root, computed.leaf(step), index + 1, proof)
    other = trace.compute(weights, [*TOKENS[:-1], (TOKENS[-1] + 1) % 4096])
    assert other.root != computed.root
    # positions before the changed token compute the same: the first leaves agree, the last position's differ
    first_changed = computed.shape.offset(len(TOKENS) - 1)
    assert other.tree.levels[0][:first_changed] == computed.tree.levels[0][:first_changed]
    assert other.tree.levels[0][first_changed] != computed.tree.levels[0][first_changed]


def test_the_tree_is_a_full_sixteen_ary_tree_and_leaf_proofs_check(computed: trace.Trace) -> None:
    assert len(computed.tree.levels[0]) == 16**computed.tree.depth >= computed.shape.count
    for index in (0, 1, computed.shape.count // 2, computed.shape.count - 1):
        proof = computed.tree.proof(index)
        assert len(proof) == 4 * computed.tree.depth  # one sibling per binary level
        assert trace_tree.check_proof(computed.root, computed.tree.levels[0][index], index, proof)
    assert computed.tree.levels[0][computed.shape.count] == trace_tree.EMPTY


def test_a_node_is_the_pair_tree_over_its_children_and_a_pick_climbs_to_it() -> None:
    from eth_hash.auto import keccak

    children = [keccak(bytes([i])) for i in range(16)]
    pairs = [keccak(b"\x01" + children[i] + children[i + 1]) for i in range(0, 16, 2)]
    while len(pairs) > 1:
        pairs = [keccak(b"\x01" + pairs[i] + pairs[i + 1]) for i in range(0, len(pairs), 2)]
    assert trace_tree.node(children) == pairs[0]
    for child in (0, 5, 15):
        path = trace_tree.siblings(children, child)
        assert len(path) == 4 and trace_tree.climb(children[child], child, path) == pairs[0]
        assert trace_tree.climb(children[child], child ^ 1, path) != pairs[0]  # the index is bound
    # a leaf never passes for a pair: their prefixes differ (0x00 vs 0x01)
    assert trace_tree.leaf(np.zeros(16, dtype=np.int64)) != trace_tree.pair(bytes(32), bytes(32))


def test_values_outside_32_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="32-bit"):
        trace_tree.packed(np.array([1 << 31]))
    assert trace_tree.unpacked(trace_tree.packed(np.array([-5, 7]))).tolist() == [-5, 7]


ROOT_SCRIPT = (
    "import sys; from pathlib import Path; from zkinfer.llm import substeps, trace; "
    "w = substeps.load(Path(sys.argv[1])); print(trace.compute(w, [int(x) for x in sys.argv[2:]]).root.hex())"
)


def test_honest_recomputations_on_one_and_two_threads_give_one_root(computed: trace.Trace) -> None:
    roots = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "PYTHONPATH": str(REPO)}
        out = subprocess.run(
            [sys.executable, "-c", ROOT_SCRIPT, str(MODEL), *map(str, TOKENS)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        roots.add(out.stdout.strip())
    assert roots == {computed.root.hex()}


def test_the_challengers_descent_ends_on_the_first_changed_step(
    weights: substeps.Weights, computed: trace.Trace
) -> None:
    from zkinfer.llm import referee

    first, later = trace.Step("attend", 9, 1, 4), trace.Step("post", 10, 3)
    states, hidden = computed.states.copy(), computed.hidden.copy()
    states[first.layer, first.position, first.key, 40] += 100  # head 1's numerator (8 + 32 + 0)
    hidden[later.layer + 1, later.position, 0] += 1
    other = trace.assemble(computed.shape, hidden, computed.qkv, states)
    picks = referee.descend(other.tree, computed.tree)
    index = 0
    for child in picks:
        index = index * 16 + child
    assert computed.shape.step_at(index) == first
    assert referee.differing_part(weights, "attend", other.values(first), computed.values(first)) == 1
    with pytest.raises(ValueError, match="agree"):
        referee.descend(computed.tree, computed.tree)


def test_the_referee_rule_is_a_bound_on_every_value_of_the_head(weights: substeps.Weights) -> None:
    from zkinfer.llm import referee

    state = np.arange(weights.state_width)
    head = referee.head_state(weights, state, 2)
    assert head[:2].tolist() == [2, 6] and head[2:].tolist() == list(range(8 + 64, 8 + 96))
    proven = np.zeros(34, dtype=np.int64)
    edge = proven.copy()
    edge[5] = referee.TOLERANCE_STEPS
    assert referee.node_wins(edge, proven)
    edge[5] += 1
    assert not referee.node_wins(edge, proven)


def test_a_pre_part_is_one_heads_q_k_and_v_and_a_post_part_a_quarter_of_the_output(
    weights: substeps.Weights,
) -> None:
    from zkinfer.llm import referee

    qkv = np.arange(3 * weights.width)
    head = referee.part_values(weights, "pre", qkv, 2)
    assert head.tolist() == [*range(64, 96), *range(128 + 64, 128 + 96), *range(256 + 64, 256 + 96)]
    hidden = np.arange(weights.width)
    assert referee.part_values(weights, "post", hidden, 3).tolist() == list(range(96, 128))
    assert sorted(np.concatenate([referee.pre_columns(weights, h) for h in range(4)]).tolist()) == list(range(384))
    with pytest.raises(ValueError, match="embed"):
        referee.part_values(weights, "embed", hidden, 0)


def test_the_circuit_inputs_are_the_steps_earlier_leaves(weights: substeps.Weights, computed: trace.Trace) -> None:
    from zkinfer.llm import referee

    first, later = trace.Step("pre", 4, 0), trace.Step("pre", 4, 2)
    assert referee.circuit_inputs(computed, weights, first, 1).tolist() == computed.hidden[0, 4].tolist()
    assert referee.circuit_inputs(computed, weights, later, 1).tolist() == computed.hidden[2, 4].tolist()
    post = trace.Step("post", 3, 1)
    inputs = referee.circuit_inputs(computed, weights, post, 0)
    state = computed.states[1, 3, 3]  # after the last key: m ‖ d ‖ n; the circuit reads d ‖ n (n / d ignores m)
    assert inputs.tolist() == [*state[4:].tolist(), *computed.hidden[1, 3].tolist()]
    # the float64 post step from these inputs alone is the committed output
    d_and_n, hidden = inputs[: weights.state_width - 4], inputs[weights.state_width - 4 :]
    full = np.concatenate([[0, 0, 0, 0], d_and_n])
    assert (substeps.quantize(substeps.post(weights.layers[1], 4, full, hidden)) == computed.hidden[2, 3]).all()


def test_the_challenger_names_the_part_it_disagrees_with(weights: substeps.Weights, computed: trace.Trace) -> None:
    from zkinfer.llm import referee

    qkv = computed.qkv[1, 2].astype(np.int64)
    other = qkv.copy()
    other[weights.width + 3 * 32 + 5] += 50  # k of head 3
    assert referee.differing_part(weights, "pre", other, qkv) == 3
    hidden = computed.hidden[2, 2].astype(np.int64)
    moved = hidden.copy()
    moved[40] -= 9  # column 40: the second quarter
    assert referee.differing_part(weights, "post", moved, hidden) == 1


def test_gelus_clamped_tanh_changes_nothing_a_grid_step_shows() -> None:
    x = np.linspace(-30.0, 30.0, 20001)
    exact = 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    assert np.abs(substeps.gelu_new(x) - exact).max() < 2.0**-substeps.SCALE_BITS / 50  # ≤ 3.4e-6 at |x| = 30


def test_each_kind_and_post_layer_has_its_own_tolerance() -> None:
    from zkinfer.llm import referee

    assert referee.tolerance("attend", 3) == referee.TOLERANCE_STEPS
    assert referee.tolerance("post", 0) > referee.tolerance("post", 1)  # layer 0's circuit is the least precise
    with pytest.raises(ValueError, match="embed"):
        referee.tolerance("embed", 0)
    proven = np.zeros(32, dtype=np.int64)
    edge = proven.copy()
    edge[7] = referee.tolerance("post", 2)
    assert referee.node_wins(edge, proven, referee.tolerance("post", 2))
    edge[7] += 1
    assert not referee.node_wins(edge, proven, referee.tolerance("post", 2))
