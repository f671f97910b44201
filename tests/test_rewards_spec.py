"""Reward functions named in a config: import paths `package.module:function`, registered names, options,
direction (maximise), and errors that name the bad entry."""

import textwrap

import numpy as np
import pytest

from morl_jax.rewards import Conciseness, build_reward_set, parse_specs, reasoning_gym_score
from morl_jax.rewards.spec import import_object


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A reward module of the user's own, importable as `my_rewards`."""
    (tmp_path / "my_rewards.py").write_text(textwrap.dedent('''
        def shout(prompts, completions, *, answer, bonus=0.0, **kwargs):
            return [float(c.isupper()) + bonus for c in completions]

        def words(prompts, completions, **kwargs):
            return [float(len(c.split())) for c in completions]

        class Counter:
            def __init__(self, start=0):
                self.calls = start
            def __call__(self, prompts, completions, **kwargs):
                self.calls += 1
                return [float(self.calls)] * len(completions)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_rewards"


def test_import_paths_registered_names_options_and_directions(user_module):
    rs = build_reward_set([
        {"name": "loud", "fn": f"{user_module}:shout", "kwargs": {"bonus": 0.5}},
        {"name": "length", "fn": f"{user_module}:words", "maximise": False},
        {"name": "calls", "fn": f"{user_module}:Counter", "kwargs": {"start": 10}},
        {"name": "concise", "fn": "conciseness"},
        {"name": "format", "fn": "morl_jax.rewards.gdpo:gdpo_format"},
    ])
    assert rs.names == ("loud", "length", "calls", "concise", "format")
    out = rs(["p", "p"], ["HI", "a b c"], answer=["x", "y"], completion_tokens=np.array([1, 3]))
    np.testing.assert_allclose(out, [[1.5, -1.0, 11.0, 1.0, 0.0], [0.5, -3.0, 11.0, 0.0, 0.0]])
    assert isinstance(rs["concise"], Conciseness)
    assert set(rs.state_dict()) == {"concise"}


@pytest.mark.parametrize("specs, message", [
    ([], "non-empty list of reward specs"),
    ([{"name": "a"}], r"rewards\[0\].fn must be a non-empty string"),
    ([{"name": "a", "fn": "conciseness", "maximize": True}], r"rewards\[0\] has unknown key\(s\) \['maximize'\]"),
    ([{"name": "a", "fn": "conciseness", "maximise": "yes"}], r"rewards\[0\].maximise must be True or False"),
    ([{"name": "a", "fn": "conciseness"}, {"name": "a", "fn": "math_clarity"}], r"unique, \['a'\] repeat"),
    ([{"name": "a", "fn": "conciseness", "worst": "low"}], r"rewards\[0\].worst must be a number"),
])
def test_spec_errors_name_the_entry(specs, message):
    with pytest.raises(ValueError, match=message):
        parse_specs(specs)


def test_build_errors_name_the_reward(user_module):
    with pytest.raises(ValueError, match="'nope' is neither an import path 'package.module:function' nor a registered"):
        build_reward_set([{"name": "a", "fn": "nope"}])
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        build_reward_set([{"name": "a", "fn": "no_such_module:f"}])
    with pytest.raises(ValueError, match="module 'my_rewards' has no attribute 'missing'"):
        build_reward_set([{"name": "a", "fn": f"{user_module}:missing"}])
    with pytest.raises(ValueError, match=r"reward 'a': kwargs may not set \['completions'\]"):
        build_reward_set([{"name": "a", "fn": f"{user_module}:words", "kwargs": {"completions": 1}}])
    with pytest.raises(ValueError, match=r"reward 'a': morl_jax.rewards.gdpo:gdpo_format has no option\(s\) \['x'\]"):
        build_reward_set([{"name": "a", "fn": "morl_jax.rewards.gdpo:gdpo_format", "kwargs": {"x": 1}}])
    with pytest.raises(ValueError, match=r"reward 'a': .*no option\(s\) \['mood'\]"):
        build_reward_set([{"name": "a", "fn": "math_accuracy", "kwargs": {"mood": 1}}])
    with pytest.raises(ValueError, match=r"Counter\(\*\*\{'stop': 1\}\) failed"):
        build_reward_set([{"name": "a", "fn": f"{user_module}:Counter", "kwargs": {"stop": 1}}])
    with pytest.raises(ValueError, match="not an import path of the form"):
        import_object("module:")


def test_reasoning_gym_scorer_reward():
    import reasoning_gym

    entries = list(reasoning_gym.create_dataset("basic_arithmetic", size=2, seed=3))
    right = [rf"so \boxed{{{e['answer']}}}" for e in entries]
    out = reasoning_gym_score(["", ""], right + ["no answer"], entry=entries + entries[:1])
    np.testing.assert_array_equal(out, [1.0, 1.0, 0.0])
    tagged = [f"<answer>{entries[0]['answer']}</answer>"]
    assert reasoning_gym_score([""], tagged, entry=entries[:1], extract_from="answer_tag").tolist() == [1.0]
    assert reasoning_gym_score([""], tagged, entry=entries[:1]).tolist() == [0.0]  # no box to read
