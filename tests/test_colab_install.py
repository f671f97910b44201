"""The notebooks' install path: requirements installed next to the runtime's own jax, and configs that load from
an installed (non-editable) package."""

import os
import subprocess
import sys

from morl_jax import colab_install, experiment_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECLARED = ["jax>=0.10.2", "flax>=0.12.8", "numpy>=2.0", 'pytest>=8; extra == "test"',
            "reasoning-gym==0.1.25; extra == 'data'"]


def test_the_runtimes_jax_is_kept_and_pinned():
    runtime = {"jax": "0.7.1", "jaxlib": "0.7.1", "jax-cuda12-plugin": "0.7.1"}
    wanted, constraints = colab_install.plan(declared=DECLARED, installed_jax=runtime)
    assert wanted == ["flax>=0.12.8", "numpy>=2.0"]
    assert constraints == ["jax==0.7.1", "jax-cuda12-plugin==0.7.1", "jaxlib==0.7.1"]
    wanted, _ = colab_install.plan(["data"], declared=DECLARED, installed_jax=runtime)
    assert wanted == ["flax>=0.12.8", "numpy>=2.0", "reasoning-gym==0.1.25"]


def test_without_jax_everything_is_installed():
    wanted, constraints = colab_install.plan(declared=DECLARED, installed_jax={})
    assert wanted == ["jax>=0.10.2", "flax>=0.12.8", "numpy>=2.0"] and constraints == []


def test_this_python_and_the_packages_metadata():
    assert colab_install.runtime_jax()["jax"] == __import__("jax").__version__
    wanted, constraints = colab_install.plan()
    names = {colab_install.normalise(colab_install._NAME.match(r).group()) for r in wanted}
    assert {"flax", "optax", "moocore"} <= names and not names & {"jax", "jaxlib", "pytest"}
    assert f"jax=={__import__('jax').__version__}" in constraints


def test_configs_load_from_an_installed_package(tmp_path, monkeypatch):
    """setup.py ships configs/ as morl_jax/configs, where `load` finds a bare name without a checkout."""
    lib = tmp_path / "site-packages"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=ROOT, check=True,
                   capture_output=True)
    assert (lib / "morl_jax" / "configs" / "arith.py").is_file()
    monkeypatch.setattr(experiment_config, "__file__", str(lib / "morl_jax" / "experiment_config.py"))
    monkeypatch.chdir(tmp_path)
    loaded = []
    monkeypatch.setattr(experiment_config.importlib.util, "spec_from_file_location",
                        lambda name, path, _f=experiment_config.importlib.util.spec_from_file_location:
                        loaded.append(path) or _f(name, path))
    for spec in ("arith.py:size=test", "configs/arith.py:size=test"):
        assert experiment_config.load(spec).rl.num_steps == 4
    assert loaded == [str(lib / "morl_jax" / "configs" / "arith.py")] * 2
