//! The operator's command line as a new user meets it: only `serve` and `init` create a
//! database, bad URLs and settings are named, teams go by name, roles by name, keys are
//! revoked, domains added idempotently, members exported in the import format, and a live
//! database backed up.

use crate::cli::{initialized, is_key, roster, stdout};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `roster` with exactly these environment settings (and no inherited `ROSTER_*`).
fn run_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("ROSTER_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied()).output().expect("run roster")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn refused(out: &Output, status: i32) -> String {
    assert_eq!(out.status.code(), Some(status), "{}", stderr(out));
    assert!(out.stdout.is_empty(), "nothing on stdout when refused");
    stderr(out)
}

#[test]
fn only_serve_and_init_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[
            "member",
            "add",
            "00000000-0000-0000-0000-000000000001",
            "a@x.com",
        ][..],
        &["operator", "create", "--email", "ops@x.com"],
        &["org", "create", "Acme", "--admin-email", "a@x.com"],
        &["key", "revoke", "ops@x.com"],
        &["export", "members", "--org", "Acme"],
        &["backup", "copy.db"],
    ] {
        let said = refused(&run_with(dir.path(), args, &[]), 1);
        assert!(
            said.contains("no database at roster.db"),
            "{args:?}: {said}"
        );
        assert!(said.contains("roster init"), "{said}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );

    let init = run_with(dir.path(), &["init"], &[]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(
        init.stdout.is_empty(),
        "the key goes to its file, not to stdout"
    );
    let key_file = dir.path().join("roster-operator.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(is_key(key.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second init has nothing to do, and leaves the key file alone.
    let again = run_with(dir.path(), &["init"], &[]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    // And now the commands work.
    let ops = run_with(
        dir.path(),
        &["operator", "create", "--email", "ops@x.com"],
        &[],
    );
    assert!(is_key(stdout(&ops).trim()));
}

#[test]
fn database_urls_that_cannot_work_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let said = refused(
        &run_with(dir.path(), &["--database", "sqlite://", "init"], &[]),
        1,
    );
    assert!(said.contains("names no database file"), "{said}");
    let said = refused(
        &run_with(
            dir.path(),
            &["--database", "sqlite://nodir/r.db", "init"],
            &[],
        ),
        1,
    );
    assert!(said.contains("nodir/r.db"), "{said}");

    // Nothing listens on port 1: refused at once, named, not a 30 s wait.
    let started = Instant::now();
    let url = "postgres://postgres@127.0.0.1:1/roster";
    let said = refused(
        &run_with(dir.path(), &["--database", url, "operator", "list"], &[]),
        1,
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        said.contains("127.0.0.1:1") && said.contains("refused"),
        "{said}"
    );

    let url = "postgres://postgres@no-such-host.invalid/roster";
    let said = refused(
        &run_with(dir.path(), &["--database", url, "operator", "list"], &[]),
        1,
    );
    assert!(
        said.contains("no-such-host.invalid:5432") && said.contains("unknown host"),
        "{said}"
    );

    if let Some(server) =
        crate::support::postgres_server("database_urls_that_cannot_work_are_named")
    {
        let base = server.split('?').next().unwrap();
        let (host, _) = base.rsplit_once('/').unwrap();
        let url = format!("{host}/roster_no_such_database");
        let said = refused(
            &run_with(dir.path(), &["--database", &url, "operator", "list"], &[]),
            1,
        );
        assert!(
            said.contains("no such database \"roster_no_such_database\""),
            "{said}"
        );
    }
}

#[test]
fn settings_that_do_not_parse_name_where_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = refused(
        &run_with(dir.path(), &["serve"], &[("ROSTER_RATE_LIMIT", "lots")]),
        2,
    );
    assert!(
        from_env.contains("ROSTER_RATE_LIMIT=\"lots\""),
        "{from_env}"
    );
    assert!(
        !from_env.contains("--rate-limit"),
        "the flag was never typed: {from_env}"
    );
    let typed = refused(
        &run_with(dir.path(), &["serve", "--rate-limit", "lots"], &[]),
        2,
    );
    assert!(typed.contains("--rate-limit"), "{typed}");

    for url in [
        "roster.example.com",
        "ftp://roster.example.com",
        "/relative",
    ] {
        let said = refused(
            &run_with(dir.path(), &["serve", "--public-url", url], &[]),
            2,
        );
        assert!(
            said.contains("absolute http:// or https:// URL"),
            "{url}: {said}"
        );
    }
    let said = refused(
        &run_with(
            dir.path(),
            &["serve"],
            &[("ROSTER_PUBLIC_URL", "roster.example.com")],
        ),
        2,
    );
    assert!(said.contains("ROSTER_PUBLIC_URL"), "{said}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );

    // ROSTER_LOG_JSON=1 (not only `true`): the first start's notice is a JSON line.
    let init = run_with(dir.path(), &["init"], &[("ROSTER_LOG_JSON", "1")]);
    assert!(init.status.success(), "{}", stderr(&init));
    let logged = stderr(&init);
    let line = logged
        .lines()
        .find(|l| l.contains("operator key"))
        .expect("a notice");
    let notice: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    assert_eq!(notice["level"], "WARN", "{notice}");
}

#[test]
fn version_help_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let version = stdout(&run_with(dir.path(), &["--version"], &[]));
    assert_eq!(
        version.trim(),
        format!("roster {}", env!("CARGO_PKG_VERSION"))
    );
    let help = stdout(&run_with(dir.path(), &["member", "add", "--help"], &[]));
    assert!(
        help.contains("manager") && help.contains("its name when exactly one team has it"),
        "{help}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&run_with(dir.path(), &["completions", shell], &[]));
        assert!(
            script.contains("roster") && script.contains("revoke"),
            "{shell}: {script}"
        );
    }
    let unknown = run_with(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
}

fn org_id(out: &Output) -> String {
    let made: serde_json::Value = serde_json::from_str(stdout(out).trim()).unwrap();
    made["id"].as_str().unwrap().to_owned()
}

/// The members of a team as the JSON-lines export gives them: (email, role number).
fn members(dir: &Path, org: &str) -> Vec<(String, i64)> {
    let out = roster(
        dir,
        &["export", "members", "--org", org, "--format", "jsonl"],
    );
    stdout(&out)
        .lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                m["user"]["email"].as_str().unwrap().to_owned(),
                m["role"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn teams_go_by_id_or_by_a_name_one_team_has_and_roles_by_name() {
    let dir = initialized();
    let acme = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    let out = roster(
        dir.path(),
        &["member", "add", "Acme", "bob@acme.com", "--role", "Manager"],
    );
    assert!(
        stderr(&out).contains("with role manager"),
        "{}",
        stderr(&out)
    );
    let out = roster(
        dir.path(),
        &["member", "add", &acme, "cy@acme.com", "--role", "4"],
    );
    assert!(out.status.success());
    let bad = refused(
        &roster(
            dir.path(),
            &["member", "add", "Acme", "d@acme.com", "--role", "boss"],
        ),
        2,
    );
    assert!(
        bad.contains("member, admin, developer, restricted, manager"),
        "{bad}"
    );
    assert_eq!(
        members(dir.path(), "Acme"),
        [
            ("a@acme.com".into(), 2),
            ("bob@acme.com".into(), 5),
            ("cy@acme.com".into(), 4)
        ]
    );

    // A name two teams have names neither: exit 2 with both ids, and nothing is changed.
    let other = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "z@acme.com"],
    ));
    let said = refused(
        &roster(dir.path(), &["member", "add", "Acme", "e@acme.com"]),
        2,
    );
    assert!(said.contains(&acme) && said.contains(&other), "{said}");
    let said = refused(
        &roster(dir.path(), &["member", "add", "Nobody", "e@acme.com"]),
        2,
    );
    assert!(said.contains("no team is named \"Nobody\""), "{said}");
    assert_eq!(members(dir.path(), &acme).len(), 3);
    assert_eq!(members(dir.path(), &other).len(), 1);
}

#[test]
fn a_domain_the_team_has_is_added_again_quietly_another_teams_is_refused() {
    let dir = initialized();
    let acme = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    roster(
        dir.path(),
        &["org", "create", "Rival", "--admin-email", "r@rival.com"],
    );
    let first = stdout(&roster(dir.path(), &["domain", "add", &acme, "acme.com"]));
    let again = roster(dir.path(), &["domain", "add", "Acme", "ACME.com"]);
    assert_eq!(stdout(&again), first, "the same record");
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    let said = refused(
        &roster(dir.path(), &["domain", "add", "Rival", "acme.com"]),
        1,
    );
    assert!(said.contains("another organization"), "{said}");
}

#[test]
fn an_export_imports_into_an_empty_team_as_the_same_bytes() {
    let dir = initialized();
    let acme = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "email,name,role,groups\n\
         ann@acme.com,\"Ann, A.\",manager,Sales;Ops\n\
         bob@acme.com,Bob \"The\" Builder,1,Ops\n\
         cy@acme.com,,restricted,\n\
         dee@acme.com,=1+2,restricted,+Night\n\
         eve@acme.com,'Ohara,restricted,\n",
    )
    .unwrap();
    stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &acme, csv.to_str().unwrap()],
    ));
    let first = stdout(&roster(dir.path(), &["export", "members", "--org", &acme]));
    assert!(
        first.starts_with("email,name,role,groups\na@acme.com,,admin,\n"),
        "{first}"
    );
    assert!(
        first.contains("ann@acme.com,\"Ann, A.\",manager,Ops;Sales\n"),
        "{first}"
    );
    // Cells that a spreadsheet would run as formulas are written as text (a `'` in front),
    // and read back without it.
    assert!(
        first.contains("dee@acme.com,'=1+2,restricted,'+Night\n"),
        "{first}"
    );
    assert!(
        first.contains("eve@acme.com,''Ohara,restricted,\n"),
        "{first}"
    );

    let copy = org_id(&roster(
        dir.path(),
        &["org", "create", "Copy", "--admin-email", "a@acme.com"],
    ));
    let exported = dir.path().join("out.csv");
    std::fs::write(&exported, &first).unwrap();
    stdout(&roster(
        dir.path(),
        &[
            "import",
            "members",
            "--org",
            &copy,
            exported.to_str().unwrap(),
        ],
    ));
    let second = stdout(&roster(dir.path(), &["export", "members", "--org", &copy]));
    assert_eq!(first, second);
    assert_eq!(members(dir.path(), &copy).len(), 6);
}

/// `roster serve` on the SQLite database of `dir`, stopped when dropped.
struct Server {
    _node: crate::multinode::Node,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let url = format!("sqlite://{}", dir.join("roster.db").display());
        let (node, port) = crate::multinode::start_node(&url, dir, 0);
        Server { _node: node, port }
    }

    fn me(&self, key: &str) -> u16 {
        crate::cli::http(self.port, "GET", "/api/me/", Some(key)).0
    }

    /// Waits (up to the watch bound and some) for `key` to be refused.
    fn refuses(&self, key: &str) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.me(key) == 401 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// Makes every stored key look issued before migration 0012 (no prefix kept).
fn forget_prefixes(dir: &Path) {
    execute(dir, "UPDATE api_keys SET prefix = NULL");
}

#[test]
fn operators_are_listed_and_keys_revoked_while_the_server_runs() {
    let dir = initialized();
    let first = std::fs::read_to_string(dir.path().join("roster-operator.key")).unwrap();
    let first = first.trim().to_owned();
    let server = Server::start(dir.path());
    let second = stdout(&roster(
        dir.path(),
        &["operator", "create", "--email", "ops@x.com"],
    ));
    let second = second.trim().to_owned();
    let alice = stdout(&roster(
        dir.path(),
        &["operator", "create", "--email", "alice@x.com"],
    ));
    let alice = alice.trim().to_owned();
    let bob = roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "bob@acme.com"],
    );
    let made: serde_json::Value = serde_json::from_str(stdout(&bob).trim()).unwrap();
    let bob = made["key"].as_str().unwrap().to_owned();
    for key in [&first, &second, &alice, &bob] {
        assert_eq!(server.me(key), 200);
    }

    let listed = stdout(&roster(dir.path(), &["operator", "list"]));
    let listed: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let emails: Vec<&str> = listed
        .iter()
        .map(|o| o["user"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["alice@x.com", "operator@roster.localhost", "ops@x.com"]
    );
    let shown = serde_json::to_string(&listed).unwrap();
    for key in [&first, &second] {
        assert!(
            shown.contains(&format!("\"prefix\":\"{}\"", &key[..8])),
            "{shown}"
        );
        assert!(
            !shown.contains(&key[..9]),
            "never more of a key than its prefix"
        );
    }
    assert!(
        !shown.contains(&bob[..8]),
        "a team admin is not an operator"
    );

    // One key by its prefix: that key alone stops working, on the running server.
    let out = roster(dir.path(), &["key", "revoke", &first[..8]]);
    assert!(stdout(&out).contains("operator@roster.localhost"));
    assert!(server.refuses(&first), "the revoked key still works");
    assert_eq!(server.me(&second), 200);
    // Every key of an account by its email; an operator's or a team admin's alike.
    roster(dir.path(), &["key", "revoke", "ALICE@x.com"]);
    assert!(server.refuses(&alice));
    roster(dir.path(), &["key", "revoke", "bob@acme.com"]);
    assert!(server.refuses(&bob));
    assert_eq!(server.me(&second), 200);

    let said = refused(&roster(dir.path(), &["key", "revoke", &first[..8]]), 1);
    assert!(said.contains("no key matches"), "{said}");
    // The whole key, in any case, also one issued before prefixes were kept; what is printed
    // never holds more of it than its prefix.
    let third = stdout(&roster(
        dir.path(),
        &["operator", "create", "--email", "carol@x.com"],
    ));
    let third = third.trim().to_owned();
    forget_prefixes(dir.path());
    let out = roster(dir.path(), &["key", "revoke", &third.to_uppercase()]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("carol@x.com") && !said.contains(&third[..9]),
        "{said}"
    );
    assert!(server.refuses(&third));
    let said = refused(&roster(dir.path(), &["key", "revoke", &third]), 1);
    assert!(!said.contains(&third[..9]), "the key is not echoed: {said}");
    let said = refused(&roster(dir.path(), &["key", "revoke", &second[..4]]), 2);
    assert!(said.contains("first 8 characters"), "{said}");
    assert_eq!(server.me(&second), 200, "a short prefix revokes nothing");
}

#[test]
fn a_live_database_is_backed_up_consistently() {
    let dir = initialized();
    let _server = Server::start(dir.path());
    let acme = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    for n in 0..20 {
        let email = format!("p{n}@acme.com");
        assert!(
            roster(dir.path(), &["member", "add", &acme, &email])
                .status
                .success()
        );
    }
    let copy = dir.path().join("copy.db");
    let out = roster(dir.path(), &["backup", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let live = stdout(&roster(dir.path(), &["export", "members", "--org", &acme]));
    let url = format!("sqlite://{}", copy.display());
    let restored = run_with(
        dir.path(),
        &["--database", &url, "export", "members", "--org", &acme],
        &[],
    );
    assert_eq!(stdout(&restored), live);
    assert_eq!(live.lines().count(), 22, "header, admin, 20 people");

    let said = refused(&roster(dir.path(), &["backup", copy.to_str().unwrap()]), 1);
    assert!(
        said.contains("File exists") || said.contains("exists"),
        "{said}"
    );
}

/// On a terminal an import says how far it has read and checked, then that it writes, then
/// what it did (`script` gives the command a terminal).
#[test]
fn an_import_on_a_terminal_shows_its_progress_and_a_summary() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("*** SKIPPED: `script` (util-linux) gives the import a terminal ***");
        return;
    }
    let dir = initialized();
    let acme = org_id(&roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    ));
    let csv = dir.path().join("in.csv");
    let rows: String = (0..500)
        .map(|n| format!("p{n}@acme.com,member\n"))
        .collect();
    std::fs::write(&csv, format!("email,role\n{rows}")).unwrap();
    let command = format!(
        "{} import members --org {acme} {}",
        env!("CARGO_BIN_EXE_roster"),
        csv.display()
    );
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let shown = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env("ROSTER_DATABASE_URL", url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("500 rows read and checked"), "{text}");
    assert!(
        text.contains("(all of them; writing them in one transaction)"),
        "{text}"
    );
    assert!(text.contains("500 rows: did create 500 people"), "{text}");
}

/// Runs one statement on the SQLite database of `dir`, behind roster's back.
fn execute(dir: &Path, sql: &str) {
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .unwrap();
    });
}

/// A newer `roster` beside an older server neither migrates the live schema nor works on
/// one it does not know; `init` (or `serve`) of the new version migrates it.
#[test]
fn operator_commands_leave_the_schema_to_serve_and_init() {
    // A database made by an earlier release (before migration 0012).
    let dir = tempfile::tempdir().unwrap();
    let released =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/fixtures/release-2026-12-03.sqlite3");
    std::fs::copy(released, dir.path().join("roster.db")).unwrap();
    for args in [
        &["operator", "list"][..],
        &["backup", "copy.db"],
        &["org", "create", "A", "--admin-email", "a@x.com"],
    ] {
        let said = refused(&roster(dir.path(), args), 1);
        assert!(
            said.contains("not set up for this version"),
            "{args:?}: {said}"
        );
    }
    assert!(!dir.path().join("copy.db").exists());
    let init = roster(dir.path(), &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(roster(dir.path(), &["operator", "list"]).status.success());
}

/// A token that protects nothing (empty, or short enough to guess) is refused at start, and
/// no secret shows in `--help`.
#[test]
fn a_metrics_token_must_be_worth_having() {
    let dir = tempfile::tempdir().unwrap();
    for token in ["", "short"] {
        let said = refused(
            &run_with(dir.path(), &["serve", "--metrics-token", token], &[]),
            2,
        );
        assert!(said.contains("at least 16 characters"), "{said}");
    }
    let said = refused(
        &run_with(dir.path(), &["serve"], &[("ROSTER_METRICS_TOKEN", "")]),
        2,
    );
    assert!(said.contains("ROSTER_METRICS_TOKEN"), "{said}");
    let secret = "0123456789abcdef-secret";
    let help = run_with(
        dir.path(),
        &["serve", "--help"],
        &[("ROSTER_METRICS_TOKEN", secret)],
    );
    assert!(!stdout(&help).contains(secret), "--help shows no secret");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

/// A team whose group names the CSV format cannot hold is refused before a byte is written.
#[test]
fn an_export_the_csv_cannot_hold_writes_nothing() {
    let dir = initialized();
    let made = roster(
        dir.path(),
        &["org", "create", "Acme", "--admin-email", "a@acme.com"],
    );
    let acme = org_id(&made);
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "email,groups\nann@acme.com,Sales\n").unwrap();
    let file = csv.to_str().unwrap();
    stdout(&roster(
        dir.path(),
        &["import", "members", "--org", &acme, file],
    ));
    execute(dir.path(), "UPDATE groups SET name = 'Sales; EMEA'");
    let said = refused(
        &roster(dir.path(), &["export", "members", "--org", &acme]),
        1,
    );
    assert!(
        said.contains("Sales; EMEA") && said.contains("jsonl"),
        "{said}"
    );
    let args = ["export", "members", "--org", &acme, "--format", "jsonl"];
    let jsonl = stdout(&roster(dir.path(), &args));
    assert!(jsonl.contains("Sales; EMEA"), "{jsonl}");
}
