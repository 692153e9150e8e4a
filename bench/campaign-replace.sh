#!/usr/bin/env bash
# Campaign member replace (PUT) of MEMBERS members (default 50,000), each with a 200-byte
# `data` object, into an empty campaign, then again with half of them new and every data
# changed: wall time, the time until the response starts (the change), and the SQL statements
# of the change. Usage: bench/campaign-replace.sh [MEMBERS]
source "$(dirname "$0")/lib.sh" "$@"
[ "${1:-}" = "--pg" ] && shift
members=${1:-50000}
seed_team "$members"
ROSTER_LOG="warn,roster_server=info,sqlx::query=debug" start_server
auth=(-H "Authorization: Token $key" -H 'Content-Type: application/json')
cid=$(curl -sf "${auth[@]}" -d '{"name": "Bench"}' "$api/organizations/$org_id/campaigns/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
url="$api/organizations/$org_id/campaigns/$cid/members/"
statements() { grep 'sqlx::query' "$work/serve.log" | grep -vc wal_checkpoint || true; }
payload() {
    python3 - "$1" "$2" "$3" > "$work/payload.json" <<'PY'
import json, sys
first, last, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
members = []
for i in range(first, last + 1):
    data = {"Location": "Site %03d" % (i % 250), "Organization Unit": "Unit %s-%04d" % (tag, i % 1000),
            "Employee ID": "E%08d" % i, "Manager": "manager%05d@bench.example.com" % (i % 5000),
            "Start": "2026-01-%02d" % (1 + i % 28), "FTE": 0.75, "Shift": "early"}
    members.append({"email": "person%06d@bench.example.com" % i, "data": data})
print(json.dumps(members))
PY
}
put() {
    local label=$1 before after seconds status first count
    payload "$2" "$3" "$4"
    before=$(statements)
    read -r status seconds < <(curl -s -o "$work/response.json" -w '%{http_code} %{time_total}\n' -X PUT "${auth[@]}" \
        --data-binary @"$work/payload.json" "$url")
    after=$(statements)
    first=$(grep 'served' "$work/serve.log" | tail -1 | sed -E 's/.*latency_ms[^0-9]*([0-9.]+).*/\1/')
    count=$(python3 -c "import json; print(len(json.load(open('$work/response.json'))))")
    # The streamed response reads 500 members at a time, with their groups: not the change's.
    local reads=$(( 2 * (count / 500) + 1 ))
    printf '%-46s %s  %5.2f s (change %5.2f s)  %6d members  %3d statements in the change\n' \
        "$label" "$status" "$seconds" "$(python3 -c "print($first / 1000)")" "$count" $(( after - before - reads ))
}
bytes=$(python3 -c "import json; print(len(json.dumps({'Location': 'Site 001', 'Organization Unit': 'Unit a-0001', 'Employee ID': 'E00000001', 'Manager': 'manager00001@bench.example.com', 'Start': '2026-01-02', 'FTE': 0.75, 'Shift': 'early'})))")
echo "data per member: $bytes bytes"
put "PUT $members into an empty campaign" 1 "$members" a
put "PUT $members, half new, all data changed" $(( members / 2 + 1 )) $(( members / 2 + members )) b
