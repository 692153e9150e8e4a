//! Two `roster serve` nodes on one PostgreSQL database, 32 concurrent clients spread over
//! both: no 5xx, no duplicate membership, no lost update, and a final state that a serial order
//! of the accepted requests explains. Runs when ROSTER_TEST_DATABASE_URL names a PostgreSQL
//! server (as in CI); otherwise it says it is skipped.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_node(database: &str, dir: &Path, n: usize) -> (Node, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_DATABASE_URL", database)
        .env(
            "ROSTER_BOOTSTRAP_KEY_FILE",
            dir.join(format!("operator-{n}.key")),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !crate::support::serves(port) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node {n} did not start"
        );
        thread::sleep(Duration::from_millis(50));
    }
    (Node(child), port)
}

/// One HTTP/1.0 request (so the answer is never chunked); returns (status, body as JSON).
fn call(
    port: u16,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Token {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let text = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (
        status,
        serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
    )
}

fn roster(database: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env("ROSTER_DATABASE_URL", database)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn two_nodes_and_32_clients_on_one_postgres_database() {
    let Some(server) = crate::support::postgres_server("two_nodes_and_32_clients") else {
        return;
    };
    let database = roster_postgres::testing::fresh_database(&server)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_a, port_a) = start_node(&database, dir.path(), 0);
    let (_b, port_b) = start_node(&database, dir.path(), 1);
    let keys = ["operator-0.key", "operator-1.key"].map(|f| dir.path().join(f).exists());
    assert_eq!(
        keys.iter().filter(|k| **k).count(),
        1,
        "nodes starting together make one operator"
    );
    let ports = [port_a, port_b];
    // Role changes act as the operator: the admins they flip include the key used elsewhere.
    let operator = ["operator-0.key", "operator-1.key"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.path().join(f)).ok())
        .unwrap()
        .trim()
        .to_owned();

    let created: serde_json::Value = serde_json::from_str(&roster(
        &database,
        &[
            "org",
            "create",
            "Multi",
            "--admin-email",
            "admin0@multi.test",
        ],
    ))
    .unwrap();
    let org = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();
    roster(&database, &["domain", "add", &org, "multi.test"]);
    for i in 1..4 {
        roster(
            &database,
            &[
                "member",
                "add",
                &org,
                &format!("admin{i}@multi.test"),
                "--role",
                "2",
            ],
        );
    }
    let (status, group) = call(
        port_a,
        "POST",
        &format!("/api/organizations/{org}/groups/"),
        &key,
        Some(&serde_json::json!({"name": "Agents"})),
    );
    assert_eq!(status, 201);
    let members = format!("/api/groups/{}/memberships/", group["id"].as_str().unwrap());
    let (_, admins) = call(
        port_b,
        "GET",
        &format!("/api/organizations/{org}/memberships/?role=2"),
        &key,
        None,
    );
    let admin_ids: Vec<i64> = admins
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(admin_ids.len(), 4);

    let put_sets: Vec<BTreeSet<String>> = (0..16)
        .map(|c| {
            (0..20)
                .map(|j| format!("put{c:02}-{j:02}@multi.test"))
                .collect()
        })
        .collect();
    let mut clients = Vec::new();
    for c in 0..32usize {
        let (key, members, port) = (key.clone(), members.clone(), ports[c % 2]);
        let operator = operator.clone();
        let set = put_sets.get(c).cloned();
        let admin_id = admin_ids[c % 4];
        clients.push(thread::spawn(move || {
            let mut statuses = Vec::new();
            let mut outcome = None;
            match c {
                0..16 => {
                    for _ in 0..3 {
                        statuses.push(
                            call(
                                port,
                                "PUT",
                                &members,
                                &key,
                                Some(&serde_json::json!(set.clone().unwrap())),
                            )
                            .0,
                        );
                    }
                }
                16..24 => {
                    let mine: Vec<String> = (0..10)
                        .map(|j| format!("post{c}-{j:02}@multi.test"))
                        .chain(["shared@multi.test".to_owned()])
                        .collect();
                    let (status, added) =
                        call(port, "POST", &members, &key, Some(&serde_json::json!(mine)));
                    statuses.push(status);
                    let first = added
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|m| m["email"] == mine[0].as_str())
                        .unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    statuses
                        .push(call(port, "DELETE", &format!("{members}{first}/"), &key, None).0);
                    outcome = Some((mine, first));
                }
                _ => {
                    for round in 0..5 {
                        let role = if round % 2 == 0 { 5 } else { 2 };
                        let (status, _) = call(
                            port,
                            "PATCH",
                            &format!("/api/memberships/{admin_id}/"),
                            &operator,
                            Some(&serde_json::json!({"role": role})),
                        );
                        assert!(
                            status == 200 || status == 400,
                            "role change answered {status}"
                        );
                        statuses.push(status);
                    }
                }
            }
            (c, statuses, outcome)
        }));
    }
    let mut posted = HashMap::new();
    for client in clients {
        let (c, statuses, outcome) = client.join().unwrap();
        assert!(
            statuses.iter().all(|s| *s < 500),
            "client {c} got {statuses:?}"
        );
        if let Some(o) = outcome {
            posted.insert(c, o);
        }
    }

    let (_, list) = call(port_a, "GET", &members, &key, None);
    let emails: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<String> = emails.iter().cloned().collect();
    assert_eq!(distinct.len(), emails.len(), "no duplicate membership");
    let puts: Vec<_> = put_sets.iter().filter(|s| s.is_subset(&distinct)).collect();
    assert!(puts.len() <= 1, "at most one PUT's set survives whole");
    let survivors: BTreeSet<String> = distinct
        .iter()
        .filter(|e| e.starts_with("put"))
        .cloned()
        .collect();
    assert!(
        survivors.is_empty() || puts.first().is_some_and(|s| **s == survivors),
        "PUT members come from one whole PUT: {survivors:?}"
    );
    // Each POST after the last PUT is there whole, less what its client deleted.
    for (mine, _) in posted.values() {
        let present: Vec<&String> = mine[1..10]
            .iter()
            .filter(|e| distinct.contains(*e))
            .collect();
        assert!(
            present.is_empty() || present.len() == 9,
            "a POST applied in part: {present:?}"
        );
        assert!(!distinct.contains(&mine[0]), "a deleted member is gone");
    }
    let (_, admins) = call(
        port_b,
        "GET",
        &format!("/api/organizations/{org}/memberships/?role=2"),
        &key,
        None,
    );
    assert!(
        !admins.as_array().unwrap().is_empty(),
        "the team kept an admin"
    );
}
