#!/usr/bin/env bash
# Fuzzing (issue 8): runs each cargo fuzz target of fuzz/ for SECONDS (default 60) on the
# nightly toolchain, installing cargo-fuzz from crates.io if it is missing. Crashes stop the
# run and are kept in fuzz/artifacts/<target>/; the corpora grow in fuzz/corpus/<target>/
# (both ignored by git). CI does not run this; see docs/SECURITY.md.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cd "$root/fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for target in "${targets[@]}"; do
    echo "== $target: ${seconds} s"
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=65536 2>&1 \
        | grep -E '^(#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|Done )' || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "$target: crash inputs in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
