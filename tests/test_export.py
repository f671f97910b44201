"""Export: a trained policy leaves the codebase as a Hugging Face directory that transformers loads, with the
same logits as morl_jax (float32) and the run's tokenizer."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax import experiment_config, train
from morl_jax.export import load_policy, main
from morl_jax.models import CharTokenizer, encode_prompts, positions_from_mask

# One xdist worker runs every arithmetic-loop module (`make test` uses --dist loadgroup): they share its compiled
# programs.
pytestmark = pytest.mark.xdist_group("arith_loop")

OVERRIDES = ["rl.num_steps=2", "checkpoint.every=2", "eval.every=0", "sft.steps=0"]


def test_exported_policy_matches_transformers_logits(tmp_path, torch, transformers):
    config = experiment_config.load("arith.py:size=test", OVERRIDES)
    workdir, out = str(tmp_path / "run"), str(tmp_path / "hf")
    train.run(config, workdir)
    main(["--config=arith.py:size=test", f"--workdir={workdir}", f"--out={out}"] + [f"--config.{o}" for o in OVERRIDES])

    ours, step = load_policy(config, workdir)
    assert step == 2
    initial = train.Experiment(config, str(tmp_path / "fresh")).init_model()
    initial_leaves = dict(nnx.to_flat_state(nnx.state(initial, nnx.Param)))
    assert any(not np.allclose(v[...], initial_leaves[k][...])  # RL moved the weights
               for k, v in nnx.to_flat_state(nnx.state(ours, nnx.Param)))

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    prompts = ["ann has 7 pens, gets 5. how many?", "3+4="]
    assert tokenizer("3+4=")["input_ids"] == CharTokenizer().encode("3+4=")
    tokens, mask = encode_prompts(CharTokenizer(), prompts)
    forward = nnx.jit(lambda model, t, m: model(t, positions_from_mask(m), m).logits)  # one program, not op by op
    logits = np.asarray(forward(ours, jnp.asarray(tokens), jnp.asarray(mask)))
    reference = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        attention = torch.tensor(mask, dtype=torch.long)
        ref = reference(input_ids=torch.tensor(tokens, dtype=torch.long), attention_mask=attention,
                        position_ids=torch.clamp(attention.cumsum(-1) - 1, min=0)).logits.numpy()
    np.testing.assert_allclose(logits[mask], ref[mask], atol=2e-5, rtol=1e-5)


def test_export_without_checkpoints_says_so(tmp_path):
    config = experiment_config.load("arith.py:size=test")
    with pytest.raises(FileNotFoundError, match="no checkpoints in .*set checkpoint.every > 0"):
        load_policy(config, str(tmp_path))
