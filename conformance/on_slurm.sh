#!/usr/bin/env bash
# Run the CWL conformance suite with --batchSystem slurm against a private single-node Slurm.
#
# Usage: conformance/on_slurm.sh [conformance.cwl options] [-- extra toil-cwl-runner args]
#
# Starts munged, slurmctld and slurmd under a fresh directory in /tmp with the test fixture's
# module (tests/services/slurm.py; installs Slurm with apt-get when missing, needs root),
# exports SLURM_CONF, runs `python -m conformance.cwl` with the same expected-failure list and
# baseline as single_machine, and stops the cluster on every exit (success, failure, Ctrl-C).
# The per-test job stores live under cwltest's TMPDIR (conformance/results/.../scratch), on
# this host's filesystem, which the single Slurm node shares.
#
# Defaults (override by environment): VERSION=v1.2 TAGS=required JOBS=2 SLURM_CPUS=8
# POLL=0.2 PYTHON=.venv/bin/python OUT=conformance/results/cwl-$VERSION-slurm. TAGS= (empty)
# runs the whole suite. Options given on the command line come after these defaults, so
# e.g. `--only a,b` or `--no-gate` work. Exit status: that of conformance.cwl (0 gate passed,
# 1 gate failed, 2 harness error); 3 if Slurm could not start.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
VERSION=${VERSION:-v1.2}
TAGS=${TAGS-required}
JOBS=${JOBS:-2}
SLURM_CPUS=${SLURM_CPUS:-8}
POLL=${POLL:-0.2}
OUT=${OUT:-conformance/results/cwl-$VERSION-slurm}
# conformance.cwl runs cwltest from a scratch directory: hand it an absolute path.
OUT=$(realpath -m "$OUT")

# shellcheck source=conformance/cluster_suite.sh
source conformance/cluster_suite.sh
split_args "$@"

# munged needs every parent of its socket searchable by others: a directory under /tmp.
SLURM_DIR=$(mktemp -d /tmp/moil-slurm-cwl-XXXXXX)
chmod 0755 "$SLURM_DIR"
stop_slurm() {
    "$PYTHON" -m tests.services.slurm stop "$SLURM_DIR" >/dev/null 2>&1 || true
    rm -rf "$SLURM_DIR"
}
trap stop_slurm EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! started=$("$PYTHON" -m tests.services.slurm start "$SLURM_DIR" "$SLURM_CPUS"); then
    echo "on_slurm.sh: Slurm did not start (see above)" >&2
    exit 3
fi
echo "$started" | grep '^#' >&2 || true
export SLURM_CONF="$SLURM_DIR/slurm.conf"

run_suite slurm

# Nothing of the run may be left in the queue (a test killed by cwltest's timeout leaves
# its leader's jobs behind; say so before the cluster goes away).
left=$(squeue -h -o %i 2>/dev/null | wc -l || true)
if [[ $left != 0 ]]; then
    echo "on_slurm.sh: $left Slurm job(s) still queued at the end of the suite" >&2
fi
exit "$status"
