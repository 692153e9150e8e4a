//! The hostile corpus (issue 8): `corpus/hostile.jsonl` holds several hundred malformed or
//! hostile requests (broken JSON, wrong types, invalid UTF-8, NUL bytes, 10 MB strings, deep
//! nesting, huge arrays, bad and look-alike emails, odd ids and path traversal, page numbers
//! out of range, hostile headers, SCIM filter bombs, other teams' keys). Each is replayed
//! against a seeded team: every answer is 4xx with a JSON body (or the status the entry names),
//! never 5xx, and everything the API shows of both teams is byte for byte the same afterwards.
//!
//! An entry: `name`, `method`, `path`, `key` (admin, demoted: a manager demoted to member,
//! scim, none, other_admin, other_scim), optional `headers`, `content_type`, and a body as
//! `body` (text), `body_hex`, or `body_repeat` (`prefix` + `unit` x `times` + `suffix`). Paths
//! and bodies may name `{org}`, `{mid}`, `{group}`, `{campaign}`, `{scim_user}`,
//! `{other_user}`, `{other_group}` (the other team's), `{existing_token}` and
//! `{existing_iid}` (an invitation to Zed, who has a key), `{pending_iid}` (to someone not yet
//! known) and `{withdrawn_token}` (the demoted manager's, withdrawn). A few entries name the
//! status a documented leniency answers (`expect_status`), or only forbid a 5xx
//! (`expect_any`). `corpus/make_hostile.py` writes the file.

use crate::support::TestApp;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use roster_core::Role;
use serde_json::{Value, json};

const CORPUS: &str = include_str!("corpus/hostile.jsonl");

struct Seeded {
    app: TestApp,
    ops: String,
    keys: Vec<(&'static str, String)>,
    names: Vec<(&'static str, String)>,
    orgs: [uuid::Uuid; 2],
}

async fn seed() -> Seeded {
    let app = TestApp::new().await;
    let ops = app.operator().await;
    let (org, admin) = app.team("Acme").await;
    let (other_org, other_admin) = app.team("Other").await;
    let (mid, _) = app.member(org, "ann@acme.test", Role::Member).await;
    app.member(org, "bob@acme.test", Role::Member).await;
    let (_, other_member) = app.member(other_org, "zed@other.test", Role::Member).await;
    let other_user = app.get("/api/me/").key(&other_member).send().await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;

    app.put(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!([{"email": "ann@acme.test"}]))
        .send()
        .await
        .made();
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            json!({"name": "Spring"}),
        )
        .await;

    app.put(&format!(
        "/api/organizations/{org}/campaigns/{campaign}/members/"
    ))
    .key(&admin)
    .json(&json!([{"email": "bob@acme.test", "data": {"shift": "early", "n": 1.50}}]))
    .send()
    .await
    .made();
    let mut scim_keys = Vec::new();
    for (team, key) in [(org, &admin), (other_org, &other_admin)] {
        let token = app
            .post(&format!("/api/organizations/{team}/serviceaccounts/"))
            .key(key)
            .json(&json!({"name": "idp", "role": 2}))
            .send()
            .await
            .made()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        scim_keys.push(token);
    }
    let scim_user = app
        .post("/scim/v2/Users")
        .header("authorization", &format!("Bearer {}", scim_keys[0]))
        .raw(
            "application/scim+json",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": "cy@acme.test", "emails": [{"value": "cy@acme.test"}]})
            .to_string(),
        )
        .send()
        .await
        .made()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let [scim, other_scim] = [scim_keys[0].clone(), scim_keys[1].clone()];
    // Invitations: to someone who holds a key (Zed, of the other team), to someone Roster does
    // not know yet, and one whose inviter has lost the right to make it since.
    let existing = app.invite(org, &admin, "zed@other.test", 1).await;
    let pending = app.invite(org, &admin, "new@elsewhere.test", 1).await;
    let (demoted_mid, demoted) = app.member(org, "mo@acme.test", Role::Manager).await;
    let withdrawn = app.invite(org, &demoted, "gone@elsewhere.test", 1).await;
    app.patch(&format!("/api/memberships/{demoted_mid}/"))
        .key(&admin)
        .json(&json!({"role": 1}))
        .send()
        .await
        .made();
    let other_group = app
        .created(
            &format!("/api/organizations/{other_org}/groups/"),
            &other_admin,
            json!({"name": "Elsewhere"}),
        )
        .await;
    let text = |v: &Value, field: &str| v[field].as_str().unwrap().to_owned();
    Seeded {
        app,
        ops,
        keys: vec![
            ("admin", admin),
            ("demoted", demoted),
            ("scim", scim),
            ("other_admin", other_admin),
            ("other_scim", other_scim),
        ],
        names: vec![
            ("{org}", org.to_string()),
            ("{mid}", mid.to_string()),
            ("{group}", group),
            ("{campaign}", campaign),
            ("{scim_user}", scim_user),
            ("{other_user}", other_user),
            ("{other_group}", other_group),
            ("{existing_token}", text(&existing, "accept_token")),
            ("{existing_iid}", text(&existing, "id")),
            ("{pending_iid}", text(&pending, "id")),
            ("{withdrawn_token}", text(&withdrawn, "accept_token")),
        ],
        orgs: [org, other_org],
    }
}

impl Seeded {
    fn fill(&self, text: &str) -> String {
        self.names
            .iter()
            .fold(text.to_owned(), |t, (name, value)| t.replace(name, value))
    }

    /// Everything the API shows of both teams, read by an operator and by each team's SCIM key.
    async fn state(&self) -> String {
        let mut paths = vec!["/api/organizations/".to_owned()];
        for org in self.orgs {
            let base = format!("/api/organizations/{org}/");
            for tail in [
                "",
                "memberships/",
                "groups/",
                "campaigns/",
                "serviceaccounts/",
                "deployment-keys/",
                "invitations/",
                "email-domains/",
            ] {
                paths.push(format!("{base}{tail}"));
            }
            let groups = self
                .app
                .get(&format!("{base}groups/"))
                .key(&self.ops)
                .send()
                .await;
            for g in groups.json().as_array().unwrap() {
                paths.push(format!(
                    "/api/groups/{}/memberships/",
                    g["id"].as_str().unwrap()
                ));
            }
            let campaigns = self
                .app
                .get(&format!("{base}campaigns/"))
                .key(&self.ops)
                .send()
                .await;
            for c in campaigns.json().as_array().unwrap() {
                paths.push(format!(
                    "{base}campaigns/{}/members/",
                    c["id"].as_str().unwrap()
                ));
            }
        }
        let mut state = String::new();
        for path in paths {
            let res = self.app.get(&path).key(&self.ops).send().await;
            state.push_str(&format!(
                "{path} {}\n{}\n",
                res.status,
                String::from_utf8_lossy(&res.bytes)
            ));
        }
        for key in ["scim", "other_scim"] {
            for path in ["/scim/v2/Users", "/scim/v2/Groups"] {
                let res = self
                    .app
                    .get(path)
                    .header("authorization", &format!("Bearer {}", self.key(key)))
                    .send()
                    .await;
                state.push_str(&format!(
                    "{key} {path} {}\n{}\n",
                    res.status,
                    String::from_utf8_lossy(&res.bytes)
                ));
            }
        }
        state
    }

    fn key(&self, who: &str) -> &str {
        &self.keys.iter().find(|(name, _)| *name == who).unwrap().1
    }
}

/// The path as a client would send it: characters a URI may not hold, percent-encoded.
fn as_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn body_of(entry: &Value, seeded: &Seeded) -> Body {
    if let Some(text) = entry["body"].as_str() {
        return Body::from(seeded.fill(text));
    }
    if let Some(hex) = entry["body_hex"].as_str() {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        return Body::from(bytes);
    }
    if let Some(repeat) = entry.get("body_repeat") {
        let times = usize::try_from(repeat["times"].as_u64().unwrap()).unwrap();
        let mut body = repeat["prefix"].as_str().unwrap().to_owned();
        body.push_str(&repeat["unit"].as_str().unwrap().repeat(times));
        body.push_str(repeat["suffix"].as_str().unwrap());
        return Body::from(body);
    }
    Body::empty()
}

#[tokio::test]
async fn the_hostile_corpus_is_refused_and_changes_nothing() {
    let seeded = seed().await;
    let entries: Vec<Value> = CORPUS
        .lines()
        .map(|line| serde_json::from_str(line).expect("a corpus line is JSON"))
        .collect();
    assert!(
        entries.len() >= 200,
        "the corpus has {} requests",
        entries.len()
    );
    // Every key once first: the activity each records is part of the state. It is written in
    // the background, so the state is read again until it stops changing.
    for (_, key) in &seeded.keys {
        seeded.app.get("/api/me/").key(key).send().await;
    }
    let mut before = seeded.state().await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let again = seeded.state().await;
        if again == before {
            break;
        }
        before = again;
    }
    let mut failures = Vec::new();
    for entry in &entries {
        let name = entry["name"].as_str().unwrap();
        let method = Method::from_bytes(entry["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = as_uri(&seeded.fill(entry["path"].as_str().unwrap()));
        let mut request = seeded.app.request(method, &path);
        match entry["key"].as_str().unwrap() {
            "none" => {}
            "scim" | "other_scim" => {
                let key = seeded.key(entry["key"].as_str().unwrap());
                request = request.header("authorization", &format!("Bearer {key}"));
            }
            who => request = request.key(seeded.key(who)),
        }
        for (name, value) in entry["headers"].as_object().into_iter().flatten() {
            request = request.header(name, value.as_str().unwrap());
        }
        let body = body_of(entry, &seeded);
        request = match entry["content_type"].as_str() {
            Some(content_type) => request.raw(content_type, body),
            None => request.body(body),
        };
        let res = request.send().await;
        let json: Option<Value> = serde_json::from_slice(&res.bytes).ok();
        let status_ok = match entry["expect_status"].as_u64() {
            Some(expected) => u64::from(res.status.as_u16()) == expected,
            None if entry["expect_any"].as_bool() == Some(true) => !res.status.is_server_error(),
            None => res.status.is_client_error(),
        };
        // Errors about a list payload are a list of objects, per item (contract 1.4).
        let is_json = json.as_ref().is_some_and(|j| j.is_object() || j.is_array());
        if !status_ok || !is_json {
            failures.push(format!(
                "{name}: {} {}",
                res.status,
                String::from_utf8_lossy(&res.bytes[..res.bytes.len().min(200)])
            ));
        }
        if res.status == StatusCode::INTERNAL_SERVER_ERROR {
            failures.push(format!("{name}: a 500"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} entries:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    assert_eq!(seeded.state().await, before, "the corpus changed nothing");
}
