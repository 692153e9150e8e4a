//! How settings are read: values that may hold a password, durations, the public URL, and
//! errors that name the environment variable a bad value came from.

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::process::ExitCode;
use std::time::Duration;

/// A setting that may hold a password (a database or SMTP URL): kept out of `Debug`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A number of seconds from 0.1 to a day, fractions allowed (`2.5`): shorter bounds would
/// have the watcher and the pool spin.
#[derive(Clone, Copy, Debug)]
pub struct Seconds(pub Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<f64>() {
            Ok(s) if (0.1..=86_400.0).contains(&s) => Ok(Seconds(Duration::from_secs_f64(s))),
            _ => Err("expected a number of seconds from 0.1 to 86400".into()),
        }
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// A token a client must present: an empty one would protect nothing, so it is refused
/// rather than quietly leaving the door open (an unset variable interpolated into a file).
pub fn token(text: &str) -> Result<Secret, String> {
    match text.trim() {
        t if t.len() >= 16 => Ok(Secret(t.to_owned())),
        _ => Err("expected a token of at least 16 characters".into()),
    }
}

/// `--public-url`: an absolute `http://` or `https://` URL, kept without a trailing slash
/// (links are written as the URL followed by a path).
pub fn public_url(text: &str) -> Result<String, String> {
    let uri: axum::http::Uri = text
        .parse()
        .map_err(|e| format!("not a URL ({e}); e.g. https://roster.example.com"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return Err(
            "expected an absolute http:// or https:// URL without a query, e.g. \
                    https://roster.example.com"
                .into(),
        );
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Prints a command-line error and returns its exit status. A bad value that came from an
/// environment variable (not from the command line) is named by that variable: the flag
/// clap would name was never typed.
pub fn refuse(error: clap::Error) -> ExitCode {
    if let Some(message) = from_environment(&error) {
        eprintln!("roster: {message}");
        return ExitCode::from(2);
    }
    let status = error.exit_code();
    let _ = error.print();
    ExitCode::from(u8::try_from(status).unwrap_or(2))
}

fn from_environment(error: &clap::Error) -> Option<String> {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.split_whitespace().next()?.strip_prefix("--")?;
    let typed =
        std::env::args().any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
    if typed {
        return None;
    }
    let (variable, secret) = env_of(&super::Cli::command(), long)?;
    let reason = std::error::Error::source(error).map_or_else(
        || "not one of the values it takes".to_owned(),
        ToString::to_string,
    );
    if secret {
        return Some(format!("{variable} is not valid: {reason}"));
    }
    let value = std::env::var(&variable).unwrap_or_default();
    Some(format!("{variable}={value:?} is not valid: {reason}"))
}

/// The environment variable of the flag `--long`, in any command.
/// The variable of the option `--long`, and whether its value is a secret (`hide_env_values`),
/// which an error must not echo.
fn env_of(cmd: &clap::Command, long: &str) -> Option<(String, bool)> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| {
            let variable = a.get_env()?.to_string_lossy().into_owned();
            Some((variable, a.is_hide_env_values_set()))
        })
        .or_else(|| cmd.get_subcommands().find_map(|sub| env_of(sub, long)))
}
