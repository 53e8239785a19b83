//! `apply`: runs a chain's pending migrations on a target database (staging, production) as
//! the chain's own tool would, and records each one in that tool's bookkeeping table exactly as
//! the tool writes it, so that the tool sees the database as up to date afterwards. One deploy
//! at a time (an advisory lock), `lock_timeout` and `statement_timeout` on its session, and a
//! bounded retry with backoff when a migration's lock is not granted in time.

use crate::bookkeeping::{self, Status};
use crate::migrations::{Apply, Chain, Format, Migration, Script};
use crate::runner::{self, Observer, Replies, StatementError, Wrap};
use crate::sql::Reach;
use serde::Serialize;
use sqlx::Executor;
use sqlx::postgres::PgConnection;
use std::time::{Duration, Instant};

/// What `apply` is asked to do.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Apply up to and including this migration (default: all pending).
    pub to: Option<String>,
    /// Say what would run, writing nothing.
    pub dry_run: bool,
    /// `lock_timeout` of the deploy's session (PostgreSQL syntax, e.g. `5s`).
    pub lock_timeout: String,
    /// `statement_timeout` of the deploy's session (`0`: none).
    pub statement_timeout: String,
    /// How many times a migration whose lock was not granted in time is tried again.
    pub retries: u32,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { to: None, dry_run: false, lock_timeout: "5s".into(), statement_timeout: "0".into(), retries: 3 }
    }
}

/// Why `apply` did not start (a failing migration is not this: see [`Deployed::failed`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("apply does not write {0}'s bookkeeping yet; apply this chain with its own tool")]
    Unsupported(&'static str),
    #[error(
        "another apply holds this target's deploy lock (advisory lock {0}); wait for it to finish, or find it in pg_locks"
    )]
    Busy(i64),
    #[error("the target needs a person before a deploy: {0}")]
    NeedsAttention(String),
    #[error("--to {0}: no such migration in the chain")]
    UnknownTarget(String),
    #[error("--to {0}: the target has it applied already")]
    AlreadyApplied(String),
    #[error("{file}: {id} is pending and apply cannot run it ({reason}); apply it with the chain's own tool")]
    NotRunnable { id: String, file: String, reason: String },
    #[error("{context}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Run(#[from] runner::RunError),
}

/// One migration `apply` ran (or, dry, would run).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub file: String,
    /// Times tried: more than 1 when its lock was not granted in time at first.
    pub attempts: u32,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    /// The bookkeeping table written.
    pub table: String,
    pub dry_run: bool,
    /// Applied (or, dry, to apply), in order.
    pub steps: Vec<Step>,
    /// The migration that failed, and why; the ones after it did not run.
    pub failed: Option<Failed>,
}

/// A migration that failed on the target.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub id: String,
    pub attempts: u32,
    pub error: StatementError,
    /// Statements of a migration without a transaction stay applied before the failure.
    pub partially_applied: bool,
}

/// SQLSTATE `lock_not_available`: `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Applies the pending migrations of `chain` on `conn` (the target) as `options` says.
pub async fn apply(conn: &mut PgConnection, chain: &Chain, options: &ApplyOptions) -> Result<Deployed, ApplyError> {
    let book = Book::of(chain.format)?;
    let lock = deploy_lock(book.table);
    if !options.dry_run {
        let locked: bool = sqlx::query_scalar("SELECT pg_catalog.pg_try_advisory_lock($1)")
            .bind(lock)
            .fetch_one(&mut *conn)
            .await
            .map_err(database("cannot take the deploy lock"))?;
        if !locked {
            return Err(ApplyError::Busy(lock));
        }
    }
    let status = bookkeeping::status(conn, chain).await.map_err(database("cannot read the bookkeeping table"))?;
    if status.needs_attention() {
        return Err(ApplyError::NeedsAttention(attention(&status)));
    }
    let pending = pending(chain, &status, options.to.as_deref())?;
    if let Some(m) = pending.iter().find(|m| !matches!(m.apply, Apply::Sql)) {
        let reason = match &m.apply {
            Apply::Opaque(reason) => reason.clone(),
            _ => "it is not SQL".to_string(),
        };
        return Err(ApplyError::NotRunnable { id: m.id.clone(), file: m.up.display_path(), reason });
    }
    let mut deployed =
        Deployed { table: book.table.to_string(), dry_run: options.dry_run, steps: Vec::new(), failed: None };
    if options.dry_run {
        deployed.steps = pending
            .iter()
            .map(|m| Step { id: m.id.clone(), file: m.up.display_path(), attempts: 0, duration: Duration::ZERO })
            .collect();
        return Ok(deployed);
    }
    let settings = format!(
        "SELECT pg_catalog.set_config('lock_timeout', {}, false), pg_catalog.set_config('statement_timeout', {}, false)",
        literal(&options.lock_timeout),
        literal(&options.statement_timeout)
    );
    conn.execute(sqlx::AssertSqlSafe(settings)).await.map_err(database("cannot set the session's timeouts"))?;
    if !pending.is_empty() {
        conn.execute(book.create).await.map_err(database("cannot create the bookkeeping table"))?;
    }
    // The migration the target is at, for golang-migrate's one row.
    let mut at: Option<&Migration> = status.applied.last().and_then(|id| chain.migrations.iter().find(|m| m.id == *id));
    for m in pending {
        let script = on_target(&m.up);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            if let Some(before) = book.before(m) {
                conn.execute(sqlx::AssertSqlSafe(before))
                    .await
                    .map_err(database("cannot write the bookkeeping row"))?;
            }
            let record = book.record(m);
            // In the migration's transaction when it has one; after it otherwise (a message
            // of its statement and ours would make one).
            let along = script.transaction.is_wrapped() && !script.split.statements.is_empty();
            let mut recorder = Recorder { record: along.then(|| record.clone()) };
            let outcome = runner::run_script(conn, &script, &mut recorder).await?;
            let outcome = outcome.error.map(|error| (error, outcome.partially_applied));
            if outcome.is_none() && !along {
                conn.execute(sqlx::AssertSqlSafe(record))
                    .await
                    .map_err(database("cannot write the bookkeeping row"))?;
            }
            match outcome {
                None => {
                    let duration = started.elapsed();
                    if let Some(after) = book.after(m, duration) {
                        conn.execute(sqlx::AssertSqlSafe(after))
                            .await
                            .map_err(database("cannot write the bookkeeping row"))?;
                    }
                    deployed.steps.push(Step { id: m.id.clone(), file: script.display_path(), attempts, duration });
                    at = Some(m);
                    break;
                }
                Some((error, partially_applied)) => {
                    let retry =
                        error.sqlstate == LOCK_NOT_AVAILABLE && !partially_applied && attempts <= options.retries;
                    if retry {
                        if let Some(undo) = book.failed(at, false) {
                            conn.execute(sqlx::AssertSqlSafe(undo))
                                .await
                                .map_err(database("cannot write the bookkeeping row"))?;
                        }
                        tokio::time::sleep(backoff(attempts)).await;
                        continue;
                    }
                    if let Some(undo) = book.failed(at, partially_applied) {
                        conn.execute(sqlx::AssertSqlSafe(undo))
                            .await
                            .map_err(database("cannot write the bookkeeping row"))?;
                    }
                    deployed.failed = Some(Failed { id: m.id.clone(), attempts, error, partially_applied });
                    return Ok(deployed);
                }
            }
        }
    }
    Ok(deployed)
}

/// What `apply` did, for a terminal or a log: a line per migration, then the outcome.
pub fn to_text(deployed: &Deployed) -> String {
    let mut out = String::new();
    let verb = if deployed.dry_run { "would apply" } else { "applied" };
    for step in &deployed.steps {
        let retried = if step.attempts > 1 { format!(", {} attempts", step.attempts) } else { String::new() };
        let took = if deployed.dry_run {
            String::new()
        } else {
            format!(" ({:.1} ms{retried})", step.duration.as_secs_f64() * 1000.0)
        };
        out.push_str(&format!("{verb} {} {}{took}\n", step.id, crate::schema::diff::one_line(&step.file)));
    }
    if let Some(failed) = &deployed.failed {
        let e = &failed.error;
        let kept = if failed.partially_applied {
            "; its statements before that stay applied"
        } else {
            "; its transaction was rolled back"
        };
        out.push_str(&format!(
            "{}:{}: {} failed after {} attempt(s): {} (SQLSTATE {}){kept}; nothing after it ran\n",
            e.file,
            e.line,
            failed.id,
            failed.attempts,
            crate::schema::diff::one_line(&e.message),
            e.sqlstate
        ));
    } else if deployed.steps.is_empty() {
        out.push_str(&format!("up to date: nothing pending in {}\n", deployed.table));
    } else if !deployed.dry_run {
        out.push_str(&format!(
            "done: {} migration(s) applied and recorded in {}\n",
            deployed.steps.len(),
            deployed.table
        ));
    }
    out
}

/// Waits 0.5 s, 1 s, 2 s, ... (at most 8 s) before attempt `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempts.saturating_sub(1).min(4)))
}

/// The advisory lock key of deploys that write `table`: two of them never run at once.
fn deploy_lock(table: &str) -> i64 {
    // FNV-1a: stable across builds, unlike the standard hasher.
    let hash = format!("migration-guard apply {table}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash as i64
}

/// The pending migrations up to `to`, in order.
fn pending<'a>(chain: &'a Chain, status: &Status, to: Option<&str>) -> Result<Vec<&'a Migration>, ApplyError> {
    let pending: Vec<&Migration> = chain.migrations.iter().filter(|m| status.pending.contains(&m.id)).collect();
    let Some(to) = to else { return Ok(pending) };
    if !chain.migrations.iter().any(|m| m.id == to) {
        return Err(ApplyError::UnknownTarget(to.to_string()));
    }
    let Some(end) = pending.iter().position(|m| m.id == to) else {
        return Err(ApplyError::AlreadyApplied(to.to_string()));
    };
    Ok(pending[..=end].to_vec())
}

/// What needs a person, in one line.
fn attention(status: &Status) -> String {
    let mut parts = Vec::new();
    if let Some(dirty) = &status.dirty {
        parts.push(dirty.clone());
    }
    if !status.unknown.is_empty() {
        parts.push(format!("applied there but not in the chain: {}", status.unknown.join(", ")));
    }
    if !status.edited.is_empty() {
        parts.push(format!("edited since applied: {}", status.edited.join(", ")));
    }
    parts.join("; ")
}

/// `script` as it runs on a target: every statement, as written (the scratch database's
/// refusals and role renames are the check's, not the deploy's).
fn on_target(script: &Script) -> Script {
    let mut script = script.clone();
    for statement in &mut script.split.statements {
        statement.reach = Reach::Database;
        statement.sent = None;
    }
    script
}

/// Sends the bookkeeping row with the last statement of a migration in a transaction, so that
/// it commits with the migration, as the tools do.
struct Recorder {
    record: Option<String>,
}

impl Recorder {
    fn records_after(&self, script: &Script, index: usize) -> bool {
        self.record.is_some() && index + 1 == script.split.statements.len()
    }
}

impl Observer for Recorder {
    async fn before(&mut self, _conn: &mut PgConnection, script: &Script, index: usize) -> Result<Wrap, sqlx::Error> {
        let last = self.records_after(script, index);
        Ok(Wrap::after_if(last, self.record.as_deref().unwrap_or_default()))
    }

    async fn after(
        &mut self,
        _conn: &mut PgConnection,
        script: &Script,
        index: usize,
        _elapsed: Duration,
        replies: &mut Replies,
    ) -> Result<(), sqlx::Error> {
        if self.records_after(script, index) {
            replies.after.pop_front();
        }
        Ok(())
    }
}

/// How one tool keeps its bookkeeping: the table as the tool creates it, and the statements it
/// runs around each migration.
struct Book {
    format: Format,
    table: &'static str,
    create: &'static str,
}

impl Book {
    fn of(format: Format) -> Result<Book, ApplyError> {
        let create = match format {
            Format::Sqlx => {
                "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
                 installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
                 execution_time BIGINT NOT NULL)"
            }
            Format::GolangMigrate => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
            }
            Format::Dbmate => "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)",
            Format::Diesel => {
                "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            }
            // goose starts its table with a version 0 row.
            Format::Goose => {
                "DO $$ BEGIN IF to_regclass('goose_db_version') IS NULL THEN \
                 CREATE TABLE goose_db_version (id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, \
                 version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NOT NULL DEFAULT now()); \
                 INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true); END IF; END $$"
            }
            Format::SqlMigrate => {
                "CREATE TABLE IF NOT EXISTS gorp_migrations (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone)"
            }
            Format::Flyway => return Err(ApplyError::Unsupported("Flyway")),
            Format::Alembic => return Err(ApplyError::Unsupported("Alembic")),
        };
        Ok(Book { format, table: bookkeeping::table(format), create })
    }

    /// Written before the migration runs, committed on its own (golang-migrate marks the
    /// version dirty until the migration succeeded).
    fn before(&self, m: &Migration) -> Option<String> {
        (self.format == Format::GolangMigrate).then(|| golang_migrate_version(m, true))
    }

    /// Written with the migration's last statement.
    fn record(&self, m: &Migration) -> String {
        let key = literal(&bookkeeping::key(self.format, m));
        match self.format {
            Format::Sqlx => format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({key}, {}, TRUE, '\\x{}', -1)",
                literal(&m.name),
                bookkeeping::checksum(self.format, m).map(hex).unwrap_or_default()
            ),
            Format::Dbmate => format!("INSERT INTO schema_migrations (version) VALUES ({key})"),
            Format::Diesel => format!("INSERT INTO __diesel_schema_migrations (version) VALUES ({key})"),
            Format::Goose => format!("INSERT INTO goose_db_version (version_id, is_applied) VALUES ({key}, true)"),
            Format::SqlMigrate => format!("INSERT INTO gorp_migrations (id, applied_at) VALUES ({key}, now())"),
            // Its row is written before and after the migration.
            Format::GolangMigrate | Format::Flyway | Format::Alembic => "SELECT 1".to_string(),
        }
    }

    /// Written when the migration failed, the target being at `at` before it: golang-migrate's
    /// row goes back to `at` when nothing of the migration stayed (its transaction rolled
    /// back), and stays dirty when statements of it did, as golang-migrate leaves it.
    fn failed(&self, at: Option<&Migration>, partially_applied: bool) -> Option<String> {
        if self.format != Format::GolangMigrate || partially_applied {
            return None;
        }
        Some(match at {
            Some(at) => golang_migrate_version(at, false),
            None => "TRUNCATE schema_migrations".to_string(),
        })
    }

    /// Written once the migration committed.
    fn after(&self, m: &Migration, took: Duration) -> Option<String> {
        match self.format {
            Format::GolangMigrate => Some(golang_migrate_version(m, false)),
            // sqlx records the time the migration took once it committed.
            Format::Sqlx => Some(format!(
                "UPDATE _sqlx_migrations SET execution_time = {} WHERE version = {}",
                took.as_nanos().min(i64::MAX as u128),
                literal(&bookkeeping::key(self.format, m))
            )),
            _ => None,
        }
    }
}

/// golang-migrate's one row: the version the database is at, and whether it is dirty.
fn golang_migrate_version(m: &Migration, dirty: bool) -> String {
    format!(
        "BEGIN; TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({}, {dirty}); COMMIT",
        literal(&bookkeeping::key(Format::GolangMigrate, m))
    )
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn hex(bytes: Vec<u8>) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn database(context: &'static str) -> impl Fn(sqlx::Error) -> ApplyError {
    move |source| ApplyError::Database { context: context.to_string(), source }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_eight_seconds() {
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }

    #[test]
    fn the_deploy_lock_is_one_per_table_and_stable() {
        assert_eq!(deploy_lock("schema_migrations"), deploy_lock("schema_migrations"));
        assert_ne!(deploy_lock("schema_migrations"), deploy_lock("_sqlx_migrations"));
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
