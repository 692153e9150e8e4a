//! The `roster` binary: operator commands print secrets alone on stdout, and `serve` starts on
//! an empty directory, hands over the first operator key, and stops cleanly on SIGTERM.

use roster_core::Origin;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn roster(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env(
            "ROSTER_DATABASE_URL",
            format!("sqlite://{}", dir.join("roster.db").display()),
        )
        .env_remove("ROSTER_LISTEN")
        .output()
        .expect("run roster")
}

/// A folder with a database made by `roster init` (commands other than `serve` and `init`
/// create none).
pub fn initialized() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let done = roster(dir.path(), &["init"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    dir
}

pub fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

pub fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One HTTP/1.1 request over a plain socket; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("localhost", port)).expect("connect");
    let auth = key
        .map(|k| format!("Authorization: Token {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("status");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn operator_create_prints_only_a_new_key() {
    let dir = initialized();
    let first = stdout(&roster(
        dir.path(),
        &[
            "operator",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ],
    ));
    let second = stdout(&roster(
        dir.path(),
        &["operator", "create", "--email", "OPS@example.com"],
    ));
    for out in [&first, &second] {
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(is_key(out.trim_end()), "{out:?}");
    }
    assert_ne!(
        first, second,
        "each call issues a new key for the same person"
    );
    let bad = roster(
        dir.path(),
        &["operator", "create", "--email", "not-an-email"],
    );
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    // The first operator, whose key was lost, gets a new one the same way.
    let first_operator = roster(
        dir.path(),
        &["operator", "create", "--email", "operator@roster.localhost"],
    );
    assert!(is_key(stdout(&first_operator).trim_end()));
}

#[test]
fn org_create_and_member_add() {
    let dir = initialized();
    let out = stdout(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "admin@acme.com"],
    ));
    assert_eq!(out.lines().count(), 1);
    let created: serde_json::Value = serde_json::from_str(&out).expect("one JSON line");
    let org = created["id"].as_str().expect("id").to_owned();
    assert!(is_key(created["key"].as_str().expect("key")));

    let quiet = stdout(&roster(
        dir.path(),
        &["member", "add", &org, "bob@acme.com", "--name", "Bob"],
    ));
    assert_eq!(quiet, "", "no key asked, nothing on stdout");
    let key = stdout(&roster(
        dir.path(),
        &[
            "member",
            "add",
            &org,
            "carol@acme.com",
            "--role",
            "5",
            "--key",
        ],
    ));
    assert!(is_key(key.trim_end()));

    let missing = roster(
        dir.path(),
        &[
            "member",
            "add",
            &uuid::Uuid::new_v4().to_string(),
            "x@acme.com",
        ],
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no organization"));
    let bad_role = roster(
        dir.path(),
        &["member", "add", &org, "x@acme.com", "--role", "6"],
    );
    assert!(!bad_role.status.success());
}

#[test]
fn serve_starts_on_an_empty_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_roster"))
        // A host name, not only an address, is a place to listen.
        .args(["serve", "--listen", &format!("localhost:{port}")])
        .current_dir(dir.path())
        .env_remove("ROSTER_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while TcpStream::connect(("localhost", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = http(port, "GET", "/api/health/", None);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    // The first start created the default database and handed over an operator key.
    assert!(dir.path().join("roster.db").exists());
    let key_file = dir.path().join("roster-operator.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&key_file).unwrap();
    let (status, me) = http(port, "GET", "/api/me/", Some(key.trim()));
    assert_eq!(status, 200);
    assert!(me.contains("\"is_operator\":true"), "{me}");

    // Operator commands work on the database while the server runs.
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["operator", "create", "--email", "second@example.com"])
        .current_dir(dir.path())
        .env_remove("ROSTER_DATABASE_URL")
        .output()
        .unwrap();
    let second = stdout(&out);
    assert_eq!(http(port, "GET", "/api/me/", Some(second.trim())).0, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts what the import made, through the store the server uses.
async fn team_counts(dir: &Path, org: &str) -> (u64, u64, Vec<u64>) {
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let store = roster_server::storage::open(&url, &Default::default())
        .await
        .unwrap();
    let org: uuid::Uuid = org.parse().unwrap();
    let members = store
        .count_memberships(org, &Default::default())
        .await
        .unwrap();
    let window = roster_core::store::Window::Page {
        offset: 0,
        limit: 100,
    };
    let groups = store.list_groups(org, window).await.unwrap();
    let sizes = groups.iter().map(|g| g.num_members).collect();
    (members, groups.len() as u64, sizes)
}

#[tokio::test]
async fn import_members_from_csv() {
    let dir = initialized();
    let out = stdout(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "admin@acme.com"],
    ));
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let org = created["id"].as_str().unwrap().to_owned();
    let csv = dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        "email,name,role,groups\n\
         ann@acme.com,Ann,manager,Agents;Leads\n\
         \"bob@acme.com\",\"Bob, Jr.\",1,Agents\n\
         cy@acme.com,,,\n\
         admin@acme.com,,,Leads\n",
    )
    .unwrap();
    let csv_arg = csv.to_str().unwrap();

    let dry = stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &org, csv_arg, "--dry-run"],
    ));
    assert!(
        dry.contains("would create 3 people, add 3 members"),
        "{dry}"
    );
    assert!(
        dry.contains("create 2 groups, add 4 group memberships"),
        "{dry}"
    );
    assert_eq!(
        team_counts(dir.path(), &org).await,
        (1, 0, vec![]),
        "a dry run changes nothing"
    );

    let done = stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &org, csv_arg],
    ));
    assert!(done.starts_with("4 rows: did create 3 people"), "{done}");
    assert_eq!(team_counts(dir.path(), &org).await, (4, 2, vec![2, 2]));
    let again = stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &org, csv_arg],
    ));
    assert!(again.contains("create 0 people, add 0 members to the team, change 0 roles, create 0 groups, add 0 group"), "{again}");

    std::fs::write(&csv, "email,role\nnew@acme.com,1\nbroken,1\n").unwrap();
    let bad = roster(dir.path(), &["import", "members", "--org", &org, csv_arg]);
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("line 3") && message.contains("nothing was imported"),
        "{message}"
    );
    assert_eq!(team_counts(dir.path(), &org).await.0, 4, "nothing changed");

    // A quote left open in the last column would take the rest of the file as one cell.
    let mut open_quote = String::from("email,name,role,groups\nz1@acme.com,Z,member,\"Night\n");
    for i in 2..50 {
        open_quote.push_str(&format!("z{i}@acme.com,Z,member,Sales\n"));
    }
    std::fs::write(&csv, open_quote).unwrap();
    let swallowed = roster(dir.path(), &["import", "members", "--org", &org, csv_arg]);
    let message = String::from_utf8_lossy(&swallowed.stderr);
    assert!(
        !swallowed.status.success() && message.contains("line 2") && message.contains("left open"),
        "{message}"
    );
    assert_eq!(team_counts(dir.path(), &org).await.0, 4, "nothing changed");

    // Two columns of one name: neither is guessed at.
    std::fs::write(&csv, "email,name,email\nq1@acme.com,Q,q2@acme.com\n").unwrap();
    let twice = roster(dir.path(), &["import", "members", "--org", &org, csv_arg]);
    let message = String::from_utf8_lossy(&twice.stderr);
    assert!(
        !twice.status.success() && message.contains("twice"),
        "{message}"
    );
    // Semicolons, as spreadsheets in many locales write CSV, are read as the console reads them.
    std::fs::write(
        &csv,
        "\u{feff}Email;Name;Groups\nsemi@acme.com;Semi Colon;Agents\n",
    )
    .unwrap();
    let semi = stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &org, csv_arg],
    ));
    assert!(semi.starts_with("1 rows: did create 1 people"), "{semi}");
    assert_eq!(team_counts(dir.path(), &org).await, (5, 2, vec![3, 2]));

    std::fs::write(&csv, "email,role\nadmin@acme.com,member\n").unwrap();
    let demoted = roster(dir.path(), &["import", "members", "--org", &org, csv_arg]);
    assert!(
        !demoted.status.success(),
        "the import may not leave the team without an admin"
    );
}

/// The memberships of `org`, as (email, role), through the store the server uses.
async fn roles(dir: &Path, org: &str) -> Vec<(String, i64)> {
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let store = roster_server::storage::open(&url, &Default::default())
        .await
        .unwrap();
    let window = roster_core::store::Window::Page {
        offset: 0,
        limit: 100,
    };
    let org = org.parse().unwrap();
    let list = store
        .list_memberships(org, &Default::default(), window)
        .await
        .unwrap();
    list.into_iter()
        .map(|m| (m.user.email, m.role.as_i64()))
        .collect()
}

/// The command line makes changes through the same rules as the API: the same refusals,
/// a non-zero exit, and nothing written.
#[tokio::test]
async fn member_add_is_refused_what_the_api_refuses() {
    let dir = initialized();
    let created = stdout(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "admin@acme.com"],
    ));
    let created: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
    let org = created["id"].as_str().unwrap().to_owned();
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let store = roster_server::storage::open(&url, &Default::default())
        .await
        .unwrap();
    let now = roster_core::Timestamp::from_micros(1_795_800_000_000_000);
    let robot = store
        .create_account(
            org.parse().unwrap(),
            roster_core::store::AccountKind::ServiceAccount,
            "robot",
            roster_core::Role::Admin,
            &roster_core::keys::issue().hash,
            None,
            now,
            &Origin::cli(),
        )
        .await
        .unwrap();
    drop(store);
    let before = roles(dir.path(), &org).await;
    let robot_email = before
        .iter()
        .find(|(email, _)| email != "admin@acme.com")
        .map(|(email, _)| email.clone())
        .unwrap();
    assert_eq!(before.len(), 2, "{before:?} ({})", robot.id);

    // The only admin who counts (the service account does not) demoted.
    let out = roster(
        dir.path(),
        &["member", "add", &org, "admin@acme.com", "--role", "1"],
    );
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("last admin"), "{said}");

    // A service account's role changed.
    let out = roster(
        dir.path(),
        &["member", "add", &org, &robot_email, "--role", "1"],
    );
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot be changed"), "{said}");

    // A team that does not exist: no person is left behind.
    let ghost = "00000000-0000-0000-0000-000000000000";
    let out = roster(
        dir.path(),
        &["member", "add", ghost, "ghost@acme.com", "--key"],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no key is printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no organization"));
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let ghosts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email LIKE 'ghost%'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(ghosts, 0, "the failed command left a person behind");

    assert_eq!(roles(dir.path(), &org).await, before, "nothing was written");

    // A refused change renames nobody: the name goes with the change or not at all.
    let out = roster(
        dir.path(),
        &[
            "member",
            "add",
            &org,
            "admin@acme.com",
            "--role",
            "1",
            "--name",
            "Renamed",
        ],
    );
    assert!(!out.status.success());
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users ORDER BY email")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(!names.iter().any(|n| n == "Renamed"), "{names:?}");

    // One team's service account never joins another team, whatever it is given to do there.
    let other = stdout(&roster(
        dir.path(),
        &["org", "create", "Other", "--admin-email", "admin@other.com"],
    ));
    let other: serde_json::Value = serde_json::from_str(other.trim()).unwrap();
    let other = other["id"].as_str().unwrap().to_owned();
    let others = roles(dir.path(), &other).await;
    for args in [
        vec!["member", "add", &other, &robot_email, "--role", "4"],
        vec![
            "member",
            "add",
            &other,
            &robot_email,
            "--name",
            "Renamed",
            "--key",
        ],
        vec!["org", "create", "Third", "--admin-email", &robot_email],
    ] {
        let out = roster(dir.path(), &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: no key is printed");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("never added to a team as a person"), "{said}");
    }
    let csv = dir.path().join("accounts.csv");
    std::fs::write(&csv, format!("email,role\n{robot_email},admin\n")).unwrap();
    let csv_arg = csv.to_str().unwrap();
    let out = roster(dir.path(), &["import", "members", "--org", &other, csv_arg]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("never added to a team as a person"), "{said}");
    // Nor may a team verify Roster's own domains, to hold memberships for its accounts.
    let out = roster(
        dir.path(),
        &["domain", "add", &other, "service-account.roster.invalid"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Roster's own"));
    assert_eq!(
        roles(dir.path(), &other).await,
        others,
        "nothing was written"
    );
    let teams: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(teams, 2);
    assert!(names.contains(&"robot".to_owned()), "{names:?}");
    let robot_name: String = sqlx::query_scalar("SELECT name FROM users WHERE email = $1")
        .bind(&robot_email)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(robot_name, "robot");
}
