//! The authorization matrix (issue 8): every endpoint, team API and SCIM, with every method it
//! serves, called by every kind of caller; the status each cell must answer is written below as
//! data, so this table is the documentation of who may do what (contract section 2).
//!
//! Each cell runs against a team of its own, made for it, with an operator and another team's
//! admin of its own, so no cell sees another's writes; only the revoked key is shared. Cross-team cells (the admin of
//! another team) must never read or change anything: 404 everywhere a resource is named.

use crate::support::TestApp;
use axum::http::{Method, StatusCode};
use roster_core::Role;
use roster_server::state::HttpConfig;
use serde_json::json;

/// The callers, in the order of each row's statuses.
const CALLERS: [&str; 12] = [
    "none",          // no Authorization header
    "revoked",       // a key rotated away
    "operator",      // the server's operator
    "admin",         // role 2
    "manager",       // role 5
    "member",        // role 1
    "developer",     // role 3
    "restricted",    // role 4
    "sa_admin",      // a service account with role 2
    "sa_restricted", // a service account with role 4
    "deploy",        // a deployment key
    "other_admin",   // the admin of another team
];

/// (method, path, body, statuses of the callers above). `{org}` and the other names are the
/// cell's own team and resources; `-` for no body.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, &str, &str)] = &[
    // organizations
    ("GET", "/api/organizations/", "-", "401 401 200 200 200 200 200 200 200 200 403 200"),
    // Any person may make a team; service accounts and deployment keys are not people.
    ("POST", "/api/organizations/", r#"{"name":"New"}"#, "401 401 201 201 201 201 201 201 403 403 403 201"),
    ("GET", "/api/organizations/{org}/", "-", "401 401 200 200 200 200 200 200 200 200 403 404"),
    ("PUT", "/api/organizations/{org}/", r#"{"name":"Renamed"}"#, "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("PATCH", "/api/organizations/{org}/", r#"{"name":"Renamed"}"#, "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("DELETE", "/api/organizations/{org}/", "-", "401 401 204 204 403 403 403 403 204 403 403 404"),
    // memberships
    ("GET", "/api/organizations/{org}/memberships/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("GET", "/api/memberships/{mid}/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("GET", "/api/organizations/{org}/members/{uid}/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("PUT", "/api/memberships/{mid}/", r#"{"role":3}"#, "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("PATCH", "/api/memberships/{mid}/", r#"{"role":3}"#, "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("DELETE", "/api/memberships/{mid}/", "-", "401 401 204 204 403 403 403 403 204 403 403 404"),
    // groups and group memberships
    ("GET", "/api/organizations/{org}/groups/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/groups/", r#"{"name":"New"}"#, "401 401 201 201 201 403 403 403 201 403 403 404"),
    ("GET", "/api/groups/{group}/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("PUT", "/api/groups/{group}/", r#"{"name":"Renamed"}"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("PATCH", "/api/groups/{group}/", r#"{"name":"Renamed"}"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("DELETE", "/api/groups/{group}/", "-", "401 401 204 204 204 403 403 403 204 403 403 404"),
    ("GET", "/api/groups/{group}/memberships/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("POST", "/api/groups/{group}/memberships/", r#"[{"email":"target@acme.test"}]"#, "401 401 201 201 201 403 403 403 201 403 403 404"),
    ("PUT", "/api/groups/{group}/memberships/", r#"[{"email":"target@acme.test"}]"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("DELETE", "/api/groups/{group}/memberships/{gmid}/", "-", "401 401 204 204 204 403 403 403 204 403 403 404"),
    // verified email domains
    ("GET", "/api/organizations/{org}/email-domains/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/email-domains/", r#"{"domain":"{domain}"}"#, "401 401 201 403 403 403 403 403 403 403 403 404"),
    ("DELETE", "/api/organizations/{org}/email-domains/{did}/", "-", "401 401 204 403 403 403 403 403 403 403 403 404"),
    // campaigns and campaign members
    ("GET", "/api/organizations/{org}/campaigns/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/campaigns/", r#"{"name":"New"}"#, "401 401 201 201 201 403 403 403 201 403 403 404"),
    ("GET", "/api/organizations/{org}/campaigns/{campaign}/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("PUT", "/api/organizations/{org}/campaigns/{campaign}/", r#"{"name":"Renamed"}"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("PATCH", "/api/organizations/{org}/campaigns/{campaign}/", r#"{"name":"Renamed"}"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("DELETE", "/api/organizations/{org}/campaigns/{campaign}/", "-", "401 401 204 204 204 403 403 403 204 403 403 404"),
    ("GET", "/api/organizations/{org}/campaigns/{campaign}/members/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/campaigns/{campaign}/members/", r#"[{"email":"target@acme.test","data":{}}]"#, "401 401 201 201 201 403 403 403 201 403 403 404"),
    ("PUT", "/api/organizations/{org}/campaigns/{campaign}/members/", r#"[{"email":"target@acme.test","data":{}}]"#, "401 401 200 200 200 403 403 403 200 403 403 404"),
    // service accounts and deployment keys
    ("GET", "/api/organizations/{org}/serviceaccounts/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/serviceaccounts/", r#"{"name":"New"}"#, "401 401 201 201 403 403 403 403 201 403 403 404"),
    ("GET", "/api/organizations/{org}/serviceaccounts/{sid}/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("DELETE", "/api/organizations/{org}/serviceaccounts/{sid}/", "-", "401 401 204 204 403 403 403 403 204 403 403 404"),
    ("POST", "/api/organizations/{org}/serviceaccounts/{sid}/rotate/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("GET", "/api/organizations/{org}/deployment-keys/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/deployment-keys/", r#"{"name":"New"}"#, "401 401 201 201 403 403 403 403 201 403 403 404"),
    ("GET", "/api/organizations/{org}/deployment-keys/{kid}/", "-", "401 401 200 200 403 403 403 403 200 403 403 404"),
    ("DELETE", "/api/organizations/{org}/deployment-keys/{kid}/", "-", "401 401 204 204 403 403 403 403 204 403 403 404"),
    // invitations
    ("GET", "/api/organizations/{org}/invitations/", "-", "401 401 200 200 200 403 403 403 200 403 403 404"),
    ("POST", "/api/organizations/{org}/invitations/", r#"{"email":"new@elsewhere.test","role":1}"#, "401 401 201 201 201 403 403 403 201 403 403 404"),
    ("DELETE", "/api/organizations/{org}/invitations/{iid}/", "-", "401 401 204 204 204 403 403 403 204 403 403 404"),
    ("POST", "/api/invitations/accept/", r#"{"accept_token":"{invitation_token}"}"#, "201 201 201 201 201 201 201 201 201 201 201 201"),
    // Invitations by email: people only (an account has none); another's is a 404 to anyone.
    ("GET", "/api/invitations/me/", "-", "401 401 200 200 200 200 200 200 403 403 403 200"),
    ("POST", "/api/invitations/{iid}/accept/", "-", "401 401 404 404 404 404 404 404 404 404 403 404"),
    ("POST", "/api/invitations/{iid}/reject/", "-", "401 401 404 404 404 404 404 404 404 404 403 404"),
    // the caller themselves, and health
    // Without credentials, the feature flags alone (`{"flags": []}`); a revoked key is checked.
    ("GET", "/api/me/", "-", "200 401 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/me/key/", "-", "401 401 201 201 201 201 201 201 201 201 403 201"),
    ("GET", "/api/health/", "-", "200 200 200 200 200 200 200 200 200 200 200 200"),
    // SCIM: only an admin service account provisions, and only its own team
    ("GET", "/scim/v2/Users", "-", "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("POST", "/scim/v2/Users", r#"{"userName":"new@acme.test"}"#, "401 401 403 403 403 403 403 403 201 403 403 403"),
    ("POST", "/scim/v2/Users/.search", r#"{"filter":"userName pr"}"#, "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("GET", "/scim/v2/Users/{scim_user}", "-", "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("PUT", "/scim/v2/Users/{scim_user}", r#"{"userName":"cy@acme.test","active":false}"#, "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("PATCH", "/scim/v2/Users/{scim_user}", r#"{"Operations":[{"op":"replace","path":"active","value":false}]}"#, "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("DELETE", "/scim/v2/Users/{scim_user}", "-", "401 401 403 403 403 403 403 403 204 403 403 403"),
    ("GET", "/scim/v2/Groups", "-", "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("POST", "/scim/v2/Groups", r#"{"displayName":"New"}"#, "401 401 403 403 403 403 403 403 201 403 403 403"),
    ("POST", "/scim/v2/Groups/.search", "{}", "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("GET", "/scim/v2/Groups/{group}", "-", "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("PUT", "/scim/v2/Groups/{group}", r#"{"displayName":"Renamed"}"#, "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("PATCH", "/scim/v2/Groups/{group}", r#"{"Operations":[{"op":"replace","path":"displayName","value":"Renamed"}]}"#, "401 401 403 403 403 403 403 403 200 403 403 403"),
    ("DELETE", "/scim/v2/Groups/{group}", "-", "401 401 403 403 403 403 403 403 204 403 403 403"),
    ("GET", "/scim/v2/ServiceProviderConfig", "-", "200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/scim/v2/ResourceTypes", "-", "200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/scim/v2/Schemas", "-", "200 200 200 200 200 200 200 200 200 200 200 200"),
];

/// The key every cell shares: one already rotated away.
struct Shared {
    revoked: String,
}

/// One cell's own team: a key for each role, and the resources the row names.
struct Cell {
    keys: Vec<(&'static str, String)>,
    names: Vec<(&'static str, String)>,
}

async fn cell(app: &TestApp, shared: &Shared, n: usize, path: &str, body: &str) -> Cell {
    let (org, admin) = app.team(&format!("Team {n}")).await;
    let mut keys = vec![("admin", admin.clone())];
    for (name, role) in [
        ("manager", Role::Manager),
        ("member", Role::Member),
        ("developer", Role::Developer),
        ("restricted", Role::Restricted),
    ] {
        let (_, key) = app.member(org, &format!("{name}{n}@acme.test"), role).await;
        keys.push((name, key));
    }
    let (target_mid, _) = app
        .member(org, &format!("target{n}@acme.test"), Role::Member)
        .await;
    for (name, role) in [("sa_admin", 2), ("sa_restricted", 4)] {
        let account = app
            .post(&format!("/api/organizations/{org}/serviceaccounts/"))
            .key(&admin)
            .json(&json!({"name": name, "role": role}))
            .send()
            .await
            .made();
        keys.push((name, account["token"].as_str().unwrap().to_owned()));
    }
    let deploy = app
        .post(&format!("/api/organizations/{org}/deployment-keys/"))
        .key(&admin)
        .json(&json!({"name": "kiosk"}))
        .send()
        .await
        .made();
    keys.push(("deploy", deploy["token"].as_str().unwrap().to_owned()));
    // An operator and another team's admin of the cell's own (a cell may rotate their key).
    let (operator_id, operator) = app.user(&format!("operator{n}@matrix.test")).await;
    app.store.set_operator(operator_id, true).await.unwrap();
    let (_, other_admin) = app.team(&format!("Elsewhere {n}")).await;
    keys.push(("operator", operator.clone()));
    keys.push(("other_admin", other_admin));
    keys.push(("revoked", shared.revoked.clone()));

    let target = format!("target{n}@acme.test");
    let domain = format!("d{n}.matrix.test");
    let mut names = vec![
        ("{org}", org.to_string()),
        ("{mid}", target_mid.to_string()),
        ("{domain}", domain.clone()),
        ("target@acme.test", target.clone()),
    ];
    let wants = |name: &str| path.contains(name) || body.contains(name);
    if wants("{uid}") {
        let target = app
            .get(&format!("/api/memberships/{target_mid}/"))
            .key(&admin)
            .send()
            .await;
        names.push((
            "{uid}",
            target.made()["user"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    if wants("{group}") || wants("{gmid}") {
        let group = app
            .created(
                &format!("/api/organizations/{org}/groups/"),
                &admin,
                json!({"name": "Agents"}),
            )
            .await;
        let members = app
            .put(&format!("/api/groups/{group}/memberships/"))
            .key(&admin)
            .json(&json!([{"email": target}]))
            .send()
            .await
            .made();
        names.push(("{gmid}", members[0]["id"].as_str().unwrap().to_owned()));
        names.push(("{group}", group));
    }
    if wants("{campaign}") {
        let campaign = app
            .created(
                &format!("/api/organizations/{org}/campaigns/"),
                &admin,
                json!({"name": "Spring"}),
            )
            .await;
        names.push(("{campaign}", campaign));
    }
    if wants("{did}") {
        let added = app
            .post(&format!("/api/organizations/{org}/email-domains/"))
            .key(&operator)
            .json(&json!({"domain": domain}))
            .send()
            .await
            .made();
        names.push(("{did}", added["id"].as_str().unwrap().to_owned()));
    }
    if wants("{sid}") || wants("{kid}") {
        let sid = app
            .get("/api/me/")
            .key(key_of(&keys, "sa_restricted"))
            .send()
            .await
            .made();
        names.push(("{sid}", sid["id"].as_str().unwrap().to_owned()));
        names.push(("{kid}", deploy["id"].as_str().unwrap().to_owned()));
    }
    if wants("{iid}") || wants("{invitation_token}") {
        let invitation = app
            .post(&format!("/api/organizations/{org}/invitations/"))
            .key(&admin)
            .json(&json!({"email": format!("invited{n}@elsewhere.test"), "role": 1}))
            .send()
            .await
            .made();
        names.push(("{iid}", invitation["id"].as_str().unwrap().to_owned()));
        names.push((
            "{invitation_token}",
            invitation["accept_token"].as_str().unwrap().to_owned(),
        ));
    }
    if wants("{scim_user}") {
        let user = app
            .post("/scim/v2/Users")
            .header(
                "authorization",
                &format!("Bearer {}", key_of(&keys, "sa_admin")),
            )
            .raw(
                "application/scim+json",
                json!({"userName": format!("cy{n}@acme.test")}).to_string(),
            )
            .send()
            .await
            .made();
        names.push(("{scim_user}", user["id"].as_str().unwrap().to_owned()));
        names.push(("cy@acme.test", format!("cy{n}@acme.test")));
    }
    Cell { keys, names }
}

fn key_of<'a>(keys: &'a [(&'static str, String)], who: &str) -> &'a str {
    &keys.iter().find(|(name, _)| *name == who).unwrap().1
}

fn fill(names: &[(&'static str, String)], text: &str) -> String {
    names
        .iter()
        .fold(text.to_owned(), |t, (name, value)| t.replace(name, value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_every_caller_every_method() {
    // Thousands of set-up requests under a handful of keys: no rate limit here.
    let app = TestApp::with_config(HttpConfig {
        rate_limit: 0,
        ..HttpConfig::default()
    })
    .await;
    let (_, revoked) = app.user("revoked@matrix.test").await;
    app.post("/api/me/key/").key(&revoked).send().await.made();
    let shared = Shared { revoked };
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (row, (method, path, body, statuses)) in MATRIX.iter().enumerate() {
        let expected: Vec<u16> = statuses.split(' ').map(|s| s.parse().unwrap()).collect();
        assert_eq!(expected.len(), CALLERS.len(), "row {path}");
        // A row's cells are independent (each its own team): run them together.
        let runs = CALLERS.iter().enumerate().map(|(column, caller)| {
            let (app, shared, expected) = (&app, &shared, &expected);
            async move {
                let n = row * CALLERS.len() + column;
                let cell = cell(app, shared, n, path, body).await;
                let url = fill(&cell.names, path);
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                let mut request = app.request(method.clone(), &url);
                if *caller != "none" {
                    let key = key_of(&cell.keys, caller);
                    request = request.header("authorization", &format!("Bearer {key}"));
                }
                if *body != "-" {
                    let content_type = if path.starts_with("/scim/") {
                        "application/scim+json"
                    } else {
                        "application/json"
                    };
                    request = request.raw(content_type, fill(&cell.names, body));
                }
                let res = request.send().await;
                (res.status != StatusCode::from_u16(expected[column]).unwrap()).then(|| {
                    format!(
                        "{method} {path} as {caller}: {} (expected {}) {}",
                        res.status.as_u16(),
                        expected[column],
                        String::from_utf8_lossy(&res.bytes[..res.bytes.len().min(160)])
                    )
                })
            }
        });
        for outcome in futures_util::future::join_all(runs).await {
            cells += 1;
            wrong.extend(outcome);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!(
        "authorization matrix: {cells} cells, {} endpoints x {} callers",
        MATRIX.len(),
        CALLERS.len()
    );
}
