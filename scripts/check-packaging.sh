#!/usr/bin/env bash
# The packaging checks that need no container engine: the Dockerfile copies the binary its
# build stage makes, compose.yaml has the services the README names, the systemd unit
# verifies, the settings named in deploy files exist, and the licence is Apache 2.0.
#
#   scripts/check-packaging.sh
#
# It builds nothing: when target/release/roster exists (CI builds it first) it is run with
# --help; otherwise that check is skipped. ROSTER_BIN names another binary to run instead.
# Installs what it needs when missing: PyYAML (into .venv-packaging), and systemd (for
# systemd-analyze) with apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
skipped=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
skip() { echo "skipped: $*"; skipped=$((skipped + 1)); }

# ---- (a) Dockerfile: the runtime stage copies what the build stage builds --------------------
echo "== Dockerfile"
check_dockerfile() {
    local file=Dockerfile
    [ -f "$file" ] || { fail "$file is missing"; return; }
    # One instruction per line: comment lines dropped, backslash continuations joined.
    local instructions
    instructions=$(grep -v '^[[:space:]]*#' "$file" |
        awk '{ if (sub(/\\[[:space:]]*$/, "")) printf "%s ", $0; else print }' |
        sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]\{1,\}/ /g' | grep -v '^$' || true)

    # The runtime stage is the last FROM; find its COPY --from=STAGE of the roster binary.
    local last_from copy
    last_from=$(grep -n -i '^FROM ' <<<"$instructions" | tail -1 | cut -d: -f1 || true)
    [ -n "$last_from" ] || { fail "$file has no FROM"; return; }
    copy=$(tail -n +"$last_from" <<<"$instructions" | grep -i '^COPY .*--from=' |
        grep -E '(^| )[^ ]*/?target/release/roster( |$)|/roster$' | sed -n 1p || true)
    if [ -z "$copy" ]; then
        fail "$file: the last (runtime) stage has no COPY --from=<build stage> of target/release/roster"
        return
    fi
    local stage="" src="" word
    local -a args=() words=()
    read -r -a words <<<"${copy#* }"
    for word in "${words[@]}"; do
        case "$word" in
            --from=*) stage=${word#--from=} ;;
            --*) ;;
            *) args+=("$word") ;;
        esac
    done
    if [ "${#args[@]}" -ne 2 ]; then
        fail "$file: expected one source and one destination in: $copy"
        return
    fi
    src=${args[0]}

    # The build stage: from its FROM ... AS <stage> to the next FROM.
    local stage_text
    stage_text=$(awk -v name="$stage" '
        toupper($1) == "FROM" { inside = (toupper($(NF - 1)) == "AS" && $NF == name) }
        inside' <<<"$instructions")
    if [ -z "$stage_text" ]; then
        fail "$file: no build stage named '$stage' (FROM <image> AS $stage) before the runtime stage"
        return
    fi
    local workdir
    workdir=$(grep -i '^WORKDIR ' <<<"$stage_text" | tail -1 | cut -d' ' -f2- || true)
    if [[ "$workdir" != /* ]]; then
        fail "$file: the build stage '$stage' needs an absolute WORKDIR (has '${workdir:-none}')"
        return
    fi
    workdir=${workdir%/}
    local expected="$workdir/target/release/roster"
    if [ "$src" = "$expected" ] || [ "$src" = "target/release/roster" ] ||
        [ "$src" = "./target/release/roster" ]; then
        ok "the runtime stage copies $src, the build stage's $expected"
    else
        fail "$file: the runtime stage copies '$src' from '$stage', but cargo writes the binary to $expected"
    fi
    if grep -qiE '^ENV .*CARGO_(TARGET_DIR|BUILD_TARGET)' <<<"$stage_text"; then
        fail "$file: the build stage sets CARGO_TARGET_DIR or CARGO_BUILD_TARGET: the binary is not at $expected"
    fi
    if [ -f .cargo/config.toml ] && grep -qE '^[[:space:]]*(target-dir|target)[[:space:]]*=' .cargo/config.toml; then
        fail ".cargo/config.toml sets a target or target-dir: the binary is not at target/release/roster"
    fi

    # The build command: cargo build --release, of roster-server (or of the whole workspace).
    local build
    build=$(grep -i '^RUN ' <<<"$stage_text" | grep -o 'cargo build[^&;|]*' | sed -n '1s/[[:space:]]*$//p' || true)
    if [ -z "$build" ]; then
        fail "$file: the build stage '$stage' runs no 'cargo build'"
    elif ! grep -qE '^cargo build( [^ ]+)* --release( |$)' <<<"$build"; then
        fail "$file: the build command is not 'cargo build --release': $build"
    elif grep -qE ' (--target|--target-dir|--profile|--debug)( |=|$)' <<<"$build"; then
        fail "$file: '$build' does not write target/release/roster"
    elif grep -qE ' (-p|--package)[ =]' <<<"$build" &&
        ! grep -qE ' (-p|--package)[ =]roster-server( |$)' <<<"$build"; then
        fail "$file: '$build' does not build the roster-server package"
    else
        ok "the build stage runs: $build"
    fi
}
check_dockerfile

check_binary() {
    local bin=${ROSTER_BIN:-target/release/roster}
    if [ ! -e "$bin" ]; then
        skip "$bin is absent (this script builds nothing; CI builds it first)"
        return
    fi
    local help
    if ! help=$("$bin" --help 2>&1); then
        fail "$bin --help failed: $help"
    elif ! grep -qw serve <<<"$help"; then
        fail "$bin --help does not list the serve command"
    else
        ok "$bin --help runs and lists serve"
    fi
}
check_binary

# ---- (b) compose.yaml: db, two nodes, and a front publishing 8080 -----------------------------
echo "== compose.yaml"
python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    venv=.venv-packaging
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
        echo "PyYAML is missing: installing it into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check pyyaml
    fi
    python=$venv/bin/python
fi
compose_report=$("$python" - <<'EOF' 2>&1
import re, sys
import yaml

try:
    with open("compose.yaml") as f:
        doc = yaml.safe_load(f)
except (OSError, yaml.YAMLError) as e:
    print("FAIL compose.yaml does not parse: " + " ".join(str(e).split()))
    sys.exit(0)

services = (doc or {}).get("services") or {}

def published(service):
    ports = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            ports.append(str(p.get("published", "")))
        else:
            # [ip:]published[:target][/proto], or a lone port (published and target alike)
            parts = str(p).split("/")[0].split(":")
            ports.append(parts[-2] if len(parts) >= 2 else parts[0])
    return ports

def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: str(v) for k, v in env.items()}

problems = []
for name in ("db", "roster-1", "roster-2"):
    if name not in services:
        problems.append(f"no service {name}")
fronts = [n for n, s in services.items() if "8080" in published(s or {})]
if not fronts:
    problems.append("no service publishes port 8080")
for name in fronts:
    if name in ("db", "roster-1", "roster-2"):
        problems.append(f"{name} publishes 8080: only the front should")
db = services.get("db") or {}
if not re.match(r"postgres:1[5-9]\b", str(db.get("image", ""))):
    problems.append(f"db runs {db.get('image')!r}, not postgres:15 or newer")
if "healthcheck" not in db:
    problems.append("db has no healthcheck")
for name in ("roster-1", "roster-2"):
    node = services.get(name) or {}
    if "build" not in node:
        problems.append(f"{name} is not built from the Dockerfile")
    url = environment(node).get("ROSTER_DATABASE_URL", "")
    if not re.match(r"postgres(ql)?://[^@]*@db[:/]", url):
        problems.append(f"{name}: ROSTER_DATABASE_URL is not the db service's PostgreSQL ({url!r})")
    if published(node):
        problems.append(f"{name} publishes ports: the nodes should be reached through the front")

for p in problems:
    print(f"FAIL compose.yaml: {p}")
if not problems:
    print(f"ok compose.yaml parses: services {', '.join(sorted(services))}; {', '.join(fronts)} publishes 8080")
EOF
) || compose_report="FAIL compose.yaml check did not run: $compose_report"
while IFS= read -r line; do
    case "$line" in
        ok\ *) ok "${line#ok }" ;;
        FAIL\ *) fail "${line#FAIL }" ;;
        *) [ -z "$line" ] || fail "$line" ;;
    esac
done <<<"$compose_report"

if [ -f deploy/nginx.conf ]; then
    if grep -qE '^[[:space:]]*server[[:space:]]+roster-1:8080' deploy/nginx.conf &&
        grep -qE '^[[:space:]]*server[[:space:]]+roster-2:8080' deploy/nginx.conf; then
        ok "deploy/nginx.conf's upstream has roster-1:8080 and roster-2:8080"
    else
        fail "deploy/nginx.conf's upstream does not list roster-1:8080 and roster-2:8080"
    fi
else
    fail "deploy/nginx.conf (the front's configuration) is missing"
fi

# ---- (c) the systemd unit --------------------------------------------------------------------
echo "== deploy/roster.service"
unit=deploy/roster.service
if [ ! -f "$unit" ]; then
    fail "$unit is missing"
else
    if ! command -v systemd-analyze >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "systemd-analyze is missing: installing systemd"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; } >/dev/null 2>&1 ||
            echo "(installing systemd failed)"
    fi
    if command -v systemd-analyze >/dev/null; then
        # verify refuses a unit whose ExecStart binary does not exist, and /usr/local/bin/roster
        # is not installed here: verify a copy whose ExecStart runs /bin/true, every other line
        # unchanged. It reports problems (unknown keys, bad values) as warnings with exit 0, so
        # any line naming the unit counts as a failure.
        tmp=$(mktemp -d)
        sed 's#^ExecStart=/usr/local/bin/roster\b#ExecStart=/bin/true#' "$unit" >"$tmp/roster.service"
        verify_rc=0
        verify=$(systemd-analyze verify "$tmp/roster.service" 2>&1) || verify_rc=$?
        rm -rf "$tmp"
        if [ "$verify_rc" -ne 0 ] || grep -q 'roster\.service' <<<"$verify"; then
            fail "systemd-analyze verify $unit (ExecStart pointed at /bin/true): ${verify:-exit $verify_rc}"
        else
            [ -z "$verify" ] || echo "(systemd-analyze, about other units: $verify)"
            ok "systemd-analyze verify $unit (a copy with ExecStart=/bin/true)"
        fi
    else
        skip "systemd-analyze verify $unit: systemd-analyze is not installed"
    fi
    missing=""
    for line in 'ExecStart=/usr/local/bin/roster serve' 'User=roster' 'StateDirectory=roster' \
        'WorkingDirectory=/var/lib/roster' 'EnvironmentFile=-/etc/roster/roster.env'; do
        grep -qxF "$line" "$unit" || missing+=" '$line'"
    done
    if [ -n "$missing" ]; then
        fail "$unit lacks$missing"
    else
        ok "$unit runs /usr/local/bin/roster serve as roster in /var/lib/roster"
    fi
fi

# Every ROSTER_* setting named in the packaging files is one the server reads.
unknown=""
for name in $(grep -ohE '\bROSTER_[A-Z0-9_]+' Dockerfile compose.yaml deploy/* 2>/dev/null | sort -u); do
    grep -rqF "\"$name\"" crates/roster-server/src || unknown+=" $name"
done
if [ -n "$unknown" ]; then
    fail "settings the server does not read (not in crates/roster-server/src):$unknown"
else
    ok "every ROSTER_* setting in Dockerfile, compose.yaml and deploy/ is one the server reads"
fi

# ---- (d) the licence -------------------------------------------------------------------------
echo "== LICENSE"
if [ ! -f LICENSE ]; then
    fail "LICENSE is missing"
else
    header=$(awk 'NF { sub(/^[[:space:]]+/, ""); sub(/[[:space:]]+$/, ""); print; if (++n == 2) exit }' LICENSE)
    if [ "$header" = $'Apache License\nVersion 2.0, January 2004' ] &&
        grep -q 'END OF TERMS AND CONDITIONS' LICENSE; then
        ok "LICENSE is the Apache License 2.0"
    else
        fail "LICENSE does not start with 'Apache License' / 'Version 2.0, January 2004'"
    fi
fi
if grep -qE '^license[[:space:]]*=[[:space:]]*"Apache-2.0"' Cargo.toml; then
    others=$(grep -LE '^license(\.workspace[[:space:]]*=[[:space:]]*true|[[:space:]]*=[[:space:]]*"Apache-2.0")' \
        crates/*/Cargo.toml bench/baseline/Cargo.toml 2>/dev/null || true)
    if [ -n "$others" ]; then
        fail "these manifests do not take the workspace's Apache-2.0 licence: $others"
    else
        ok "Cargo.toml declares license = \"Apache-2.0\" for the workspace"
    fi
else
    fail "Cargo.toml does not declare license = \"Apache-2.0\""
fi

echo "packaging: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
