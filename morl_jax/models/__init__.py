"""Policy language models: Llama / Qwen2 / Qwen3 decoders in flax.nnx, KV-cache sampling, HF checkpoints,
tokenizers.

Build and call::

    model = Transformer(get_config("peer-qwen2"), rngs=nnx.Rngs(0))      # or from_pretrained(hf_dir)
    out = model(tokens, positions_from_mask(mask), mask)                 # .logits, .hidden_states

Hot paths are pure functions of the split state (the nnx functional pattern; `nnx.jit` re-walks the module
graph in Python on every call, this does not)::

    graphdef, state = nnx.split(model)                  # static structure + pytree of arrays

    @jax.jit
    def loss_fn(state, tokens, mask):
        model = nnx.merge(graphdef, state)               # cheap inside a trace
        return -token_logprobs(model, tokens, mask).sum()

    grads = jax.grad(loss_fn)(state, tokens, mask)       # grads have the same structure as `state`
    rollout = generate(graphdef, state, prompt_tokens, prompt_mask, key, max_new_tokens=32, eos_id=1, pad_id=0)
    nnx.update(model, new_state)                         # or nnx.merge(graphdef, new_state)

Parameters carry `logical_axes` metadata (`vocab`, `embed`, `heads`, `kv`, `head_dim`, `mlp`, `norm`);
`morl_jax.parallel.state_shardings(state, mesh)` turns them into `NamedSharding`s.
"""

from morl_jax.models.config import (LORA_TARGETS, REMAT_POLICIES, ModelConfig, RopeScaling, config_names, get_config,
                                    register_config)
from morl_jax.models.hf_checkpoint import from_pretrained, load_config, save_pretrained
from morl_jax.models.logprobs import head_logprobs, token_logprobs
from morl_jax.models.sampling import Rollout, filter_logits, generate, generate_text, sample_tokens
from morl_jax.models.tokenizers import (CharTokenizer, HFTokenizer, Tokenizer, bucket_length, decode_completions,
                                        encode_prompt, encode_prompts, load_tokenizer)
from morl_jax.models.transformer import KVCache, ModelOutput, Transformer, positions_from_mask

__all__ = [
    "LORA_TARGETS", "REMAT_POLICIES", "CharTokenizer", "HFTokenizer", "KVCache", "ModelConfig", "ModelOutput", "RopeScaling", "Rollout", "Tokenizer",
    "Transformer", "bucket_length", "config_names", "decode_completions", "encode_prompt", "encode_prompts", "filter_logits",
    "from_pretrained", "generate", "generate_text", "get_config", "head_logprobs", "load_config", "load_tokenizer",
    "positions_from_mask", "register_config", "sample_tokens", "save_pretrained", "token_logprobs",
]

from morl_jax.models.heads import (PreferencePairs, RewardModel, RewardModelScorer, bradley_terry_loss, encode_pairs,
                                   encode_sequences, fit_reward_model, load_reward_model, preference_loss, reward_fns,
                                   save_reward_model)

__all__ += ["PreferencePairs", "RewardModel", "RewardModelScorer", "bradley_terry_loss", "encode_pairs",
            "encode_sequences", "fit_reward_model", "load_reward_model", "preference_loss", "reward_fns",
            "save_reward_model"]
