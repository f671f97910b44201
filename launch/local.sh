#!/usr/bin/env bash
# Usage: launch/local.sh CONFIG WORKDIR [more main.py flags, e.g. --config.rl.num_steps=10]
#
# One process on this machine, every local device in the mesh (CPU, or the GPUs/TPU chips JAX finds):
#
#   launch/local.sh configs/arith.py runs/arith
#   launch/local.sh configs/arith.py:size=test runs/t --config.rl.num_steps=3
#
# Rerunning with the same WORKDIR resumes from its newest checkpoint that restores. Env: PYTHON (default: the
# repository's .venv python when present, else python3).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
config=$1
workdir=$2
shift 2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $repo/.venv/bin/python ]]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m morl_jax.main "--config=$config" "--workdir=$workdir" "$@"
