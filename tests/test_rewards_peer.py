"""Peer-workload rewards against the definitions in bench/peers/common.py."""

import importlib.util
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from morl_jax.rewards import brevity, peer_accuracy

COMMON = pathlib.Path("/work/shared/bench/peers/common.py")
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


@pytest.fixture(scope="module")
def common():
    if not COMMON.exists():
        pytest.skip("bench/peers/common.py not present")
    spec = importlib.util.spec_from_file_location("peer_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@given(st.lists(st.tuples(st.lists(PIECES, max_size=12).map("".join), st.integers(0, 198)),
                min_size=1, max_size=8))
def test_matches_common_py(common, samples):
    completions = [c for c, _ in samples]
    answers = np.array([a for _, a in samples])
    ref_acc = [common.accuracy_value(c, str(a)) for c, a in samples]
    ref_brev = [common.brevity_value(c) for c in completions]
    assert peer_accuracy([""] * len(samples), completions, answer=answers).tolist() == ref_acc
    assert peer_accuracy([""] * len(samples), completions,
                         answer=[str(a) for a in answers]).tolist() == ref_acc
    assert brevity([""] * len(samples), completions).tolist() == ref_brev
