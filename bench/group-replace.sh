#!/usr/bin/env bash
# Group membership replace (PUT) at scale on the default SQLite backend:
#   1. 10,000 emails into an empty group
#   2. 10,000 where half stay and half are new
#   3. 100,000 (the group then holds the 10,000 of step 2)
#   4. 100,000 where half stay and half are new (held by the verified domain, not members)
# For each: wall time of the request (response streamed and read whole), the time the change
# took (until the response starts), and the number of SQL
# statements the change ran, from sqlx's statement log, to show it does not grow with the
# payload. Usage: bench/group-replace.sh
source "$(dirname "$0")/lib.sh" "$@"
[ "${1:-}" = "--pg" ] && shift
seed_team 100000
ROSTER_LOG="warn,roster_server=info,sqlx::query=debug" start_server
auth=(-H "Authorization: Token $key" -H 'Content-Type: application/json')
gid=$(curl -sf "${auth[@]}" -d '{"name": "Bench"}' "$api/organizations/$org_id/groups/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# Statements logged so far, less the background WAL checkpoints.
statements() { grep 'sqlx::query' "$work/serve.log" | grep -vc wal_checkpoint || true; }
payload() { python3 -c "import json,sys; print(json.dumps([{'email': 'person%06d@bench.example.com' % i} for i in range($1, $2 + 1)]))" > "$work/payload.json"; }
put() {
    local label=$1 from=$2 to=$3 before after seconds status
    payload "$from" "$to"
    before=$(statements)
    read -r status seconds < <(curl -s -o "$work/response.json" -w '%{http_code} %{time_total}\n' -X PUT "${auth[@]}" \
        --data-binary @"$work/payload.json" "$api/groups/$gid/memberships/")
    after=$(statements)
    # The server logs a request's latency when its response head is ready: after the commit,
    # before the streamed body.
    first=$(grep 'served' "$work/serve.log" | tail -1 | sed -E 's/.*latency_ms[^0-9]*([0-9.]+).*/\1/')
    first=$(python3 -c "print($first / 1000)")
    # The streamed response reads 500 memberships at a time, with their campaigns: not the
    # change's statements.
    local count reads
    count=$(python3 -c "import json; print(len(json.load(open('$work/response.json'))))")
    reads=$(( 2 * (count / 500) + 1 ))
    printf '%-44s %s  %5.2f s (change %5.2f s)  %6d members after  %3d statements in the change\n' \
        "$label" "$status" "$seconds" "$first" "$count" $(( after - before - reads ))
}
put "PUT 10,000 into an empty group" 1 10000
put "PUT 10,000, half staying, half new" 5001 15000
put "PUT 100,000 (10,000 staying)" 1 100000
put "PUT 100,000, half staying, half new (held)" 50001 150000
[ -n "${SHOW_LOG:-}" ] && cp "$work/serve.log" /tmp/group-replace-serve.log
