#!/usr/bin/env bash
# Measures how much a version 1.0 (whole, streamed) memberships list of a large team adds to
# the server's resident memory. Usage: bench/stream-memory.sh [MEMBERS] (default 100000).
#
# Seeds the team with SQL through sqlite3, since the CSV import arrives with a later issue;
# the rows are the ones the product writes (see crates/roster-sqlite/migrations).
set -euo pipefail
members=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
roster="$root/target/release/roster"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export ROSTER_DATABASE_URL="sqlite://$work/roster.db"
org=$("$roster" org create "Bench" --admin-email admin@bench.example.com)
org_id=$(echo "$org" | sed -E 's/.*"id":"([^"]+)".*/\1/')
key=$(echo "$org" | sed -E 's/.*"key":"([^"]+)".*/\1/')
hex=${org_id//-/}
sqlite3 "$work/roster.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $members)
INSERT INTO users (id, name, name_lower, email, email_norm, created_at)
SELECT randomblob(16), 'Person ' || i, 'person ' || i, printf('person%06d@bench.example.com', i),
       printf('person%06d@bench.example.com', i), 0 FROM n;
INSERT INTO memberships (org_id, user_id, email_norm, role, created_at)
SELECT x'$hex', id, email_norm, 4, 0 FROM users WHERE email_norm LIKE 'person%@bench.example.com';
COMMIT;
ANALYZE;
SQL
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$roster" serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
pid=$!
until curl -sf "http://127.0.0.1:$port/api/health/" >/dev/null; do sleep 0.1; done
url="http://127.0.0.1:$port/api/organizations/$org_id/memberships/"
# Warm up the allocator and connection pools with paged reads first.
for p in 1 2 3; do curl -sf -H "Authorization: Token $key" -H 'Accept: application/json; version=2.0' "$url?page=$p" >/dev/null; done
rss() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$pid/status"; }
before=$(rss VmRSS)
start=$(date +%s.%N)
bytes=$(curl -sf -H "Authorization: Token $key" "$url" | tee "$work/list.json" | wc -c)
end=$(date +%s.%N)
peak=$(rss VmHWM)
count=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$work/list.json")
echo "members listed:        $count (of $((members + 1)))"
echo "response size:         $((bytes / 1024 / 1024)) MiB"
echo "time:                  $(python3 -c "print(round($end - $start, 2))") s"
echo "resident before:       $((before / 1024)) MiB"
echo "peak resident:         $((peak / 1024)) MiB"
echo "growth during the list: $(((peak - before) / 1024)) MiB"
if [ -n "${KEEP:-}" ]; then echo "server: http://127.0.0.1:$port org $org_id key $key (Ctrl-C to stop)"; wait "$pid"; fi
