#!/usr/bin/env bash
# Run the CWL conformance tests tagged `required` through moil's WES server, driven by
# Toil 9.6.0's toil-wes-cwl-runner (a cwltest runner that submits each test to a WES server,
# waits, and prints the outputs the server reports), with the same gate and baseline as
# toil-cwl-runner run directly: a test that passes there must pass through WES.
#
# Usage: conformance/on_wes.sh [conformance.cwl options]
#
# Installs Toil 9.6.0 (and wes-service, which its runner imports) into a venv of the tools
# cache (tests/services/toolcache.py; once per machine, ~30 s), starts `toil server` on a
# free port of 127.0.0.1 with its work dir under the results directory, runs the suite, and
# stops the server on every exit. Defaults (override by environment): VERSION=v1.2
# TAGS=required JOBS=2 WORKERS=2 PYTHON=.venv/bin/python
# OUT=conformance/results/cwl-$VERSION-wes. Exit status: that of conformance.cwl (0 gate
# passed, 1 gate failed, 2 harness error); 3 if the server or Toil could not be set up.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
VERSION=${VERSION:-v1.2}
TAGS=${TAGS-required}
JOBS=${JOBS:-2}
WORKERS=${WORKERS:-2}
OUT=${OUT:-conformance/results/cwl-$VERSION-wes}
OUT=$(realpath -m "$OUT")

if ! toil_venv=$("$PYTHON" -m tests.services.wes toil-venv); then
    echo "on_wes.sh: Toil 9.6.0 could not be installed (see above)" >&2
    exit 3
fi
port=$("$PYTHON" -c 'from tests.services.serverproc import free_port; print(free_port())')
server_dir="$OUT/server"
rm -rf "$server_dir"
mkdir -p "$server_dir"
"$(dirname "$PYTHON")/toil" server --host 127.0.0.1 --port "$port" --workers "$WORKERS" \
    --work_dir "$server_dir/runs" >"$server_dir/server.log" 2>&1 &
server_pid=$!
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for _ in $(seq 1 100); do
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/ga4gh/wes/v1/service-info', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "on_wes.sh: toil server exited:" >&2
        tail -20 "$server_dir/server.log" >&2
        exit 3
    fi
    sleep 0.1
done

tag_args=()
if [[ -n $TAGS ]]; then
    tag_args=(--tags "$TAGS")
fi
# toil-wes-cwl-runner asks cwltool for each test's files (--print-deps): Toil's venv has one
export PATH="$PATH:$toil_venv/bin"
status=0
"$PYTHON" -m conformance.cwl --version "$VERSION" "${tag_args[@]}" -j "$JOBS" \
    --tool "$toil_venv/bin/toil-wes-cwl-runner" --output-dir "$OUT" "$@" \
    -- "--wes_endpoint=http://127.0.0.1:$port" || status=$?
exit "$status"
