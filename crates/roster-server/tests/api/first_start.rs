//! The first start's key file (issue 17, point 9): only the start that creates the first
//! operator writes it, never over an existing file and never deleting one; its default name
//! follows the database's; nothing is created before the address is bound; the database file
//! is its owner's alone.

use crate::support::serves;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(dir: &Path, port: u16, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(dir)
        .env_remove("ROSTER_DATABASE_URL")
        .env_remove("ROSTER_BOOTSTRAP_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Starts `roster serve` and waits until it serves.
fn started(dir: &Path, args: &[&str]) -> Child {
    let port = free_port();
    let mut child = serve(dir, port, args).spawn().expect("spawn");
    let begun = Instant::now();
    while !serves(port) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early: {status}");
        }
        assert!(begun.elapsed() < Duration::from_secs(30), "did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A start that must fail: its exit and what it said.
fn refused(dir: &Path, port: u16, args: &[&str]) -> Output {
    let out = serve(dir, port, args).output().expect("run");
    assert!(!out.status.success(), "it should have refused");
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn later_starts_leave_files_alone_and_restarts_keep_the_unread_key() {
    let dir = tempfile::tempdir().unwrap();
    stop(started(dir.path(), &[]));
    let key_file = dir.path().join("roster-operator.key");
    let key = read(&key_file);
    // A restart before anyone read the key keeps it.
    stop(started(dir.path(), &[]));
    assert_eq!(read(&key_file), key);
    // A later start pointed at someone's file does not touch it.
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep\n").unwrap();
    stop(started(
        dir.path(),
        &["--bootstrap-key-file", "precious.txt"],
    ));
    assert_eq!(read(&precious), "keep\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("roster.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database is its owner's alone");
    }
}

#[test]
fn a_first_start_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("roster-operator.key");
    std::fs::write(&existing, "someone else's\n").unwrap();
    let out = refused(dir.path(), free_port(), &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("exists already"), "{said}");
    assert_eq!(read(&existing), "someone else's\n");
    assert!(
        !dir.path().join("roster.db").exists(),
        "a refused start makes no database"
    );
    // Nothing was made that nobody can sign in to: moving the file away lets a start succeed.
    std::fs::remove_file(&existing).unwrap();
    stop(started(dir.path(), &[]));
    assert_eq!(read(&existing).trim().len(), 64);
}

#[test]
fn two_databases_in_one_folder_keep_their_keys_apart() {
    let dir = tempfile::tempdir().unwrap();
    stop(started(dir.path(), &[]));
    stop(started(dir.path(), &["--database", "sqlite://other.db"]));
    let first = read(&dir.path().join("roster-operator.key"));
    let second = read(&dir.path().join("other-operator.key"));
    assert_ne!(first, second);
}

#[test]
fn a_start_that_cannot_listen_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = refused(dir.path(), port, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
