//! Console sessions: the browser's sign-in, one row per session, named by the digest of the
//! cookie's secret and standing for the API key it was opened with. Compiled into each backend
//! against its `dialect` module (see README.md).

use crate::dialect::{Backend, Stamp, at, ts};
use crate::other;
use async_trait::async_trait;
use roster_core::keys::KeyHash;
use roster_core::store::{ConsoleSession, ConsoleSessions};
use roster_core::{StoreResult, Timestamp};
use uuid::Uuid;

/// How stale a session's last use may be before it is written again.
const SEEN_RESOLUTION_MICROS: i64 = 60_000_000;

#[async_trait]
impl ConsoleSessions for Backend {
    async fn open_session(
        &self,
        session: &KeyHash,
        key: &KeyHash,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions (session_hash, key_hash, user_id, opened_at, seen_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(session.0.as_slice())
        .bind(key.0.as_slice())
        .bind(user)
        .bind(ts(now))
        .execute(self.writes())
        .await
        .map_err(other)?;
        Ok(())
    }

    async fn session(
        &self,
        session: &KeyHash,
        now: Timestamp,
        opened_after: Timestamp,
        seen_after: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>> {
        let row: Option<(Vec<u8>, Vec<u8>, Stamp, Stamp)> = sqlx::query_as(
            "SELECT session_hash, key_hash, opened_at, seen_at FROM console_sessions \
             WHERE session_hash = $1",
        )
        .bind(session.0.as_slice())
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        let Some((found, key, opened, seen)) = row.filter(|r| session.ct_eq(&r.0)) else {
            return Ok(None);
        };
        let (opened_at, seen_at) = (at(opened), at(seen));
        if opened_at < opened_after || seen_at < seen_after {
            return Ok(None);
        }
        let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
            return Ok(None);
        };
        if now.as_micros() - seen_at.as_micros() > SEEN_RESOLUTION_MICROS {
            // In the background, as a key's last activity is noted: only if no other request
            // got there first.
            let pool = self.writes().clone();
            tokio::spawn(async move {
                let done = sqlx::query(
                    "UPDATE console_sessions SET seen_at = $1 WHERE session_hash = $2 \
                     AND seen_at < $1",
                )
                .bind(ts(now))
                .bind(found)
                .execute(&pool)
                .await;
                if let Err(e) = done {
                    tracing::debug!(error = %e, "a console session's last use was not noted");
                }
            });
        }
        Ok(Some(ConsoleSession {
            key: KeyHash::from_digest(key),
            opened_at,
            seen_at,
        }))
    }

    async fn close_session(&self, session: &KeyHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(session.0.as_slice())
            .execute(self.writes())
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn prune_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM console_sessions WHERE session_hash IN \
             (SELECT session_hash FROM console_sessions WHERE seen_at < $1 LIMIT {limit})"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ts(before))
            .execute(self.writes())
            .await
            .map_err(other)?;
        Ok(done.rows_affected())
    }
}
