//! Roster's HTTP integration tests: one binary, each test on its own fresh SQLite database,
//! speaking HTTP to the real router (`oneshot`) or to the real `roster` binary (`cli`).

// A failed unwrap in a test is the test failing, with its location.
#![allow(clippy::unwrap_used)]

mod accounts;
mod auth;
mod campaigns;
mod cli;
mod corpus;
mod email_domains;
mod group_memberships;
mod groups;
mod hostile;
mod invitations;
mod limits;
mod matrix;
mod memberships;
mod multinode;
mod openapi;
mod organizations;
mod pagination;
mod scim;
mod support;
mod takeover;
