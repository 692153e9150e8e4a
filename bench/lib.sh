# Shared set-up of the benchmark scripts: build, a scratch database, a seeded team, a server.
# Source it; it sets $root, $roster, $work and cleans up on exit. With `--pg` as the first
# argument of the script, the database is a new one on the PostgreSQL server of $BENCH_PG_URL
# (default postgres://postgres@127.0.0.1:5432/postgres) instead of a SQLite file.
set -euo pipefail
backend=sqlite
if [ "${1:-}" = "--pg" ]; then backend=postgres; shift; fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for tool in sqlite3 curl python3; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
roster="$root/target/release/roster"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
if [ "$backend" = postgres ]; then
    pg_server=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    pg_db="roster_bench_$$"
    psql "$pg_server" -qc "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db"
    export ROSTER_DATABASE_URL="${pg_server%/*}/$pg_db"
    trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; psql "$pg_server" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"' EXIT
else
    export ROSTER_DATABASE_URL="sqlite://$work/roster.db"
fi
# Only `serve` and `init` create a database; the operator commands below need one.
"$roster" init --bootstrap-key-file "$work/operator.key" 2>/dev/null

# seed_team N: a team "Bench" with N members person000001@bench.example.com ... and the domain
# bench.example.com verified; sets $org_id and $key (its admin's key).
# The members are written with SQL, in the rows the product writes (see
# crates/roster-sqlite/migrations), because the CSV import arrives with a later issue.
seed_team() {
    local members=$1 org
    org=$("$roster" org create "Bench" --admin-email admin@bench.example.com)
    org_id=$(echo "$org" | sed -E 's/.*"id":"([^"]+)".*/\1/')
    key=$(echo "$org" | sed -E 's/.*"key":"([^"]+)".*/\1/')
    "$roster" domain add "$org_id" bench.example.com >/dev/null
    if [ "$backend" = postgres ]; then
        psql "$ROSTER_DATABASE_URL" -q <<SQL
INSERT INTO users (id, name, name_lower, email, email_norm, created_at)
SELECT gen_random_uuid(), 'Person ' || i, 'person ' || i, format('person%s@bench.example.com', lpad(i::text, 6, '0')),
       format('person%s@bench.example.com', lpad(i::text, 6, '0')), now()
FROM generate_series(1, $members) AS i;
INSERT INTO memberships (org_id, user_id, email_norm, role, created_at)
SELECT '$org_id', id, email_norm, 4, now() FROM users WHERE email_norm LIKE 'person%@bench.example.com';
ANALYZE;
SQL
        return
    fi
    sqlite3 "$work/roster.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $members)
INSERT INTO users (id, name, name_lower, email, email_norm, created_at)
SELECT randomblob(16), 'Person ' || i, 'person ' || i, printf('person%06d@bench.example.com', i),
       printf('person%06d@bench.example.com', i), 0 FROM n;
INSERT INTO memberships (org_id, user_id, email_norm, role, created_at)
SELECT x'${org_id//-/}', id, email_norm, 4, 0 FROM users
WHERE email_norm LIKE 'person%@bench.example.com';
COMMIT;
ANALYZE;
SQL
}

# start_server: runs `roster serve` on a free port (extra environment may be given first, as
# in `ROSTER_LOG=... start_server`); sets $pid, $port and $api; logs to $work/serve.log.
start_server() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # One key drives each load far past the default per-key rate.
    "$roster" serve --listen "127.0.0.1:$port" --rate-limit 1000000000 --rate-burst 1000000000 \
        2>"$work/serve.log" &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/api/health/" >/dev/null; do sleep 0.1; done
    api="http://127.0.0.1:$port/api"
}

rss() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$pid/status"; }
