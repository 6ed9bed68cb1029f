#!/usr/bin/env bash
# Side environment with the engines moil is compared against: Toil 9.6.0 (CWL and WDL runners),
# cwltool and miniwdl. Used only by the bench/ scripts, which run these as subprocesses; moil
# never imports them from here.
#
#   bash bench/peers.sh            # or: make bench-peers
#   PEERS_VENV=/some/dir bash bench/peers.sh
#
# Environment: PEERS_VENV (default: .venv-peers beside this folder's parent, i.e.
# /work/main/.venv-peers), PEERS_PYTHON (default: python3.11, else python3 if it is 3.11+),
# TOIL_VERSION (default 9.6.0). Idempotent: an existing venv whose commands all run is kept.
# Prints the time the install took; exits non-zero if a command does not run afterwards.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PEERS_VENV:-$repo/.venv-peers}"
toil_version="${TOIL_VERSION:-9.6.0}"
commands=(toil-cwl-runner toil-wdl-runner cwltool miniwdl)

pick_python() {
    if [[ -n "${PEERS_PYTHON:-}" ]]; then echo "$PEERS_PYTHON"; return; fi
    if command -v python3.11 >/dev/null 2>&1; then echo python3.11; return; fi
    # Toil 9.6 supports 3.9-3.13; 3.11 matches moil's own venv, so figures compare alike.
    if python3 -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then echo python3
    else echo "no Python 3.11 found; set PEERS_PYTHON" >&2; exit 2; fi
}

check() {
    local ok=0 cmd
    for cmd in "${commands[@]}"; do
        if out="$("$venv/bin/$cmd" --version 2>&1)"; then
            printf '  %-16s %s\n' "$cmd" "$(tail -n 1 <<<"$out")"
        else
            printf '  %-16s FAILED: %s\n' "$cmd" "$(tail -n 3 <<<"$out")"; ok=1
        fi
    done
    return $ok
}

if [[ -x "$venv/bin/toil-cwl-runner" ]] && check >/dev/null 2>&1 \
    && [[ "$("$venv/bin/python" -m pip show toil 2>/dev/null)" == *"Version: $toil_version"* ]]; then
    echo "peers venv already installed: $venv"
    check
    exit 0
fi

python="$(pick_python)"
start=$EPOCHREALTIME
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
# One resolve for all three, so pip picks the cwltool and miniwdl versions Toil accepts.
# (The grep drops pip's notes about this machine's empty extra index folders, nothing else.)
"$venv/bin/python" -m pip install -q "toil[cwl,wdl]==$toil_version" cwltool miniwdl 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
end=$EPOCHREALTIME
printf 'peers venv %s installed in %.0f s (%s)\n' "$venv" "$(awk "BEGIN{print $end - $start}")" \
    "$("$venv/bin/python" --version)"
check
