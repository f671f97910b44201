"""Host-side ParetoArchive: gains and hypervolume against moocore, mixed senses, JSON, errors."""

import json
import math

import moocore
import numpy as np
import pytest

from morl_jax.pareto import ParetoArchive


def test_add_returns_the_gain_and_tracks_moocore_hypervolume():
    rng = np.random.default_rng(0)
    points = rng.random((40, 3))
    ref = np.full(3, 0.1)
    archive = ParetoArchive(ref)
    for step, point in enumerate(points):
        before = moocore.hypervolume(points[:step], ref=ref, maximise=True) if step else 0.0
        after = moocore.hypervolume(points[: step + 1], ref=ref, maximise=True)
        assert archive.gain(point) == pytest.approx(after - before, abs=1e-12)
        assert len(archive) == step  # gain() does not add
        assert archive.add(point, step) == pytest.approx(after - before, abs=1e-12)
        assert archive.hypervolume() == pytest.approx(after, rel=1e-12)
    np.testing.assert_array_equal(archive.points, points)
    np.testing.assert_array_equal(archive.steps, np.arange(40))


def test_dominated_and_outside_points_gain_nothing():
    archive = ParetoArchive([0.0, 0.0])
    assert archive.add([2.0, 2.0], 0) == pytest.approx(4.0)
    assert archive.add([1.0, 1.0], 1) == 0.0
    assert archive.add([2.0, 2.0], 2) == 0.0
    assert archive.add([5.0, -1.0], 3) == 0.0
    assert archive.hypervolume() == pytest.approx(4.0)
    np.testing.assert_array_equal(archive.pareto_mask(), [True, False, False, True])
    np.testing.assert_array_equal(archive.pareto_mask(keep_duplicates=True), [True, False, True, True])
    assert [e.step for e in archive.pareto_entries()] == [0, 3]


def test_mixed_senses_use_the_objectives_own_units():
    rng = np.random.default_rng(1)
    accuracy, length, safety = rng.random(30), 100 + 400 * rng.random(30), rng.random(30)
    points = np.stack([accuracy, length, safety], axis=1)
    ref = [0.0, 600.0, 0.0]
    senses = [True, False, True]
    archive = ParetoArchive(ref, names=["accuracy", "length", "safety"], maximise=senses)
    for step, point in enumerate(points):
        archive.add(point, step)
    assert archive.hypervolume() == pytest.approx(moocore.hypervolume(points, ref=ref, maximise=senses), rel=1e-12)
    np.testing.assert_array_equal(archive.pareto_mask(), moocore.is_nondominated(points, maximise=senses))
    np.testing.assert_allclose(archive.points, points)  # returned as given, never sign-flipped
    # A shorter response with the same accuracy and safety is better.
    best = points[np.argmax(archive.pareto_mask())].copy()
    best[1] -= 50.0
    assert archive.gain(best) > 0
    best[1] += 100.0
    assert archive.gain(best) == 0.0


def test_five_objectives_hundreds_of_points():
    rng = np.random.default_rng(2)
    points = rng.random((300, 5))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    archive = ParetoArchive(np.zeros(5))
    for step, point in enumerate(points):
        archive.add(point, step)
    assert archive.hypervolume() == pytest.approx(moocore.hypervolume(points, ref=np.zeros(5), maximise=True), rel=1e-12)


def test_json_round_trip(tmp_path):
    archive = ParetoArchive([0.0, 1000.0], names=["reward", "tokens"], maximise=[True, False])
    archive.add([0.5, 300.0], 10, {"checkpoint": "ckpt-10", "weights": [0.5, 0.5]})
    archive.add([0.7, 500.0], 20, {"checkpoint": "ckpt-20"})
    archive.add([0.1 + 0.2, 123.456789012345678], 30)
    state = archive.to_dict()
    assert json.loads(json.dumps(state)) == state
    for restored in (ParetoArchive.from_dict(state), ParetoArchive.load(_save(archive, tmp_path / "archive.json"))):
        assert restored.to_dict() == state
        np.testing.assert_array_equal(restored.points, archive.points)
        assert restored.hypervolume() == archive.hypervolume()
        assert restored.entries[0].metadata == {"checkpoint": "ckpt-10", "weights": [0.5, 0.5]}
        assert restored.names == ["reward", "tokens"] and restored.maximise == [True, False]


def _save(archive, path):
    archive.save(path)
    return path


def test_empty_archive():
    archive = ParetoArchive([0.0, 0.0, 0.0])
    assert len(archive) == 0 and archive.hypervolume() == 0.0
    assert archive.points.shape == (0, 3) and archive.pareto_entries() == []
    assert archive.gain([1.0, 2.0, 3.0]) == pytest.approx(6.0)
    assert ParetoArchive.from_dict(archive.to_dict()).to_dict() == archive.to_dict()


def test_metadata_is_copied():
    metadata = {"tags": ["a"]}
    archive = ParetoArchive([0.0, 0.0])
    archive.add([1.0, 1.0], 0, metadata)
    metadata["tags"].append("b")
    assert archive.entries[0].metadata == {"tags": ["a"]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ref": [[0.0, 0.0]]}, "non-empty 1-D"),
        ({"ref": [0.0, math.nan]}, "ref must be finite"),
        ({"ref": [0.0, 0.0], "names": ["a"]}, "names has 1 entries"),
        ({"ref": [0.0, 0.0], "names": ["a", "a"]}, "must be unique"),
        ({"ref": [0.0, 0.0], "maximise": [True]}, "maximise must be 2 booleans"),
        ({"ref": [0.0, 0.0], "maximise": [1, 0]}, "maximise must be 2 booleans"),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ParetoArchive(**kwargs)


def test_add_errors_leave_the_archive_unchanged():
    archive = ParetoArchive([0.0, 0.0], names=["acc", "len"])
    archive.add([1.0, 1.0], 0)
    state = archive.to_dict()
    with pytest.raises(ValueError, match=r"shape \(2,\) for objectives \['acc', 'len'\]"):
        archive.add([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match=r"finite; got \{acc=1.0, len=nan\}"):
        archive.add([1.0, math.nan], 1)
    with pytest.raises(ValueError, match="finite"):
        archive.gain([math.inf, 1.0])
    with pytest.raises(ValueError, match="step must be an int"):
        archive.add([2.0, 2.0], 1.5)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        archive.add([2.0, 2.0], 1, {"array": np.ones(2)})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        archive.add([2.0, 2.0], 1, {"loss": math.nan})
    assert archive.to_dict() == state


def test_from_dict_errors():
    with pytest.raises(ValueError, match=r"missing keys \['entries'"):
        ParetoArchive.from_dict({"ref": [0.0]})
    state = ParetoArchive([0.0]).to_dict()
    state["version"] = 99
    with pytest.raises(ValueError, match="unsupported ParetoArchive format version 99"):
        ParetoArchive.from_dict(state)
