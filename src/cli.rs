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
    Check(Box<CheckArgs>),
    /// Compare two schemas, each a postgres:// URL, a .sql/.yaml file or a migrations directory.
    Diff(DiffArgs),
    /// Show the revision history (like `alembic history --verbose`, for every format).
    Graph(GraphArgs),
    /// Check every migration and record the findings in a baseline file, so that later checks
    /// count only new ones.
    Baseline(Box<BaselineArgs>),
    /// Read a database's migration bookkeeping (never writing) and compare it with the chain:
    /// applied, pending, unknown, edited, dirty. Exit 1 when it needs a person before a deploy.
    Status(StatusArgs),
    /// Apply the chain's pending migrations to a database (staging, production) as its own tool
    /// would, recording each in the tool's bookkeeping table. Exit 1 when a migration failed.
    Apply(ApplyArgs),
    /// Read a database and say what apply would do there: each pending migration's statements,
    /// the rows and size of the tables they touch, NULLs and duplicates they will meet.
    Plan(PlanArgs),
    /// Roll a database back to a version: the downs of the migrations applied after it, newest
    /// first, each proved by the pull request check's round trip. Exit 1 when a down failed.
    Rollback(RollbackArgs),
}

/// The deploy commands' migrations directory when none is given.
pub const DEFAULT_DIR: &str = "migrations";
/// `--lock-timeout` of `apply` and `rollback` when none is given.
pub const DEFAULT_LOCK_TIMEOUT: &str = "5s";
/// `--statement-timeout` of `apply` and `rollback` when none is given.
pub const DEFAULT_STATEMENT_TIMEOUT: &str = "0";
/// `--retries` of `apply` and `rollback` when none is given.
pub const DEFAULT_RETRIES: u32 = 3;

/// A chain and the real database it is deployed to, for `status`, `apply` and `rollback`.
#[derive(Debug, Clone, Default, Args)]
pub struct ChainTarget {
    /// Directory holding the migrations
    #[arg(default_value = DEFAULT_DIR)]
    pub dir: PathBuf,

    /// The database (staging, production); `status` only reads its bookkeeping table
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Migration format [default: auto]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Slack incoming webhook told what the command did (a secret: never printed)
    #[arg(long, env = "MIGRATION_GUARD_SLACK_WEBHOOK", hide_env_values = true, value_name = "URL")]
    pub slack_webhook: Option<String>,
}

/// The target and session of `apply` and `rollback`.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub chain: ChainTarget,

    /// Print what would run and write nothing, not even the bookkeeping table
    #[arg(long)]
    pub dry_run: bool,

    /// lock_timeout of the deploy's session: a migration waiting longer for a lock fails (and is tried again)
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_LOCK_TIMEOUT)]
    pub lock_timeout: String,

    /// statement_timeout of the deploy's session (0: none)
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_STATEMENT_TIMEOUT)]
    pub statement_timeout: String,

    /// How many times a migration whose lock timed out is tried again, waiting 0.5 s, 1 s, 2 s, ... between
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RETRIES)]
    pub retries: u32,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,

    /// Python interpreter that runs an Alembic project's own Alembic [default: python3]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// Options of `apply`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Apply the pending migrations up to and including this one [default: all]
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// A plan.json written by `plan`: refuse unless the target is still as planned
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
}

/// Options of `plan`.
#[derive(Debug, Clone, Default, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub chain: ChainTarget,

    /// Write plan.json and plan.md into this directory
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// The pull request check's report.json: its findings on the pending migrations join the plan
    #[arg(long, value_name = "REPORT")]
    pub evidence: Option<PathBuf>,

    /// Also compare the target's schema with the one the chain makes up to the target's version
    /// (applied on a temporary PostgreSQL started for it)
    #[arg(long)]
    pub drift: bool,

    /// Python interpreter that runs an Alembic project's own Alembic, for --drift [default: python3]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `rollback`.
#[derive(Debug, Clone, Default, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Roll back the migrations applied after this one (it stays applied); required
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// The pull request check's report.json: only downs its round trip proved are run
    #[arg(long, value_name = "REPORT")]
    pub evidence: Option<PathBuf>,

    /// Run downs the evidence does not show proved (one-way migrations are refused still)
    #[arg(long)]
    pub force: bool,
}

/// Options of `status`.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub chain: ChainTarget,

    /// Print the status as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `baseline`: those of `check`, and where to write.
#[derive(Debug, Clone, Default, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub check: CheckArgs,

    /// File to write [default: the `baseline` setting, else migration-guard-baseline.json]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options of `graph`.
#[derive(Debug, Clone, Default, Args)]
pub struct GraphArgs {
    /// Directory holding the migrations [default: migrations]
    pub dir: Option<PathBuf>,

    /// Migration format, as for `check` [default: auto]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Print a Mermaid flowchart instead of the history
    #[arg(long, conflicts_with = "json")]
    pub mermaid: bool,

    /// Print heads, branch points, merges and graph findings as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `check`.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckArgs {
    /// Directory holding the migrations [default: migrations]
    pub dir: Option<PathBuf>,

    /// Migration format: auto, sqlx, golang-migrate, goose, sql-migrate, dbmate, diesel, flyway,
    /// alembic
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

    /// PostgreSQL major of the embedded server, among those installed (e.g. 16) [default: the
    /// one diesel-guard.toml or .squawk.toml declares where installed, else that of --pg-bin's
    /// default]
    #[arg(long, value_name = "MAJOR")]
    pub postgres_version: Option<String>,

    /// Write report.json and report.md into this directory
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Keep the database as the merged migrations at the head of the chain leave it in this
    /// directory (a pg_dump archive keyed by their hash), and restore it instead of replaying
    /// them when they are the same (keep the directory between runs, e.g. with actions/cache)
    #[arg(long, value_name = "DIR")]
    pub prefix_cache: Option<PathBuf>,

    /// Another Flyway location holding migrations of the same chain, e.g. `db/migration_data`
    /// (repeatable) [default: the `locations` of a flyway.conf or flyway.toml above DIR that
    /// names DIR]
    #[arg(long = "location", value_name = "DIR")]
    pub locations: Vec<PathBuf>,

    /// Flyway placeholder value, `${name}` in the SQL (repeatable)
    #[arg(long = "placeholder", value_name = "NAME=VALUE")]
    pub placeholders: Vec<String>,

    /// A run-time parameter the sessions migrations run in start with, as the deploy's runner
    /// sets it, e.g. `lock_timeout=5s` (repeatable)
    #[arg(long = "session-setting", value_name = "NAME=VALUE")]
    pub session_settings: Vec<String>,

    /// Which findings fail the check [default: error]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// Settings file [default: migration-guard.yml when it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The base the change is judged against: migrations added or edited since REF are
    /// checked in full, the others only replayed [default: the PR's base branch; outside
    /// Actions the merge-base with origin's default branch]
    #[arg(long, value_name = "REF")]
    pub base_ref: Option<String>,

    /// Count migrations up to and including this version or revision as merged
    #[arg(long, value_name = "REV")]
    pub start_after: Option<String>,

    /// Which migrations are judged: changed (added or edited since the base) or all
    /// [default: changed]
    #[arg(long, value_enum, value_name = "WHICH")]
    pub scope: Option<ScopeMode>,

    /// Findings to leave out, as written by `migration-guard baseline` [default:
    /// migration-guard-baseline.json when it exists]
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// A role the chain needs: created before it and given to the migrations (with
    /// --database-url under a name of the run's own); statements that only create, alter or drop
    /// it are skipped (repeatable)
    #[arg(long = "role", value_name = "NAME")]
    pub roles: Vec<String>,

    /// A migration that is one-way by design: its round trip is skipped (repeatable)
    #[arg(long = "irreversible", value_name = "ID")]
    pub irreversible: Vec<String>,

    /// Severity of a rule's findings: error, warning, info or off (repeatable)
    #[arg(long = "rule", value_name = "RULE=LEVEL")]
    pub rules: Vec<String>,

    /// Python interpreter that runs the project's Alembic [default: python3]
    #[arg(long, env = "MIGRATION_GUARD_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Install this requirements file with `--python -m pip install -r` before the check, so that
    /// env.py and the models import (the action's image has a venv of its own)
    #[arg(long, value_name = "FILE")]
    pub python_requirements: Option<PathBuf>,

    /// Skip the lock and rewrite lint traced while migrations apply
    #[arg(long)]
    pub no_lint: bool,

    /// Run migrations as the server's superuser (or the role of --database-url) instead of a
    /// role of their own that owns only the scratch database; unsafe for untrusted changes
    #[arg(long)]
    pub allow_superuser: bool,

    /// Explain format detection and show each step
    #[arg(long, short)]
    pub verbose: bool,

    /// Which migrations get the up → down → up round trip: all, new (not on --base-ref) or
    /// none [default: all]
    #[arg(long, value_enum, value_name = "WHICH")]
    pub round_trip: Option<crate::roundtrip::RoundTrip>,

    /// Seconds one migration's up or down may take before it fails as hanging [default: 600]
    #[arg(long, value_name = "SECONDS")]
    pub migration_timeout: Option<u64>,

    /// Test data (SQL) to load into the database, so that data-dependent failures show
    #[arg(long, value_name = "FILE.sql")]
    pub seed: Option<PathBuf>,

    /// Load --seed right after this migration id [default: before the first migration]
    #[arg(long, value_name = "REV", requires = "seed")]
    pub seed_at: Option<String>,

    /// The schema the chain must produce: a .sql file (DDL or pg_dump --schema-only), a
    /// .yaml/.yml model file, or SQLAlchemy models as `module:attribute` (`app.models:Base`,
    /// imported by --python from the working directory); differences are `drift` findings
    #[arg(long, value_name = "PATH|MODULE:ATTR", conflicts_with = "models_command")]
    pub models: Option<PathBuf>,

    /// A shell command printing the DDL the chain must produce, e.g.
    /// `python -m migration_guard_sqlalchemy app.models:Base`
    #[arg(long, value_name = "CMD")]
    pub models_command: Option<String>,

    /// Leave out of the drift check the objects this names (`schema.name` or `name` in public,
    /// `*` matching any text; a table takes its columns, indexes and constraints), e.g. objects
    /// another tool owns (repeatable)
    #[arg(long = "drift-ignore", value_name = "PATTERN")]
    pub drift_ignore: Vec<String>,
}

/// Which migrations a check judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeMode {
    /// Those the change adds or edits; the others are replayed only.
    Changed,
    /// Every migration.
    All,
}

/// Options of `diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The schema before: postgres:// URL, .sql or .yaml file, or migrations directory
    pub before: String,

    /// The schema after, in the same forms
    pub after: String,

    /// Print the changes as JSON
    #[arg(long)]
    pub json: bool,

    /// Migration format of a directory argument [default: auto]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Use this server (needs CREATEDB) to apply files and directories
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Directory with initdb and postgres for the embedded server
    #[arg(long, value_name = "DIR")]
    pub pg_bin: Option<PathBuf>,

    /// PostgreSQL major of the embedded server, among those installed (e.g. 16)
    #[arg(long, value_name = "MAJOR")]
    pub postgres_version: Option<String>,

    /// Python interpreter that runs an Alembic project's own Alembic [default: python3]
    #[arg(long, env = "MIGRATION_GUARD_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,
}
