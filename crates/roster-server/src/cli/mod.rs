//! The `roster` command line: `serve`, `init`, and the operator commands that work on the same
//! database (also while the server runs). Every option can also come from a `ROSTER_*`
//! environment variable. Commands that print a secret print it alone on stdout, so that
//! `KEY=$(roster operator create --email ops@example.com)` works; everything else goes to
//! stderr. Exit status: 0 done, 1 refused or failed (nothing was changed), 2 a usage error.

mod audit;
mod export;
mod operate;
mod serve;
mod settings;

use clap::{CommandFactory, Parser, Subcommand};
use roster_core::store::StoreOptions;
use roster_core::{Role, Store, StoreError};
use std::path::PathBuf;
use std::process::ExitCode;
use uuid::Uuid;

pub use settings::Secret;

#[derive(Parser, Debug)]
#[command(
    name = "roster",
    version,
    about = "Roster: team management with SCIM-ready storage",
    after_help = "Every option can also be set by the environment variable named beside it."
)]
pub struct Cli {
    /// Database URL: sqlite://path/to/roster.db or postgres://user@host/database. Only
    /// `serve` and `init` create a SQLite file that is missing.
    #[arg(
        long = "database",
        env = "ROSTER_DATABASE_URL",
        default_value = "sqlite://roster.db",
        global = true,
        hide_env_values = true
    )]
    database: Secret,

    /// Log as JSON lines instead of text (1/0, true/false, yes/no).
    #[arg(long, env = "ROSTER_LOG_JSON", global = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true")]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server (creating and initializing the database on its first start).
    Serve(serve::ServeArgs),
    /// Create the database and its first operator, writing the operator's key to a file, as a
    /// first `serve` does, without serving. On a database that has an operator: nothing to do.
    Init(serve::InitArgs),
    #[command(flatten)]
    Operate(operate::Operation),
    /// Write a team's members to standard output.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// A team's change history.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Copy a live SQLite database to PATH, consistently, while the server runs. Restore by
    /// pointing --database at the copy. (PostgreSQL: use pg_dump.)
    Backup {
        /// Where the copy goes; the file must not exist yet.
        path: PathBuf,
    },
    /// Print a shell completion script: `roster completions bash > /etc/bash_completion.d/roster`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// A command that did not do its work: the message for stderr, and the exit status.
#[derive(Debug)]
pub struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    /// A usage error (exit 2): the command line named something ambiguous or malformed.
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            status: 2,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, status: 1 }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        e.to_string().into()
    }
}

type CliResult<T = ()> = Result<T, Failure>;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return settings::refuse(e),
    };
    crate::telemetry::init(cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roster: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("roster: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    let database = &cli.database.0;
    match cli.command {
        Command::Serve(args) => serve::serve(args, database).await,
        Command::Init(args) => serve::init(args, database).await,
        Command::Operate(operation) => operate::run(operation, &*open(database).await?).await,
        Command::Export(command) => export::run(command, &*open(database).await?).await,
        Command::Audit(command) => audit::run(command, &*open(database).await?).await,
        Command::Backup { path } => {
            open(database).await?.backup(&path).await?;
            eprintln!("backed up to {}", path.display());
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "roster", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Opens a database that exists with this version's schema: only `serve` and `init` create
/// or migrate one.
async fn open(database: &str) -> CliResult<std::sync::Arc<dyn Store>> {
    let options = StoreOptions {
        initialize: false,
        ..StoreOptions::default()
    };
    let store = crate::storage::open(database, &options).await?;
    match store.ready().await {
        Ok(true) => Ok(store),
        Err(StoreError::Unavailable(e)) => Err(format!("database unavailable: {e}").into()),
        _ => Err(
            "the database is not set up for this version of roster: `roster init` (or \
                  `roster serve`) of this version creates or migrates it"
                .into(),
        ),
    }
}

/// A team as the command line names it: its id, or a name exactly one team has.
#[derive(Clone, Debug)]
struct OrgArg(String);

impl std::str::FromStr for OrgArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "" => Err("name a team by its id or its name".into()),
            t => Ok(OrgArg(t.to_owned())),
        }
    }
}

impl OrgArg {
    /// The team's id; exit 2 listing the ids when the name is not one team's.
    async fn resolve(&self, store: &dyn Store) -> CliResult<Uuid> {
        if let Ok(id) = self.0.parse::<Uuid>() {
            return match store.get_organization(id).await {
                Err(StoreError::NotFound) => Err(format!("no organization {id}").into()),
                found => Ok(found?.id),
            };
        }
        match store.organizations_named(&self.0).await?.as_slice() {
            [] => Err(Failure::usage(format!(
                "no team is named {:?} (name it by its id or its exact name)",
                self.0
            ))),
            [one] => Ok(one.id),
            many => {
                let ids: Vec<String> = many.iter().map(|o| o.id.to_string()).collect();
                Err(Failure::usage(format!(
                    "{} teams are named {:?}; name one by its id: {}",
                    many.len(),
                    self.0,
                    ids.join(", ")
                )))
            }
        }
    }
}

/// `--role` as import and SCIM take it: a number or a name.
fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("expected {}", Role::EXPECTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_command_line_keeps_passwords_out() {
        let cli = Cli::try_parse_from([
            "roster",
            "--database",
            "postgres://roster:hunter2@db/roster",
            "serve",
            "--smtp-url",
            "smtp://mail:swordfish@relay:587",
        ])
        .expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("swordfish"), "{shown}");
    }

    /// Every command, argument and flag says what it is for in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "roster", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }
}
