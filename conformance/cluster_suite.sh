# Sourced by conformance/on_slurm.sh and conformance/on_gridengine.sh: what running the CWL
# suite on a private cluster scheduler shares once the scheduler is up.
#
# split_args "$@": fills the arrays `ours` (conformance.cwl options) and `runner` (extra
# toil-cwl-runner arguments, after the first `--`).
# run_suite BATCH_SYSTEM: runs `python -m conformance.cwl` with VERSION, TAGS, JOBS, OUT and
# POLL (see the calling script), `--batchSystem BATCH_SYSTEM`; sets `status` to its exit
# status (0 gate passed, 1 gate failed, 2 harness error).

split_args() {
    ours=()
    runner=()
    local seen_dashes=0 arg
    for arg in "$@"; do
        if [[ $seen_dashes == 0 && $arg == "--" ]]; then
            seen_dashes=1
        elif [[ $seen_dashes == 0 ]]; then
            ours+=("$arg")
        else
            runner+=("$arg")
        fi
    done
}

run_suite() {
    local tag_args=()
    if [[ -n $TAGS ]]; then
        tag_args=(--tags "$TAGS")
    fi
    status=0
    "$PYTHON" -m conformance.cwl --version "$VERSION" "${tag_args[@]}" -j "$JOBS" \
        --output-dir "$OUT" "${ours[@]}" \
        -- --batchSystem "$1" --statePollingWait "$POLL" "${runner[@]}" || status=$?
}
