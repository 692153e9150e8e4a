//! `roster export members`: a team's people, streamed page by page in the list's order (email,
//! then id), so a team of any size is written in flat memory. The CSV is exactly what
//! `roster import members` reads: exporting, importing into an empty team and exporting again
//! gives the same bytes. Service accounts and deployment keys are not people and are left out.

use super::{CliResult, Failure, OrgArg};
use crate::import::to_cell;
use clap::{Subcommand, ValueEnum};
use roster_core::store::{MembershipFilter, Window};
use roster_core::{Membership, Store};
use std::io::Write;

/// Rows read from the database at a time.
const CHUNK: u32 = 1000;

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// A team's members with their names, roles and groups.
    Members {
        /// The team: its id, or its name when exactly one team has it.
        #[arg(long)]
        org: OrgArg,
        /// `csv` (the import format: email, name, role, groups separated by `;`) or `jsonl`
        /// (one membership per line, as the API shows it).
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

pub async fn run(command: ExportCommand, store: &dyn Store) -> CliResult {
    let ExportCommand::Members { org, format } = command;
    let org = org.resolve(store).await?;
    let filter = MembershipFilter {
        exclude_service_accounts: true,
        exclude_deployment_keys: true,
        ..MembershipFilter::default()
    };
    if let Format::Csv = format {
        csv_can_hold_groups(store, org).await?;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Format::Csv = format {
        out.write_all(b"email,name,role,groups\n")
            .map_err(written)?;
    }
    let mut cursor = None;
    let mut count = 0u64;
    loop {
        let window = Window::After {
            cursor: cursor.take(),
            limit: CHUNK,
        };
        let page = store.list_memberships(org, &filter, window).await?;
        out.write_all(&rows(&page, format)?).map_err(written)?;
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == CHUNK as usize => cursor = Some(last.cursor()),
            _ => break,
        }
    }
    out.flush().map_err(written)?;
    eprintln!("{count} members exported");
    Ok(())
}

fn written(e: impl std::fmt::Display) -> Failure {
    format!("cannot write the export: {e}").into()
}

/// Refuses, before anything is written, a team whose group names the CSV format cannot
/// hold: it separates a person's groups by `;`.
async fn csv_can_hold_groups(store: &dyn Store, org: uuid::Uuid) -> CliResult {
    let mut offset = 0;
    loop {
        let window = Window::Page {
            offset,
            limit: CHUNK,
        };
        let groups = store.list_groups(org, window).await?;
        if let Some(g) = groups.iter().find(|g| g.name.contains(';')) {
            return Err(format!(
                "the group {:?} has a `;` in its name, and the CSV import format separates \
                 groups by `;`: export with --format jsonl",
                g.name
            )
            .into());
        }
        if groups.len() < CHUNK as usize {
            return Ok(());
        }
        offset += u64::from(CHUNK);
    }
}

/// One chunk of members in the export format.
fn rows(page: &[Membership], format: Format) -> CliResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity(page.len() * 64);
    match format {
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(&mut bytes);
            for m in page {
                let mut groups: Vec<&str> = m.groups.iter().map(|g| g.name.as_str()).collect();
                groups.sort_unstable();
                let groups = groups.join(";");
                let (email, name) = (to_cell(&m.user.email), to_cell(&m.user.name));
                let row = [&*email, &*name, m.role.name(), &*to_cell(&groups)];
                csv.write_record(row).map_err(written)?;
            }
            csv.flush().map_err(written)?;
        }
        Format::Jsonl => {
            for m in page {
                serde_json::to_writer(&mut bytes, m).map_err(written)?;
                bytes.push(b'\n');
            }
        }
    }
    Ok(bytes)
}
