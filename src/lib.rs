//! Migration Guard: applies a project's migration chain to a real PostgreSQL and reports what is
//! unsafe to merge or deploy.
//!
//! Data flows one way: `migrations` (load) → `postgres` (provision) → `runner` (apply) →
//! `report`; `commands` is the only module that knows that order.

pub mod alembic;
pub mod baseline;
pub mod bookkeeping;
pub mod cli;
pub mod commands;
pub mod config_file;
pub mod data;
pub mod deploy;
pub mod effects;
pub mod findings;
pub mod github;
pub mod lint;
pub mod migrations;
pub mod plan;
pub mod postgres;
pub mod prefix_cache;
pub mod progress;
pub mod python;
pub mod random;
pub mod report;
pub mod roundtrip;
pub mod rules;
pub mod runner;
pub mod schema;
pub mod scope;
pub mod scrub;
pub mod settings;
pub mod sql;
pub mod waivers;
