//! This node's view of changes made by other nodes: a listener on a connection of its own,
//! outside the request pool, and a heartbeat that proves the listener alive.
//!
//! Every committed change sends a notice (migrations 0006 and 0007) and the listener moves
//! the count of changes on each. But a notice is only as good as the connection that carries
//! it, and a connection that the network dropped without a word (a firewall or load balancer
//! forgetting an idle flow: no FIN, no RST) looks just like a quiet database. So a second
//! connection of its own sends a heartbeat notice on this node's own channel every third of
//! the bound, stamped with when it was sent. PostgreSQL delivers notices in commit order, so
//! a heartbeat's arrival proves that every change committed before it was sent has been seen
//! ([`Changes::proven`]). Without a proof within the bound, the node answers nothing from
//! memory; when the listener's connection fails, from that moment. Neither connection is
//! taken from the request pool, so a pool whose every connection waits on a lock delays
//! neither.

use roster_core::changes::Changes;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The channel every change notices (migration 0006).
const CHANGES: &str = "roster_changes";

/// How the watch meets faults.
#[derive(Clone, Copy)]
pub(crate) struct Bounds {
    /// The longest the node trusts its memory without a heartbeat.
    pub watch: Duration,
    /// The longest a connection may take to open.
    pub connect: Duration,
}

/// Starts the listener and the heartbeat; both stop once the store that owns `changes` is
/// gone.
pub(crate) fn spawn(options: PgConnectOptions, changes: &Arc<Changes>, bounds: Bounds) {
    let channel = format!("roster_beat_{}", Uuid::new_v4().simple());
    let origin = Instant::now();
    tokio::spawn(listen(
        options.clone().application_name("roster listener"),
        Arc::downgrade(changes),
        channel.clone(),
        origin,
        bounds,
    ));
    tokio::spawn(beat(
        options.application_name("roster heartbeat"),
        Arc::downgrade(changes),
        channel,
        origin,
        bounds,
    ));
}

async fn listen(
    options: PgConnectOptions,
    changes: Weak<Changes>,
    channel: String,
    origin: Instant,
    bounds: Bounds,
) {
    loop {
        let lost = match subscribe(&options, &channel, origin, bounds.connect).await {
            Ok(mut listener) => follow(&mut listener, &changes, &channel, origin, bounds).await,
            Err(e) => Some(format!("cannot listen: {e}")),
        };
        let Some(changes) = changes.upgrade() else {
            return;
        };
        changes.lost();
        if let Some(reason) = lost {
            tracing::warn!(%reason, "lost the change notices; reading through until they are back");
        }
        tokio::time::sleep(RETRY.min(bounds.watch / 3)).await;
    }
}

/// The pause before a lost listener is opened again.
const RETRY: Duration = Duration::from_millis(500);

async fn subscribe(
    options: &PgConnectOptions,
    channel: &str,
    origin: Instant,
    timeout: Duration,
) -> Result<PgListener, sqlx::Error> {
    // A pool of one of its own: PgListener reconnects through a pool, and the request pool
    // may be busy for as long as its acquire timeout. A new one for each connection, so that
    // a connection stuck on a dead network never holds up the next.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    // Report a lost connection at once instead of first reconnecting.
    listener.eager_reconnect(false);
    let ready = async {
        listener.listen_all([CHANGES, channel]).await?;
        // A first heartbeat of its own, so that the node is proven at once, not at the
        // next beat.
        notify(&mut listener, channel, origin).await
    };
    tokio::time::timeout(timeout, ready)
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    Ok(listener)
}

/// Moves the count on each notice until the connection fails or a heartbeat is late; says
/// why it stopped (`None`: the store is gone).
async fn follow(
    listener: &mut PgListener,
    changes: &Weak<Changes>,
    channel: &str,
    origin: Instant,
    bounds: Bounds,
) -> Option<String> {
    let mut deadline = tokio::time::Instant::now() + bounds.watch;
    loop {
        let notice = match tokio::time::timeout_at(deadline, listener.try_recv()).await {
            Err(_) => return Some(format!("no heartbeat for {:?}", bounds.watch)),
            Ok(Err(e)) => return Some(e.to_string()),
            Ok(Ok(None)) => return Some("the connection was closed".into()),
            Ok(Ok(Some(notice))) => notice,
        };
        let changes = changes.upgrade()?;
        if notice.channel() == channel {
            let Some(sent) = stamp(notice.payload(), origin) else {
                continue;
            };
            changes.proven(sent);
            deadline = deadline.max((sent + bounds.watch).into());
        } else if notice.payload() == "access" {
            // Migration 0007: changes to keys' holders and roles.
            changes.bump();
        } else {
            changes.bump_data();
        }
    }
}

/// Sends a heartbeat stamped with the time now on `channel`.
async fn notify<'c, E>(conn: E, channel: &str, origin: Instant) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let micros = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(micros.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}

fn stamp(payload: &str, origin: Instant) -> Option<Instant> {
    let micros = payload.parse::<u64>().ok()?;
    origin.checked_add(Duration::from_micros(micros))
}

async fn beat(
    options: PgConnectOptions,
    changes: Weak<Changes>,
    channel: String,
    origin: Instant,
    bounds: Bounds,
) {
    let mut tick = tokio::time::interval(bounds.watch / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connection: Option<PgConnection> = None;
    loop {
        tick.tick().await;
        if changes.strong_count() == 0 {
            return;
        }
        let sending = async {
            let conn = match connection.as_mut() {
                Some(conn) => conn,
                None => connection.insert(options.connect().await?),
            };
            notify(conn, &channel, origin).await
        };
        let failed = match tokio::time::timeout(bounds.connect.min(bounds.watch), sending).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".to_owned()),
        };
        if let Some(reason) = failed {
            // Dropping a connection closes its socket: the next beat opens another.
            connection = None;
            tracing::warn!(%reason, "cannot send the heartbeat");
        }
    }
}
