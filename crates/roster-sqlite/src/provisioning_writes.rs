//! The SCIM writes whose cost grows with a request's size, as SQLite does them best: a JSON
//! array bound once and read with `json_each`, with `CROSS JOIN` fixing the order in which
//! the planner walks it. Written once for both databases in `provisioning.rs`, except these.

use crate::dialect::uuids;
use crate::import::to_json;
use crate::other;
use crate::provisioning::NewMember;
use crate::tx::conflict_on;
use roster_core::provisioning::MemberChange;
use roster_core::{StoreResult, Timestamp};
use sqlx::SqliteConnection;
use uuid::Uuid;

/// Gives people who were known already the name the identity provider sends.
pub(crate) async fn rename_people(
    conn: &mut SqliteConnection,
    renamed: &[&NewMember<'_>],
) -> StoreResult<()> {
    let renamed: Vec<_> = renamed
        .iter()
        .map(|r| (r.email_norm, r.name, &r.name_lower))
        .collect();
    sqlx::query(
        "UPDATE users SET name = j.value ->> 1, name_lower = j.value ->> 2 \
         FROM json_each($1) j WHERE users.email_norm = j.value ->> 0",
    )
    .bind(to_json(&renamed)?)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

pub(crate) async fn write_new_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    rows: &[NewMember<'_>],
    now: Timestamp,
) -> StoreResult<()> {
    let now = now.as_micros();
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.id.simple().to_string(),
                r.email,
                r.email_norm,
                r.name,
                &r.name_lower,
                r.role,
                r.user_name,
                r.user_name_norm,
                r.external_id,
                r.active,
                r.attributes,
                &r.display_name_norm,
            )
        })
        .collect();
    let rows = to_json(&rows)?;
    // People first, then memberships (whose trigger bumps the team version): the order every
    // writer keeps, so that two transactions never wait on each other in a circle.
    sqlx::query(
        "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
         SELECT unhex(value ->> 0), coalesce(value ->> 3, ''), coalesce(value ->> 4, ''), \
                value ->> 1, value ->> 2, $1 \
         FROM json_each($2) WHERE true ORDER BY key \
         ON CONFLICT (email_norm) DO NOTHING",
    )
    .bind(now)
    .bind(&rows)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at, updated_at, \
             user_name, user_name_norm, external_id, active, scim, display_name_norm, version) \
         SELECT o.id, u.id, u.email_norm, coalesce(j.value ->> 5, o.default_role), $2, $2, \
                j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, \
                j.value ->> 11, 1 \
         FROM json_each($3) j JOIN users u ON u.email_norm = j.value ->> 2 \
         JOIN organizations o ON o.id = $1 ORDER BY j.key",
    )
    .bind(org)
    .bind(now)
    .bind(&rows)
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("userName"))?;
    // Group memberships held by email attach to the people now in the team. CROSS JOIN fixes
    // the order: from the rows through the email index. Left to itself the planner starts
    // from every membership held by email (50,000 after a large group replace) and scans the
    // rows for each, which made a batch of creates take two seconds.
    sqlx::query(
        "UPDATE group_memberships SET user_id = \
             (SELECT u.id FROM users u WHERE u.email_norm = group_memberships.email_norm) \
         WHERE rowid IN (SELECT gm.rowid FROM json_each($2) j \
             CROSS JOIN group_memberships gm ON gm.email_norm = j.value ->> 2 \
             CROSS JOIN groups g ON g.id = gm.group_id AND g.org_id = $1 \
             WHERE gm.user_id IS NULL)",
    )
    .bind(org)
    .bind(&rows)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// One member change, in statements whose number does not depend on the ids named.
pub(crate) async fn change_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    group: Uuid,
    change: &MemberChange,
    now: Timestamp,
) -> StoreResult<()> {
    let (ids, replace) = match change {
        MemberChange::RemoveAll => (None, true),
        MemberChange::ReplaceAll(ids) => (Some(ids), true),
        MemberChange::Add(ids) => (Some(ids), false),
        MemberChange::Remove(ids) => {
            // Driven from the ids named (CROSS JOIN fixes the order), so the cost is O(ids)
            // whatever the group's size and the planner's statistics. Service accounts and
            // deployment keys stay, as in a replace: SCIM never shows them.
            sqlx::query(
                "DELETE FROM group_memberships WHERE id IN (SELECT gm.id FROM json_each($2) j \
                 CROSS JOIN group_memberships gm \
                 WHERE gm.user_id = unhex(j.value) AND gm.group_id = $1 \
                   AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = gm.user_id))",
            )
            .bind(group)
            .bind(uuids(ids)?)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
            return Ok(());
        }
    };
    if replace {
        // Memberships held by email for people not yet in the team, and those of service
        // accounts and deployment keys, are not SCIM members (SCIM never shows them), so a
        // SCIM replace leaves them.
        sqlx::query(
            "DELETE FROM group_memberships WHERE group_id = $1 AND user_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = group_memberships.user_id) \
             AND user_id NOT IN (SELECT unhex(value) FROM json_each($2))",
        )
        .bind(group)
        .bind(uuids(ids.map(Vec::as_slice).unwrap_or_default())?)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    }
    let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
        return Ok(());
    };
    let ids: Vec<Uuid> = ids
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let pairs: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!([id.simple().to_string(), Uuid::new_v4().simple().to_string()]))
        .collect();
    // CROSS JOIN keeps the ids named as the outer loop: without statistics the planner may
    // otherwise walk the whole team and parse the list for each member.
    sqlx::query(
        "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
         SELECT unhex(j.value ->> 1), $2, u.id, u.email, u.email_norm, $4 \
         FROM json_each($3) j \
         CROSS JOIN memberships m ON m.org_id = $1 AND m.user_id = unhex(j.value ->> 0) \
         CROSS JOIN users u ON u.id = m.user_id \
         WHERE NOT u.service_account AND NOT u.deployment_key_account \
         ON CONFLICT (group_id, email_norm) DO UPDATE SET user_id = excluded.user_id",
    )
    .bind(org)
    .bind(group)
    .bind(serde_json::Value::from(pairs).to_string())
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}
