#!/usr/bin/env python3
"""Writes hostile.jsonl, the hostile corpus that tests/api/corpus.rs replays (see there for
the entry format). Edit the lists below and run it again; the JSONL is what the test reads."""

import json
from pathlib import Path
from urllib.parse import quote

out = []


def add(name, method, path, body=None, ctype="application/json", key="admin", headers=None, **extra):
    e = {"name": name, "method": method, "path": path, "key": key}
    if body is not None:
        e["body"] = body
    if ctype and (body is not None or "body_hex" in extra or "body_repeat" in extra):
        e["content_type"] = ctype
    if headers:
        e["headers"] = headers
    e.update(extra)
    out.append(e)


ORG, MID = "/api/organizations/{org}/", "/api/memberships/{mid}/"
GROUPS, GROUP_MEMBERS = "/api/organizations/{org}/groups/", "/api/groups/{group}/memberships/"
CAMPAIGN_MEMBERS = "/api/organizations/{org}/campaigns/{campaign}/members/"
INVITATIONS, USERS, SCIM_GROUPS = "/api/organizations/{org}/invitations/", "/scim/v2/Users", "/scim/v2/Groups"
writes = [("PATCH", ORG), ("PATCH", MID), ("POST", GROUPS), ("PUT", GROUP_MEMBERS),
          ("PUT", CAMPAIGN_MEMBERS), ("POST", INVITATIONS), ("POST", USERS), ("POST", SCIM_GROUPS)]


def scim(path):
    return path.startswith("/scim")


def ct(path):
    return "application/scim+json" if scim(path) else "application/json"


def keyfor(path):
    return "scim" if scim(path) else "admin"


broken = [("unterminated object", '{"name": '), ("unterminated string", '{"name": "abc'),
          ("trailing garbage", '{"name": "x"} {}'), ("single quotes", "{'name': 'x'}"), ("bare word", "name"),
          ("trailing comma", '{"name": "x",}'), ("NaN", '{"name": NaN}'), ("Infinity", '{"role": Infinity}'),
          ("comment", '{"name": "x" /* c */}'), ("empty", ""), ("whitespace only", "   \n\t "), ("lone bracket", "["),
          ("lone brace", "}"), ("control character in a string", '{"name": "a\u0001b"}'),
          ("bad escape", '{"name": "\\q"}'), ("lone surrogate escape", '{"name": "\\ud800"}')]
for m, p in writes:
    for n, b in broken:
        add(f"broken JSON ({n}) to {m} {p}", m, p, b, ct(p), keyfor(p))

# Wrong types, each aimed at a field the endpoint reads.
shapes = ['[1, 2, 3]', '"hello"', "42", "null", "true"]
wrong = {
    ("PATCH", ORG): ['{"name": {"$ne": 1}}', '{"name": ["a"]}', '{"name": 42}', '{"default_role": -1}',
                     '{"default_role": 2.5}', '{"default_role": true}', '{"default_role": 1e999}', '{"scope": 5}',
                     '{"name": "a\\u0000b"}', '{"name": ""}'],
    ("PATCH", MID): ['{"role": -1}', '{"role": 2.5}', '{"role": true}', '{"role": 1e999}', '{"role": "x"}',
                     '{"role": {}}', '{"role": []}', '{"role": "1\\u0000"}', '{"role": 0}', '{"role": 6}'],
    ("POST", GROUPS): ['{"name": {}}', '{"name": []}', '{"name": 42}', '{"name": true}', '{"name": null}', "{}",
                       '{"name": "a\\u0000b"}', '{"name": "   "}'],
    ("PUT", GROUP_MEMBERS): ['[{"email": 42}]', '[{"email": {}}]', '[{"user_id": 5}]', "[42]", "[[1]]", "[null]",
                             '{"email": 5}', '"hello"', "42", "null", '[{"email": "a\\u0000@acme.test"}]'],
    ("PUT", CAMPAIGN_MEMBERS): ['[{"email": 5}]', '[{"email": "bob@acme.test", "data": []}]',
                                '[{"email": "bob@acme.test", "data": 5}]', '{"users": 5}', "42", "null", '"str"',
                                "[null]", '[{"data": {}}]', '{"users": [{"email": {}}]}'],
    ("POST", INVITATIONS): ['{"email": 5}', '{"email": []}', '{"email": "new@acme.test", "role": 9}',
                            '{"email": "new@acme.test", "role": "x"}', '{"role": 1}', "[]", '"x"', "null",
                            '{"email": "a\\u0000@acme.test"}'],
    ("POST", USERS): ['{"userName": 5}', '{"userName": {}}', '{"userName": "x", "active": "maybe"}',
                      '{"userName": "x", "emails": "x"}', '{"schemas": 5, "userName": "x"}', "{}", "[]", '"str"',
                      '{"userName": ""}', '{"userName": "a\\u0000b"}'],
    ("POST", SCIM_GROUPS): ['{"displayName": 5}', '{"displayName": "x", "members": "x"}',
                            '{"displayName": "x", "members": [5]}', "{}", "[]", '"str"', '{"displayName": ""}',
                            '{"displayName": "a\\u0000b"}'],
}
for (m, p), bodies in wrong.items():
    for b in bodies + (shapes if (m, p) in [("PATCH", ORG), ("PATCH", MID), ("POST", GROUPS)] else []):
        add(f"wrong type {b[:50]} to {m} {p}", m, p, b, ct(p), keyfor(p))
for m, p in writes[:5] + writes[6:7]:
    add(f"invalid UTF-8 to {m} {p}", m, p, None, ct(p), keyfor(p), body_hex="7b226e616d65223a2022fffe227d")

bad_emails = ["plainaddress", "@no-local.test", "no-at.test", "two@@at.test", "a@b", "a@-bad-.test",
              "x" * 300 + "@acme.test", "ann@" + "d" * 300 + ".test", "ann@\u0430cme.test", "ann@xn--acme-ouf.test",
              "zed@acme.test\n", "ann@acme.test\u0000", "<script>@acme.test", "ann@[127.0.0.1]", "ann@acme..test",
              "ann@.acme.test", "' OR 1=1 --@acme.test", "a,b@acme.test", ".ann@acme.test", "ann@acme.test."]
for e in bad_emails:
    add(f"bad email {e[:40]!r} in a group PUT", "PUT", GROUP_MEMBERS, json.dumps([{"email": e}]))
    add(f"bad email {e[:40]!r} in a campaign PUT", "PUT", CAMPAIGN_MEMBERS, json.dumps([{"email": e, "data": {}}]))
for e in ["plainaddress", "<script>@acme.test", "ann@xn--acme-ouf.test", "a,b@acme.test", "x" * 300 + "@a.test"]:
    add(f"bad email {e[:40]!r} in an invitation", "POST", INVITATIONS, json.dumps({"email": e, "role": 1}))

add("duplicate keys, the last one empty", "PATCH", ORG, '{"name": "A", "name": ""}')
add("the same email twice in a campaign PUT", "PUT", CAMPAIGN_MEMBERS,
    '[{"email": "bob@acme.test"}, {"email": "BOB@acme.test"}]')
add("campaign users not a list", "PUT", CAMPAIGN_MEMBERS, '{"users": {"email": "bob@acme.test"}}')
add("user_id not a UUID", "PUT", GROUP_MEMBERS, '[{"user_id": "1 OR 1=1"}]')
add("user_id of another team's member", "PUT", GROUP_MEMBERS, '[{"user_id": "{other_user}"}]')

add("10 MB organization name", "PATCH", ORG,
    body_repeat={"prefix": '{"name": "', "unit": "n", "times": 10_000_000, "suffix": '"}'})
add("10 MB SCIM userName", "POST", USERS, None, "application/scim+json", "scim",
    body_repeat={"prefix": '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "',
                 "unit": "u", "times": 10_000_000, "suffix": '"}'})
add("17 MB body, over the limit", "PUT", GROUP_MEMBERS,
    body_repeat={"prefix": '["', "unit": "x", "times": 17_000_000, "suffix": '"]'})
add("200,001 items", "PUT", GROUP_MEMBERS,
    body_repeat={"prefix": "[", "unit": '"a@b",', "times": 200_000, "suffix": '"a@b"]'})
add("100,000 nested arrays", "PATCH", ORG, body_repeat={"prefix": "", "unit": "[", "times": 100_000, "suffix": ""})
add("50,000 nested objects, SCIM", "POST", USERS, None, "application/scim+json", "scim",
    body_repeat={"prefix": '{"a":', "unit": '{"a":', "times": 50_000, "suffix": ""})

v2 = {"accept": "application/json; version=2.0"}
for l in ["/api/organizations/{org}/memberships/", GROUPS, GROUP_MEMBERS, "/api/organizations/"]:
    for q in ["page=0", "page=-1", "page=99999999999999999999", "page=abc", "page=1e3", "page_size=-5",
              "page_size=abc", "page=2&page=3", "page=%00", "page=1%0d%0aX-Injected:%201"]:
        add(f"page query {q} on {l}", "GET", f"{l}?{q}", headers=v2)
    add(f"page_size past the maximum on {l} (clamped, as documented)", "GET", f"{l}?page_size=99999999999999999999",
        headers=v2, expect_status=200)
for q in ["role=9", "role__in=1,x", "groups=not-a-uuid", "user__id=../../etc", "user__service_account=maybe",
          "role=1&role=2"]:
    add(f"filter {q}", "GET", f"/api/organizations/{{org}}/memberships/?{q}")
add("a NUL in q", "GET", "/api/organizations/{org}/memberships/?q=%00")
add("a NUL in q, version 2.0", "GET", "/api/organizations/{org}/memberships/?q=a%00b", headers=v2)

odd = ["..", "../..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%00", "1;DROP TABLE users", "' OR '1'='1", "x" * 5000,
       "%ff%fe", "\U0001F600", "-1", "99999999999999999999999", "00000000-0000-0000-0000-000000000000"]
for o in odd:
    add(f"odd organization id {o[:30]!r}", "GET", f"/api/organizations/{o}/")
    add(f"odd membership id {o[:30]!r}", "PATCH", f"/api/memberships/{o}/", '{"role": 1}')
    add(f"odd group id {o[:30]!r}", "DELETE", f"/api/groups/{o}/")
    add(f"odd SCIM user id {o[:30]!r}", "DELETE", f"/scim/v2/Users/{o}", key="scim")

add("an unknown auth scheme", "GET", "/api/organizations/", key="none", headers={"authorization": "Basic YWRtaW46YWRtaW4="})
add("a key with spaces", "GET", "/api/organizations/", key="none", headers={"authorization": "Token a b"})
add("an empty token", "GET", "/api/organizations/", key="none", headers={"authorization": "Token "})
add("a 4 KB token", "GET", "/api/organizations/", key="none", headers={"authorization": "Token " + "k" * 4096})
add("SQL in the token", "GET", "/api/organizations/", key="none", headers={"authorization": "Token ' OR 1=1 --"})
add("no key at all", "DELETE", "/api/groups/{group}/", key="none")
add("an unsupported Accept", "GET", "/api/organizations/", headers={"accept": "text/html"})
add("an unknown API version", "GET", "/api/organizations/", headers={"accept": "application/json; version=9.9"})
add("a 12 KB Accept (parsed, served)", "GET", "/api/organizations/",
    headers={"accept": "application/json; " + "x=1; " * 2000}, expect_status=200)
add("an XML body", "PATCH", ORG, "<name>x</name>", "application/xml")
# Flat writes take forms (docs/API.md); member lists do not.
add("a form body for a member list", "PUT", GROUP_MEMBERS, "email=x%40acme.com", "application/x-www-form-urlencoded")
add("a multipart body for campaign members", "PUT", CAMPAIGN_MEMBERS,
    "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nx@acme.com\r\n--b--\r\n",
    "multipart/form-data; boundary=b")
add("a broken multipart body", "PATCH", ORG, "no parts", "multipart/form-data; boundary=b")
add("a multipart body without a boundary", "PATCH", ORG, "x", "multipart/form-data")
add("no content type", "PATCH", ORG, '{"name": "x"}', None)
add("a SCIM body as text/plain", "POST", USERS, '{"userName": "x"}', "text/plain", "scim")

filters = ["(" * 40 + 'userName eq "a"' + ")" * 40, " or ".join(['userName eq "a"'] * 2000), "userName eq",
           'userName zz "a"', 'userName eq "a', '(userName eq "a"', 'emails[value eq "a"', 'userName eq "a" and',
           "not (", "userName eq 1e999x", "a.b.c.d.e.f.g eq \"x\"", "userName pr or", "x" * 9000,
           'userName eq "\u0000"']
for f in filters:
    add(f"SCIM filter {f[:40]!r}", "GET", "/scim/v2/Users?filter=" + quote(f), key="scim")
add("SCIM nested value filters (no result, never a 500)", "GET",
    "/scim/v2/Users?filter=" + quote('emails[emails[value eq "a"]]'), key="scim", expect_any=True)
patch = '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [%s]}'
for n, op in [("an unknown op", '{"op": "explode", "path": "userName"}'),
              ("a broken path", '{"op": "replace", "path": "emails[value eq", "value": "x"}'),
              ("removing userName", '{"op": "remove", "path": "userName"}'),
              ("no operations", ""), ("a string value for active", '{"op": "replace", "path": "active", "value": "maybe"}')]:
    add(f"SCIM PATCH with {n}", "PATCH", "/scim/v2/Users/{scim_user}", patch % op, "application/scim+json", "scim")
add("SCIM PUT without userName", "PUT", "/scim/v2/Users/{scim_user}",
    '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}', "application/scim+json", "scim")
add("a SCIM user read with another team's key", "GET", "/scim/v2/Users/{scim_user}", key="other_scim")
add("a SCIM user deleted with another team's key", "DELETE", "/scim/v2/Users/{scim_user}", key="other_scim")
add("the team renamed by another team's admin", "PATCH", ORG, '{"name": "Taken"}', key="other_admin")
add("the group emptied by another team's admin", "PUT", GROUP_MEMBERS, "[]", key="other_admin")
add("the campaign emptied by another team's admin", "PUT", CAMPAIGN_MEMBERS, "[]", key="other_admin")
add("the membership changed by another team's admin", "PATCH", MID, '{"role": 2}', key="other_admin")

# Issue 17: invitations for people who have keys and people who do not yet, inviters who lost
# their role, SCIM on people of other teams, other teams' group ids in filters, and the input
# one backend alone would refuse.
ACCEPT = "/api/invitations/accept/"
add("accepting a token for someone who holds a key", "POST", ACCEPT, '{"accept_token": "{existing_token}"}',
    key="none", expect_status=404)
add("accepting a withdrawn manager's token", "POST", ACCEPT, '{"accept_token": "{withdrawn_token}"}', key="none",
    expect_status=404)
for who in ["admin", "other_admin", "demoted"]:
    for iid in ["{existing_iid}", "{pending_iid}"]:
        for action in ["accept", "reject"]:
            add(f"{action}ing another's invitation {iid} as {who}", "POST", f"/api/invitations/{iid}/{action}/",
                key=who, expect_status=404)
add("a service account's invitations", "GET", "/api/invitations/me/", key="scim", expect_status=403)
for address in ["operator@roster.localhost", "x@service-account.roster.invalid", "x@deployment-key.roster.invalid"]:
    add(f"inviting Roster's own address {address}", "POST", INVITATIONS, json.dumps({"email": address, "role": 1}),
        expect_status=400)
add("a demoted manager inviting", "POST", INVITATIONS, '{"email": "late@elsewhere.test", "role": 1}', key="demoted",
    expect_status=403)
add("a manager's token replaced by a member", "POST", INVITATIONS, '{"email": "new@elsewhere.test", "role": 4}',
    key="demoted", expect_status=403)
add("revoking an invitation as a demoted manager", "DELETE", INVITATIONS + "{pending_iid}/", key="demoted",
    expect_status=403)
add("SCIM linking a person of another team", "POST", USERS, '{"userName": "zed@other.test"}',
    "application/scim+json", "scim", expect_status=409)
add("SCIM linking a person of another team by emails", "POST", USERS,
    '{"userName": "zed-alias", "emails": [{"value": "ZED@other.test"}]}', "application/scim+json", "scim",
    expect_status=409)
add("SCIM moving a user onto another team's person's email", "PUT", "/scim/v2/Users/{scim_user}",
    '{"userName": "cy@acme.test", "emails": [{"value": "zed@other.test", "primary": true}]}',
    "application/scim+json", "scim", expect_status=409)
add("SCIM renaming a person of another team", "PUT", "/scim/v2/Users/{other_user}",
    '{"userName": "zed@other.test", "displayName": "Owned"}', "application/scim+json", "scim", expect_status=404)
add("a SCIM user with no email", "POST", USERS, '{"userName": "just a name"}', "application/scim+json", "scim",
    expect_status=400)
add("a SCIM filter of 101 terms", "GET", "/scim/v2/Users?filter=" + quote(" or ".join(['userName co "a"'] * 101)),
    key="scim", expect_status=400)
for q in ["groups={other_group}", "groups={group},{other_group}"]:
    add(f"another team's group in a filter: {q}", "GET", f"/api/organizations/{{org}}/memberships/?{q}",
        expect_status=400)
    add(f"another team's group in a filter, 2.0: {q}", "GET", f"/api/organizations/{{org}}/memberships/?{q}",
        headers=v2, expect_status=400)
add("a 30 KB role__in whose page links would not fit", "GET",
    "/api/organizations/{org}/memberships/?page_size=1&role__in=" + ",".join(["1,2"] * 5000), headers=v2,
    expect_status=400)
for n, data in [("a lone surrogate", '"\\ud800"'), ("a lone surrogate key", '{"\\udc00": 1}'),
                ("a huge number", "1e999999"), ("a tiny number", "-1e-99999"), ("a NUL escape", '"\\u0000"'),
                ("a zero with a huge exponent", "0e1073741824")]:
    body = '[{"email": "bob@acme.test", "data": {"v": %s}}]' % data.replace("\\\\", "\\")
    add(f"campaign data with {n}", "PUT", CAMPAIGN_MEMBERS, body, expect_status=400)

path = Path(__file__).with_name("hostile.jsonl")
path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in out))
print(f"{len(out)} requests written to {path}")
