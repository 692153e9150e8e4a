//! Reads a team's group names for `roster_core::group_names` (see there for why lists take
//! names from memory). Compiled into each backend against its `dialect` module (see
//! README.md).

use crate::dialect::Conn;
use roster_core::StoreResult;
use roster_core::group_names::TeamNames;
use std::sync::Arc;
use uuid::Uuid;

/// Reads the names of `org`'s groups and their version, in one statement.
pub(crate) async fn load(conn: &mut Conn, org: Uuid) -> StoreResult<Arc<TeamNames>> {
    let rows: Vec<(i64, Option<Uuid>, Option<String>)> = sqlx::query_as(
        "SELECT v.group_names_version, g.id, g.name \
         FROM team_versions v LEFT JOIN groups g ON g.org_id = v.org_id WHERE v.org_id = $1",
    )
    .bind(org)
    .fetch_all(conn)
    .await
    .map_err(crate::other)?;
    let version = rows.first().map_or(0, |r| r.0);
    let names = rows
        .into_iter()
        .filter_map(|(_, id, name)| Some((id?, name?)))
        .collect();
    Ok(Arc::new(TeamNames::new(org, version, names)))
}
