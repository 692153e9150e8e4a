//! Idempotency keys: the first answer to a write, per API key and `Idempotency-Key`, so that a retried
//! request gets that answer back instead of making its change twice. Compiled into each
//! backend against its `dialect` module (see README.md).

use crate::dialect::{Backend, Db, Stamp, at, ts};
use crate::other;
use async_trait::async_trait;
use roster_core::store::{Idempotency, KeptAnswer, KeyClaim};
use roster_core::{StoreResult, Timestamp};
use uuid::Uuid;

/// `state`: the request is running; it was carried out and its answer kept; carried out, and
/// its answer not kept (it held a credential, or was too large).
const RUNNING: i16 = 0;
const KEPT: i16 = 1;
const NOT_KEPT: i16 = 2;

/// Kept answers are counted by the hour their key was claimed in (`idempotency_usage`); an
/// answer is kept a day, so the last `KEPT_HOURS` hours before its own hold every answer kept
/// beside it (and up to an hour of answers already gone: the budget errs on the safe side).
const HOUR_MICROS: i64 = 3_600_000_000;
const KEPT_HOURS: i64 = 24;

/// What a kept answer counts against its person's budget: its bytes and its row's, so that
/// many empty answers (a 204's) are bounded too.
fn kept_cost(answer: &KeptAnswer) -> i64 {
    i64::try_from(answer.body.len() + answer.headers.len() + 256).unwrap_or(i64::MAX)
}

type KeyRow = (Vec<u8>, i16, Option<i32>, Option<String>, Option<Vec<u8>>);

/// What holds the key, if anything still does; `None` when it is free to claim.
fn standing(row: Option<KeyRow>) -> Option<KeyClaim> {
    let (fingerprint, state, status, headers, body) = row?;
    Some(match (state, status, headers, body) {
        (RUNNING, ..) => KeyClaim::Running { fingerprint },
        (KEPT, Some(status), Some(headers), Some(body)) => KeyClaim::Done {
            fingerprint,
            answer: Some(KeptAnswer {
                status: u16::try_from(status).unwrap_or(500),
                headers,
                body,
            }),
        },
        _ => KeyClaim::Done {
            fingerprint,
            answer: None,
        },
    })
}

/// The key's row unless it expired or was abandoned, read through `db`.
async fn live_row<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    holder: &[u8],
    key: &str,
    expired: Timestamp,
    abandoned: Timestamp,
) -> StoreResult<Option<KeyRow>> {
    sqlx::query_as(
        "SELECT fingerprint, state, status, headers, body FROM idempotency_keys \
         WHERE key_hash = $1 AND key = $2 AND created_at >= $3 \
         AND (state <> $4 OR created_at >= $5)",
    )
    .bind(holder)
    .bind(key)
    .bind(ts(expired))
    .bind(RUNNING)
    .bind(ts(abandoned))
    .fetch_optional(db)
    .await
    .map_err(other)
}

#[async_trait]
impl Idempotency for Backend {
    async fn claim_idempotency_key(
        &self,
        holder: &[u8],
        user: Uuid,
        key: &str,
        fingerprint: &[u8],
        now: Timestamp,
        expired: Timestamp,
        abandoned: Timestamp,
    ) -> StoreResult<KeyClaim> {
        // A read first: retries that wait for a running request, and replays, take no write
        // (on SQLite they would queue behind the very request they wait for).
        let row = live_row(self.reads(), holder, key, expired, abandoned).await?;
        if let Some(claim) = standing(row) {
            return Ok(claim);
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE key_hash = $1 AND key = $2 \
             AND (created_at < $3 OR (state = $4 AND created_at < $5))",
        )
        .bind(holder)
        .bind(key)
        .bind(ts(expired))
        .bind(RUNNING)
        .bind(ts(abandoned))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (key_hash, user_id, key, fingerprint, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash, key) DO NOTHING",
        )
        .bind(holder)
        .bind(user)
        .bind(key)
        .bind(fingerprint)
        .bind(RUNNING)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?
        .rows_affected()
            == 1;
        let claim = if claimed {
            KeyClaim::Claimed
        } else {
            // Claimed by a request that ran at the same moment: it holds the key now.
            let row = live_row(&mut *tx, holder, key, expired, abandoned).await?;
            // (Or by one that has just gone: look again.)
            standing(row).unwrap_or(KeyClaim::Running {
                fingerprint: fingerprint.to_vec(),
            })
        };
        tx.commit().await.map_err(other)?;
        Ok(claim)
    }

    async fn finish_idempotency_key(
        &self,
        holder: &[u8],
        key: &str,
        answer: Option<&KeptAnswer>,
        budget: u64,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let claimed: Option<(Uuid, Stamp)> = sqlx::query_as(
            "SELECT user_id, created_at FROM idempotency_keys WHERE key_hash = $1 AND key = $2",
        )
        .bind(holder)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        // The person's kept answers stay within `budget`: past it, an answer is not kept.
        let mut answer = answer;
        if let (Some((user, at_claim)), Some(kept)) = (claimed, answer) {
            let hour = at(at_claim).as_micros().div_euclid(HOUR_MICROS);
            let held: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(sum(bytes) AS bigint) FROM idempotency_usage \
                 WHERE user_id = $1 AND hour >= $2",
            )
            .bind(user)
            .bind(hour - KEPT_HOURS)
            .fetch_one(&mut *tx)
            .await
            .map_err(other)?;
            let cost = kept_cost(kept);
            if held.unwrap_or(0).saturating_add(cost) > i64::try_from(budget).unwrap_or(i64::MAX) {
                answer = None;
            } else {
                sqlx::query(
                    "INSERT INTO idempotency_usage (user_id, hour, bytes) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, hour) DO UPDATE \
                     SET bytes = idempotency_usage.bytes + excluded.bytes",
                )
                .bind(user)
                .bind(hour)
                .bind(cost)
                .execute(&mut *tx)
                .await
                .map_err(other)?;
            }
        }
        let state = if answer.is_some() { KEPT } else { NOT_KEPT };
        sqlx::query(
            "UPDATE idempotency_keys SET state = $3, status = $4, headers = $5, body = $6 \
             WHERE key_hash = $1 AND key = $2",
        )
        .bind(holder)
        .bind(key)
        .bind(state)
        .bind(answer.map(|a| i32::from(a.status)))
        .bind(answer.map(|a| a.headers.as_str()))
        .bind(answer.map(|a| a.body.as_slice()))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        tx.commit().await.map_err(other)?;
        Ok(answer.is_some())
    }

    async fn release_idempotency_key(&self, holder: &[u8], key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key_hash = $1 AND key = $2 AND state = $3")
            .bind(holder)
            .bind(key)
            .bind(RUNNING)
            .execute(self.writes())
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn prune_idempotency_keys(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        // The hours before the oldest kept answer's count for nothing now.
        sqlx::query("DELETE FROM idempotency_usage WHERE hour < $1")
            .bind(before.as_micros().div_euclid(HOUR_MICROS))
            .execute(self.writes())
            .await
            .map_err(other)?;
        let stamp: Stamp = ts(before);
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (key_hash, key) IN (SELECT key_hash, key \
             FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
        )
        .bind(stamp)
        .bind(i64::from(limit))
        .execute(self.writes())
        .await
        .map_err(other)?;
        Ok(done.rows_affected())
    }
}
