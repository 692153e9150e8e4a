//! The Roster server: the HTTP API over a [`roster_core::Store`], and the `roster` command line.
//!
//! A connection is accepted by `listener` (its limits and timeouts). A request flows: `app` (trailing slash, request id, logging, route table) → `negotiate`
//! (API version from `Accept`) → a handler in `api` (extractors from `auth` and `input`) →
//! one `Store` call → a JSON response or an `ApiError`. The admin console (`console`) is
//! HTML pages over the same handlers.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod console;
pub mod dry_runs;
pub mod error;
pub mod idempotency;
pub mod import;
pub mod input;
pub mod limits;
pub mod listener;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod page_cache;
pub mod pagination;
pub mod preconditions;
pub mod recall;
pub mod retention;
pub mod scim;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
