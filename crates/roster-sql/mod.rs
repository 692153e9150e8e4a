//! The storage use cases written once, compiled into each backend as its module `sql`
//! against the backend's `dialect` module (see README.md). The backend re-exports these
//! modules at its root, so `crate::groups` names the same module in either.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod campaign_members;
pub(crate) mod campaigns;
pub(crate) mod email_domains;
pub(crate) mod group_names;
pub(crate) mod groups;
pub(crate) mod idempotency;
pub(crate) mod invitations;
pub(crate) mod member_emails;
pub(crate) mod memberships;
pub(crate) mod organizations;
pub(crate) mod preview;
pub(crate) mod provisioning;
pub(crate) mod rows;
pub(crate) mod sessions;
pub(crate) mod store;
pub(crate) mod tx;
pub(crate) mod users;
pub(crate) mod webhooks;
