#!/usr/bin/env bash
# The console's browser tests (scripts/console-e2e.py) on a fresh SQLite server: installs
# Debian's chromium if it is missing and the pinned Python tools into a virtualenv
# ($ROSTER_VENV, default .venv-console), builds `roster`, and runs the checks. Extra arguments
# go to the script (e.g. --screenshots docs/console to refresh README's screenshots).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ROSTER_VENV:-$root/.venv-console}
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! "$venv/bin/python" -c 'import playwright, axe_playwright_python' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-console.txt"
fi
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" --bin roster
"$venv/bin/python" "$root/scripts/console-e2e.py" "$root/target/debug/roster" "$@"
