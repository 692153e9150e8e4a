//! Webhook endpoints, their delivery log, and the delivery worker's claims: an endpoint stands
//! at a position in its team's change history and moves on as its messages are taken. A claim
//! is a lease written on the endpoint's row (taken with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so nodes that claim together take different endpoints), never a transaction
//! held open across a delivery. Compiled into each backend against its `dialect` module (see
//! README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, NOW, Stamp, at, locks, ts};
use crate::other;
use crate::rows::{prune_oldest, push_window};
use async_trait::async_trait;
use roster_core::audit::AuditEvent;
use roster_core::store::{Webhooks, Window};
use roster_core::webhooks::{
    self as rules, Claimed, DeliveredEvent, Delivery, NewDelivery, NewWebhook, Progress, Source,
    Webhook, WebhookChange,
};
use roster_core::{Origin, StoreError, StoreResult, Timestamp};
use serde_json::{Map, Value, json};
use sqlx::{FromRow, QueryBuilder};
use std::time::Duration;
use uuid::Uuid;

const HOOK: &str = "SELECT id, url, events, active, description, failing_since, created_at, \
     updated_at FROM webhooks WHERE ";

#[derive(FromRow)]
struct HookRow {
    id: Uuid,
    url: String,
    events: String,
    active: bool,
    description: String,
    failing_since: Option<Stamp>,
    created_at: Stamp,
    updated_at: Stamp,
}

fn event_types(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl From<HookRow> for Webhook {
    fn from(r: HookRow) -> Self {
        Webhook {
            id: r.id,
            url: r.url,
            events: event_types(&r.events),
            active: r.active,
            description: r.description,
            failing_since: r.failing_since.map(at),
            created_at: at(r.created_at),
            updated_at: at(r.updated_at),
            secret: None,
        }
    }
}

const DELIVERY: &str = "SELECT id, message_id, type, event_seq, part, attempt, status_code, \
     latency_ms, error, delivered, manual, at FROM webhook_deliveries WHERE ";

#[derive(FromRow)]
struct DeliveryRow {
    id: i64,
    message_id: Uuid,
    #[sqlx(rename = "type")]
    kind: String,
    event_seq: Option<i64>,
    part: i64,
    attempt: i64,
    status_code: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
    delivered: bool,
    manual: bool,
    at: Stamp,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        let part = u32::try_from(r.part).unwrap_or_default();
        Delivery {
            id: r.id,
            event: DeliveredEvent {
                id: r.message_id,
                kind: r.kind,
            },
            attempt: u32::try_from(r.attempt).unwrap_or_default(),
            status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
            latency_ms: u64::try_from(r.latency_ms).unwrap_or_default(),
            error: r.error,
            delivered: r.delivered,
            manual: r.manual,
            created_at: at(r.at),
            source: r
                .event_seq
                .map_or(Source::Ping, |seq| Source::Event { seq, part }),
        }
    }
}

const CLAIMED: &str = "id, org_id, url, events, secret, old_secret, old_secret_until, \
     after_seq, part, attempts, failed_since, slow_until";

#[derive(FromRow)]
struct ClaimRow {
    id: Uuid,
    org_id: Uuid,
    url: String,
    events: String,
    secret: String,
    old_secret: Option<String>,
    old_secret_until: Option<Stamp>,
    after_seq: i64,
    part: i64,
    attempts: i64,
    failed_since: Option<Stamp>,
    slow_until: Option<Stamp>,
}

impl ClaimRow {
    /// What a worker needs, signing with the old secret too while it is still valid at `now`.
    fn claimed(self, now: Timestamp) -> Claimed {
        let mut secrets = vec![self.secret];
        if let (Some(old), Some(until)) = (self.old_secret, self.old_secret_until)
            && at(until) > now
        {
            secrets.push(old);
        }
        Claimed {
            id: self.id,
            org: self.org_id,
            url: self.url,
            events: event_types(&self.events),
            secrets,
            after: self.after_seq,
            part: u32::try_from(self.part).unwrap_or_default(),
            attempts: u32::try_from(self.attempts).unwrap_or_default(),
            failed_since: self.failed_since.map(at),
            slow: self.slow_until.is_some_and(|u| at(u) > now),
        }
    }
}

async fn get(conn: &mut Conn, org: Uuid, id: Uuid, lock: &'static str) -> StoreResult<Webhook> {
    let row: Option<HookRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HOOK}org_id = $1 AND id = $2{}",
        locks(lock)
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    row.map(Webhook::from).ok_or(StoreError::NotFound)
}

fn to_json(events: &Vec<String>) -> StoreResult<String> {
    serde_json::to_string(events).map_err(|e| StoreError::Other(e.to_string()))
}

/// The history's `data` of a change: each field that changed, `{"from", "to"}`; the URL by
/// its host only (a receiver's URL may carry a token in its query).
fn changes(before: &Webhook, after: &Webhook) -> Value {
    let mut data = Map::new();
    let mut field = |name: &str, from: Value, to: Value| {
        if from != to {
            data.insert(name.into(), json!({ "from": from, "to": to }));
        }
    };
    field(
        "url",
        rules::label(&before.url).into(),
        rules::label(&after.url).into(),
    );
    field("events", json!(before.events), json!(after.events));
    field("active", before.active.into(), after.active.into());
    field(
        "description",
        before.description.clone().into(),
        after.description.clone().into(),
    );
    Value::Object(data)
}

fn object(hook: &Webhook) -> Object {
    Object::new("webhook", hook.id, rules::label(&hook.url))
}

async fn insert_delivery(conn: &mut Conn, d: &NewDelivery) -> StoreResult<Option<Delivery>> {
    let (seq, part) = match d.source {
        Source::Event { seq, part } => (Some(seq), i64::from(part)),
        Source::Ping => (None, 0),
    };
    let row: Option<DeliveryRow> = sqlx::query_as(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, type, event_seq, part, attempt, \
         status_code, latency_ms, error, delivered, manual, at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
         WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1) \
         RETURNING id, message_id, type, event_seq, part, attempt, status_code, latency_ms, \
         error, delivered, manual, at",
    )
    .bind(d.webhook)
    .bind(d.message)
    .bind(&d.kind)
    .bind(seq)
    .bind(part)
    .bind(i64::from(d.attempt))
    .bind(d.status_code.map(i64::from))
    .bind(i64::try_from(d.latency_ms).unwrap_or(i64::MAX))
    .bind(&d.error)
    .bind(d.delivered)
    .bind(d.manual)
    .bind(ts(d.at))
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    Ok(row.map(Delivery::from))
}

fn until(now: Timestamp, lease: Duration) -> Stamp {
    ts(now.plus(lease))
}

#[async_trait]
impl Webhooks for Backend {
    async fn create_webhook(
        &self,
        org: Uuid,
        hook: &NewWebhook,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook> {
        let mut tx = self.write().await?;
        let id = Uuid::now_v7();
        let event = Event::on_team(
            org,
            "webhook.created",
            Object::new("webhook", id, rules::label(&hook.url)),
        )
        .with(json!({
            "url": rules::label(&hook.url),
            "events": hook.events,
            "active": hook.active,
            "description": hook.description,
        }));
        // The event first: it holds the team's history, so the endpoint starts after every
        // event committed before it, and sees every one committed after.
        audit::record(&mut tx, origin, event).await?;
        // Counted under the team's history lock that the event took: two creates at once
        // cannot both see room for one more.
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE org_id = $1")
            .bind(org)
            .fetch_one(&mut *tx)
            .await
            .map_err(other)?;
        if u64::try_from(held).unwrap_or(u64::MAX) >= rules::MAX_PER_TEAM {
            return Err(StoreError::Invalid {
                field: None,
                message: format!(
                    "A team may have at most {} webhooks; delete one first.",
                    rules::MAX_PER_TEAM
                ),
            });
        }
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, events, active, description, secret, \
             after_seq, retry_at, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, \
             (SELECT coalesce(max(seq), 0) FROM audit_events WHERE org_id = $2), $8, $8, $8 \
             WHERE EXISTS (SELECT 1 FROM organizations WHERE id = $2)",
        )
        .bind(id)
        .bind(org)
        .bind(&hook.url)
        .bind(to_json(&hook.events)?)
        .bind(hook.active)
        .bind(&hook.description)
        .bind(&hook.secret)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        let mut created = get(&mut tx, org, id, "").await?;
        tx.commit().await.map_err(other)?;
        created.secret = Some(hook.secret.clone());
        Ok(created)
    }

    async fn list_webhooks(&self, org: Uuid, window: Window<Uuid>) -> StoreResult<Vec<Webhook>> {
        let mut qb = QueryBuilder::<Db>::new(HOOK);
        qb.push("org_id = ").push_bind(org);
        push_window(&mut qb, window, "id", |qb, after| {
            qb.push(" AND id > ").push_bind(after);
        });
        let rows: Vec<HookRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(Webhook::from).collect())
    }

    async fn count_webhooks(&self, org: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE org_id = $1")
            .bind(org)
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_webhook(&self, org: Uuid, id: Uuid) -> StoreResult<Webhook> {
        let mut conn = self.reads().acquire().await.map_err(other)?;
        get(&mut conn, org, id, "").await
    }

    async fn update_webhook(
        &self,
        org: Uuid,
        id: Uuid,
        change: &WebhookChange,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook> {
        let mut tx = self.write().await?;
        let before = get(&mut tx, org, id, " FOR UPDATE").await?;
        // The change ends any claim on the endpoint (the lease is cleared below): a node
        // sending to it with the old URL, events, secret or switch stops after its current
        // try, and the next claim reads the new settings.
        let events = change.events.as_ref().map(to_json).transpose()?;
        // Setting `active` resumes a failing endpoint: its stuck message gets a new window.
        // An endpoint switched back on starts from now, as a new one does: what happened
        // while it was off is not sent (a receiver switched off wanted none of it).
        let resume = change.active == Some(true);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events), \
             after_seq = CASE WHEN $6 AND NOT active THEN \
                 (SELECT coalesce(max(seq), 0) FROM audit_events WHERE org_id = webhooks.org_id) \
                 ELSE after_seq END, \
             part = CASE WHEN $6 AND NOT active THEN 0 ELSE part END, \
             active = coalesce($4, active), description = coalesce($5, description), \
             failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, \
             attempts = CASE WHEN $6 THEN 0 ELSE attempts END, \
             failed_since = CASE WHEN $6 THEN NULL ELSE failed_since END, \
             retry_at = CASE WHEN $6 THEN {NOW} ELSE retry_at END, \
             lease_owner = NULL, lease_until = NULL, updated_at = $7 WHERE id = $1"
        )))
        .bind(id)
        .bind(&change.url)
        .bind(events)
        .bind(change.active)
        .bind(&change.description)
        .bind(resume)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        let after = get(&mut tx, org, id, "").await?;
        let data = changes(&before, &after);
        if data.as_object().is_some_and(|d| !d.is_empty()) {
            let event = Event::on_team(org, "webhook.updated", object(&after)).with(data);
            audit::record(&mut tx, origin, event).await?;
        }
        tx.commit().await.map_err(other)?;
        Ok(after)
    }

    async fn rotate_webhook_secret(
        &self,
        org: Uuid,
        id: Uuid,
        secret: &str,
        old_until: Timestamp,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook> {
        let mut tx = self.write().await?;
        get(&mut tx, org, id, " FOR UPDATE").await?;
        sqlx::query(
            "UPDATE webhooks SET old_secret = secret, old_secret_until = $3, secret = $2, \
             lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(secret)
        .bind(ts(old_until))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        let mut rotated = get(&mut tx, org, id, "").await?;
        let event = Event::on_team(org, "webhook.updated", object(&rotated))
            .with(json!({ "secret": "rotated" }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)?;
        rotated.secret = Some(secret.to_owned());
        Ok(rotated)
    }

    async fn delete_webhook(&self, org: Uuid, id: Uuid, origin: &Origin) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let gone = get(&mut tx, org, id, " FOR UPDATE").await?;
        sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let event = Event::on_team(org, "webhook.deleted", object(&gone));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }

    async fn webhook_target(&self, org: Uuid, id: Uuid, now: Timestamp) -> StoreResult<Claimed> {
        let row: Option<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CLAIMED} FROM webhooks WHERE org_id = $1 AND id = $2"
        )))
        .bind(org)
        .bind(id)
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        row.map(|r| r.claimed(now)).ok_or(StoreError::NotFound)
    }

    async fn list_deliveries(
        &self,
        org: Uuid,
        webhook: Uuid,
        window: Window<i64>,
    ) -> StoreResult<Vec<Delivery>> {
        let mut qb = QueryBuilder::<Db>::new(DELIVERY);
        qb.push("webhook_id = (SELECT id FROM webhooks WHERE org_id = ")
            .push_bind(org)
            .push(" AND id = ")
            .push_bind(webhook)
            .push(")");
        push_window(&mut qb, window, "id DESC", |qb, before| {
            qb.push(" AND id < ").push_bind(before);
        });
        let rows: Vec<DeliveryRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(Delivery::from).collect())
    }

    async fn count_deliveries(&self, org: Uuid, webhook: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = \
             (SELECT id FROM webhooks WHERE org_id = $1 AND id = $2)",
        )
        .bind(org)
        .bind(webhook)
        .fetch_one(self.reads())
        .await
        .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_delivery(&self, org: Uuid, webhook: Uuid, id: i64) -> StoreResult<Delivery> {
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DELIVERY}id = $3 AND webhook_id = \
             (SELECT id FROM webhooks WHERE org_id = $1 AND id = $2)"
        )))
        .bind(org)
        .bind(webhook)
        .bind(id)
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        row.map(Delivery::from).ok_or(StoreError::NotFound)
    }

    async fn log_delivery(&self, delivery: &NewDelivery) -> StoreResult<Delivery> {
        let mut tx = self.write().await?;
        let logged = insert_delivery(&mut tx, delivery)
            .await?
            .ok_or(StoreError::NotFound)?;
        if delivery.delivered {
            sqlx::query(
                "UPDATE webhooks SET failing_since = NULL, attempts = 0, failed_since = NULL, \
                 retry_at = $2 WHERE id = $1 AND failing_since IS NOT NULL",
            )
            .bind(delivery.webhook)
            .bind(ts(delivery.at))
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        }
        tx.commit().await.map_err(other)?;
        Ok(logged)
    }

    async fn claim_webhooks(
        &self,
        node: Uuid,
        now: Timestamp,
        lease: Duration,
        limit: u32,
        slow: bool,
    ) -> StoreResult<Vec<Claimed>> {
        const DUE: &str = "w.active AND w.failing_since IS NULL AND w.retry_at <= $1 \
             AND (w.lease_until IS NULL OR w.lease_until < $1) \
             AND EXISTS (SELECT 1 FROM audit_events e \
                         WHERE e.org_id = w.org_id AND e.seq > w.after_seq)";
        let pace = if slow {
            "w.slow_until > $1"
        } else {
            "(w.slow_until IS NULL OR w.slow_until <= $1)"
        };
        // A read first, on the readers: an idle poll (or one for the slow endpoints when
        // none is due) never takes SQLite's write lock.
        let due: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM webhooks w WHERE {DUE} AND {pace})"
        )))
        .bind(ts(now))
        .fetch_one(self.reads())
        .await
        .map_err(other)?;
        if !due {
            return Ok(Vec::new());
        }
        let rows: Vec<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET lease_owner = $2, lease_until = $3 WHERE id IN \
             (SELECT w.id FROM webhooks w WHERE {DUE} AND {pace} \
              ORDER BY w.retry_at LIMIT {limit}{}) \
             RETURNING {CLAIMED}",
            locks(" FOR UPDATE SKIP LOCKED")
        )))
        .bind(ts(now))
        .bind(node)
        .bind(until(now, lease))
        .fetch_all(self.writes())
        .await
        .map_err(other)?;
        Ok(rows.into_iter().map(|r| r.claimed(now)).collect())
    }

    async fn webhook_events(
        &self,
        org: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        audit::read_events(
            self.reads(),
            &format!("org_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"),
            org,
            after,
        )
        .await
    }

    async fn webhook_event(&self, org: Uuid, seq: i64) -> StoreResult<Option<AuditEvent>> {
        let found = audit::read_events(self.reads(), "org_id = $1 AND seq = $2", org, seq).await?;
        Ok(found.into_iter().next())
    }

    async fn advance_webhook(
        &self,
        node: Uuid,
        id: Uuid,
        progress: &Progress,
        delivery: Option<&NewDelivery>,
        now: Timestamp,
        lease: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        crate::dialect::lazy_commit(&mut tx).await?;
        if let Some(delivery) = delivery {
            insert_delivery(&mut tx, delivery).await?;
        }
        const HELD: &str = " WHERE id = $1 AND lease_owner = $2";
        let query = match progress {
            Progress::Moved { after, part } => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET after_seq = $3, part = $4, attempts = 0, \
                 failed_since = NULL, retry_at = $5, lease_until = $6{HELD}"
            )))
            .bind(id)
            .bind(node)
            .bind(after)
            .bind(i64::from(*part))
            .bind(ts(now))
            .bind(until(now, lease)),
            Progress::Retry {
                retry_at,
                failed_since,
                attempts,
            } => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET attempts = $3, failed_since = $4, retry_at = $5, \
                 lease_owner = NULL, lease_until = NULL{HELD}"
            )))
            .bind(id)
            .bind(node)
            .bind(i64::from(*attempts))
            .bind(ts(*failed_since))
            .bind(ts(*retry_at)),
            Progress::GiveUp => sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET failing_since = $3, attempts = 0, failed_since = NULL, \
                 lease_owner = NULL, lease_until = NULL{HELD}"
            )))
            .bind(id)
            .bind(node)
            .bind(ts(now)),
        };
        let held = query
            .execute(&mut *tx)
            .await
            .map_err(other)?
            .rows_affected()
            == 1;
        // Only while the claim is this node's: a try to settings an admin has since changed
        // says nothing of the endpoint now.
        if held && delivery.is_some_and(|d| rules::is_slow(d.latency_ms)) {
            sqlx::query("UPDATE webhooks SET slow_until = $2 WHERE id = $1")
                .bind(id)
                .bind(until(now, rules::SLOW_FOR))
                .execute(&mut *tx)
                .await
                .map_err(other)?;
        }
        tx.commit().await.map_err(other)?;
        Ok(held)
    }

    async fn release_webhook(&self, node: Uuid, id: Uuid) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhooks SET lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(node)
        .execute(self.writes())
        .await
        .map(|_| ())
        .map_err(other)
    }

    async fn webhook_backlog(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhooks w JOIN audit_events e \
             ON e.org_id = w.org_id AND e.seq > w.after_seq WHERE w.active",
        )
        .fetch_one(self.reads())
        .await
        .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn prune_webhook_deliveries(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        prune_oldest(self.writes(), "webhook_deliveries", "id", before, limit).await
    }
}
