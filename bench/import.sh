#!/usr/bin/env bash
# `roster import members` of a CSV of ROWS people (default 100,000), each in 3 of 100 groups,
# into a new team: wall time of the dry run and of the import. Usage: bench/import.sh [ROWS]
source "$(dirname "$0")/lib.sh" "$@"
[ "${1:-}" = "--pg" ] && shift
rows=${1:-100000}
org=$("$roster" org create "Bench" --admin-email admin@bench.example.com)
org_id=$(echo "$org" | sed -E 's/.*"id":"([^"]+)".*/\1/')
python3 - "$rows" > "$work/roster.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("email,name,role,groups")
for i in range(1, n + 1):
    groups = ";".join(f"Group {(i * k) % 100:02d}" for k in (1, 7, 13))
    print(f"person{i:06d}@bench.example.com,Person {i},{1 + i % 5 if i % 5 != 1 else 4},{groups}")
PY
time_it() { local start end; start=$(date +%s.%N); "$@" > "$work/out.txt"; end=$(date +%s.%N); python3 -c "print(round($end - $start, 2))"; }
printf 'dry run of %d rows:  %s s\n' "$rows" "$(time_it "$roster" import members --org "$org_id" "$work/roster.csv" --dry-run)"
cat "$work/out.txt"
printf 'import of %d rows:   %s s\n' "$rows" "$(time_it "$roster" import members --org "$org_id" "$work/roster.csv")"
cat "$work/out.txt"
printf 'again (no changes):   %s s\n' "$(time_it "$roster" import members --org "$org_id" "$work/roster.csv")"
cat "$work/out.txt"
