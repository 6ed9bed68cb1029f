#!/usr/bin/env bash
# Run the CWL conformance suite with --batchSystem grid_engine against a private Grid Engine
# cell (Son of Grid Engine, real daemons).
#
# Usage: conformance/on_gridengine.sh [conformance.cwl options] [-- extra toil-cwl-runner args]
#
# Starts sge_qmaster and sge_execd under a fresh directory in /tmp with the test fixture's
# module (tests/services/gridengine.py; installs Grid Engine with apt-get when missing, needs
# root), exports SGE_ROOT, SGE_CELL, the cell's ports and PATH, runs `python -m
# conformance.cwl` with the same expected-failure list and baseline as single_machine, and
# stops the cell on every exit (success, failure, Ctrl-C). The cell lets root submit
# (--root-may-submit): cwltest and the leader run as root here, so the jobs do too. Every
# other Grid Engine test submits as an ordinary user, as a site requires.
#
# Defaults (override by environment): VERSION=v1.2 TAGS=required JOBS=2 SGE_SLOTS=8
# POLL=0.2 PYTHON=.venv/bin/python OUT=conformance/results/cwl-$VERSION-gridengine. TAGS=
# (empty) runs the whole suite. Options given on the command line come after these
# defaults. Exit status: that of conformance.cwl (0 gate passed, 1 gate failed, 2 harness
# error); 3 if Grid Engine could not start.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
VERSION=${VERSION:-v1.2}
TAGS=${TAGS-required}
JOBS=${JOBS:-2}
SGE_SLOTS=${SGE_SLOTS:-8}
POLL=${POLL:-0.2}
OUT=${OUT:-conformance/results/cwl-$VERSION-gridengine}
OUT=$(realpath -m "$OUT")

# shellcheck source=conformance/cluster_suite.sh
source conformance/cluster_suite.sh
split_args "$@"

# sgeadmin runs the daemons: every parent of the cell must be searchable by it.
SGE_DIR=$(mktemp -d /tmp/moil-sge-cwl-XXXXXX)
chmod 0755 "$SGE_DIR"
stop_sge() {
    "$PYTHON" -m tests.services.gridengine stop "$SGE_DIR" >/dev/null 2>&1 || true
    rm -rf "$SGE_DIR"
}
trap stop_sge EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! started=$("$PYTHON" -m tests.services.gridengine start "$SGE_DIR" "$SGE_SLOTS" \
        --root-may-submit); then
    echo "on_gridengine.sh: Grid Engine did not start (see above)" >&2
    exit 3
fi
echo "$started" | grep '^#' >&2 || true
eval "$(echo "$started" | grep '^export ')"
export TOIL_GRIDENGINE_PE=smp

run_suite grid_engine

left=$(qstat -u '*' 2>/dev/null | tail -n +3 | wc -l || true)
if [[ $left != 0 ]]; then
    echo "on_gridengine.sh: $left Grid Engine job(s) still queued at the end of the suite" >&2
fi
exit "$status"
