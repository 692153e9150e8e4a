#!/usr/bin/env python3
"""Runs README.md's walk-through as a test: the shell blocks marked `<!-- walkthrough -->`, in
order, as one shell session in an empty folder beside a fresh `roster serve` (the binary given,
on PATH as `roster`; the server's address replaces 127.0.0.1:8080). A command that fails (curl
included: an HTTP error fails it) fails the run, and so does output that no longer shows what
the README shows: each `#> line` must match a line the command before it printed, in order
(`…` matches anything).

Usage: scripts/readme-walkthrough.py target/debug/roster [README.md]
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MARK = "<!-- walkthrough -->"


def blocks(readme):
    """The marked shell blocks, each as its lines."""
    lines = readme.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```sh"):
            sys.exit(f"README.md line {i + 1}: {MARK} must stand right before a ```sh block")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        found.append(lines[i + 2:end])
    return found


def steps(lines):
    """(command, expected lines) pairs: a command is a line and its `\\` continuations."""
    out = []
    pending = ""
    for line in lines:
        if pending:
            pending += "\n" + line
            if not line.endswith("\\"):
                out.append((pending, []))
                pending = ""
            continue
        stripped = line.strip()
        if stripped.startswith("#>"):
            if not out:
                sys.exit(f"an expected line comes before any command: {line}")
            out[-1][1].append(stripped[2:].strip())
        elif not stripped or stripped.startswith("#"):
            continue
        elif line.endswith("\\"):
            pending = line
        else:
            out.append((line, []))
    return out


def matches(expected, actual):
    """Whether every expected line matches an actual line, in order."""
    at = 0
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("…")) + r"\s*$")
        while at < len(actual) and not pattern.match(actual[at]):
            at += 1
        if at == len(actual):
            return want
        at += 1
    return None


def main():
    binary = Path(sys.argv[1]).resolve()
    readme = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent.parent / "README.md")
    work = Path(tempfile.mkdtemp(prefix="roster-readme-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "roster").symlink_to(binary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    server = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{port}"], cwd=work,
                              env=env, stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "w"))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            print((work / "serve.log").read_text(), file=sys.stderr)
            sys.exit("readme walk-through: the server did not start")
        all_steps = [step for block in blocks(readme.read_text()) for step in steps(block)]
        if not all_steps:
            sys.exit(f"readme walk-through: no block of {readme} is marked {MARK}")
        outputs = work / "out"
        outputs.mkdir()
        # Any command that fails stops the session, also inside $(...) and pipelines.
        script = ["set -eEuo pipefail", "shopt -s inherit_errexit",
                  'curl() { command curl --fail-with-body --show-error "$@"; }']
        for n, (command, _) in enumerate(all_steps):
            command = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            script += [f"{{\n{command}\n}} > {outputs}/{n} 2> {outputs}/{n}.err"]
        run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, text=True,
                             capture_output=True)
        if run.returncode != 0:
            ran = [int(p.name) for p in outputs.iterdir() if p.name.isdigit()]
            last = max(ran, default=0)
            print(f"readme walk-through: this command failed (exit {run.returncode}):\n"
                  f"  $ {all_steps[last][0]}", file=sys.stderr)
            for part in (outputs / str(last), outputs / f"{last}.err"):
                if part.exists():
                    print(part.read_text(), file=sys.stderr)
            print(run.stderr, file=sys.stderr)
            return 1
        failures = 0
        for n, (command, expected) in enumerate(all_steps):
            actual = (outputs / str(n)).read_text().replace("\r", "").splitlines()
            expected = [e.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for e in expected]
            missing = matches(expected, actual)
            if missing is not None:
                failures += 1
                print(f"README shows what the command no longer prints:\n  $ {command}\n"
                      f"  expected: {missing}\n  printed:\n    " + "\n    ".join(actual),
                      file=sys.stderr)
        checked = sum(len(e) for _, e in all_steps)
        print(f"readme walk-through: {len(all_steps)} commands, {checked} shown lines checked, "
              f"{failures} differ")
        return 1 if failures else 0
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
