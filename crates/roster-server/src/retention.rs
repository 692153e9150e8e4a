//! What Roster keeps for a time, forgotten in the background: idempotency keys after a day,
//! console sessions once idle past their timeout, change-history events and webhook
//! deliveries after `--audit-retention-days`. Every ten minutes, a thousand rows
//! at a time, so that no statement holds the database for long.

use roster_core::{Clock, Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;

const BATCH: u32 = 1000;

pub async fn prune(store: Arc<dyn Store>, clock: Arc<dyn Clock>, audit_kept_for: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now();
        let before = now.minus(crate::idempotency::KEPT_FOR);
        drain("idempotency keys", || {
            store.prune_idempotency_keys(before, BATCH)
        })
        .await;
        let before = now.minus(crate::console::session::IDLE);
        drain("console sessions", || store.prune_sessions(before, BATCH)).await;
        let before = now.minus(audit_kept_for);
        drain("audit events", || store.prune_audit_events(before, BATCH)).await;
        drain("webhook deliveries", || {
            store.prune_webhook_deliveries(before, BATCH)
        })
        .await;
    }
}

/// Runs `step` until it forgets less than a batch.
async fn drain<F, Fut>(what: &str, step: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    loop {
        match step().await {
            Ok(n) if n >= u64::from(BATCH) => tokio::task::yield_now().await,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "pruning {what} failed");
                break;
            }
        }
    }
}

/// How long events are kept, for a retention of `days`.
pub fn audit_kept_for(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 60 * 60)
}
