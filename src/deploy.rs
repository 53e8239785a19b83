//! `apply`: runs a chain's pending migrations on a target database (staging, production) as
//! the chain's own tool would, and records each one in that tool's bookkeeping table exactly as
//! the tool writes it, so that the tool sees the database as up to date afterwards. One deploy
//! at a time (an advisory lock), `lock_timeout` and `statement_timeout` on its session, and a
//! bounded retry with backoff when a migration's lock is not granted in time.

use crate::bookkeeping::{self, Status};
use crate::migrations::{Apply, Chain, Format, Migration, Script};
use crate::runner::{self, StatementError};
use crate::sql::{Reach, literal};
use serde::Serialize;
use sqlx::Executor;
use sqlx::postgres::PgConnection;
use std::time::{Duration, Instant};

/// What `rollback` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// Roll back the migrations applied after this one.
    pub to: String,
    /// Migrations whose round trip the pull request check passed (`None`: no evidence given).
    pub proved: Option<Vec<String>>,
    /// Run downs without that evidence.
    pub force: bool,
    /// The session: dry run, timeouts, retries (`to` unused).
    pub session: ApplyOptions,
}

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
    /// The plan the target must still match (`apply --plan`).
    pub plan: Option<crate::plan::Plan>,
    /// The Python that runs an Alembic project's own Alembic.
    pub python: std::path::PathBuf,
    /// The target's URL, for a tool that connects itself (Alembic).
    pub url: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            to: None,
            dry_run: false,
            lock_timeout: "5s".into(),
            statement_timeout: "0".into(),
            retries: 3,
            plan: None,
            python: "python3".into(),
            url: String::new(),
        }
    }
}

/// Why `apply` did not start (a failing migration is not this: see [`Deployed::failed`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("this command does not write {0}'s bookkeeping yet; run the chain's own tool")]
    Unsupported(&'static str),
    #[error(
        "another apply holds this target's deploy lock (advisory lock {0}); wait for it to finish, or find it in pg_locks"
    )]
    Busy(i64),
    #[error("the target needs a person before a deploy: {0}")]
    NeedsAttention(String),
    #[error("the target changed since the plan was made ({0}); make a new plan, and have it approved again")]
    Changed(String),
    #[error("--to {0}: no such migration in the chain")]
    UnknownTarget(String),
    #[error("--to {0}: the target has it applied already")]
    AlreadyApplied(String),
    #[error("{file}: {id} is pending and apply cannot run it ({reason}); apply it with the chain's own tool")]
    NotRunnable { id: String, file: String, reason: String },
    #[error("--to {0}: the target does not have it applied, so there is nothing to roll back to")]
    NotApplied(String),
    #[error(
        "{file}: {id} has no down to run (one-way by design); rolling back past it needs a new migration that undoes it"
    )]
    OneWay { id: String, file: String },
    #[error(
        "no round trip proved the downs of {0}: pass the pull request check's report.json as --evidence (its round trip must have passed), or --force"
    )]
    NotProved(String),
    #[error("Alembic: {0}")]
    Alembic(String),
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
    #[serde(serialize_with = "runner::as_millis")]
    pub duration: Duration,
}

/// What `apply` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    /// The bookkeeping table written.
    pub table: String,
    pub dry_run: bool,
    /// `up` for apply, `down` for rollback.
    pub direction: Direction,
    /// Applied or rolled back (or, dry, to be), in order.
    pub steps: Vec<Step>,
    /// The migration that failed, and why; the ones after it did not run.
    pub failed: Option<Failed>,
}

impl Deployed {
    fn new(table: &str, dry_run: bool, direction: Direction) -> Deployed {
        Deployed { table: table.to_string(), dry_run, direction, steps: Vec::new(), failed: None }
    }

    /// A dry run's answer: what would run, in order.
    fn listed(mut self, steps: impl Iterator<Item = (String, String)>) -> Deployed {
        self.steps = steps.map(|(id, file)| Step { id, file, attempts: 0, duration: Duration::ZERO }).collect();
        self
    }
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

/// Rolls `conn` (the target) back to `options.to`: the downs of the migrations applied after
/// it, newest first, with their bookkeeping.
pub async fn rollback(
    conn: &mut PgConnection,
    chain: &Chain,
    options: &RollbackOptions,
) -> Result<Deployed, ApplyError> {
    let session = &options.session;
    // Alembic writes its own bookkeeping.
    let book = (chain.format != Format::Alembic).then(|| Book::of(chain)).transpose()?;
    let status = lock_and_read(conn, chain, session).await?;
    let applied: Vec<&Migration> = chain.migrations.iter().filter(|m| status.applied.contains(&m.id)).collect();
    let Some(keep) = applied.iter().position(|m| m.id == options.to) else {
        return Err(ApplyError::NotApplied(options.to.clone()));
    };
    // Flyway undoes versioned migrations; repeatables stay as they last ran.
    let undone: Vec<&Migration> =
        applied[keep + 1..].iter().copied().filter(|m| chain.format != Format::Flyway || m.version.is_some()).collect();
    let undone = undone.as_slice();
    if let Some((m, file)) = undone.iter().find_map(|m| one_way(m).map(|file| (m, file))) {
        return Err(ApplyError::OneWay { id: m.id.clone(), file });
    }
    let unproved: Vec<&str> = undone
        .iter()
        .filter(|m| !options.proved.as_ref().is_some_and(|p| p.contains(&m.id)))
        .map(|m| m.id.as_str())
        .collect();
    if !unproved.is_empty() && !options.force {
        return Err(ApplyError::NotProved(unproved.join(", ")));
    }
    let Some(book) = book else {
        let undone: Vec<&Migration> = undone.iter().rev().copied().collect();
        return run_alembic(conn, chain, &status, &undone, session, Direction::Down).await;
    };
    let mut steps = Vec::new();
    for (i, m) in undone.iter().enumerate().rev() {
        let down = m.down.as_ref().expect("one_way checked it");
        let at_after = if i == 0 { applied.get(keep).copied() } else { Some(undone[i - 1]) };
        steps.push(Planned {
            migration: m,
            script: on_target(down),
            direction: Direction::Down,
            at_before: Some(m),
            at_after,
        });
    }
    finish(conn, &book, steps, session, Direction::Down).await
}

/// The format's bookkeeping, and [`lock_and_read`].
async fn start(conn: &mut PgConnection, chain: &Chain, options: &ApplyOptions) -> Result<(Book, Status), ApplyError> {
    let book = Book::of(chain)?;
    Ok((book, lock_and_read(conn, chain, options).await?))
}

/// Where `m` says it cannot be rolled back (its file), if it does: no down, an empty down
/// (SQL), or a `downgrade()` that is missing, raises, or does nothing after an `upgrade()`
/// that does something (Alembic).
fn one_way(m: &Migration) -> Option<String> {
    match &m.apply {
        Apply::Alembic(rev) => {
            let changes = rev.upgrade.as_ref().is_some_and(|u| !u.empty);
            rev.downgrade
                .as_ref()
                .is_none_or(|d| d.raises || (d.empty && changes))
                .then(|| crate::migrations::display_path(&rev.file))
        }
        _ => m.down.as_ref().is_none_or(|d| d.split.statements.is_empty()).then(|| m.up.display_path()),
    }
}

/// Takes the deploy lock of the chain's bookkeeping table (unless dry) and reads the table,
/// refusing a target that needs a person.
async fn lock_and_read(conn: &mut PgConnection, chain: &Chain, options: &ApplyOptions) -> Result<Status, ApplyError> {
    let lock = deploy_lock(bookkeeping::table(chain.format));
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
    Ok(status)
}

/// Runs `steps` (or, dry, lists them) with the session's timeouts.
async fn finish(
    conn: &mut PgConnection,
    book: &Book,
    steps: Vec<Planned<'_>>,
    options: &ApplyOptions,
    direction: Direction,
) -> Result<Deployed, ApplyError> {
    let mut deployed = Deployed::new(book.table, options.dry_run, direction);
    if options.dry_run {
        return Ok(deployed.listed(steps.iter().map(|s| (s.migration.id.clone(), s.script.display_path()))));
    }
    let settings = format!(
        "SELECT pg_catalog.set_config('lock_timeout', {}, false), pg_catalog.set_config('statement_timeout', {}, false)",
        literal(&options.lock_timeout),
        literal(&options.statement_timeout)
    );
    conn.execute(sqlx::AssertSqlSafe(settings)).await.map_err(database("cannot set the session's timeouts"))?;
    if !steps.is_empty() {
        conn.execute(book.create).await.map_err(database("cannot create the bookkeeping table"))?;
    }
    run(conn, book, steps, options.retries, &mut deployed).await?;
    Ok(deployed)
}

/// SQLSTATE `lock_not_available`: `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Applies the pending migrations of `chain` on `conn` (the target) as `options` says.
pub async fn apply(conn: &mut PgConnection, chain: &Chain, options: &ApplyOptions) -> Result<Deployed, ApplyError> {
    if chain.format == Format::Alembic {
        return apply_alembic(conn, chain, options).await;
    }
    let (book, status) = start(conn, chain, options).await?;
    let pending = pending(chain, &status, options.to.as_deref())?;
    hold_to_plan(conn, options, &status, &pending).await?;
    if let Some(m) = pending.iter().find(|m| !matches!(m.apply, Apply::Sql)) {
        let reason = match &m.apply {
            Apply::Opaque(reason) => reason.clone(),
            _ => "it is not SQL".to_string(),
        };
        return Err(ApplyError::NotRunnable { id: m.id.clone(), file: m.up.display_path(), reason });
    }
    // The migration the target is at, for golang-migrate's one row.
    let mut before: Option<&Migration> =
        status.applied.last().and_then(|id| chain.migrations.iter().find(|m| m.id == *id));
    let mut steps = Vec::new();
    for m in pending {
        steps.push(Planned {
            migration: m,
            script: on_target(&m.up),
            direction: Direction::Up,
            at_before: before,
            at_after: Some(m),
        });
        before = Some(m);
    }
    finish(conn, &book, steps, options, Direction::Up).await
}

/// Applies an Alembic chain's pending revisions one at a time through the project's own
/// Alembic (`--python`), which writes `alembic_version` itself, with the session's timeouts
/// as its connection's options; a revision stopped by its lock timeout is tried again.
async fn apply_alembic(conn: &mut PgConnection, chain: &Chain, options: &ApplyOptions) -> Result<Deployed, ApplyError> {
    let status = lock_and_read(conn, chain, options).await?;
    let pending = pending(chain, &status, options.to.as_deref())?;
    hold_to_plan(conn, options, &status, &pending).await?;
    run_alembic(conn, chain, &status, &pending, options, Direction::Up).await
}

/// Runs `revisions` in turn through the project's own Alembic: `upgrade` each (up), or Alembic's
/// own downgrade step of each (down, newest first: each is a head when its turn comes), with
/// the session's timeouts as the connection's options, lock timeouts retried; then holds the
/// target's `alembic_version` to what Alembic reported.
async fn run_alembic(
    conn: &mut PgConnection,
    chain: &Chain,
    status: &Status,
    revisions: &[&Migration],
    options: &ApplyOptions,
    direction: Direction,
) -> Result<Deployed, ApplyError> {
    let mut deployed = Deployed::new(&status.table, options.dry_run, direction);
    let file = |m: &Migration| crate::alembic::steps::revision_file(m);
    if options.dry_run || revisions.is_empty() {
        let listed = revisions.iter().map(|m| (m.id.clone(), crate::migrations::display_path(&file(m))));
        return Ok(deployed.listed(listed));
    }
    let alembic = |e: crate::alembic::run::RunError| ApplyError::Alembic(e.to_string());
    let scheme = crate::alembic::run::preflight(&options.python).await.map_err(alembic)?;
    let project = crate::alembic::config::locate(&chain.dir).map_err(|e| ApplyError::Alembic(e.to_string()))?;
    let url = match options.url.split_once("://") {
        Some((_, rest)) => format!("{scheme}://{rest}"),
        None => options.url.clone(),
    };
    let settings = [("lock_timeout", &options.lock_timeout), ("statement_timeout", &options.statement_timeout)];
    if let Some((name, _)) = settings.iter().find(|(_, v)| v.chars().any(|c| c.is_whitespace() || c == '\\')) {
        return Err(ApplyError::Alembic(format!("--{}: a duration without spaces, e.g. 5s", name.replace('_', "-"))));
    }
    let pgoptions = settings.iter().map(|(name, value)| format!("-c {name}={value}")).collect::<Vec<_>>().join(" ");
    let mut driver =
        crate::alembic::run::Alembic::start(&project, &options.python, url, Some(pgoptions)).await.map_err(alembic)?;
    for m in revisions.iter().copied() {
        let path = file(m);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let step = match direction {
                Direction::Up => driver.upgrade(&m.id, &path).await,
                Direction::Down => driver.revert(&m.id, &path).await,
            }
            .map_err(alembic)?;
            let Some(error) = step.error else {
                deployed.steps.push(Step {
                    id: m.id.clone(),
                    file: crate::migrations::display_path(&path),
                    attempts,
                    duration: step.duration,
                });
                break;
            };
            let lock = ["LockNotAvailable", "lock timeout"].iter().any(|s| error.message.contains(s));
            if lock && attempts <= options.retries {
                tokio::time::sleep(backoff(attempts)).await;
                continue;
            }
            let (file, line) = error.location.clone().unwrap_or((path.clone(), 1));
            let error = StatementError {
                file: crate::migrations::display_path(&file),
                line,
                sqlstate: if lock { LOCK_NOT_AVAILABLE.to_string() } else { String::new() },
                message: error.message,
                detail: None,
                hint: None,
                statement: 0,
                statement_text: match direction {
                    Direction::Up => "upgrade()",
                    Direction::Down => "downgrade()",
                }
                .into(),
                refused: false,
            };
            deployed.failed = Some(Failed { id: m.id.clone(), attempts, error, partially_applied: false });
            return Ok(deployed);
        }
    }
    // An env.py that ignores the URL migrated some other database.
    let after = bookkeeping::status(conn, chain).await.map_err(database("cannot read the bookkeeping table"))?;
    let (verb, unrecorded) = match direction {
        Direction::Up => ("upgrade", "does not record it"),
        Direction::Down => ("downgrade", "still records it"),
    };
    let wrong = |s: &&Step| (direction == Direction::Up) == after.pending.contains(&s.id);
    if let Some(step) = deployed.steps.iter().find(wrong) {
        return Err(ApplyError::Alembic(format!(
            "{}: alembic {verb} {} reported success, but the target's alembic_version {unrecorded}: env.py must connect with the URL it is given (DATABASE_URL, -x url or sqlalchemy.url)",
            step.file, step.id
        )));
    }
    Ok(deployed)
}

/// With `--plan`: refuses a target whose pending migrations or schema are not the plan's.
async fn hold_to_plan(
    conn: &mut PgConnection,
    options: &ApplyOptions,
    status: &Status,
    pending: &[&Migration],
) -> Result<(), ApplyError> {
    if let Some(plan) = &options.plan {
        let planned: Vec<&str> = plan.pending.iter().map(|m| m.id.as_str()).collect();
        let now: Vec<&str> = pending.iter().map(|m| m.id.as_str()).collect();
        if planned != now {
            return Err(ApplyError::Changed(format!("planned {}, pending now {}", planned.join(", "), now.join(", "))));
        }
        let fingerprint =
            crate::plan::fingerprint(conn, status).await.map_err(database("cannot read the target's schema"))?;
        if fingerprint != plan.fingerprint {
            return Err(ApplyError::Changed("its schema is not the one planned against".into()));
        }
    }
    Ok(())
}

/// What `apply` did, for a terminal or a log: a line per migration, then the outcome.
pub fn to_text(deployed: &Deployed) -> String {
    let mut out = String::new();
    let verb = match (deployed.dry_run, deployed.direction) {
        (true, Direction::Up) => "would apply",
        (false, Direction::Up) => "applied",
        (true, Direction::Down) => "would roll back",
        (false, Direction::Down) => "rolled back",
    };
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
        let nothing = match deployed.direction {
            Direction::Up => "nothing pending",
            Direction::Down => "nothing applied after it",
        };
        out.push_str(&format!("up to date: {nothing} in {}\n", deployed.table));
    } else if !deployed.dry_run {
        out.push_str(&format!(
            "done: {} migration(s) {verb} and recorded in {}\n",
            deployed.steps.len(),
            deployed.table
        ));
    }
    out
}

/// Which way a step goes: a migration's up, or its down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// One step to run: a migration's script in a direction, and where the target is before and
/// after it (for golang-migrate's one row).
struct Planned<'a> {
    migration: &'a Migration,
    script: Script,
    direction: Direction,
    at_before: Option<&'a Migration>,
    at_after: Option<&'a Migration>,
}

/// Runs `steps` in order with their bookkeeping, each tried again after a lock timeout up to
/// `retries` times; stops at the first that fails, filling `deployed`.
async fn run(
    conn: &mut PgConnection,
    book: &Book,
    steps: Vec<Planned<'_>>,
    retries: u32,
    deployed: &mut Deployed,
) -> Result<(), ApplyError> {
    for step in steps {
        let (m, script) = (step.migration, &step.script);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            if let Some(before) = book.before(m) {
                execute(conn, before).await?;
            }
            let record = book.record(m, step.direction);
            // With the step's last statement, so that it commits with the step, when the step
            // has a transaction; after it otherwise (a message of its statement and ours would
            // make one).
            let along = script.transaction.is_wrapped() && !script.split.statements.is_empty();
            let mut recorder = runner::AfterLast::new(record.clone().filter(|_| along));
            let outcome = runner::run_script(conn, script, &mut recorder).await?;
            let Some(error) = outcome.error else {
                if let Some(record) = record.filter(|_| !along) {
                    execute(conn, record).await?;
                }
                let duration = started.elapsed();
                if let Some(after) = book.after(m, step.direction, step.at_after, duration) {
                    execute(conn, after).await?;
                }
                deployed.steps.push(Step { id: m.id.clone(), file: script.display_path(), attempts, duration });
                break;
            };
            let partially_applied = outcome.partially_applied;
            let retry = error.sqlstate == LOCK_NOT_AVAILABLE && !partially_applied && attempts <= retries;
            if let Some(undo) = book.failed(&step, partially_applied) {
                execute(conn, undo).await?;
            }
            if retry {
                tokio::time::sleep(backoff(attempts)).await;
                continue;
            }
            deployed.failed = Some(Failed { id: m.id.clone(), attempts, error, partially_applied });
            return Ok(());
        }
    }
    Ok(())
}

/// Runs one bookkeeping statement.
async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), ApplyError> {
    conn.execute(sqlx::AssertSqlSafe(sql)).await.map_err(database("cannot write the bookkeeping row"))?;
    Ok(())
}

/// The migrations whose round trip passed in a `check` report (`report.json`).
pub fn proved_by(report: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let json = evidence(report)?;
    let migrations = json["migrations"]
        .as_array()
        .with_context(|| format!("--evidence {}: no migrations in it", report.display()))?;
    Ok(migrations
        .iter()
        .filter(|m| m["round_trip"]["status"] == "passed")
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect())
}

/// The findings of the pull request check's `report.json` (see [`proved_by`]) on migrations:
/// the lint's, from its trace, and every other stage's.
pub fn evidence_findings(report: &std::path::Path) -> anyhow::Result<Vec<crate::findings::Finding>> {
    use anyhow::Context;
    let json = evidence(report)?;
    let findings: Vec<crate::findings::Finding> = serde_json::from_value(json["findings"].clone())
        .with_context(|| format!("--evidence {}: its findings are not a report.json's", report.display()))?;
    Ok(findings.into_iter().filter(|f| f.migration.is_some()).collect())
}

/// A `report.json` read as JSON.
fn evidence(report: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let shown = report.display();
    let text = std::fs::read_to_string(report).with_context(|| format!("--evidence {shown}: cannot read it"))?;
    serde_json::from_str(&text).with_context(|| format!("--evidence {shown}: not a report.json"))
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

/// How one tool keeps its bookkeeping: the table as the tool creates it, and the statements it
/// runs around each migration.
struct Book {
    format: Format,
    table: &'static str,
    create: &'static str,
    /// The chain's directory: Flyway names scripts under it.
    root: std::path::PathBuf,
}

impl Book {
    fn of(chain: &Chain) -> Result<Book, ApplyError> {
        let format = chain.format;
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
            // As Flyway creates it on PostgreSQL (createMetaDataTable.sql).
            Format::Flyway => {
                "DO $$ BEGIN IF to_regclass('flyway_schema_history') IS NULL THEN \
                 CREATE TABLE flyway_schema_history (installed_rank integer NOT NULL, version varchar(50), \
                 description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL, \
                 checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), \
                 execution_time integer NOT NULL, success boolean NOT NULL); \
                 ALTER TABLE flyway_schema_history ADD CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank); \
                 CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success); END IF; END $$"
            }
            Format::Alembic => return Err(ApplyError::Unsupported("Alembic")),
        };
        Ok(Book { format, table: bookkeeping::table(format), create, root: chain.dir.clone() })
    }

    /// Written before the step runs, committed on its own (golang-migrate marks the version
    /// dirty until the step succeeded).
    fn before(&self, m: &Migration) -> Option<String> {
        (self.format == Format::GolangMigrate).then(|| golang_migrate_version(Some(m), true))
    }

    /// Written with the step's last statement (in its transaction when it has one).
    fn record(&self, m: &Migration, direction: Direction) -> Option<String> {
        let key = literal(&bookkeeping::key(self.format, m));
        let table = self.table;
        Some(match (direction, self.format) {
            // Its one row is written before and after the step.
            (direction, Format::Flyway) => flyway_row(m, direction, &self.root, true),
            (_, Format::GolangMigrate | Format::Alembic) => return None,
            (Direction::Up, Format::Sqlx) => format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ({key}, {}, TRUE, '\\x{}', -1)",
                literal(&m.name),
                bookkeeping::checksum(self.format, m).map(hex).unwrap_or_default()
            ),
            (Direction::Up, Format::Dbmate) => format!("INSERT INTO schema_migrations (version) VALUES ({key})"),
            (Direction::Up, Format::Diesel) => {
                format!("INSERT INTO __diesel_schema_migrations (version) VALUES ({key})")
            }
            (Direction::Up, Format::Goose) => {
                format!("INSERT INTO goose_db_version (version_id, is_applied) VALUES ({key}, true)")
            }
            (Direction::Up, Format::SqlMigrate) => {
                format!("INSERT INTO gorp_migrations (id, applied_at) VALUES ({key}, now())")
            }
            // Reverting deletes the version's row, as each of these tools does.
            (Direction::Down, Format::Sqlx | Format::Dbmate | Format::Diesel) => {
                format!("DELETE FROM {table} WHERE version = {key}")
            }
            (Direction::Down, Format::Goose) => format!("DELETE FROM goose_db_version WHERE version_id = {key}"),
            (Direction::Down, Format::SqlMigrate) => format!("DELETE FROM gorp_migrations WHERE id = {key}"),
        })
    }

    /// Written once the step committed; `at` is where the target is then.
    fn after(&self, m: &Migration, direction: Direction, at: Option<&Migration>, took: Duration) -> Option<String> {
        match (self.format, direction) {
            (Format::GolangMigrate, _) => Some(golang_migrate_version(at, false)),
            // Flyway records the milliseconds the migration took in the row it added last.
            (Format::Flyway, _) => Some(format!(
                "UPDATE flyway_schema_history SET execution_time = {} \
                 WHERE installed_rank = (SELECT max(installed_rank) FROM flyway_schema_history)",
                took.as_millis().min(i32::MAX as u128)
            )),
            // sqlx records the time the migration took once it committed.
            (Format::Sqlx, Direction::Up) => Some(format!(
                "UPDATE _sqlx_migrations SET execution_time = {} WHERE version = {}",
                took.as_nanos().min(i64::MAX as u128),
                literal(&bookkeeping::key(self.format, m))
            )),
            _ => None,
        }
    }

    /// Written when `m` failed, the target being at `at` before it: golang-migrate's row goes
    /// back to `at` when nothing of the step stayed (its transaction rolled back), and stays
    /// dirty when statements of it did, as golang-migrate leaves it; Flyway adds a failed row
    /// for a migration whose statements stayed (it writes none for one rolled back).
    fn failed(&self, step: &Planned<'_>, partially_applied: bool) -> Option<String> {
        let (m, at) = (step.migration, step.at_before);
        match self.format {
            Format::GolangMigrate if !partially_applied => Some(golang_migrate_version(at, false)),
            Format::Flyway if partially_applied => Some(flyway_row(m, step.direction, &self.root, false)),
            _ => None,
        }
    }
}

/// Flyway's row for `m` run in `direction` as Flyway writes it: the next rank, the version (none
/// for a repeatable), the file's description, `SQL` (`SQL_BASELINE` for a baseline migration,
/// `UNDO_SQL` for an undo, as Flyway Teams writes it), the script as named under its location,
/// Flyway's CRC-32 checksum of it, the session's user; the time is written once known.
fn flyway_row(m: &Migration, direction: Direction, root: &std::path::Path, success: bool) -> String {
    let version = m.version.as_ref().map_or("NULL".to_string(), |_| literal(&bookkeeping::key(Format::Flyway, m)));
    let path = match direction {
        Direction::Up => &m.up.path,
        Direction::Down => m.down.as_ref().map_or(&m.up.path, |d| &d.path),
    };
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kind = match direction {
        Direction::Down => "UNDO_SQL",
        Direction::Up if file.starts_with('B') => "SQL_BASELINE",
        Direction::Up => "SQL",
    };
    // The description as the file names it (`U2__drop_c.sql`: "drop c").
    let description = file
        .strip_suffix(".sql")
        .and_then(crate::migrations::formats::flyway::description)
        .unwrap_or_else(|| m.name.clone());
    // Named under its location, `/`-separated (a file of another location: by its name).
    let script = match path.strip_prefix(root) {
        Ok(relative) => relative.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>().join("/"),
        Err(_) => file,
    };
    let checksum = bookkeeping::flyway_checksum(path).map_or("NULL".to_string(), |c| c.to_string());
    format!(
        "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, \
         installed_by, execution_time, success) \
         SELECT coalesce(max(installed_rank), 0) + 1, {version}, {}, '{kind}', {}, {checksum}, current_user, 0, {success} \
         FROM flyway_schema_history",
        literal(&description),
        literal(&script)
    )
}

/// golang-migrate's one row: the version the database is at (none: no row), and whether it is
/// dirty.
fn golang_migrate_version(at: Option<&Migration>, dirty: bool) -> String {
    match at {
        Some(m) => format!(
            "BEGIN; TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({}, {dirty}); COMMIT",
            literal(&bookkeeping::key(Format::GolangMigrate, m))
        ),
        None => "TRUNCATE schema_migrations".to_string(),
    }
}

fn hex(bytes: Vec<u8>) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn database(context: &'static str) -> impl Fn(sqlx::Error) -> ApplyError {
    move |source| ApplyError::Database { context: context.to_string(), source }
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
}
