#!/usr/bin/env bash
# SCIM at scale: in a team of 100,000 people, one of whose groups holds all of them,
#   1. GET /Users?filter=userName eq "<someone>" (a different person each time)
#   2. PATCH /Groups/{id}?excludedAttributes=members adding, then removing, one member
# Each request is timed on one keep-alive connection (warm-up excluded); the script prints
# the median, p90 and p99. Usage: bench/scim.sh [--pg] [REQUESTS]
source "$(dirname "$0")/lib.sh" "$@"
[ "${1:-}" = "--pg" ] && shift
requests=${1:-500}
seed_team 100000
start_server
auth=(-H "Authorization: Token $key" -H 'Content-Type: application/json')
token=$(curl -sf "${auth[@]}" -d '{"name": "idp", "role": 2}' "$api/organizations/$org_id/serviceaccounts/" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
gid=$(curl -sf "${auth[@]}" -d '{"name": "Everyone"}' "$api/organizations/$org_id/groups/" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 -c "import json; print(json.dumps([{'email': 'person%06d@bench.example.com' % i} for i in range(1, 100001)]))" >"$work/all.json"
curl -sf -o /dev/null -X PUT "${auth[@]}" --data-binary @"$work/all.json" "$api/groups/$gid/memberships/"
echo "seeded: 100,000 members, group $gid holding all of them ($backend)"

python3 - "$port" "$token" "$gid" "$requests" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
port, token, gid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

def call(method, path, body=None):
    start = time.perf_counter()
    conn.request(method, "/scim/v2" + path, body=body and json.dumps(body), headers=headers)
    res = conn.getresponse()
    data = res.read()
    elapsed = time.perf_counter() - start
    assert res.status == 200, (res.status, data[:300])
    return elapsed, json.loads(data)

def report(label, times):
    times = sorted(times)
    pct = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000
    print(f"{label:<58} median {statistics.median(times) * 1000:6.2f} ms  "
          f"p90 {pct(0.9):6.2f} ms  p99 {pct(0.99):6.2f} ms  ({len(times)} requests)")

times = []
for i in range(n + 20):
    who = f"person{(i * 7919) % 100000 + 1:06d}@bench.example.com"
    query = urllib.parse.quote(f'userName eq "{who}"')
    t, body = call("GET", f"/Users?filter={query}")
    assert body["totalResults"] == 1 and body["Resources"][0]["userName"] == who, body
    if i >= 20:
        times.append(t)
report('GET /Users?filter=userName eq "..." (100,000 users)', times)
user_id = body["Resources"][0]["id"]
_, extra = call("GET", "/Users?filter=" + urllib.parse.quote('userName eq "admin@bench.example.com"'))
admin_id = extra["Resources"][0]["id"]

times = []
for i in range(n + 20):
    op = {"op": "add", "path": "members", "value": [{"value": admin_id}]} if i % 2 == 0 else \
         {"op": "remove", "path": f'members[value eq "{admin_id}"]'}
    t, body = call("PATCH", f"/Groups/{gid}?excludedAttributes=members",
                   {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]})
    assert "members" not in body
    if i >= 20:
        times.append(t)
report("PATCH one member of a 100,000-member group (add/remove)", times)
t, body = call("GET", f"/Groups/{gid}?excludedAttributes=members")
report("GET /Groups/{id}?excludedAttributes=members", [t])
PY
echo "server peak resident memory: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
