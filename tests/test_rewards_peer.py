"""Peer-workload rewards: hand-written cases, and morl_jax's rewards equal the ones the peer harnesses compute."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from morl_jax.benchmarks.peers import workload
from morl_jax.rewards import brevity, peer_accuracy

ALPHABET = "0123456789+-*= abcdefghijklmnopqrstuvwxyz.,:;?!()<>/'\"_#%&@ABCDEFGHI"
PIECES = st.sampled_from(list(ALPHABET) + ["<pad>", "<eos>", "<bos>", "<unk>", "12", " 7", "-3"])


@pytest.mark.parametrize("completion, answer, acc, brev", [
    ("12", "12", 1.0, -2 / 32),
    ("  12 because", 12, 1.0, -12 / 32),
    ("<bos>12<eos><pad>", 12, 1.0, -2 / 32),
    ("123", 12, 0.0, -3 / 32),
    ("1 2", 12, 0.0, -3 / 32),
    ("x12", 12, 0.0, -3 / 32),
    ("-12", -12, 1.0, -3 / 32),
    ("", 0, 0.0, 0.0),
    ("9" * 40, 9, 0.0, -1.0),
])
def test_hand_written(completion, answer, acc, brev):
    assert peer_accuracy([""], [completion], answer=[answer]).tolist() == [acc]
    assert brevity([""], [completion]).tolist() == [pytest.approx(brev)]


@given(st.lists(st.tuples(st.lists(PIECES, max_size=40).map("".join), st.integers(0, 198)), min_size=1, max_size=8),
       st.sampled_from([32, 128]))
def test_matches_the_peer_harnesses(samples, max_len):
    completions = [c for c, _ in samples]
    answers = np.array([a for _, a in samples])
    ref_acc = workload.accuracy_rewards(completions, [str(a) for a in answers])
    assert peer_accuracy([""] * len(samples), completions, answer=answers).tolist() == ref_acc
    assert peer_accuracy([""] * len(samples), completions, answer=[str(a) for a in answers]).tolist() == ref_acc
    assert brevity([""] * len(samples), completions, max_len=max_len).tolist() == workload.brevity_rewards(
        completions, max_len)
