"""Checkpointer: round trip of device + host state, latest-step resume, refusal of non-finite states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax.checkpointing import Checkpointer, NonFiniteStateError, nonfinite_leaves


def _state(scale=1.0):
    return {
        "params": {"w": jnp.arange(6.0).reshape(2, 3) * scale, "b": jnp.ones(3, jnp.bfloat16)},
        "step": jnp.int32(7),
        "key": jax.random.PRNGKey(3),
    }


def test_round_trip_restores_values_dtypes_and_host_state(tmp_path):
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    state = _state()
    host = {"iterator": {"epoch": 1, "position": 16}, "archive": {"points": [[0.5, 3.0]]}}
    ckpt.save(4, state, host)
    step, restored, restored_host = ckpt.restore(jax.tree.map(jnp.zeros_like, state))
    assert step == 4
    assert restored_host == host
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_latest_step_and_max_to_keep(tmp_path):
    ckpt = Checkpointer(str(tmp_path / "ckpt"), max_to_keep=2)
    assert ckpt.latest_step() is None
    for step in (1, 2, 3):
        ckpt.save(step, _state(step), {"step": step})
    assert ckpt.latest_step() == 3
    assert ckpt.all_steps() == [2, 3]
    _, restored, host = ckpt.restore(_state())
    assert host == {"step": 3}
    np.testing.assert_array_equal(restored["params"]["w"], np.arange(6.0).reshape(2, 3) * 3)


def test_non_finite_state_is_refused_and_last_good_checkpoint_survives(tmp_path):
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(1, _state(), {"ok": True})
    bad = _state()
    bad["params"]["w"] = bad["params"]["w"].at[0, 1].set(jnp.nan)
    assert nonfinite_leaves(bad) == ["['params']['w']"]
    with pytest.raises(NonFiniteStateError, match=r"step 2.*\['params'\]\['w'\]"):
        ckpt.save(2, bad, {"ok": False})
    assert ckpt.all_steps() == [1]
    _, restored, host = ckpt.restore(_state())
    assert host == {"ok": True}
    assert bool(jnp.all(jnp.isfinite(restored["params"]["w"])))


def test_restore_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Checkpointer(str(tmp_path / "empty")).restore(_state())


def test_a_relative_directory_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = Checkpointer("relative/ckpt")
    ckpt.save(1, _state(), {"ok": True})
    assert Checkpointer("relative/ckpt").restore(_state())[2] == {"ok": True}


def _truncate_arrays(step_dir):
    """Cut every array data file of a checkpoint step in half (as a preempted copy or a lost object leaves it)."""
    cut = 0
    for path in step_dir.rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            cut += 1
    assert cut


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # tensorstore futures of the failed read
def test_a_damaged_newest_checkpoint_is_skipped_kept_and_the_previous_one_restored(tmp_path):
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(2, _state(2.0), {"step": 2})
    ckpt.save(4, _state(4.0), {"step": 4})
    _truncate_arrays(tmp_path / "ckpt" / "4")
    messages = []
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    step, restored, host = ckpt.restore_latest(_state(), messages.append)
    assert (step, host) == (2, {"step": 2})
    np.testing.assert_array_equal(restored["params"]["w"], np.arange(6.0).reshape(2, 3) * 2)
    assert len(messages) == 1 and "\n" not in messages[0]
    assert messages[0].startswith("checkpoint step 4 does not restore (ValueError: ")
    assert messages[0].endswith(f"kept as {tmp_path / 'ckpt.unreadable' / '4'}, resuming from step 2")
    assert (tmp_path / "ckpt.unreadable" / "4" / "state").is_dir()  # kept, not deleted
    assert ckpt.all_steps() == [2]
    ckpt.save(4, _state(4.0), {"step": 4})  # the resumed run writes step 4 again
    assert Checkpointer(str(tmp_path / "ckpt")).restore_latest(_state(), messages.append)[0] == 4


def test_when_no_checkpoint_restores_the_newest_ones_error_is_raised(tmp_path):
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    assert ckpt.restore_latest(_state(), print) is None
    ckpt.save(1, _state(), {})
    _truncate_arrays(tmp_path / "ckpt" / "1")
    with pytest.raises(RuntimeError, match=r"no checkpoint in .*ckpt restores; the newest, step 1: ValueError"):
        Checkpointer(str(tmp_path / "ckpt")).restore_latest(_state(), print)
