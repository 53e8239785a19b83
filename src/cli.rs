//! Command-line syntax (clap types only). Every option is optional here so that `settings` can
//! tell "not given" from a default and merge action inputs and the config file underneath.

use crate::findings::FailOn;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Makes database migrations safe to merge and safe to deploy.
#[derive(Debug, Parser)]
#[command(name = "migration-guard", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply a migration chain to a throwaway PostgreSQL database and report problems.
    Check(CheckArgs),
}

/// Options of `check`.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckArgs {
    /// Directory holding the migrations [default: migrations]
    pub dir: Option<PathBuf>,

    /// Migration format: auto, sqlx, golang-migrate, goose, sql-migrate, dbmate, diesel, flyway
    /// [default: auto]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Use this server (needs CREATEDB) instead of starting an embedded one
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL", conflicts_with = "postgres_image")]
    pub database_url: Option<String>,

    /// Start this PostgreSQL image through a Docker engine, e.g. postgres:16
    #[arg(long, value_name = "IMAGE")]
    pub postgres_image: Option<String>,

    /// Directory with initdb and postgres for the embedded server [default: PATH, then the
    /// newest /usr/lib/postgresql/*/bin]
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,

    /// Write report.json and report.md into this directory
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Flyway placeholder value, `${name}` in the SQL (repeatable)
    #[arg(long = "placeholder", value_name = "NAME=VALUE")]
    pub placeholders: Vec<String>,

    /// Which findings fail the check [default: error]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// Skip the lock and rewrite lint traced while migrations apply
    #[arg(long)]
    pub no_lint: bool,

    /// Explain format detection and show each step
    #[arg(long, short)]
    pub verbose: bool,
}
