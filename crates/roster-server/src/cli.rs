//! The `roster` command line: `serve`, and the operator commands that work on the same
//! database (also while the server runs). Every option can also come from a `ROSTER_*`
//! environment variable. Commands that print a secret print it alone on stdout, so that
//! `KEY=$(roster operator create --email ops@example.com)` works; everything else goes to stderr.

use crate::app::app;
use crate::state::{AppState, HttpConfig, defaults};
use crate::{storage, telemetry};
use clap::{Args, Parser, Subcommand};
use roster_core::email;
use roster_core::keys;
use roster_core::store::{AccountKind, NewOrganization, NewUser, StoreOptions};
use roster_core::{Clock, Role, Store, SystemClock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "roster",
    version,
    about = "Roster: team management with SCIM-ready storage"
)]
pub struct Cli {
    /// Database URL: sqlite://path (created if missing).
    #[arg(
        long = "database",
        env = "ROSTER_DATABASE_URL",
        default_value = "sqlite://roster.db",
        global = true
    )]
    database: Secret,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    #[command(flatten)]
    Operate(Operation),
}

/// The commands that work on the database directly (also while a server runs on it).
#[derive(Subcommand, Debug)]
enum Operation {
    /// Server operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Organizations (teams).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Team members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Email domains verified for a team.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Bulk imports.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Add people from a CSV (columns: email, and optionally name, role, groups separated by
    /// `;`) to a team and its groups, creating missing groups, in one transaction.
    Members {
        #[arg(long)]
        org: Uuid,
        /// The CSV file (`-` for standard input).
        file: PathBuf,
        /// Check everything and print what would change, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DomainCommand {
    /// Verify a domain for a team; prints the domain record as one JSON line.
    Add { org_id: Uuid, domain: String },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public base URL for absolute links (default: from the request's Host header).
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Requests a second one key may make on this node; more get 429 (0: no limit).
    #[arg(long, env = "ROSTER_RATE_LIMIT", default_value_t = defaults::RATE_LIMIT)]
    rate_limit: u32,
    /// Requests one key may make at once before the rate applies.
    #[arg(long, env = "ROSTER_RATE_BURST", default_value_t = defaults::RATE_BURST)]
    rate_burst: u32,
    /// The most items one group- or campaign-member payload may hold (more: 400).
    #[arg(long, env = "ROSTER_MAX_ITEMS", default_value_t = defaults::MAX_ITEMS)]
    max_items: usize,
    /// The most connections open at once; one more is answered 503 at once. Keep it below
    /// the process's open-file limit (`ulimit -n`).
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a request's headers may take to arrive after its first byte.
    #[arg(long, env = "ROSTER_HEADER_READ_TIMEOUT", default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds a keep-alive connection may sit idle before it is closed.
    #[arg(long, env = "ROSTER_IDLE_TIMEOUT", default_value_t = 60)]
    idle_timeout: u64,
    /// Heavy requests (member payloads over 1,000 items, SCIM filters other than one `eq`,
    /// whole lists over 10,000 rows) one key may have running at once; more get 429 (0: no cap).
    #[arg(long, env = "ROSTER_MAX_HEAVY_PER_KEY", default_value_t = defaults::MAX_HEAVY_PER_KEY)]
    max_heavy_per_key: usize,
    /// Memory for kept member-list pages, in MiB (0: keep none).
    #[arg(long, env = "ROSTER_PAGE_CACHE_MIB", default_value_t = crate::page_cache::DEFAULT_BUDGET >> 20)]
    page_cache_mib: usize,
    /// Where the first start of an empty database writes the operator key (mode 0600); an
    /// existing file is never overwritten. Default: `<database name>-operator.key` beside the
    /// SQLite file (`roster.db`: `roster-operator.key`), or in the working directory.
    #[arg(long, env = "ROSTER_BOOTSTRAP_KEY_FILE")]
    bootstrap_key_file: Option<PathBuf>,
    /// Mail invitation tokens to the invitees through this SMTP relay instead of handing them
    /// to the inviter: `smtp://host:25` (plain), `smtp://user:password@host:587?tls=required`
    /// (STARTTLS), `smtps://user:password@host` (TLS). Needs --public-url, for the link.
    #[arg(long, env = "ROSTER_SMTP_URL")]
    smtp_url: Option<Secret>,
    /// The sender of invitation emails.
    #[arg(
        long,
        env = "ROSTER_SMTP_FROM",
        default_value = "Roster <roster@localhost>"
    )]
    smtp_from: String,
    /// Seconds a request waits for a free database connection before it is answered 503
    /// with Retry-After.
    #[arg(long, env = "ROSTER_DB_ACQUIRE_TIMEOUT", default_value_t = Seconds(StoreOptions::default().acquire_timeout))]
    db_acquire_timeout: Seconds,
    /// Seconds this node answers from memory (keys, roles, pages) without proof that it has
    /// seen every change made elsewhere; past it, everything is read from the database.
    #[arg(long, env = "ROSTER_WATCH_BOUND", default_value_t = Seconds(StoreOptions::default().watch_bound))]
    watch_bound: Seconds,
    /// SQLite: the write-ahead log size, in MiB, past which it is checkpointed and emptied.
    #[arg(long, env = "ROSTER_SQLITE_WAL_LIMIT_MIB", default_value_t = StoreOptions::default().wal_limit >> 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    sqlite_wal_limit_mib: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "ROSTER_LOG_JSON")]
    log_json: bool,
}

/// A number of seconds from 0.1 to a day, fractions allowed (`2.5`): shorter bounds would
/// have the watcher and the pool spin.
#[derive(Clone, Copy, Debug)]
struct Seconds(Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<f64>() {
            Ok(s) if (0.1..=86_400.0).contains(&s) => Ok(Seconds(Duration::from_secs_f64(s))),
            _ => Err("expected a number of seconds from 0.1 to 86400".into()),
        }
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

#[derive(Subcommand, Debug)]
enum OperatorCommand {
    /// Create (or find) a user, make them an operator, and print a new key for them.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// Create a team with this person as its admin; prints {"id": ..., "key": ...}.
    Create {
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a person to a team (creating them if new).
    Add {
        org_id: Uuid,
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// 1 member, 2 admin, 3 developer, 4 restricted, 5 manager (default: the team's).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=5))]
        role: Option<i64>,
        /// Also issue an API key for the person and print it.
        #[arg(long)]
        key: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(&cli.command, Command::Serve(a) if a.log_json);
    telemetry::init(json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roster: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("roster: {message}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<(), String>;

async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Serve(args) => serve(args, &cli.database.0).await,
        Command::Operate(operation) => operate(operation, &cli.database.0).await,
    }
}

async fn operate(operation: Operation, database: &str) -> CliResult {
    let store = storage::open(database, &StoreOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let clock = SystemClock;
    match operation {
        Operation::Operator(OperatorCommand::Create { email, name }) => {
            let user = person(&*store, &clock, &email, name).await?;
            store
                .set_operator(user, true)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", new_key(&*store, &clock, user).await?);
            Ok(())
        }
        Operation::Org(OrgCommand::Create {
            name,
            admin_email,
            admin_name,
        }) => {
            crate::input::check_text(&name, crate::api::organizations::MAX_NAME)
                .map_err(|e| format!("name: {e}"))?;
            let admin = person(&*store, &clock, &admin_email, admin_name).await?;
            let new = NewOrganization {
                name: name.trim().to_owned(),
                scope: None,
                default_role: None,
            };
            let org = store
                .create_organization(new, admin, clock.now())
                .await
                .map_err(|e| e.to_string())?;
            let key = new_key(&*store, &clock, admin).await?;
            println!("{}", serde_json::json!({ "id": org.id, "key": key }));
            Ok(())
        }
        Operation::Member(MemberCommand::Add {
            org_id,
            email,
            name,
            role,
            key,
        }) => {
            // The team first: a command that fails leaves no person behind.
            store.get_organization(org_id).await.map_err(|e| match e {
                roster_core::StoreError::NotFound => format!("no organization {org_id}"),
                e => e.to_string(),
            })?;
            let user = person(&*store, &clock, &email, name).await?;
            let role = role.and_then(Role::from_i64);
            let membership = store
                .add_member(org_id, user, role, clock.now())
                .await
                .map_err(|e| match e {
                    roster_core::StoreError::NotFound => format!("no organization {org_id}"),
                    e => e.to_string(),
                })?;
            eprintln!(
                "{} is a member of {org_id} with role {}",
                membership.user.email,
                membership.role.as_i64()
            );
            if key {
                println!("{}", new_key(&*store, &clock, user).await?);
            }
            Ok(())
        }
        Operation::Import(ImportCommand::Members { org, file, dry_run }) => {
            let rows = if file.as_os_str() == "-" {
                crate::import::read_rows(std::io::stdin().lock())
            } else {
                let input = std::fs::File::open(&file)
                    .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
                crate::import::read_rows(std::io::BufReader::new(input))
            }
            .map_err(|e| format!("{}: {e} (nothing was imported)", file.display()))?;
            let summary = crate::import::apply(&*store, org, &rows, dry_run, clock.now()).await?;
            println!("{}", crate::import::describe(&summary, dry_run));
            Ok(())
        }
        Operation::Domain(DomainCommand::Add { org_id, domain }) => {
            let normalized = crate::api::email_domains::checked(&domain)
                .map_err(|e| format!("domain {domain:?}: {e}"))?;
            let added = store
                .add_email_domain(org_id, &normalized, clock.now())
                .await
                .map_err(|e| match e {
                    roster_core::StoreError::NotFound => format!("no organization {org_id}"),
                    roster_core::StoreError::Conflict { .. } => {
                        format!("{normalized} is already verified for an organization")
                    }
                    e => e.to_string(),
                })?;
            println!(
                "{}",
                serde_json::to_string(&added).map_err(|e| e.to_string())?
            );
            Ok(())
        }
    }
}

/// Validates the email and name, then finds or creates the person.
async fn person(
    store: &dyn Store,
    clock: &dyn Clock,
    address: &str,
    name: Option<String>,
) -> Result<Uuid, String> {
    email::validate(address.trim()).map_err(|e| format!("email {address:?}: {e}"))?;
    if let Some(n) = &name {
        crate::input::check_text(n, 150).map_err(|e| format!("name: {e}"))?;
    }
    let user = store
        .ensure_user(
            NewUser {
                email: address.trim().to_owned(),
                name,
                kind: AccountKind::Person,
            },
            clock.now(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(user.id)
}

async fn new_key(store: &dyn Store, clock: &dyn Clock, user: Uuid) -> Result<String, String> {
    let issued = keys::issue();
    store
        .add_key(user, &issued.hash, clock.now())
        .await
        .map_err(|e| e.to_string())?;
    Ok(issued.secret)
}

/// A setting that may hold a password (a database or SMTP URL): kept out of `Debug`.
#[derive(Clone)]
struct Secret(String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

async fn serve(args: ServeArgs, database: &str) -> CliResult {
    // The link in an invitation email must name this server, not a Host header a client chose.
    if args.smtp_url.is_some() && args.public_url.is_none() {
        return Err("--smtp-url needs --public-url: invitation emails link to it".into());
    }
    let mailer = (args.smtp_url.as_ref())
        .map(|Secret(url)| crate::mail::Mailer::new(url, &args.smtp_from))
        .transpose()?;
    // The address first: a start that cannot listen creates no database and no key file.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let options = StoreOptions {
        acquire_timeout: args.db_acquire_timeout.0,
        watch_bound: args.watch_bound.0,
        wal_limit: args.sqlite_wal_limit_mib << 20,
    };
    let store = storage::open(database, &options)
        .await
        .map_err(|e| e.to_string())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let key_file = args
        .bootstrap_key_file
        .clone()
        .unwrap_or_else(|| default_key_file(database));
    bootstrap(&*store, &*clock, &key_file).await?;
    let config = HttpConfig {
        public_url: args.public_url,
        max_body_bytes: args.max_body_bytes,
        page_cache_bytes: args.page_cache_mib.saturating_mul(1024 * 1024),
        max_items: args.max_items,
        rate_limit: args.rate_limit,
        rate_burst: args.rate_burst,
        max_heavy_per_key: args.max_heavy_per_key,
    };
    let limits = connection_limits(
        args.max_connections,
        args.header_read_timeout,
        args.idle_timeout,
    );
    let mut state = AppState::new(store, clock, config);
    if let Some(mailer) = mailer {
        state = state.with_mailer(mailer);
    }
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "roster is listening");
    crate::listener::serve(listener, app(state), limits, shutdown_signal()).await;
    tracing::info!("roster stopped");
    Ok(())
}

/// The connection limits asked for, with the cap kept below the process's open-file limit
/// (descriptors are needed besides connections: the database, its journal, logs).
fn connection_limits(max: usize, header_read: u64, idle: u64) -> crate::listener::Limits {
    const RESERVED: usize = 64;
    let mut max_connections = max.max(1);
    if let Some(files) = crate::listener::open_file_limit()
        && max_connections + RESERVED > files
    {
        max_connections = files.saturating_sub(RESERVED).max(1);
        tracing::warn!(
            asked = max,
            used = max_connections,
            open_file_limit = files,
            "--max-connections is above what the open-file limit allows; raise `ulimit -n`"
        );
    }
    crate::listener::Limits {
        max_connections,
        header_read_timeout: std::time::Duration::from_secs(header_read.max(1)),
        idle_timeout: std::time::Duration::from_secs(idle.max(1)),
    }
}

/// On a database with no operator yet, creates the first one and writes their key to `path`,
/// readable only by the owner. Only that start writes the file, and it never overwrites one:
/// a file already there is someone's (another database's unread key, a file named by
/// mistake), so the start refuses. The file is written before the key is stored, so that no
/// key is stored that nobody can read, and removed again if another node made the operator
/// first.
async fn bootstrap(store: &dyn Store, clock: &dyn Clock, path: &Path) -> CliResult {
    if store.has_operator().await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    let issued = keys::issue();
    if let Err(refused) = write_secret(path, &issued.secret) {
        // Another node on this database, started in this folder, may be making the operator
        // (and writing this file) right now: then this is a later start after all.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        if store.has_operator().await.map_err(|e| e.to_string())? {
            return Ok(());
        }
        return Err(refused);
    }
    let created = store
        .bootstrap_operator("operator@roster.localhost", &issued.hash, clock.now())
        .await
        .map_err(|e| e.to_string());
    if !matches!(created, Ok(true)) {
        // Ours alone: this start created it a moment ago.
        let _ = std::fs::remove_file(path);
    }
    if created? {
        tracing::warn!(path = %path.display(), "first start: the operator key was written to this file; read it, then delete the file");
    }
    Ok(())
}

fn write_secret(path: &Path, secret: &str) -> CliResult {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} exists already: the first start of a new database writes its operator key \
                 there and overwrites nothing. Move the file away, or name another with \
                 --bootstrap-key-file",
                path.display()
            )
        } else {
            format!("cannot write the operator key file {}: {e}", path.display())
        }
    })?;
    writeln!(file, "{secret}")
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `<name>-operator.key` beside the SQLite file (`roster.db`: `roster-operator.key`), so that
/// two databases in one folder do not share it; for PostgreSQL, `roster-operator.key` here.
fn default_key_file(database: &str) -> PathBuf {
    let file = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .unwrap_or_default();
    let file = Path::new(file);
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("roster");
    dir.unwrap_or(Path::new("."))
        .join(format!("{stem}-operator.key"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_command_line_keeps_passwords_out() {
        let cli = Cli::try_parse_from([
            "roster",
            "--database",
            "postgres://roster:hunter2@db/roster",
            "serve",
            "--smtp-url",
            "smtp://mail:swordfish@relay:587",
        ])
        .expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("swordfish"), "{shown}");
    }
}
