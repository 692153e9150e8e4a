#!/usr/bin/env python3
"""Crash consistency (issue 8): `roster serve` is killed with SIGKILL at random moments while
large group and campaign PUTs are in flight, then restarted, over and over. After each restart
the group and the campaign must each hold exactly their whole before-state or their whole
after-state (never a mix), and SQLite must pass `PRAGMA integrity_check`.

Usage: scripts/crash_check.py ROSTER_BINARY [--rounds N] [--members N] [--pg URL]
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

DOMAIN = "crash.example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, database, work):
        self.binary, self.database, self.work = binary, database, work
        self.port = free_port()
        self.proc = None

    def start(self):
        log = open(self.work / "serve.log", "a")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--database", self.database, "--listen", f"127.0.0.1:{self.port}",
             "--bootstrap-key-file", str(self.work / "operator.key")],
            stdout=log, stderr=log, env={**os.environ, "ROSTER_LOG": "warn"})
        for _ in range(1000):
            try:
                if self.call("GET", "/api/health/")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"roster serve exited {self.proc.returncode}: see {self.work / 'serve.log'}")
            time.sleep(0.01)
        sys.exit("roster serve did not answer")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args):
        out = subprocess.run([self.binary, "--database", self.database, *args],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def call(self, method, path, body=None, key=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json; version=1.0")
        if key:
            req.add_header("Authorization", f"Token {key}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def people(start, n):
    return [f"p{i:06d}@{DOMAIN}" for i in range(start, start + n)]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("binary")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--members", type=int, default=20_000)
    p.add_argument("--pg", help="a PostgreSQL database URL to use instead of a new SQLite file")
    a = p.parse_args()
    random.seed(os.environ.get("CRASH_SEED", time.time()))
    work = Path(tempfile.mkdtemp(prefix="roster-crash-"))
    database = a.pg or f"sqlite://{work / 'roster.db'}"
    server = Server(a.binary, database, work)
    server.start()
    org = json.loads(server.cli("org", "create", "Crash", "--admin-email", f"admin@{DOMAIN}"))
    oid, key = org["id"], org["key"]
    server.cli("domain", "add", oid, DOMAIN)
    n = a.members
    states = {"A": people(0, n), "B": people(n // 2, n)}
    status, body = server.call("POST", f"/api/organizations/{oid}/groups/", {"name": "Night"}, key)
    group = json.loads(body)["id"]
    status, body = server.call("POST", f"/api/organizations/{oid}/campaigns/", {"name": "Spring"}, key)
    campaign = json.loads(body)["id"]
    group_path = f"/api/groups/{group}/memberships/"
    campaign_path = f"/api/organizations/{oid}/campaigns/{campaign}/members/"

    def group_body(state):
        return [{"email": e} for e in states[state]]

    def campaign_body(state):
        return [{"email": e, "data": {"state": state, "seat": i}} for i, e in enumerate(states[state])]

    # The first PUTs set the before-state and time a whole replace, so that kills land at
    # random moments within one (and a little after).
    longest = 0.0
    for path, make in [(group_path, group_body), (campaign_path, campaign_body)]:
        started = time.perf_counter()
        status, _ = server.call("PUT", path, make("B"), key, timeout=300)
        assert status == 200, status
        status, _ = server.call("PUT", path, make("A"), key, timeout=300)
        assert status == 200, status
        longest = max(longest, (time.perf_counter() - started) / 2)

    def read_state():
        status, body = server.call("GET", group_path, key=key, timeout=300)
        assert status == 200, status
        emails = sorted(m["email"] for m in json.loads(body))
        g = [s for s, people_ in states.items() if emails == sorted(people_)]
        status, body = server.call("GET", campaign_path, key=key, timeout=300)
        assert status == 200, status
        members = json.loads(body)
        seen = {m["data"].get("state") for m in members}
        c = [s for s, people_ in states.items()
             if sorted(m["email"] for m in members) == sorted(people_) and seen == {s}
             and all(m["data"]["seat"] == states[s].index(m["email"]) for m in members[:50])]
        return (g[0] if g else None), (c[0] if c else None)

    def fire(path, body):
        try:
            server.call("PUT", path, body, key, timeout=300)
        except Exception:  # noqa: BLE001 - the server was killed under it, mid-request or mid-answer
            pass

    group_state, campaign_state = "A", "A"
    outcomes = {"before": 0, "after": 0}
    for round_ in range(1, a.rounds + 1):
        g_next = "B" if group_state == "A" else "A"
        c_next = "B" if campaign_state == "A" else "A"
        threads = [threading.Thread(target=fire, args=(group_path, group_body(g_next))),
                   threading.Thread(target=fire, args=(campaign_path, campaign_body(c_next)))]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.0, longest * 1.2))
        server.kill()
        for t in threads:
            t.join()
        if not a.pg:
            check = subprocess.run(["sqlite3", str(work / "roster.db"), "PRAGMA integrity_check"],
                                   capture_output=True, text=True)
            if check.stdout.strip() != "ok":
                sys.exit(f"round {round_}: integrity_check: {check.stdout.strip()} {check.stderr.strip()}")
        server.start()
        g, c = read_state()
        if g is None or c is None:
            sys.exit(f"round {round_}: a half-applied state (group {g}, campaign {c})")
        for was, now_ in [(group_state, g), (campaign_state, c)]:
            outcomes["after" if now_ != was else "before"] += 1
        group_state, campaign_state = g, c
        print(f"round {round_}: group {g}, campaign {c}", flush=True)
    server.kill()
    print(f"crash check: {a.rounds} kills, every group and campaign whole "
          f"({outcomes['before']} before-states, {outcomes['after']} after-states)"
          + ("" if a.pg else ", integrity_check ok each time"))


if __name__ == "__main__":
    main()
