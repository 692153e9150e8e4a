//! The `roster` command line: `serve`, and the operator commands that work on the same
//! database (also while the server runs). Every option can also come from a `ROSTER_*`
//! environment variable. Commands that print a secret print it alone on stdout, so that
//! `KEY=$(roster operator create --email ops@example.com)` works; everything else goes to stderr.

use crate::app::app;
use crate::state::{AppState, HttpConfig};
use crate::{storage, telemetry};
use clap::{Args, Parser, Subcommand};
use roster_core::email;
use roster_core::keys;
use roster_core::store::{AccountKind, NewOrganization, NewUser};
use roster_core::{Clock, Role, Store, SystemClock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
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
    database: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
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
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Requests a second one key may make on this node; more get 429 (0: no limit).
    #[arg(long, env = "ROSTER_RATE_LIMIT", default_value_t = 1000)]
    rate_limit: u32,
    /// Requests one key may make at once before the rate applies.
    #[arg(long, env = "ROSTER_RATE_BURST", default_value_t = 2000)]
    rate_burst: u32,
    /// The most items one group- or campaign-member payload may hold (more: 400).
    #[arg(long, env = "ROSTER_MAX_ITEMS", default_value_t = 200_000)]
    max_items: usize,
    /// Memory for kept member-list pages, in MiB (0: keep none).
    #[arg(long, env = "ROSTER_PAGE_CACHE_MIB", default_value_t = crate::page_cache::DEFAULT_BUDGET >> 20)]
    page_cache_mib: usize,
    /// Where the first start of an empty database writes the operator key (mode 0600).
    /// Default: `roster-operator.key` beside the SQLite file.
    #[arg(long, env = "ROSTER_BOOTSTRAP_KEY_FILE")]
    bootstrap_key_file: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "ROSTER_LOG_JSON")]
    log_json: bool,
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
    let store = storage::open(&cli.database)
        .await
        .map_err(|e| e.to_string())?;
    let clock = SystemClock;
    match cli.command {
        Command::Serve(args) => serve(store, args, &cli.database).await,
        Command::Operator(OperatorCommand::Create { email, name }) => {
            let user = person(&*store, &clock, &email, name).await?;
            store
                .set_operator(user, true)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", new_key(&*store, &clock, user).await?);
            Ok(())
        }
        Command::Org(OrgCommand::Create {
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
        Command::Member(MemberCommand::Add {
            org_id,
            email,
            name,
            role,
            key,
        }) => {
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
        Command::Import(ImportCommand::Members { org, file, dry_run }) => {
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
        Command::Domain(DomainCommand::Add { org_id, domain }) => {
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

async fn serve(store: Arc<dyn Store>, args: ServeArgs, database: &str) -> CliResult {
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
    };
    let state = AppState::new(store, clock, config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "roster is listening");
    let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(app(state));
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("roster stopped");
    Ok(())
}

/// On an empty database, creates the first operator and writes their key to `path`, readable
/// only by the owner. The file is written before the key is stored, so a key is never stored
/// that nobody can read.
async fn bootstrap(store: &dyn Store, clock: &dyn Clock, path: &Path) -> CliResult {
    let issued = keys::issue();
    write_secret(path, &issued.secret)?;
    let created = store
        .bootstrap_operator("operator@roster.localhost", &issued.hash, clock.now())
        .await
        .map_err(|e| e.to_string());
    match created {
        Ok(true) => {
            tracing::warn!(path = %path.display(), "first start: the operator key was written to this file; read it, then delete the file");
            Ok(())
        }
        other => {
            let _ = std::fs::remove_file(path);
            other.map(|_| ())
        }
    }
}

fn write_secret(path: &Path, secret: &str) -> CliResult {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write the operator key file {}: {e}", path.display()))?;
    writeln!(file, "{secret}").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn default_key_file(database: &str) -> PathBuf {
    let file = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .unwrap_or_default();
    let dir = Path::new(file)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    dir.unwrap_or(Path::new(".")).join("roster-operator.key")
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
