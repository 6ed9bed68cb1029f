#!/usr/bin/env bash
# toil-cwl-runner with a job store of its own in S3, for cwltest (conformance/on_s3.sh sets
# MOIL_S3_RUNNER, MOIL_S3_REGION and MOIL_S3_BUCKET): every run gets a fresh key prefix.
set -euo pipefail
prefix="cwl-$(date +%s%N)-$$-$RANDOM"
exec "$MOIL_S3_RUNNER" --jobStore "aws:$MOIL_S3_REGION:$MOIL_S3_BUCKET/$prefix" "$@"
