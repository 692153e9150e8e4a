//! The SCIM writes whose cost grows with a request's size, as PostgreSQL does them best:
//! `UNNEST` of bound arrays, one statement for any number of people. Written once for both
//! databases in `provisioning.rs`, except these.

use crate::dialect::ts;
use crate::other;
use crate::provisioning::NewMember;
use crate::tx::conflict_on;
use roster_core::provisioning::MemberChange;
use roster_core::{StoreResult, Timestamp};
use sqlx::PgConnection;
use uuid::Uuid;

fn column<'a, T>(rows: &'a [NewMember], f: impl Fn(&'a NewMember) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Gives people who were known already the name the identity provider sends.
pub(crate) async fn rename_people(
    conn: &mut PgConnection,
    renamed: &[&NewMember<'_>],
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users u SET name = t.name, name_lower = t.name_lower \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(email_norm, name, name_lower) \
             WHERE u.email_norm = t.email_norm",
    )
    .bind(renamed.iter().map(|r| r.email_norm).collect::<Vec<_>>())
    .bind(renamed.iter().map(|r| r.name).collect::<Vec<_>>())
    .bind(
        renamed
            .iter()
            .map(|r| r.name_lower.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// The writes of `create_users` for the admitted rows.
pub(crate) async fn write_new_members(
    conn: &mut PgConnection,
    org: Uuid,
    rows: &[NewMember<'_>],
    now: Timestamp,
) -> StoreResult<()> {
    let now = ts(now);
    let emails = column(rows, |r| r.email_norm);
    let names = column(rows, |r| r.name);
    let lower = column(rows, |r| r.name_lower.as_deref());
    // People first, then memberships (whose trigger bumps the team version): the order every
    // writer keeps, so that two transactions never wait on each other in a circle.
    sqlx::query(
        "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
         SELECT id, coalesce(name, ''), coalesce(name_lower, ''), email, email_norm, $1 \
         FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) \
             WITH ORDINALITY AS t(id, email, email_norm, name, name_lower, pos) ORDER BY pos \
         ON CONFLICT (email_norm) DO NOTHING",
    )
    .bind(now)
    .bind(column(rows, |r| r.id))
    .bind(column(rows, |r| r.email))
    .bind(&emails)
    .bind(&names)
    .bind(&lower)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at, updated_at, \
             user_name, user_name_norm, external_id, active, scim, display_name_norm, version) \
         SELECT o.id, u.id, u.email_norm, coalesce(t.role, o.default_role), $2, $2, \
                t.user_name, t.user_name_norm, t.external_id, t.active, t.scim, t.dn, 1 \
         FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
                     $8::bool[], $9::text[], $10::text[], $11::uuid[], $12::bool[]) WITH ORDINALITY \
             AS t(email_norm, role, user_name, user_name_norm, external_id, active, scim, dn, \
                  id, linked, pos) \
         JOIN users u ON u.email_norm = t.email_norm AND (u.id = t.id OR t.linked) \
         JOIN organizations o ON o.id = $1 ORDER BY t.pos",
    )
    .bind(org)
    .bind(now)
    .bind(&emails)
    .bind(column(rows, |r| r.role))
    .bind(column(rows, |r| r.user_name))
    .bind(column(rows, |r| r.user_name_norm))
    .bind(column(rows, |r| r.external_id))
    .bind(column(rows, |r| r.active))
    .bind(column(rows, |r| r.attributes))
    .bind(column(rows, |r| r.display_name_norm.as_deref()))
    // Only the people this statement made or the team may link: someone another transaction
    // made with one of these emails meanwhile is not linked past the rule.
    .bind(column(rows, |r| r.id))
    .bind(column(rows, |r| r.linked))
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("userName"))?;
    // Group memberships held by email attach to the people now in the team.
    sqlx::query(
        "UPDATE group_memberships gm SET user_id = u.id \
         FROM users u, groups g \
         WHERE u.email_norm = ANY($2) AND gm.email_norm = u.email_norm \
           AND gm.user_id IS NULL AND g.id = gm.group_id AND g.org_id = $1 \
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = u.id)",
    )
    .bind(org)
    .bind(&emails)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// One member change, in statements whose number does not depend on the ids named.
pub(crate) async fn change_members(
    conn: &mut PgConnection,
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
            // The people's memberships first (the only condition an index can serve there is
            // user_id), then those of this group: O(ids) even when the planner believes the
            // group empty and would scan it by group_id. Service accounts and deployment keys
            // stay, as in a replace: SCIM never shows them.
            sqlx::query(
                "WITH theirs AS MATERIALIZED (SELECT id, group_id FROM group_memberships \
                     WHERE user_id = ANY($2::uuid[]) \
                       AND NOT EXISTS (SELECT 1 FROM accounts a \
                           WHERE a.user_id = group_memberships.user_id)) \
                 DELETE FROM group_memberships WHERE id IN \
                     (SELECT id FROM theirs WHERE group_id = $1)",
            )
            .bind(group)
            .bind(ids)
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
             AND user_id NOT IN (SELECT unnest($2::uuid[]))",
        )
        .bind(group)
        .bind(ids.map(Vec::as_slice).unwrap_or_default())
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
    let new_ids: Vec<Uuid> = ids.iter().map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
         SELECT j.new_id, $2, u.id, u.email, u.email_norm, $5 \
         FROM unnest($3::uuid[], $4::uuid[]) AS j (user_id, new_id) \
         JOIN memberships m ON m.org_id = $1 AND m.user_id = j.user_id \
         JOIN users u ON u.id = m.user_id \
         WHERE NOT u.service_account AND NOT u.deployment_key_account \
         ON CONFLICT (group_id, email_norm) DO UPDATE SET user_id = excluded.user_id",
    )
    .bind(org)
    .bind(group)
    .bind(&ids)
    .bind(&new_ids)
    .bind(ts(now))
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}
