#!/usr/bin/env bash
# Usage: launch/tpu_vm.sh NAME ZONE ACCELERATOR_TYPE RUNTIME_VERSION CONFIG WORKDIR [more main.py flags]
#
# Runs one experiment on a Cloud TPU VM (a single host or a pod slice) from this checkout, end to end:
#   1. creates the TPU VM NAME (gcloud compute tpus tpu-vm create; add SPOT=1 for a spot VM),
#   2. copies the committed code (git archive HEAD) to every worker and installs it in a venv there, with
#      jax[tpu] at the version requirements.txt pins,
#   3. runs `python -m morl_jax.main --distributed` on --worker=all (JAX finds the slice's hosts itself),
#   4. copies WORKDIR back into ./runs/NAME (from worker 0, or from the bucket when WORKDIR is gs://...),
#   5. deletes the VM (also on failure or Ctrl-C; KEEP_VM=1 keeps it).
# Example, a v5e-16 slice (4 hosts) writing to a bucket every host can reach:
#
#   launch/tpu_vm.sh morl-v5e16 us-west4-a v5litepod-16 v2-alpha-tpuv5-lite configs/math500.py \
#       gs://MY_BUCKET/runs/math500 --config.mesh.shape.fsdp=-1
#
# WORKDIR must be one directory all hosts share: a gs:// bucket for a multi-host slice (a local path works on a
# single-host VM only). Needs an authenticated gcloud with a default project. Untested here (no TPU access); the
# multi-process code path it runs is tested with CPU processes (launch/multiprocess_cpu.sh).
set -euo pipefail

if [[ $# -lt 6 ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
name=$1 zone=$2 accelerator=$3 runtime=$4 config=$5 workdir=$6
shift 6
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tpu=(gcloud compute tpus tpu-vm)
jax_version=$(sed -n 's/^jax==\([0-9.]*\).*/\1/p' "$repo/requirements.txt")

cleanup() {
  if [[ ${KEEP_VM:-0} == 1 ]]; then
    echo "keeping $name (KEEP_VM=1); delete it with: ${tpu[*]} delete $name --zone=$zone --quiet"
  else
    "${tpu[@]}" delete "$name" --zone="$zone" --quiet
  fi
}

create=("${tpu[@]}" create "$name" --zone="$zone" --accelerator-type="$accelerator" --version="$runtime")
if [[ ${SPOT:-0} == 1 ]]; then create+=(--spot); fi
"${create[@]}"
trap cleanup EXIT

archive=$(mktemp --suffix=.tar.gz)
git -C "$repo" archive --format=tar.gz -o "$archive" HEAD
"${tpu[@]}" scp "$archive" "$name:morl_jax.tar.gz" --zone="$zone" --worker=all
rm -f "$archive"
setup="rm -rf morl_jax && mkdir morl_jax && tar -xzf morl_jax.tar.gz -C morl_jax && cd morl_jax \
  && python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt 'jax[tpu]==$jax_version' \
  && .venv/bin/pip install -q --no-deps -e ."
"${tpu[@]}" ssh "$name" --zone="$zone" --worker=all --command="$setup"

run="cd morl_jax && .venv/bin/python -m morl_jax.main --distributed --config=$(printf %q "$config") \
  --workdir=$(printf %q "$workdir")"
for arg in "$@"; do run+=" $(printf %q "$arg")"; done
"${tpu[@]}" ssh "$name" --zone="$zone" --worker=all --command="$run"

mkdir -p "$repo/runs/$name"
if [[ $workdir == gs://* ]]; then
  gcloud storage cp --recursive "$workdir" "$repo/runs/$name/"
else
  "${tpu[@]}" scp --recurse "$name:morl_jax/$workdir" "$repo/runs/$name/" --zone="$zone" --worker=0
fi
echo "results in $repo/runs/$name"
