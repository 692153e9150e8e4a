//! `roster audit export`: a team's change history as JSON Lines, newest first, streamed in
//! chunks so a history of any length is written in flat memory. A team that has been deleted
//! keeps its history until retention prunes it: name it by its id.

use super::{CliResult, Failure, OrgArg};
use clap::Subcommand;
use roster_core::audit::{AuditCursor, AuditFilter, AuditScope};
use roster_core::store::Window;
use roster_core::{Store, StoreError, Timestamp};
use std::io::Write;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Events read from the database at a time.
const CHUNK: u32 = 1000;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Write a team's change history to standard output, one event per line (JSON), newest
    /// first, as `GET /api/audit/organizations/{id}/` shows them.
    Export {
        /// The team: its id (also for a deleted team), or its name when exactly one team has
        /// it.
        #[arg(long)]
        org: OrgArg,
        /// Only events at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_parser = rfc3339)]
        since: Option<Timestamp>,
        /// Only events before this time (RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        until: Option<Timestamp>,
    },
}

fn rfc3339(text: &str) -> Result<Timestamp, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(Timestamp::from_offset_date_time)
        .map_err(|_| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"))
}

pub async fn run(command: AuditCommand, store: &dyn Store) -> CliResult {
    let AuditCommand::Export { org, since, until } = command;
    // A deleted team's history outlives it: an id is taken as it is.
    let org = match org.0.parse::<Uuid>() {
        Ok(id) => id,
        Err(_) => org.resolve(store).await?,
    };
    let filter = AuditFilter {
        since,
        until,
        ..AuditFilter::default()
    };
    let scope = AuditScope::Organization(org);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut cursor: Option<AuditCursor> = None;
    let mut count = 0u64;
    loop {
        let window = Window::After {
            cursor: cursor.take(),
            limit: CHUNK,
        };
        let events = store.list_audit_events(scope, &filter, window).await?;
        for event in &events {
            serde_json::to_writer(&mut out, event).map_err(written)?;
            out.write_all(b"\n").map_err(written)?;
        }
        count += events.len() as u64;
        match events.last() {
            Some(last) if events.len() == CHUNK as usize => cursor = Some(last.cursor()),
            _ => break,
        }
    }
    out.flush().map_err(written)?;
    // Nothing to export and no such team: most likely a mistyped id, which says so (exit 1)
    // as every other command does; a deleted team's history is still exported above.
    if count == 0 && matches!(store.get_organization(org).await, Err(StoreError::NotFound)) {
        return Err(format!("no organization {org}, and no history of one").into());
    }
    eprintln!("{count} events exported");
    Ok(())
}

fn written(e: impl std::fmt::Display) -> Failure {
    format!("cannot write the export: {e}").into()
}
