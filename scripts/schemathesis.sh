#!/usr/bin/env bash
# Property-based API fuzzing (issue 8), after the document itself is checked by
# openapi-spec-validator: schemathesis (PyPI, both pinned in
# scripts/requirements-schemathesis.txt, in the virtualenv $ROSTER_SCHEMATHESIS_VENV or
# .venv-schemathesis) against a live `roster serve` seeded by scripts/schemathesis_check.py.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 100 per operation)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ROSTER_SCHEMATHESIS_VENV:-$root/.venv-schemathesis}
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 || ! [ -x "$venv/bin/openapi-spec-validator" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-schemathesis.txt"
fi
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" --bin roster
exec python3 "$root/scripts/schemathesis_check.py" "$root/target/debug/roster" "$venv/bin/schemathesis" \
    --max-examples "${1:-100}"
