//! The change history: every change writes its event in its own transaction, through every
//! face (team API, SCIM, command line, invitation acceptance); the audit endpoints obey the
//! team API's rules and filters; a refused change and a dry run write none.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// The team's events, newest first, as its admin reads them (the whole list, version 1.0).
async fn events(app: &TestApp, org: Uuid, key: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/api/audit/organizations/{org}/"))
        .key(key)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    res.json().as_array().expect("a list").clone()
}

fn emails(people: &Value) -> Vec<String> {
    people
        .as_array()
        .expect("a list of people")
        .iter()
        .map(|p| p["email"].as_str().expect("email").to_owned())
        .collect()
}

#[tokio::test]
async fn api_changes_are_recorded_newest_first_with_actor_face_and_request_id() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for who in ["ann", "bob", "cy"] {
        app.member(org, &format!("{who}@acme.test"), Role::Member)
            .await;
    }
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;
    let renamed = app
        .patch(&format!("/api/groups/{group}/"))
        .key(&admin)
        .json(&json!({"name": "Tier 1"}))
        .send()
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.detail());
    let path = format!("/api/groups/{group}/memberships/");
    let first = json!([{"email": "ann@acme.test"}, {"email": "bob@acme.test"}]);
    let put = app.put(&path).key(&admin).json(&first).send().await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.detail());
    let second = json!([{"email": "bob@acme.test"}, {"email": "cy@acme.test"}]);
    let put = app.put(&path).key(&admin).json(&second).send().await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.detail());
    let request_id = put.header("x-request-id").expect("request id").to_owned();
    // Sending the group as it is, or adding who is already in it, changes nobody: no event.
    let again = app.put(&path).key(&admin).json(&second).send().await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.detail());
    let cy = json!([{"email": "cy@acme.test"}]);
    let added = app.post(&path).key(&admin).json(&cy).send().await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.detail());

    let all = events(&app, org, &admin).await;
    let types: Vec<&str> = all
        .iter()
        .map(|e| e["action_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[..4],
        [
            "group_membership.replaced",
            "group_membership.replaced",
            "group.updated",
            "group.created"
        ]
    );
    // The command line made the members: no actor.
    assert!(types.contains(&"membership.created"));
    assert!(types.contains(&"organization.created"));
    let cli = all
        .iter()
        .find(|e| e["action_type"] == "membership.created")
        .unwrap();
    assert_eq!(cli["face"], "cli");
    assert_eq!(cli["actor"], Value::Null);

    let last = &all[0];
    assert_eq!(last["face"], "api");
    assert_eq!(last["request_id"], request_id.as_str());
    assert_eq!(last["actor"]["email"], "admin@acme.example.com");
    assert_eq!(last["actor"]["service_account"], false);
    assert_eq!(last["target_object"]["content_type"], "organization");
    assert_eq!(last["target_object"]["id"], org.to_string());
    assert_eq!(last["target_object"]["label"], "Acme");
    assert_eq!(last["action_object"]["content_type"], "group");
    assert_eq!(last["action_object"]["id"], group.as_str());
    assert_eq!(last["action_object"]["label"], "Tier 1");
    assert_eq!(emails(&last["data"]["added"]), ["cy@acme.test"]);
    assert_eq!(emails(&last["data"]["removed"]), ["ann@acme.test"]);
    assert_eq!(last["data"]["added"][0], json!({"email": "cy@acme.test"}));
    assert_eq!(
        all[2]["data"],
        json!({"name": {"from": "Agents", "to": "Tier 1"}})
    );
    Uuid::parse_str(last["id"].as_str().unwrap()).expect("a uuid id");
    assert!(last["timestamp"].as_str().unwrap().ends_with('Z'));

    // The group's own history holds its events only.
    let res = app
        .get(&format!("/api/audit/groups/{group}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let of_group: Vec<String> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        of_group,
        [
            "group_membership.replaced",
            "group_membership.replaced",
            "group.updated",
            "group.created"
        ]
    );
}

#[tokio::test]
async fn a_refused_change_and_a_dry_run_write_no_event_and_the_real_change_names_the_dry_runs_people()
 {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for who in ["ann", "bob"] {
        app.member(org, &format!("{who}@acme.test"), Role::Member)
            .await;
    }
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/memberships/");
    let before = events(&app, org, &admin).await.len();

    // Refused: one address is nobody's and on no verified domain. Nothing changes.
    let bad = json!([{"email": "ann@acme.test"}, {"email": "x@elsewhere.test"}]);
    let res = app.put(&path).key(&admin).json(&bad).send().await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // A group that exists in another team cannot be renamed onto: a conflict, no event.
    let taken = app
        .post(&format!("/api/organizations/{org}/groups/"))
        .key(&admin)
        .json(&json!({"name": "G"}))
        .send()
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    let payload = json!([{"email": "ann@acme.test"}, {"email": "bob@acme.test"}]);
    let dry = app
        .put(&format!("{path}?dry_run=true"))
        .key(&admin)
        .json(&payload)
        .send()
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.detail());
    assert_eq!(events(&app, org, &admin).await.len(), before);

    let real = app.put(&path).key(&admin).json(&payload).send().await;
    assert_eq!(real.status, StatusCode::OK);
    let all = events(&app, org, &admin).await;
    assert_eq!(all.len(), before + 1);
    let mut named = emails(&dry.json()["added"]);
    named.sort();
    assert_eq!(emails(&all[0]["data"]["added"]), named);
    assert_eq!(emails(&all[0]["data"]["removed"]), Vec::<String>::new());

    // Adding people already in the group changes nothing and records nothing.
    let again = app.post(&path).key(&admin).json(&payload).send().await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.detail());
    assert_eq!(events(&app, org, &admin).await.len(), before + 1);
}

#[tokio::test]
async fn the_audit_endpoints_obey_the_team_rules() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (other, stranger) = app.team("Other").await;
    let (_, manager) = app.member(org, "manager@acme.test", Role::Manager).await;
    let (_, member) = app.member(org, "member@acme.test", Role::Member).await;
    let operator = app.operator().await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let paths = [
        format!("/api/audit/organizations/{org}/"),
        format!("/api/audit/groups/{group}/"),
    ];
    for path in &paths {
        for (key, status) in [
            (&admin, StatusCode::OK),
            (&operator, StatusCode::OK),
            (&manager, StatusCode::FORBIDDEN),
            (&member, StatusCode::FORBIDDEN),
            // Another team's admin learns nothing of this team: 404, as everywhere.
            (&stranger, StatusCode::NOT_FOUND),
        ] {
            let res = app.get(path).key(key).send().await;
            assert_eq!(res.status, status, "{path}: {}", res.detail());
        }
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // The stranger's own team's history does not show this team's events.
    let theirs = events(&app, other, &stranger).await;
    assert!(
        theirs
            .iter()
            .all(|e| e["target_object"]["id"] == other.to_string())
    );
    for path in [
        "/api/audit/organizations/not-a-uuid/".to_owned(),
        format!("/api/audit/groups/{}/", Uuid::new_v4()),
        format!("/api/audit/organizations/{}/", Uuid::new_v4()),
    ] {
        let res = app.get(&path).key(&operator).send().await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_history_filters_and_pages() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (ann, _) = app.member(org, "ann@acme.test", Role::Member).await;
    let groups_path = format!("/api/organizations/{org}/groups/");
    let mut groups = Vec::new();
    for name in ["A", "B", "C"] {
        groups.push(
            app.created(&groups_path, &admin, json!({"name": name}))
                .await,
        );
    }
    let role = app
        .patch(&format!("/api/memberships/{ann}/"))
        .key(&admin)
        .json(&json!({"role": 3}))
        .send()
        .await;
    assert_eq!(role.status, StatusCode::OK, "{}", role.detail());
    let base = format!("/api/audit/organizations/{org}/");
    let get = |query: String| {
        let app = &app;
        let (base, admin) = (base.clone(), admin.clone());
        async move {
            let res = app.get(&format!("{base}?{query}")).key(&admin).send().await;
            assert_eq!(res.status, StatusCode::OK, "{query}: {}", res.detail());
            res.json().as_array().unwrap().clone()
        }
    };
    let created = get("action_type=group.created".into()).await;
    assert_eq!(created.len(), 3);
    assert_eq!(created[0]["action_object"]["label"], "C");
    let about_b = get(format!("object={}", groups[1])).await;
    assert_eq!(about_b.len(), 1);
    assert_eq!(about_b[0]["action_object"]["label"], "B");
    let memberships = get("content_type=membership".into()).await;
    let kinds: Vec<&str> = memberships
        .iter()
        .map(|e| e["action_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["membership.updated", "membership.created"]);
    assert_eq!(
        memberships[0]["data"],
        json!({"role": {"from": 1, "to": 3}})
    );
    assert_eq!(memberships[0]["action_object"]["id"], ann.to_string());
    let admin_id = created[0]["actor"]["id"].as_str().unwrap().to_owned();
    assert_eq!(get(format!("actor={admin_id}")).await.len(), 5);
    let all = get(String::new()).await;
    let newest = all[0]["timestamp"].as_str().unwrap().to_owned();
    assert_eq!(get(format!("since={newest}")).await.len(), 1);
    assert_eq!(get(format!("until={newest}")).await.len(), all.len() - 1);
    assert!(get("since=2999-01-01T00:00:00Z".into()).await.is_empty());

    // Pages under 2.0, newest first, with the list headers.
    let page = app
        .get(&format!("{base}?page_size=2&page=2"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("x-total-count"),
        Some(all.len().to_string().as_str())
    );
    assert_eq!(page.json()[0]["id"], all[2]["id"]);
    let past = app
        .get(&format!("{base}?page=99"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(past.status, StatusCode::NOT_FOUND);

    for (query, field) in [
        ("content_type=spaceship", "content_type"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("actor=42", "actor"),
    ] {
        let res = app.get(&format!("{base}?{query}")).key(&admin).send().await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(res.json()[field].is_array(), "{query}: {}", res.detail());
    }
}

#[tokio::test]
async fn scim_changes_are_recorded_as_the_service_account_through_scim() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let token = app.service_account(org, &admin, 2).await;
    let created = app
        .scim(
            &token,
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dana@acme.test",
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.detail());
    let user = created.json()["id"].as_str().unwrap().to_owned();
    let group = app
        .scim(
            &token,
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Support",
                "members": [{"value": user}],
            })),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.detail());
    let all = events(&app, org, &admin).await;
    let types: Vec<&str> = all[..3]
        .iter()
        .map(|e| e["action_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "group_membership.changed",
            "group.created",
            "membership.created"
        ]
    );
    for event in &all[..3] {
        assert_eq!(event["face"], "scim");
        assert_eq!(event["actor"]["service_account"], true);
    }
    assert_eq!(emails(&all[0]["data"]["added"]), ["dana@acme.test"]);
    assert_eq!(
        all[0]["data"]["added"],
        json!([{"email": "dana@acme.test"}])
    );
}

#[tokio::test]
async fn an_accepted_invitation_is_recorded_as_the_person_who_joined() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let invitation = app.invite(org, &admin, "eve@acme.test", 5).await;
    let res = app.accept(&invitation).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    let all = events(&app, org, &admin).await;
    assert_eq!(all[0]["action_type"], "invitation.accepted");
    assert_eq!(all[0]["actor"]["email"], "eve@acme.test");
    assert_eq!(all[0]["face"], "api");
    assert_eq!(all[1]["action_type"], "invitation.created");
    assert_eq!(all[1]["actor"]["email"], "admin@acme.example.com");
    assert_eq!(all[1]["data"]["email"], "eve@acme.test");
}

#[tokio::test]
async fn a_replace_of_a_hundred_thousand_writes_one_event_with_the_exact_difference() {
    const N: usize = 100_000;
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "bulk.test").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Everyone"}),
        )
        .await;
    let path = format!("/api/groups/{group}/memberships/");
    let people = |from: usize| -> Value {
        (from..from + N)
            .map(|i| json!({"email": format!("p{i:06}@bulk.test")}))
            .collect()
    };
    let first = app.put(&path).key(&admin).json(&people(0)).send().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.detail());
    let before = events(&app, org, &admin).await.len();
    // Half stay, half go, half are new.
    let second = app.put(&path).key(&admin).json(&people(N / 2)).send().await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.detail());
    let all = events(&app, org, &admin).await;
    assert_eq!(all.len(), before + 1, "one event for the whole replace");
    let data = &all[0]["data"];
    let added = emails(&data["added"]);
    let removed = emails(&data["removed"]);
    let expected_added: Vec<String> = (N..N + N / 2)
        .map(|i| format!("p{i:06}@bulk.test"))
        .collect();
    let expected_removed: Vec<String> = (0..N / 2).map(|i| format!("p{i:06}@bulk.test")).collect();
    assert_eq!(added, expected_added);
    assert_eq!(removed, expected_removed);
}

#[test]
fn the_command_line_records_its_changes_without_an_actor_and_exports_the_history() {
    use crate::cli::{initialized, roster, stdout};
    let dir = initialized();
    let made = stdout(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    let made: Value = serde_json::from_str(made.trim()).unwrap();
    let acme = made["id"].as_str().unwrap().to_owned();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "email,role,groups\nann@acme.com,manager,Sales\n").unwrap();
    stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &acme, csv.to_str().unwrap()],
    ));
    let out = stdout(&roster(dir.path(), &["audit", "export", "--org", "Acme"]));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|e| e["action_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["membership.imported", "organization.created"]);
    for event in &lines {
        assert_eq!(event["face"], "cli");
        assert_eq!(event["actor"], Value::Null);
        assert_eq!(event["target_object"]["id"], acme.as_str());
    }
    assert_eq!(lines[0]["data"]["members_added"], 1);
    assert_eq!(lines[0]["data"]["groups_created"], 1);

    let later = stdout(&roster(
        dir.path(),
        &[
            "audit",
            "export",
            "--org",
            &acme,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
    ));
    assert_eq!(later, "");
    let bad = roster(
        dir.path(),
        &["audit", "export", "--org", &acme, "--until", "tomorrow"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    // A mistyped id: no team and no history is an error, not an empty export.
    let none = roster(
        dir.path(),
        &[
            "audit",
            "export",
            "--org",
            "00000000-0000-0000-0000-000000000001",
        ],
    );
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no organization"));
}

#[tokio::test]
async fn retention_forgets_the_oldest_events_in_batches() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for name in ["A", "B", "C"] {
        app.created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": name}),
        )
        .await;
    }
    let total = events(&app, org, &admin).await.len();
    assert_eq!(total, 4);
    let now = roster_core::Clock::now(&roster_core::SystemClock);
    let future = roster_core::Timestamp::from_micros(now.as_micros() + 86_400_000_000);
    let forgot = app.store.prune_audit_events(future, 3).await.unwrap();
    assert_eq!(forgot, 3);
    let left = events(&app, org, &admin).await;
    assert_eq!(left.len(), 1, "the newest stays");
    assert_eq!(left[0]["action_object"]["label"], "C");
    let past = roster_core::Timestamp::from_micros(0);
    assert_eq!(app.store.prune_audit_events(past, 1000).await.unwrap(), 0);
}

#[tokio::test]
async fn removing_one_group_member_is_recorded_and_another_group_s_membership_is_not_found() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.member(org, "ann@acme.test", Role::Member).await;
    let groups = format!("/api/organizations/{org}/groups/");
    let (g, other) = (
        app.created(&groups, &admin, json!({"name": "G"})).await,
        app.created(&groups, &admin, json!({"name": "H"})).await,
    );
    let put = app
        .put(&format!("/api/groups/{g}/memberships/"))
        .key(&admin)
        .json(&json!([{"email": "ann@acme.test"}]))
        .send()
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let membership = put.json()[0]["id"].as_str().unwrap().to_owned();
    let before = events(&app, org, &admin).await.len();
    // Named under another group, it is not found, and nothing is recorded.
    let wrong = app
        .delete(&format!("/api/groups/{other}/memberships/{membership}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_eq!(events(&app, org, &admin).await.len(), before);
    let gone = app
        .delete(&format!("/api/groups/{g}/memberships/{membership}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let all = events(&app, org, &admin).await;
    assert_eq!(all.len(), before + 1);
    assert_eq!(all[0]["action_type"], "group_membership.removed");
    assert_eq!(all[0]["action_object"]["id"], g.as_str());
    assert_eq!(emails(&all[0]["data"]["removed"]), ["ann@acme.test"]);
}
