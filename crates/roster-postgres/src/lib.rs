//! Roster's PostgreSQL backend: many stateless `roster serve` nodes on one database.
//!
//! The use cases are written once in `crates/roster-sql/`, compiled here against
//! `dialect`: native types (uuid, timestamptz, bytea), READ COMMITTED transactions that take
//! row locks in one order, the team's row first (`tx.rs` there). What is PostgreSQL's own:
//! bulk writes through `UNNEST` of bound arrays (`payload`, `import`, `provisioning_writes`),
//! page reads tuned to its planner, and the change listener (`watch`).

mod dialect;
mod group_memberships;
mod import;
mod membership_pages;
mod payload;
mod provisioning_writes;
#[path = "../../roster-sql/mod.rs"]
mod sql;
mod watch;

use sql::{
    audit, campaign_members, campaigns, email_domains, group_names, memberships, preview,
    provisioning, rows, tx, users,
};

pub(crate) use dialect::{at, ts};

use roster_core::changes::Changes;
use roster_core::store::StoreOptions;
use roster_core::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub struct PostgresStore {
    pool: PgPool,
    changes: Arc<Changes>,
    group_names: roster_core::group_names::GroupNames,
}

/// A pooled connection idle this long is checked with a round trip before it is used.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects to `url` (`postgres://...`) and brings the schema up to date (sqlx takes an
    /// advisory lock, so nodes starting together migrate once).
    pub async fn connect(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = tls_as_asked(
            url,
            PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?,
        );
        reachable(&connect).await?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(options.acquire_timeout)
            // A connection in use moments ago is alive: sqlx's check before every acquire
            // was a round trip to the database for each statement. One idle for a while
            // (a restart or a firewall may have dropped it since) is still checked.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_CHECK {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect.clone())
            .await
            .map_err(other)?;
        if options.initialize {
            tx::migrate(&pool).await?;
        }
        let changes = Arc::new(Changes::new(options.watch_bound));
        let bounds = watch::Bounds {
            watch: options.watch_bound,
            connect: options.acquire_timeout,
        };
        watch::spawn(connect, &changes, bounds);
        Ok(Self {
            pool,
            changes,
            group_names: Default::default(),
        })
    }
}

/// A PostgreSQL database is backed up with its own tools, which copy it consistently while it
/// serves (and from any host).
pub(crate) async fn backup(_store: &PostgresStore, _to: &std::path::Path) -> StoreResult<()> {
    Err(StoreError::Invalid {
        field: None,
        message: "a PostgreSQL database is backed up with pg_dump (README.md, \"Backups\")".into(),
    })
}

/// TLS only where the URL (`sslmode=require`, `verify-ca`, `verify-full`) or `PGSSLMODE` asks
/// for it, not libpq's `prefer` by default: `prefer` checks no certificate, so it keeps out no
/// one on the path, and sqlx's TLS stream cut SCIM creates to an eighth of their rate on one
/// host (4,937 a second in clear, 612 over TLS: docs/PERFORMANCE.md).
fn tls_as_asked(url: &str, options: PgConnectOptions) -> PgConnectOptions {
    let named = url.split_once('?').is_some_and(|(_, query)| {
        form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "sslmode")
    });
    if named || std::env::var_os("PGSSLMODE").is_some() {
        return options;
    }
    options.ssl_mode(sqlx::postgres::PgSslMode::Disable)
}

/// How long the first connection may take before the start gives up: a server that does not
/// answer is named at once, not after the pool's own wait.
const FIRST_CONNECT: Duration = Duration::from_secs(5);

/// Opens one connection, to say plainly why none can be had: refused, unknown host, bad
/// password, no such database, or no answer at all.
async fn reachable(options: &PgConnectOptions) -> StoreResult<()> {
    use sqlx::Connection;
    let attempt = tokio::time::timeout(FIRST_CONNECT, sqlx::PgConnection::connect_with(options));
    let reason = match attempt.await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(_) => format!("no answer within {} s", FIRST_CONNECT.as_secs()),
        Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is PostgreSQL running there?)".to_owned()
        }
        Ok(Err(sqlx::Error::Io(e))) if e.to_string().contains("lookup address") => {
            format!("unknown host ({e})")
        }
        Ok(Err(sqlx::Error::Database(db))) => match db.code().as_deref() {
            Some("28P01") => format!("bad password for user {:?}", options.get_username()),
            Some("3D000") => format!(
                "no such database {:?} (createdb it first)",
                options.get_database().unwrap_or_default()
            ),
            _ => db.message().to_owned(),
        },
        Ok(Err(e)) => e.to_string(),
    };
    Err(StoreError::Unavailable(format!(
        "cannot connect to PostgreSQL at {}:{}: {reason}",
        options.get_host(),
        options.get_port()
    )))
}

/// Keeps the kind of a failure that is not the caller's: the database away, busy or full
/// (the client should try again; docs/ARCHITECTURE.md, "Faults") or a bug.
pub(crate) fn other(e: sqlx::Error) -> StoreError {
    let state = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    match (&e, state.as_deref()) {
        (
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed,
            _,
        ) => StoreError::Unavailable(e.to_string()),
        (_, Some("53100")) => StoreError::Full(e.to_string()),
        // Class 08: connection exceptions; 53: out of resources (connections, memory); 57:
        // the server shutting down, starting, or cancelling the statement; 58: the server's
        // own I/O; 40001, 40P01: serialization failure and deadlock (the transaction was
        // rolled back); 55P03: a lock not available; 3D000, 28000, 28P01: a new connection
        // refused (the database dropped, the role or its password no longer accepted).
        (_, Some(code))
            if code
                .get(..2)
                .is_some_and(|class| ["08", "53", "57", "58"].contains(&class))
                || matches!(
                    code,
                    "40001" | "40P01" | "55P03" | "3D000" | "28000" | "28P01"
                ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Helpers for tests that need an empty database of their own.
pub mod testing {
    use roster_core::{StoreError, StoreResult};
    use sqlx::Connection;
    use uuid::Uuid;

    /// Creates a new, empty database on the server of `url` and returns its URL.
    pub async fn fresh_database(url: &str) -> StoreResult<String> {
        let name = format!("roster_t_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .map_err(crate::other)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(|e| StoreError::Other(format!("cannot create a test database: {e}")))?;
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Ok(match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        })
    }
}
