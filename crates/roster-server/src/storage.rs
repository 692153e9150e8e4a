//! Opening the store named by a database URL. The scheme picks the backend.

use roster_core::store::StoreOptions;
use roster_core::{Store, StoreError};
use roster_postgres::PostgresStore;
use roster_sqlite::SqliteStore;
use std::sync::Arc;

pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, options).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::Other(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://path/to/roster.db or \
             postgres://user@host/database"
        )))
    }
}
