"""Install morl_jax's requirements on a hosted notebook runtime (Colab) without replacing the runtime's jax.

A Colab runtime ships jax and jaxlib built for its accelerator (with the CUDA plugin on GPU runtimes, libtpu on
TPU runtimes). `pip install -r requirements.txt` would replace them (it pins the CPU set this repository is
tested with, jax==0.10.2), and a plain `pip install morl_jax` lets pip upgrade them whenever a requirement asks
for it. The notebooks in colabs/ install in two steps instead:

    pip install --no-deps git+https://github.com/morl-jax/morl_jax      # the package alone (configs included)
    python -m morl_jax.colab_install                                   # its other requirements; jax kept

This module reads the installed package's own requirements (setup.py's `install_requires`, from the package
metadata), leaves out jax and jaxlib when the runtime already has jax, and installs the rest under a pip
constraints file that pins every jax distribution the runtime has (jax, jaxlib, jax-cuda*/jax-rocm* plugins,
libtpu) to its installed version. pip may then choose older releases of flax / optax / orbax / chex that work
with that jax; when none does, it stops and names the conflict instead of replacing jax. On a Python without
jax it installs jax as well (the CPU build). Standard library only: it runs before the requirements exist.

    python -m morl_jax.colab_install --dry_run      # print the plan (requirements, constraints), install nothing
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from typing import Sequence

PACKAGE = "morl_jax"
# The runtime's accelerator-specific jax distributions: never replaced.
JAX_DISTRIBUTIONS = re.compile(r"jax|jaxlib|jax-(cuda|rocm)\d*-(plugin|pjrt)|libtpu|libtpu-nightly")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_jax() -> dict[str, str]:
    """{name: version} of the jax distributions installed in this Python (empty without jax)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = normalise(dist.metadata["Name"] or "")
        if JAX_DISTRIBUTIONS.fullmatch(name):
            found[name] = dist.version
    return found


def requirements(extras: Sequence[str] = (), declared: Sequence[str] | None = None) -> list[str]:
    """The package's requirements (`declared`, default: from its installed metadata) without environment markers:
    the unconditional ones plus those of `extras`."""
    if declared is None:
        declared = importlib.metadata.requires(PACKAGE) or []
    out = []
    for line in declared:
        spec, _, marker = line.partition(";")
        extra = _EXTRA.search(marker)
        if extra is None or extra.group(1) in extras:
            out.append(spec.strip())
    return out


def plan(extras: Sequence[str] = (), declared: Sequence[str] | None = None,
         installed_jax: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(requirements to install, constraint lines): jax and jaxlib are left out and every installed jax
    distribution is pinned when the runtime has jax; otherwise everything is installed, unconstrained."""
    installed_jax = runtime_jax() if installed_jax is None else installed_jax
    wanted = requirements(extras, declared)
    if "jax" not in installed_jax:
        return wanted, []
    keep = [r for r in wanted if normalise(_NAME.match(r).group()) not in ("jax", "jaxlib")]
    return keep, [f"{name}=={version}" for name, version in sorted(installed_jax.items())]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extras", default="", help="comma-separated extras of setup.py to install too (e.g. data)")
    ap.add_argument("--dry_run", action="store_true", help="print the plan, install nothing")
    args = ap.parse_args(argv)
    extras = [e for e in args.extras.split(",") if e]
    wanted, constraints = plan(extras)
    jax_note = (f"keeping the runtime's {', '.join(constraints)}" if constraints
                else "no jax in this Python: installing jax too")
    print(f"morl_jax requirements: {' '.join(wanted)}\n{jax_note}")
    if args.dry_run or not wanted:
        return
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "install", "-q", *wanted]
        if constraints:
            path = os.path.join(tmp, "constraints.txt")
            with open(path, "w") as f:
                f.write("\n".join(constraints) + "\n")
            command += ["-c", path]
        result = subprocess.run(command)
    if result.returncode:
        raise SystemExit(
            f"pip could not install morl_jax's requirements next to {', '.join(constraints) or 'a fresh jax'} "
            f"(exit code {result.returncode}; its message is above). morl_jax is tested with jax 0.10.2: on a "
            "runtime whose jax is too old for the flax / optax releases morl_jax needs, pick a newer runtime or "
            "upgrade jax for that accelerator (the jax installation guide), then rerun this cell.")


if __name__ == "__main__":
    main()
