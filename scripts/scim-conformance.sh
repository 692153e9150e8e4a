#!/usr/bin/env bash
# SCIM conformance: starts a real `roster serve` on a fresh database, gives a team an admin
# service account, and runs scim2-tester (through its Python API, so that only ERROR and
# CRITICAL results fail) and `scim-sanity probe` against /scim/v2. Both must pass.
#
# Usage: scripts/scim-conformance.sh [DATABASE_URL]   (default: a new SQLite file)
# With a postgres:// server URL, a new database is created on that server and dropped after.
# The tools live in a virtualenv ($ROSTER_VENV, default .venv) from scripts/requirements-scim.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ROSTER_VENV:-$root/.venv}
if [ ! -x "$venv/bin/scim-sanity" ] || ! "$venv/bin/python" -c 'import scim2_tester' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-scim.txt"
fi
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" --bin roster
roster="$root/target/debug/roster"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${pg_db:-}" ] && psql "$pg_server" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
case "${1:-}" in
    postgres://* | postgresql://*)
        pg_server=$1
        pg_db="roster_scim_$$"
        psql "$pg_server" -qc "CREATE DATABASE $pg_db"
        database="${pg_server%/*}/$pg_db"
        label=PostgreSQL
        ;;
    "") database="sqlite://$work/roster.db"; label=SQLite ;;
    *) database=$1; label=$1 ;;
esac

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$roster" serve --database "$database" --listen "127.0.0.1:$port" \
    --bootstrap-key-file "$work/operator.key" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/api/health/" >/dev/null 2>&1 && break
    sleep 0.1
done
operator=$(cat "$work/operator.key")
api() { curl -fsS -H "Authorization: Token $operator" -H 'Content-Type: application/json' "$@"; }
org=$(api -X POST "$base/api/organizations/" -d '{"name": "SCIM conformance"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
token=$(api -X POST "$base/api/organizations/$org/serviceaccounts/" -d '{"name": "idp", "role": 2}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

status=0
echo "== scim2-tester on $label"
"$venv/bin/python" "$root/scripts/scim_check.py" "$base/scim/v2" "$token" || status=1
echo "== scim-sanity probe on $label"
if "$venv/bin/scim-sanity" probe "$base/scim/v2" --token "$token" --i-accept-side-effects \
    --json-output >"$work/sanity.json"; then
    python3 - "$work/sanity.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print("scim-sanity:", json.dumps(report.get("summary", report))[:400])
PY
else
    cat "$work/sanity.json"
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "--- server log (last 40 lines)"
    tail -40 "$work/server.log"
fi
exit "$status"
