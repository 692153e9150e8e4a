//! Roster's domain: the types every layer shares, the rules that do not need a database
//! (role numbers, email normalisation, API-key hashing), and the [`store::Store`] trait that
//! each storage backend implements.
//!
//! Nothing here knows about HTTP or SQL, so the server and every backend agree on one
//! vocabulary and the same validation.

pub mod audit;
pub mod changes;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod domain;
pub mod email;
pub mod group_names;
pub mod json;
pub mod keys;
pub mod model;
pub mod provisioning;
pub mod rules;
pub mod store;
pub mod timestamp;
pub mod webhooks;

pub use audit::{Face, Origin};
pub use model::*;
pub use store::{Store, StoreError, StoreResult};
pub use timestamp::{Clock, SystemClock, Timestamp};
