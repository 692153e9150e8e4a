//! Roster's HTTP integration tests: one binary, each test on its own fresh SQLite database,
//! speaking HTTP to the real router (`oneshot`) or to the real `roster` binary (`cli`).

// A failed unwrap in a test is the test failing, with its location.
#![allow(clippy::unwrap_used)]

mod accounts;
mod audit;
mod auth;
mod campaigns;
mod cli;
mod commands;
mod connections;
mod console;
mod console_forms;
mod corpus;
mod dry_runs;
mod email_domains;
mod faults;
mod first_start;
mod forms;
mod front;
mod group_memberships;
mod groups;
mod heavy;
mod hostile;
mod idempotency;
mod invitations;
mod limits;
mod mailed;
mod matrix;
mod memberships;
mod migrations;
mod multinode;
mod openapi;
mod organizations;
mod ownership;
mod pagination;
mod preconditions;
mod scim;
mod scim_attributes;
mod support;
mod tags;
mod takeover;
mod team_rules;
mod versioning;
mod webhook_nodes;
mod webhooks;
