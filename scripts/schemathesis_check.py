#!/usr/bin/env python3
"""Property-based API fuzzing (issue 8): starts `roster serve` on a new SQLite database, seeds a
team with one of everything, writes a schemathesis config that names the real ids of each
operation's path, and runs schemathesis against `/api/schema/` with an admin key: every
operation, --max-examples each (default 100), the checks the issue names.

Usage: scripts/schemathesis_check.py ROSTER_BINARY SCHEMATHESIS [--max-examples N]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("binary")
    p.add_argument("schemathesis")
    p.add_argument("--max-examples", type=int, default=100)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roster-schemathesis-"))
    db = f"sqlite://{work / 'roster.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def cli(*args):
        return subprocess.run([a.binary, "--database", db, *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    server = subprocess.Popen([a.binary, "serve", "--database", db, "--listen", f"127.0.0.1:{port}",
                               "--rate-limit", "0", "--bootstrap-key-file", str(work / "operator.key")],
                              stdout=open(work / "serve.log", "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(500):
            try:
                urllib.request.urlopen(f"{base}/api/health/", timeout=1)
                break
            except OSError:
                time.sleep(0.02)
        team = json.loads(cli("org", "create", "Fuzz", "--admin-email", "admin@fuzz.test"))
        org, admin = team["id"], team["key"]
        spare = json.loads(cli("org", "create", "Spare", "--admin-email", "admin@fuzz.test"))
        cli("domain", "add", org, "fuzz.test")
        for who in ["ann", "bob", "cy"]:
            cli("member", "add", org, f"{who}@fuzz.test", "--role", "1")

        def call(method, path, body=None, key=admin):
            req = urllib.request.Request(base + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
            req.add_header("Authorization", f"Token {key}")
            req.add_header("Content-Type", "application/json")
            req.add_header("Accept", "application/json; version=1.0")
            with urllib.request.urlopen(req) as res:
                return json.loads(res.read() or b"null")

        group = call("POST", f"/api/organizations/{org}/groups/", {"name": "Agents"})["id"]
        gm = call("PUT", f"/api/groups/{group}/memberships/", [{"email": "ann@fuzz.test"}])[0]["id"]
        campaign = call("POST", f"/api/organizations/{org}/campaigns/", {"name": "Spring"})["id"]
        call("PUT", f"/api/organizations/{org}/campaigns/{campaign}/members/",
             [{"email": "bob@fuzz.test", "data": {"shift": "early"}}])
        sa = call("POST", f"/api/organizations/{org}/serviceaccounts/", {"name": "idp", "role": 2})["id"]
        kid = call("POST", f"/api/organizations/{org}/deployment-keys/", {"name": "kiosk"})["id"]
        iid = call("POST", f"/api/organizations/{org}/invitations/", {"email": "dee@elsewhere.test"})["id"]
        did = call("GET", f"/api/organizations/{org}/email-domains/")[0]["id"]
        mid = next(m["id"] for m in call("GET", f"/api/organizations/{org}/memberships/")
                   if m["user"]["email"] == "cy@fuzz.test")
        ids = {"org": org, "group": group, "gm": gm, "campaign": campaign, "sa": sa, "kid": kid,
               "iid": iid, "did": did, "mid": mid, "spare": spare["id"]}
        by_path = {
            "/api/organizations/{id}/": {"id": org},
            "/api/memberships/{id}/": {"id": mid},
            "/api/groups/{id}/": {"id": group},
            "/api/groups/{id}/memberships/": {"id": group},
            "/api/groups/{id}/memberships/{mid}/": {"id": group, "mid": gm},
            "/api/organizations/{id}/campaigns/{cid}/": {"id": org, "cid": campaign},
            "/api/organizations/{id}/campaigns/{cid}/members/": {"id": org, "cid": campaign},
            "/api/organizations/{id}/serviceaccounts/{sid}/": {"id": org, "sid": sa},
            "/api/organizations/{id}/serviceaccounts/{sid}/rotate/": {"id": org, "sid": sa},
            "/api/organizations/{id}/deployment-keys/{kid}/": {"id": org, "kid": kid},
            "/api/organizations/{id}/invitations/{iid}/": {"id": org, "iid": iid},
            "/api/organizations/{id}/email-domains/{did}/": {"id": org, "did": did},
        }
        lines = []
        raw = urllib.request.urlopen(f"{base}/api/schema/").read()
        schema = json.loads(raw)
        # The document itself first: a valid OpenAPI 3.1 document, examples and headers included.
        (work / "schema.json").write_bytes(raw)
        validator = Path(a.schemathesis).parent / "openapi-spec-validator"
        checked = subprocess.run([str(validator), str(work / "schema.json")], text=True,
                                 capture_output=True)
        print(f"openapi-spec-validator: {checked.stdout.strip()} {checked.stderr.strip()[-2000:]}")
        if checked.returncode != 0:
            return checked.returncode
        for path, item in schema["paths"].items():
            for method in item:
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                params = by_path.get(path) or ({"id": org} if "{id}" in path else None)
                if path == "/api/organizations/{id}/" and method == "delete":
                    params = {"id": ids["spare"]}  # the team under test stays
                if not params:
                    continue
                values = ", ".join(f'"path.{k}" = "{v}"' for k, v in params.items())
                lines += ["[[operations]]", f'include-name = "{method.upper()} {path}"',
                          f"parameters = {{ {values} }}", ""]
        (work / "schemathesis.toml").write_text("\n".join(lines))
        env = {**os.environ, "NO_COLOR": "1"}
        run = subprocess.run(
            [a.schemathesis, "--config-file", str(work / "schemathesis.toml"), "run",
             f"{base}/api/schema/", "--checks", CHECKS, "--max-examples", str(a.max_examples),
             "--phases", "examples,coverage,fuzzing,stateful", "--exclude-operation-id", "me_key_rotate",
             "-H", f"Authorization: Token {admin}", "--suppress-health-check", "all",
             "--request-timeout", "30"],
            env=env, text=True, capture_output=True)
        print(run.stdout[-6000:])
        if run.returncode != 0:
            print(run.stderr[-3000:], file=sys.stderr)
        return run.returncode
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
