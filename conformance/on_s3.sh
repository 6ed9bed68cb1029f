#!/usr/bin/env bash
# Run the CWL conformance tests tagged `required` with every run's job store in S3
# (`--jobStore aws:REGION:BUCKET/PREFIX`, a fresh prefix per test) on a local S3 server,
# with the same expected-failure list and baseline as the `file:` runs: a test that passes
# there must pass with the aws: store.
#
# Usage: conformance/on_s3.sh [conformance.cwl options] [-- extra toil-cwl-runner args]
#
# Starts the server with the test fixture's module (tests/services/s3.py; installs it into
# the tools cache on first use), points boto3 at it through its own variables
# (AWS_ENDPOINT_URL...), makes one bucket, runs the suite with conformance/s3_tool.sh as the
# runner (it adds the per-test --jobStore), and stops the server on every exit. Each test's
# store is destroyed by the run when it succeeds (Toil's rule for --jobStore). The per-host
# file cache goes under the results directory.
#
# Defaults (override by environment): VERSION=v1.2 TAGS=required JOBS=2 S3_SERVER=moto
# (or s3rver) PYTHON=.venv/bin/python OUT=conformance/results/cwl-$VERSION-aws. Exit status:
# that of conformance.cwl (0 gate passed, 1 gate failed, 2 harness error); 3 if the server
# could not start.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
VERSION=${VERSION:-v1.2}
TAGS=${TAGS-required}
JOBS=${JOBS:-2}
S3_SERVER=${S3_SERVER:-moto}
OUT=${OUT:-conformance/results/cwl-$VERSION-aws}
OUT=$(realpath -m "$OUT")

ours=()
runner=()
seen_dashes=0
for arg in "$@"; do
    if [[ $seen_dashes == 0 && $arg == "--" ]]; then
        seen_dashes=1
    elif [[ $seen_dashes == 0 ]]; then
        ours+=("$arg")
    else
        runner+=("$arg")
    fi
done

S3_DIR=$(mktemp -d /tmp/moil-s3-cwl-XXXXXX)
stop_s3() {
    "$PYTHON" -m tests.services.s3 stop "$S3_DIR" >/dev/null 2>&1 || true
    rm -rf "$S3_DIR"
}
trap stop_s3 EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! started=$("$PYTHON" -m tests.services.s3 start "$S3_SERVER" "$S3_DIR"); then
    echo "on_s3.sh: the $S3_SERVER S3 server did not start (see above)" >&2
    exit 3
fi
echo "$started" | grep '^#' >&2 || true
eval "$(echo "$started" | grep '^export ')"

MOIL_S3_BUCKET=moil-cwl-$(date +%s)
export MOIL_S3_BUCKET MOIL_S3_REGION=${AWS_REGION:-us-east-1}
export MOIL_S3_RUNNER
MOIL_S3_RUNNER=$(realpath "$(dirname "$PYTHON")/toil-cwl-runner")
export MOIL_S3_CACHE="$OUT/s3-cache"
rm -rf "$MOIL_S3_CACHE"
"$PYTHON" -c 'import os, boto3; boto3.client("s3").create_bucket(Bucket=os.environ["MOIL_S3_BUCKET"])'

tag_args=()
if [[ -n $TAGS ]]; then
    tag_args=(--tags "$TAGS")
fi

status=0
"$PYTHON" -m conformance.cwl --version "$VERSION" "${tag_args[@]}" -j "$JOBS" \
    --tool "$(realpath conformance/s3_tool.sh)" --output-dir "$OUT" "${ours[@]}" \
    -- "${runner[@]}" || status=$?

# Every test's store is gone once its run succeeded; say how many are left (failed runs).
left=$("$PYTHON" -c '
import os, boto3
pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(
    Bucket=os.environ["MOIL_S3_BUCKET"], Delimiter="/")
print(sum(len(p.get("CommonPrefixes", [])) for p in pages))' || echo "?")
echo "on_s3.sh: $left job store(s) left in s3://$MOIL_S3_BUCKET (runs that did not succeed)" >&2
exit "$status"
