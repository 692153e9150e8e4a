#!/usr/bin/env bash
# How much a version 1.0 (whole, streamed) memberships list of a large team adds to the
# server's resident memory, and what single 2.0 page reads cost (first, middle, last page).
# Usage: bench/stream-memory.sh [--pg] [MEMBERS] (default 100000).
source "$(dirname "$0")/lib.sh" "$@"
[ "${1:-}" = "--pg" ] && shift
members=${1:-100000}
seed_team "$members"
start_server
url="$api/organizations/$org_id/memberships/"
# Warm the allocator and the connection pools with paged reads first.
for p in 1 2 3; do curl -sf -H "Authorization: Token $key" -H 'Accept: application/json; version=2.0' "$url?page=$p" >/dev/null; done
before=$(rss VmRSS)
start=$(date +%s.%N)
bytes=$(curl -sf -H "Authorization: Token $key" "$url" | tee "$work/list.json" | wc -c)
end=$(date +%s.%N)
peak=$(rss VmHWM)
count=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$work/list.json")
echo "members listed:         $count (of $((members + 1)))"
echo "response size:          $((bytes / 1024 / 1024)) MiB"
echo "time:                   $(python3 -c "print(round($end - $start, 2))") s"
echo "resident before:        $((before / 1024)) MiB"
echo "peak resident:          $((peak / 1024)) MiB"
echo "growth during the list: $(((peak - before) / 1024)) MiB"
last=$(( (members + 1 + 99) / 100 ))
for p in 1 $(( last / 2 )) "$last"; do
    curl -sf -o /dev/null -w "page $p of $last (page_size=100): %{time_total} s\n" -H "Authorization: Token $key" \
        -H 'Accept: application/json; version=2.0' "$url?page=$p"
done
