#!/usr/bin/env bash
# Usage: launch/multiprocess_cpu.sh NUM_PROCESSES DEVICES_PER_PROCESS --config=CONFIG --workdir=DIR [more main.py flags]
#
# Runs NUM_PROCESSES copies of `python -m morl_jax.main` on this machine as one multi-controller JAX job: each has
# DEVICES_PER_PROCESS CPU devices (XLA's host-platform device count), process 0 coordinates on 127.0.0.1:$PORT
# (default 12355), and CPU collectives go over gloo. This is how the multi-host code paths (sharded sampling, per-
# process scoring, collective checkpoints) are exercised without a cluster, e.g. the tiny test config over 2
# processes with 2 devices each:
#
#   launch/multiprocess_cpu.sh 2 2 --config=configs/arith.py:size=test --workdir=runs/mp
#
# Process 0 prints to the terminal; every process appends its output to WORKDIR/logs/process_I.log. The script
# waits for all of them and exits non-zero if any failed (the others are stopped). Env: PYTHON (default: .venv's
# python when present, else python3), PORT, XLA_FLAGS (kept; the device count is added to them).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
num_processes=$1
devices=$2
shift 2
workdir=""
for arg in "$@"; do
  case $arg in --workdir=*) workdir=${arg#--workdir=} ;; esac
done
if [[ -z $workdir ]]; then
  echo "error: pass --workdir=DIR (every process writes its log under DIR/logs)" >&2
  exit 2
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $repo/.venv/bin/python ]]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi
port=${PORT:-12355}
mkdir -p "$workdir/logs"

pids=()
stop_all() { kill "${pids[@]}" 2>/dev/null || true; }
trap stop_all INT TERM
for ((i = 0; i < num_processes; i++)); do
  log="$workdir/logs/process_$i.log"
  cmd=(env "XLA_FLAGS=${XLA_FLAGS:+$XLA_FLAGS }--xla_force_host_platform_device_count=$devices" JAX_PLATFORMS=cpu
       "PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m morl_jax.main "$@"
       "--coordinator_address=127.0.0.1:$port" "--num_processes=$num_processes" "--process_id=$i")
  if ((i == 0)); then
    "${cmd[@]}" > >(tee -a "$log") 2>&1 &
  else
    "${cmd[@]}" >> "$log" 2>&1 &
  fi
  pids+=("$!")
done

status=0
for ((i = 0; i < num_processes; i++)); do
  if ! wait "${pids[$i]}"; then
    echo "process $i failed: see $workdir/logs/process_$i.log" >&2
    status=1
    stop_all
  fi
done
exit $status
