//! The delivery worker, one per node: it claims endpoints that have events waiting (a lease,
//! so nodes on one database share them and one message goes out once), and sends each its
//! messages in the order of its team's history, one at a time, moving the endpoint's position
//! only after the receiver took a message. The history is the outbox: an event exists only
//! once its change committed, and a position is stored, so a restart resumes where it was.

use super::{Attempt, Deliverer};
use crate::metrics::Metrics;
use roster_core::audit::AuditEvent;
use roster_core::webhooks::{self as rules, Claimed, NewDelivery, Progress, Source};
use roster_core::{Clock, Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim lasts without news from its node: above the 10 s a send may take.
const LEASE: Duration = Duration::from_secs(60);
/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(200);
/// Endpoints one node serves at once.
const AT_ONCE: u32 = 8;
/// Messages sent to one endpoint before it is let go, so that others get their turn.
const PER_CLAIM: usize = 200;
/// Events read at once: a member-list event may hold 100,000 people.
const EVENTS_AT_ONCE: u32 = 4;

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub deliverer: Arc<Deliverer>,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Delivers until the process ends.
    pub async fn run(self) {
        let node = Uuid::new_v4();
        loop {
            let now = self.clock.now();
            match self.store.claim_webhooks(node, now, LEASE, AT_ONCE).await {
                Ok(claimed) if !claimed.is_empty() => {
                    let serving = claimed.into_iter().map(|c| self.serve(node, c));
                    futures_util::future::join_all(serving).await;
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot claim endpoints");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn serve(&self, node: Uuid, claimed: Claimed) {
        let id = claimed.id;
        if let Err(e) = self.deliver(node, claimed).await {
            tracing::warn!(webhook = %id, error = %e, "webhooks: delivery stopped");
        }
        if let Err(e) = self.store.release_webhook(node, id).await {
            tracing::warn!(webhook = %id, error = %e, "webhooks: cannot release an endpoint");
        }
    }

    /// Sends the endpoint its waiting messages in order, until it has none, one fails, its
    /// claim is lost, or it had its share.
    async fn deliver(&self, node: Uuid, mut hook: Claimed) -> StoreResult<()> {
        let mut sent = 0;
        loop {
            let events = (self.store)
                .webhook_events(hook.org, hook.after, EVENTS_AT_ONCE)
                .await?;
            if events.is_empty() {
                return Ok(());
            }
            for event in events {
                if !self
                    .deliver_event(node, &mut hook, &event, &mut sent)
                    .await?
                {
                    return Ok(());
                }
            }
            if sent >= PER_CLAIM {
                return Ok(());
            }
        }
    }

    /// Sends the messages of `event` that the endpoint has not had; whether to go on.
    async fn deliver_event(
        &self,
        node: Uuid,
        hook: &mut Claimed,
        event: &AuditEvent,
        sent: &mut usize,
    ) -> StoreResult<bool> {
        let messages = rules::messages(event);
        let parts = messages.len();
        let mut skipped = false;
        for message in messages.iter().skip(hook.part as usize) {
            let next = if message.part as usize + 1 == parts {
                (event.seq, 0)
            } else {
                (hook.after, message.part + 1)
            };
            if !rules::wants(&hook.events, &message.kind) {
                (hook.after, hook.part) = next;
                skipped = true;
                continue;
            }
            let id = rules::message_id(event.id, message.part);
            let body = rules::body(event, message, parts);
            let attempt = self
                .deliverer
                .send(&hook.url, &hook.secrets, id, body)
                .await;
            self.metrics.webhook_delivered(&attempt);
            let now = self.clock.now();
            let tries = hook.attempts + 1;
            let delivery = NewDelivery {
                webhook: hook.id,
                message: id,
                kind: message.kind.clone(),
                source: Source::Event {
                    seq: event.seq,
                    part: message.part,
                },
                attempt: tries,
                status_code: attempt.status_code,
                latency_ms: attempt.latency_ms,
                error: attempt.error.clone(),
                delivered: attempt.delivered,
                manual: false,
                at: now,
            };
            let progress = self.after(&attempt, hook, next, tries, now);
            let held = (self.store)
                .advance_webhook(node, hook.id, &progress, Some(&delivery), now, LEASE)
                .await?;
            if !held || !attempt.delivered {
                return Ok(false);
            }
            (hook.after, hook.part) = next;
            hook.attempts = 0;
            hook.failed_since = None;
            skipped = false;
            *sent += 1;
        }
        if parts == 0 || hook.after != event.seq {
            (hook.after, hook.part) = (event.seq, 0);
            skipped = true;
        }
        if skipped {
            let moved = Progress::Moved {
                after: hook.after,
                part: hook.part,
            };
            let now = self.clock.now();
            let held = (self.store)
                .advance_webhook(node, hook.id, &moved, None, now, LEASE)
                .await?;
            return Ok(held);
        }
        Ok(true)
    }

    /// Where the endpoint goes after a try: on to `next`, or a retry, or failing.
    fn after(
        &self,
        attempt: &Attempt,
        hook: &Claimed,
        next: (i64, u32),
        tries: u32,
        now: roster_core::Timestamp,
    ) -> Progress {
        if attempt.delivered {
            return Progress::Moved {
                after: next.0,
                part: next.1,
            };
        }
        let settings = &self.deliverer.settings;
        let progress = rules::after_failure(
            now,
            hook.failed_since,
            tries,
            settings.retry_base,
            settings.retry_for,
            rand::random::<f64>(),
        );
        if matches!(progress, Progress::GiveUp) {
            tracing::warn!(webhook = %hook.id, "webhooks: an endpoint failed for the whole retry window and is marked failing");
        }
        progress
    }
}
