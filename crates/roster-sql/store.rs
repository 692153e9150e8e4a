//! The storage interface, [`roster_core::Store`], for each backend: each of its parts is
//! implemented in its resource's module, where the use case is written. A method that changes
//! data holds [`Changes::writing`] until it is done, so nothing read while it runs is kept as
//! current. Compiled into each backend against its `dialect` module (see README.md).

use crate::dialect::Backend;
use crate::other;
use async_trait::async_trait;
use roster_core::changes::Changes;
use roster_core::store::PoolState;
use roster_core::{Store, StoreResult};
use std::sync::Arc;

#[async_trait]
impl Store for Backend {
    fn changes(&self) -> Arc<Changes> {
        self.changes.clone()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.reads())
            .await
            .map(|_| ())
            .map_err(other)
    }

    fn pools(&self) -> Vec<PoolState> {
        self.named_pools()
            .into_iter()
            .map(|(name, pool)| PoolState {
                name,
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            })
            .collect()
    }

    async fn ready(&self) -> StoreResult<bool> {
        crate::tx::migrated(self.reads()).await
    }

    async fn backup(&self, to: &std::path::Path) -> StoreResult<()> {
        crate::backup(self, to).await
    }
}
