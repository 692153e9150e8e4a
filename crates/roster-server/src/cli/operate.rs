//! The operator commands: people, keys, teams, members, domains and imports, each through the
//! same store use case the API calls, so each refusal is the API's.

use super::{CliResult, Failure, OrgArg, parse_role};
use crate::import::ReadAhead;
use clap::Subcommand;
use roster_core::Origin;
use roster_core::keys::{self, PREFIX_LEN};
use roster_core::store::{AccountKind, KeyRef, NewOrganization, NewUser, Window};
use roster_core::{Clock, EmailDomain, Role, Store, StoreError, SystemClock, email};
use std::path::PathBuf;
use uuid::Uuid;

/// The commands that work on the database directly (also while a server runs on it).
#[derive(Subcommand, Debug)]
pub enum Operation {
    /// Server operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Organizations (teams).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Team members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Email domains verified for a team.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Bulk imports.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Create (or find) a person, make them an operator, and print a new key for them. Their
    /// other keys keep working: `roster key revoke` ends them.
    Create {
        /// The operator's email.
        #[arg(long)]
        email: String,
        /// Their name (a person found by email keeps theirs unless this is given).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the operators and the keys each holds (by their first characters), as JSON lines.
    List,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Revoke keys: one key named by its first 8 characters (or the whole key), or every key
    /// of the account with an email. Every node stops taking them at once.
    Revoke {
        /// The key's first 8 characters, the key itself, or an account's email.
        key_or_email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create a team with this person as its admin; prints {"id": ..., "key": ...}.
    Create {
        /// The team's name.
        name: String,
        /// The email of the team's first admin (created if new).
        #[arg(long)]
        admin_email: String,
        /// The admin's name.
        #[arg(long)]
        admin_name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Add a person to a team (creating them if new), or change their role.
    Add {
        /// The team: its id, or its name when exactly one team has it.
        org: OrgArg,
        /// The person's email.
        email: String,
        /// Their name.
        #[arg(long)]
        name: Option<String>,
        /// member, admin, developer, restricted, manager (or 1-5); default: the team's.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// Also issue an API key for the person and print it.
        #[arg(long)]
        key: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Verify a domain for a team; prints the domain record as one JSON line. A domain the
    /// team has already is left as it is; another team's is refused.
    Add {
        /// The team: its id, or its name when exactly one team has it.
        org: OrgArg,
        /// The domain, e.g. example.com.
        domain: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Add people from a CSV (columns: email, and optionally name, role, groups separated by
    /// `;`) to a team and its groups, creating missing groups, in one transaction.
    Members {
        /// The team: its id, or its name when exactly one team has it.
        #[arg(long)]
        org: OrgArg,
        /// The CSV file (`-` for standard input).
        file: PathBuf,
        /// Check everything and print what would change, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(operation: Operation, store: &dyn Store) -> CliResult {
    let clock = SystemClock;
    match operation {
        Operation::Operator(OperatorCommand::Create { email, name }) => {
            let user = person(store, &clock, &email, name).await?;
            store.set_operator(user, true).await?;
            println!("{}", new_key(store, &clock, user).await?);
        }
        Operation::Operator(OperatorCommand::List) => {
            for held in store.operators().await? {
                println!("{}", json_line(&held)?);
            }
        }
        Operation::Key(KeyCommand::Revoke { key_or_email }) => {
            let text = key_or_email.trim().to_ascii_lowercase();
            let whole = keys::KeyHash::of(&text);
            let (which, named) = if text.contains('@') {
                (KeyRef::Holder(&text), text.clone())
            } else if keys::looks_like_key(&text) {
                // Never more of a key than its prefix in what is printed.
                (KeyRef::Key(&whole), format!("{}…", &text[..PREFIX_LEN]))
            } else if text.len() == PREFIX_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                (KeyRef::Prefix(&text), text.clone())
            } else {
                return Err(Failure::usage(format!(
                    "name a key by its first {PREFIX_LEN} characters (or the whole key), or an \
                     account by its email"
                )));
            };
            let revoked = store.revoke_keys(which).await.map_err(|e| match e {
                StoreError::NotFound => format!("no key matches {named}").into(),
                e => Failure::from(e),
            })?;
            eprintln!(
                "revoked {} key(s) of {}",
                revoked.keys.len(),
                revoked.user.email
            );
            println!("{}", json_line(&revoked)?);
        }
        Operation::Org(OrgCommand::Create {
            name,
            admin_email,
            admin_name,
        }) => {
            crate::input::check_text(&name, crate::api::organizations::MAX_NAME)
                .map_err(|e| format!("name: {e}"))?;
            let admin = person(store, &clock, &admin_email, admin_name).await?;
            let new = NewOrganization {
                name: name.trim().to_owned(),
                scope: None,
                default_role: None,
            };
            let org = store
                .create_organization(new, admin, clock.now(), &Origin::cli())
                .await?;
            let key = new_key(store, &clock, admin).await?;
            println!("{}", serde_json::json!({ "id": org.id, "key": key }));
        }
        Operation::Member(MemberCommand::Add {
            org,
            email,
            name,
            role,
            key,
        }) => {
            // One use case: a command that fails leaves no person made or renamed.
            let org = org.resolve(store).await?;
            let new = new_person(&email, name)?;
            let membership = store
                .add_person(org, &new, role, clock.now(), &Origin::cli())
                .await
                .map_err(|e| team_error(e, org))?;
            eprintln!(
                "{} is a member of {org} with role {}",
                membership.user.email,
                membership.role.name()
            );
            if key {
                println!("{}", new_key(store, &clock, membership.user.id).await?);
            }
        }
        Operation::Import(ImportCommand::Members { org, file, dry_run }) => {
            let org = org.resolve(store).await?;
            let refused = |e: String| format!("{}: {e} (nothing was imported)", file.display());
            let now = clock.now();
            let mut rows = if file.as_os_str() == "-" {
                crate::import::CsvRows::new(std::io::stdin()).and_then(ReadAhead::new)
            } else {
                let input = std::fs::File::open(&file)
                    .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
                crate::import::CsvRows::new(input).and_then(ReadAhead::new)
            }
            .map_err(refused)?;
            let summary = crate::import::apply(store, org, &mut rows, dry_run, now)
                .await
                .map_err(refused)?;
            println!("{}", crate::import::describe(&summary, dry_run));
        }
        Operation::Domain(DomainCommand::Add { org, domain }) => {
            let org = org.resolve(store).await?;
            let normalized = crate::api::email_domains::checked(&domain)
                .map_err(|e| format!("domain {domain:?}: {e}"))?;
            let added = match store
                .add_email_domain(org, &normalized, clock.now(), &Origin::cli())
                .await
            {
                Err(StoreError::Conflict { .. }) => {
                    let Some(held) = own_domain(store, org, &normalized).await? else {
                        return Err(
                            format!("{normalized} is verified for another organization").into()
                        );
                    };
                    eprintln!("{normalized} is verified for this team already");
                    held
                }
                added => added.map_err(|e| team_error(e, org))?,
            };
            println!("{}", json_line(&added)?);
        }
    }
    Ok(())
}

/// The team's record of `domain`, if the team has it.
async fn own_domain(store: &dyn Store, org: Uuid, domain: &str) -> CliResult<Option<EmailDomain>> {
    let mut cursor = None;
    loop {
        let window = Window::After {
            cursor,
            limit: 1000,
        };
        let page = store.list_email_domains(org, window).await?;
        if let Some(found) = page.iter().find(|d| d.domain == domain) {
            return Ok(Some(found.clone()));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => cursor = Some(last.cursor()),
            _ => return Ok(None),
        }
    }
}

fn team_error(e: StoreError, org: Uuid) -> Failure {
    match e {
        StoreError::NotFound => format!("no organization {org}").into(),
        e => e.into(),
    }
}

fn json_line(value: &impl serde::Serialize) -> CliResult<String> {
    serde_json::to_string(value).map_err(|e| Failure::from(e.to_string()))
}

/// Validates the email (no account's) and the name, then finds or creates the person.
async fn person(
    store: &dyn Store,
    clock: &dyn Clock,
    address: &str,
    name: Option<String>,
) -> CliResult<Uuid> {
    if roster_core::rules::is_account_address(address.trim()) {
        return Err(format!("email {address:?}: {}", roster_core::store::NOT_A_PERSON).into());
    }
    let new = new_person(address, name)?;
    Ok(store.ensure_user(new, clock.now()).await?.id)
}

/// A person as the command line names them, checked: a valid address, and a name of at most
/// 150 characters.
fn new_person(address: &str, name: Option<String>) -> CliResult<NewUser> {
    email::validate(address.trim()).map_err(|e| format!("email {address:?}: {e}"))?;
    if let Some(n) = &name {
        crate::input::check_text(n, 150).map_err(|e| format!("name: {e}"))?;
    }
    Ok(NewUser {
        email: address.trim().to_owned(),
        name,
        kind: AccountKind::Person,
    })
}

async fn new_key(store: &dyn Store, clock: &dyn Clock, user: Uuid) -> CliResult<String> {
    let issued = keys::issue();
    store.add_key(user, &issued.hash, clock.now()).await?;
    Ok(issued.secret)
}
