//! `roster serve` and `roster init`: the first start of an empty database makes its operator
//! and writes the key to a file; `serve` then listens until SIGTERM or Ctrl-C.

use super::CliResult;
use super::settings::{Seconds, Secret, public_url};
use crate::app::app;
use crate::state::{AppState, HttpConfig, defaults};
use crate::storage;
use clap::Args;
use roster_core::keys;
use roster_core::store::StoreOptions;
use roster_core::{Clock, Store, SystemClock};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on: host:port (`0.0.0.0:8080`, `localhost:8080`, `[::]:8080`).
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Public base URL for absolute links, an absolute http(s) URL (default: from the
    /// request's Host header).
    #[arg(long, env = "ROSTER_PUBLIC_URL", value_parser = public_url)]
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
    /// Days the change history keeps an event; older events are pruned in the background.
    #[arg(long, env = "ROSTER_AUDIT_RETENTION_DAYS", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    audit_retention_days: u32,
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
    #[arg(long, env = "ROSTER_SMTP_URL", hide_env_values = true)]
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
    /// Allow webhook endpoints on private, loopback and link-local addresses, and `http://`
    /// URLs: for receivers inside your own network. Off, only public `https://` receivers.
    #[arg(long, env = "ROSTER_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    webhooks_allow_private: bool,
    /// Milliseconds before the first retry of a failed webhook message; each next retry waits
    /// twice as long (at most an hour), with random jitter.
    #[arg(long, env = "ROSTER_WEBHOOKS_RETRY_BASE_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    webhooks_retry_base_ms: u64,
    /// Seconds a failed webhook message is retried before its endpoint is marked failing.
    #[arg(long, env = "ROSTER_WEBHOOKS_RETRY_FOR", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    webhooks_retry_for: u64,
    /// A token that `GET /metrics` asks for (`Authorization: Bearer <token>`); without it the
    /// metrics are open to anyone who reaches the port.
    #[arg(long, env = "ROSTER_METRICS_TOKEN", hide_env_values = true,
          value_parser = super::settings::token)]
    metrics_token: Option<Secret>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where the operator key is written (mode 0600); an existing file is never overwritten.
    /// Default: `<database name>-operator.key` beside the SQLite file, or in the working
    /// directory.
    #[arg(long, env = "ROSTER_BOOTSTRAP_KEY_FILE")]
    bootstrap_key_file: Option<PathBuf>,
}

/// Creates and migrates the database and makes its first operator, without serving.
pub async fn init(args: InitArgs, database: &str) -> CliResult {
    let key_file = args
        .bootstrap_key_file
        .unwrap_or_else(|| default_key_file(database));
    refuse_before_making(database, &key_file)?;
    let store = storage::open(database, &StoreOptions::default()).await?;
    if bootstrap(&*store, &SystemClock, &key_file).await? {
        eprintln!(
            "the database is ready; the first operator's key is in {} (read it, then delete the file)",
            key_file.display()
        );
    } else {
        eprintln!("the database is ready; it has an operator already (nothing to do)");
    }
    Ok(())
}

pub async fn serve(args: ServeArgs, database: &str) -> CliResult {
    // The link in an invitation email must name this server, not a Host header a client chose.
    if args.smtp_url.is_some() && args.public_url.is_none() {
        return Err("--smtp-url needs --public-url: invitation emails link to it".into());
    }
    let mailer = (args.smtp_url.as_ref())
        .map(|Secret(url)| crate::mail::Mailer::new(url, &args.smtp_from))
        .transpose()?;
    // The address first: a start that cannot listen creates no database and no key file.
    let listener = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let options = StoreOptions {
        acquire_timeout: args.db_acquire_timeout.0,
        watch_bound: args.watch_bound.0,
        wal_limit: args.sqlite_wal_limit_mib << 20,
        initialize: true,
    };
    let key_file = args
        .bootstrap_key_file
        .clone()
        .unwrap_or_else(|| default_key_file(database));
    refuse_before_making(database, &key_file)?;
    let store = storage::open(database, &options).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
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
    let webhooks = crate::webhooks::Settings {
        allow_private: args.webhooks_allow_private,
        retry_base: std::time::Duration::from_millis(args.webhooks_retry_base_ms),
        retry_for: std::time::Duration::from_secs(args.webhooks_retry_for),
    };
    let mut state = AppState::new(store, clock, config).with_webhooks(webhooks);
    state.webhooks.ready()?;
    if let Some(mailer) = mailer {
        state = state.with_mailer(mailer);
    }
    if let Some(Secret(token)) = args.metrics_token {
        state = state.with_metrics_token(token);
    }
    tokio::spawn(crate::retention::prune(
        state.store.clone(),
        state.clock.clone(),
        crate::retention::audit_kept_for(args.audit_retention_days),
    ));
    tokio::spawn(
        crate::webhooks::worker::Worker {
            store: state.store.clone(),
            clock: state.clock.clone(),
            deliverer: state.webhooks.clone(),
            metrics: state.metrics.clone(),
        }
        .run(),
    );
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
/// Returns whether this start made the operator.
async fn bootstrap(store: &dyn Store, clock: &dyn Clock, path: &Path) -> CliResult<bool> {
    if store.has_operator().await? {
        return Ok(false);
    }
    let issued = keys::issue();
    if let Err(refused) = write_secret(path, &issued.secret) {
        // Another node on this database, started in this folder, may be making the operator
        // (and writing this file) right now: then this is a later start after all.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        if store.has_operator().await? {
            return Ok(false);
        }
        return Err(refused.into());
    }
    let created = store
        .bootstrap_operator("operator@roster.localhost", &issued.hash, clock.now())
        .await;
    if !matches!(created, Ok(true)) {
        // Ours alone: this start created it a moment ago.
        let _ = std::fs::remove_file(path);
    }
    if created? {
        tracing::warn!(path = %path.display(), "first start: the operator key was written to this file; read it, then delete the file");
        return Ok(true);
    }
    Ok(false)
}

fn write_secret(path: &Path, secret: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            taken(path)
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
    let file = sqlite_file(database).unwrap_or_default();
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

/// The file of a SQLite URL (`sqlite://path?options`), if it is one.
fn sqlite_file(database: &str) -> Option<&str> {
    database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
}

/// A new SQLite database's first start needs to write its key file: if that file is there
/// already, the start is refused before the database is made, so that a refused start leaves
/// nothing behind. (A PostgreSQL database may have its operator already; its start finds out
/// once connected, and refuses then.)
fn refuse_before_making(database: &str, key_file: &Path) -> CliResult {
    let new = sqlite_file(database).is_some_and(|f| !f.is_empty() && !Path::new(f).exists());
    if new && key_file.exists() {
        return Err(taken(key_file).into());
    }
    Ok(())
}

fn taken(path: &Path) -> String {
    format!(
        "{} exists already: the first start of a new database writes its operator key \
         there and overwrites nothing. Move the file away, or name another with \
         --bootstrap-key-file",
        path.display()
    )
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
