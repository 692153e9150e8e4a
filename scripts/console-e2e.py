#!/usr/bin/env python3
"""End-to-end tests of the admin console in a real headless Chromium (Debian's `chromium`,
driven by Playwright; no browser is downloaded), against a fresh `roster serve` on SQLite.

Seeds a team of 10,000 members (with `roster import members`), then signs in as its admin and
works as a person would: search, role change, a group replace from a pasted list through its
preview, a campaign upload, a service account created (token shown once) and deleted, sign out.
It checks the refusals an attacker meets (forged and cross-site forms, another team's pages,
the cookie on /api/, a session after sign-out), runs axe-core on every page (no violation of
serious or critical impact), checks that no page scrolls sideways at 1280 and 390 px, and
with --screenshots DIR saves the main pages at both widths.

Usage: scripts/console-e2e.py target/debug/roster [--screenshots docs/console] [--members N]
Needs: pip install -r scripts/requirements-console.txt; /usr/bin/chromium.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("ROSTER_CHROMIUM", "/usr/bin/chromium")
WIDTHS = {"wide": 1280, "narrow": 390}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.database = f"sqlite://{work / 'roster.db'}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = open(work / "serve.log", "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--database", self.database, "--listen", f"127.0.0.1:{self.port}",
             "--bootstrap-key-file", str(work / "operator.key")],
            stdout=log, stderr=log, env={**os.environ, "ROSTER_LOG": "warn"})
        for _ in range(2000):
            try:
                if self.call("GET", "/api/health/")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"roster serve exited: see {work / 'serve.log'}")
            time.sleep(0.01)
        self.operator = (work / "operator.key").read_text().strip()

    def cli(self, *args):
        out = subprocess.run([self.binary, "--database", self.database, *args],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def call(self, method, path, body=None, key=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if key:
            req.add_header("Authorization", f"Token {key}")
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def seed(server, work, members):
    """Acme: an admin, `members` people in groups, a campaign; Other: a team Acme's admin is
    not in."""
    made = json.loads(server.cli("org", "create", "Acme", "--admin-email", "admin@acme.example"))
    acme, admin_key = made["id"], made["key"]
    server.cli("domain", "add", acme, "acme.example")
    other = json.loads(server.cli("org", "create", "Other", "--admin-email", "boss@other.example"))["id"]
    csv = work / "people.csv"
    with open(csv, "w") as f:
        f.write("email,name,role,groups\n")
        for i in range(members):
            groups = "Leads" if i % 100 == 0 else ("Trainers" if i % 7 == 0 else "")
            f.write(f"person-{i:05d}@acme.example,Person {i:05d},member,{groups}\n")
    started = time.monotonic()
    server.cli("import", "members", "--org", acme, str(csv))
    print(f"seeded {members} members in {time.monotonic() - started:.1f} s")
    status, body = server.call("POST", f"/api/organizations/{acme}/campaigns/",
                               {"name": "Winter sale"}, admin_key)
    campaign = json.loads(body)["id"]
    server.call("PUT", f"/api/organizations/{acme}/campaigns/{campaign}/members/",
                [{"email": f"person-{i:05d}@acme.example", "data": {"shift": "early", "sales": i}}
                 for i in range(5)], admin_key)
    return {"acme": acme, "other": other, "admin_key": admin_key, "campaign": campaign}


class Run:
    """The checks, each reported on its own; the run fails if any did."""

    def __init__(self, server, ctx, page, shots):
        self.server, self.ctx, self.page, self.shots = server, ctx, page, shots
        self.failures = []
        self.passed = 0
        self.axe = Axe()
        self.audited = set()

    def check(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - every failure is reported, then the run goes on
            self.failures.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}")

    def url(self, path):
        return self.server.base + path

    def submit(self, target):
        """Clicks a button (a selector or a locator) and waits for the page it leads to."""
        with self.page.expect_navigation():
            (self.page.locator(target) if isinstance(target, str) else target).click()

    def goto(self, path):
        response = self.page.goto(self.url(path))
        return response

    def audit(self, label):
        """axe-core on the page as it stands, and no sideways scrolling at either width."""
        for name, width in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": 900})
            results = self.axe.run(self.page)
            bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
            assert not bad, f"{label} at {width} px: " + "; ".join(
                f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                for v in bad)
            wide = self.page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
                " > document.documentElement.clientWidth + 1 && !e.closest('.table-wrap'))"
                ".map(e => e.tagName + '.' + e.className).slice(0, 5)")
            scrolls = self.page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth")
            assert not scrolls, f"{label} scrolls sideways at {width} px: {wide}"
            if self.shots and label not in self.audited:
                self.page.screenshot(path=str(self.shots / f"{label}-{name}.png"), full_page=False)
        self.page.set_viewport_size({"width": WIDTHS["wide"], "height": 900})
        self.audited.add(label)


def sign_in_by_keyboard(run, key):
    page = run.page
    run.goto("/console/")
    assert page.url.endswith("/console/sign-in/"), page.url
    run.audit("sign-in")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # the key field
    assert page.evaluate("document.activeElement.id") == "key"
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/teams/$"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--screenshots", type=Path)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roster-console-"))
    server = Server(os.path.abspath(args.binary), work)
    ids = seed(server, work, args.members)
    acme, other = ids["acme"], ids["other"]
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        run = Run(server, ctx, page, args.screenshots)
        team = f"/console/teams/{acme}/"
        state = {}

        def signs_in_with_the_keyboard():
            sign_in_by_keyboard(run, ids["admin_key"])
            assert "Acme" in page.content()
            assert ids["admin_key"] not in page.content()
            cookie = next(c for c in ctx.cookies() if c["name"] == "roster_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
            assert cookie["path"] == "/console/", cookie
            assert cookie["value"] != ids["admin_key"]
            state["cookie"] = cookie
            run.audit("teams")

        def overview_counts_the_team():
            run.goto(team)
            text = page.inner_text("main")
            assert f"{args.members + 1}" in text, text
            run.audit("overview")

        def finds_a_member_by_search():
            run.goto(team + "members/")
            run.audit("members")
            page.fill("#q", "person-04321")
            run.submit("form[role=search] button")
            rows = page.locator("main table tbody tr")
            assert rows.count() == 1, rows.count()
            assert "person-04321@acme.example" in rows.first.inner_text()
            assert "Page 1 of 1" in page.inner_text("main")

        def changes_their_role():
            row = page.locator("main table tbody tr").first
            row.locator("select").select_option(label="Manager")
            run.submit(row.locator("button", has_text="Save"))
            assert "The role was changed." in page.inner_text("main")
            row = page.locator("main table tbody tr").first
            assert row.locator("select").input_value() == "5"
            status, body = server.call(
                "GET", f"/api/organizations/{acme}/memberships/?q=person-04321", key=ids["admin_key"])
            assert json.loads(body)[0]["role"] == 5, body
            status, body = server.call(
                "GET", f"/api/audit/organizations/{acme}/?face=console", key=ids["admin_key"])
            assert status == 200 and any(e["action_type"] == "membership.updated"
                                         for e in json.loads(body)), body

        def the_last_admin_keeps_their_role_with_the_reason_shown():
            run.goto(team + "members/?q=admin%40acme")
            row = page.locator("main table tbody tr").first
            row.locator("select").select_option(label="Member")
            run.submit(row.locator("button", has_text="Save"))
            assert "last admin" in row.inner_text(), row.inner_text()
            assert page.locator("main table tbody tr").first.locator("select").get_attribute("aria-invalid") == "true"
            run.audit("members-error")

        def changes_a_role_with_the_keyboard_only():
            run.goto(team + "members/?q=person-00042")
            page.focus("#q")
            # Tab from the search field (role and group filters, Search, the table's scrolling
            # region) to the row's role.
            row_select = page.locator("main table tbody tr select").first.get_attribute("id")
            for _ in range(8):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == row_select:
                    break
            assert page.evaluate("document.activeElement.id") == row_select, row_select
            page.keyboard.press("End")  # the last role: Restricted
            page.keyboard.press("Tab")  # Save
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "The role was changed." in page.inner_text("main")
            assert page.locator("main table tbody tr select").first.input_value() == "4"

        def invites_and_the_invitee_accepts_on_the_console():
            run.goto(team + "members/")
            page.fill("#invite-email", "newcomer@acme.example")
            run.submit("button:has-text('Send invitation')")
            link = page.input_value("#invite-link")
            assert "/console/invitations/accept/?token=" in link, link
            run.audit("invited")
            guest = browser.new_context(viewport={"width": 1280, "height": 900})
            other_page = guest.new_page()
            other_page.goto(link)
            invitee = Run(server, guest, other_page, run.shots)
            invitee.audit("accept")
            other_page.fill("#accept-name", "Nell Newcomer")
            invitee.submit("button:has-text('Accept the invitation')")
            key = other_page.input_value("#new-key")
            assert re.fullmatch(r"[0-9a-f]{64}", key), key
            invitee.audit("welcome")
            invitee.submit("a:has-text('Go to the team')")
            assert "/console/teams/" in other_page.url, other_page.url
            guest.close()
            status, body = server.call("GET", "/api/me/", key=key)
            assert json.loads(body)["email"] == "newcomer@acme.example", body
            run.audited |= invitee.audited

        def pages_through_ten_thousand():
            run.goto(team + "members/?page=50")
            assert f"Page 50 of {(args.members + 1 + 99) // 100}" in page.inner_text("main")
            first = page.locator("main table tbody tr").first.inner_text()
            assert "person-04" in first, first

        def replaces_a_group_from_a_pasted_list_through_the_preview():
            run.goto(team + "groups/")
            run.audit("groups")
            run.submit("a:has-text('Leads')")
            run.audit("group")
            members_before = page.inner_text("main")
            assert "100 members" in members_before, members_before
            staying = [f"person-{i:05d}@acme.example" for i in range(0, 5000, 100)]
            joining = [f"person-{i:05d}@acme.example" for i in range(1, 31)]
            pasted = "\n".join(staying + joining + ["not-an-email", "stranger@elsewhere.example"])
            page.fill("#replace-list", pasted)
            run.submit("button:has-text('Preview the change')")
            text = page.inner_text("main")
            assert "Added (30)" in text, text
            assert "Removed (50)" in text, text
            assert "Unchanged (50)" in text, text
            assert "Rejected (2)" in text, text
            assert "not-an-email" in text and "stranger@elsewhere.example" in text
            run.audit("group-preview")
            status, body = server.call("GET", f"/api/groups/{group_id()}/", key=ids["admin_key"])
            assert json.loads(body)["num_members"] == 100, "the preview changed nothing"
            run.submit("button:has-text('Apply this change')")
            assert "The member list was replaced." in page.inner_text("main")
            status, body = server.call("GET", f"/api/groups/{group_id()}/", key=ids["admin_key"])
            assert json.loads(body)["num_members"] == 80, body

        def group_id():
            status, body = server.call("GET", f"/api/organizations/{acme}/groups/", key=ids["admin_key"])
            return next(g["id"] for g in json.loads(body) if g["name"] == "Leads")

        def uploads_campaign_members_with_data():
            run.goto(team + "campaigns/")
            run.audit("campaigns")
            run.submit("a:has-text('Winter sale')")
            run.audit("campaign")
            assert "shift" in page.inner_text("main table thead")
            page.set_input_files("#upload-file", files=[{
                "name": "winter.csv", "mimeType": "text/csv",
                "buffer": b"email,shift,sales\nperson-00000@acme.example,late,12\n"
                          b"person-00009@acme.example,early,3\nbad-address,early,1\n"}])
            run.submit("button:has-text('Preview the change')")
            text = page.inner_text("main")
            assert "Added (1)" in text and "Removed (4)" in text and "Data updated (1)" in text and "Rejected (1)" in text, text
            run.submit("button:has-text('Apply this change')")
            assert "The campaign's members were replaced." in page.inner_text("main")
            cells = page.inner_text("main table")
            assert "late" in cells and "person-00009" in cells, cells

        def creates_and_deletes_a_service_account_with_its_token_shown_once():
            run.goto(team + "accounts/")
            run.audit("accounts")
            page.fill("#service-name", "Nightly sync")
            run.submit("button:has-text('Create a service account')")
            token = page.input_value("#token")
            assert re.fullmatch(r"[0-9a-f]{64}", token), token
            run.audit("token")
            status, _ = server.call("GET", "/api/me/", key=token)
            assert status == 200
            run.goto(team + "accounts/")
            assert token not in page.content(), "the token is shown again"
            run.submit(page.locator("main a", has_text="Delete").first)
            assert "Delete the service account" in page.inner_text("main")
            run.audit("confirm")
            run.submit("button:has-text('Delete it')")
            assert "Deleted." in page.inner_text("main")
            assert "Nightly sync" not in page.inner_text("main")
            status, _ = server.call("GET", "/api/me/", key=token)
            assert status == 401, status

        def shows_the_identity_provider_setup():
            run.goto(team + "identity-provider/")
            assert page.input_value("#scim-url").endswith("/scim/v2")
            run.audit("identity-provider")
            run.submit("button:has-text('Create the SCIM service account')")
            assert re.fullmatch(r"[0-9a-f]{64}", page.input_value("#token"))

        def lists_domains_and_the_audit_log():
            run.goto(team + "domains/")
            run.audit("domains")
            run.goto(team + "audit/?face=console")
            assert "membership.updated" in page.inner_text("main")
            run.audit("audit")

        def refuses_a_forged_form():
            csrf = page.locator("input[name=csrf]").first.input_value()
            assert csrf
            state["csrf"] = csrf
            path = f"{team}groups/"
            forged = page.request.post(run.url(path), form={"name": "Forged", "csrf": "0" * 64},
                                       max_redirects=0)
            assert forged.status == 403, forged.status
            cross = page.request.post(run.url(path), form={"name": "Cross", "csrf": csrf},
                                      headers={"Origin": "https://evil.example",
                                               "Sec-Fetch-Site": "cross-site"}, max_redirects=0)
            assert cross.status == 403, cross.status
            status, body = server.call("GET", f"/api/organizations/{acme}/groups/", key=ids["admin_key"])
            names = [g["name"] for g in json.loads(body)]
            assert "Forged" not in names and "Cross" not in names, names

        def a_cross_site_page_cannot_post_with_the_session():
            # A page that is not the console's (about:blank, as a page of another site is)
            # submitting a form to the console: SameSite=Strict keeps the cookie off it, and
            # the browser marks it cross-site.
            evil = ctx.new_page()
            evil.set_content(
                f'<form method="post" action="{run.url(team + "groups/")}">'
                '<input name="name" value="Evil"><input name="csrf" value="x"></form>')
            with evil.expect_navigation():
                evil.evaluate("document.forms[0].submit()")
            assert "/console/sign-in/" in evil.url or "not sent from" in evil.content(), evil.url
            evil.close()
            status, body = server.call("GET", f"/api/organizations/{acme}/groups/", key=ids["admin_key"])
            assert "Evil" not in [g["name"] for g in json.loads(body)]

        def another_team_s_pages_are_not_found():
            for path in ["", "members/", "groups/", "accounts/", "audit/"]:
                response = run.goto(f"/console/teams/{other}/{path}")
                assert response.status == 404, (path, response.status)
            run.audit("not-found")
            response = page.request.post(run.url(f"/console/teams/{other}/groups/"),
                                         form={"name": "Intruder", "csrf": state["csrf"]},
                                         max_redirects=0)
            assert response.status == 404, response.status

        def the_session_cookie_opens_no_api():
            # The browser keeps the cookie to /console/; sent there by hand, it opens nothing.
            cookie = next(c for c in ctx.cookies() if c["name"] == "roster_console")
            sent = {"Cookie": f"roster_console={cookie['value']}"}
            for path in ["/api/organizations/", f"/api/organizations/{acme}/memberships/",
                         "/scim/v2/Users"]:
                response = page.request.get(run.url(path), headers=sent)
                assert response.status == 401, (path, response.status)

        def signs_out_and_the_session_is_refused():
            run.goto(team)
            run.submit("button:has-text('Sign out')")
            assert "You have signed out." in page.inner_text("main")
            run.goto(team + "members/")
            assert "/console/sign-in/" in page.url, page.url
            # The old cookie, sent again by hand, opens nothing.
            again = browser.new_context()
            again.add_cookies([{**state["cookie"]}])
            response = again.request.get(run.url(team + "members/"), max_redirects=0)
            assert response.status == 303 and "/console/sign-in/" in response.headers["location"], response.status
            again.close()

        for check in [signs_in_with_the_keyboard, overview_counts_the_team, finds_a_member_by_search,
                      changes_their_role, the_last_admin_keeps_their_role_with_the_reason_shown,
                      changes_a_role_with_the_keyboard_only, invites_and_the_invitee_accepts_on_the_console,
                      pages_through_ten_thousand,
                      replaces_a_group_from_a_pasted_list_through_the_preview,
                      uploads_campaign_members_with_data,
                      creates_and_deletes_a_service_account_with_its_token_shown_once,
                      shows_the_identity_provider_setup, lists_domains_and_the_audit_log,
                      refuses_a_forged_form, a_cross_site_page_cannot_post_with_the_session,
                      another_team_s_pages_are_not_found, the_session_cookie_opens_no_api,
                      signs_out_and_the_session_is_refused]:
            run.check(check.__name__.replace("_", " "), check)
        browser.close()
    server.stop()
    print(f"console e2e: {run.passed} passed, {len(run.failures)} failed "
          f"(axe-core and widths on {len(run.audited)} pages)")
    if run.failures:
        print(f"server log: {work / 'serve.log'}")
        sys.exit(1)


if __name__ == "__main__":
    main()
