//! The stairway: applies a chain one migration at a time on a scratch database, snapshotting the
//! schema around every step. Each applied migration's changes are recorded (and judged by
//! `effects` and `data`); selected migrations are round-tripped (up → down must restore the
//! schema from before the up → up again must succeed and give the same schema); a failed
//! migration is checked to have left the database as it was. Migrations run through [`Steps`],
//! so a format run by its own tool plugs in beside our SQL runner.

use crate::data::{self, Contents, ContentsCache, Seed, SeedError};
use crate::effects;
use crate::findings::Finding;
use crate::migrations::{Apply, Chain, Migration, Script, display_path};
use crate::postgres::{ProvisionError, ScratchDatabase, Server};
use crate::prefix_cache::{CacheOutcome, CacheReport, PrefixCache};
use crate::report::{self, MigrationReport, MigrationStatus};
use crate::rules;
use crate::runner::{self, Observer, RunError, ScriptOutcome, StatementError};
use crate::schema::introspect::Snapshots;
use crate::schema::{Action, Change, Delta, IntrospectError, Schema};
use crate::scope::{MigrationScope, Scope};
use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::collections::BTreeSet;
use std::time::Duration;

/// Rule id: the down fails or does not restore the schema from before the up.
pub const IRREVERSIBLE: &str = "irreversible";
/// Rule id: the up fails, or gives another schema, when run again after its down.
pub const REAPPLY_FAILED: &str = "reapply-failed";
/// Rule id: a migration failed.
pub const MIGRATION_FAILED: &str = "migration-failed";

/// How long one up or down may take unless `migration-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The `application_name` of the connections that run migrations, so that a step that ran out
/// of time can be stopped on the server.
pub const MIGRATE_APP: &str = "migration-guard migrate";

/// Which migrations get the up → down → up round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RoundTrip {
    /// Every changed migration that has a down.
    #[default]
    All,
    /// Only changed migrations whose files do not exist at the base (added by the change).
    New,
    /// None: apply only.
    None,
}

/// How one migration's round trip went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundTripStatus {
    /// Down restored the schema, up again gave the same schema.
    Passed,
    /// Down failed or left a different schema.
    Irreversible,
    /// Up failed or differed when run again.
    ReapplyFailed,
    /// The migration has no down (or an empty one), so it cannot be reversed by the tool.
    NoDown,
    /// One-way on purpose: its down raises, or `irreversible` lists it.
    OneWay,
    /// Not selected by `--round-trip`.
    NotSelected,
}

/// The round trip's outcome in a migration's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundTripResult {
    pub status: RoundTripStatus,
    /// What went wrong, or why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The state a failed migration left the database in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AfterFailure {
    /// Its transaction was rolled back; `verified` when a snapshot showed the schema equal to
    /// the one before it (else `differences` lists what is left).
    RolledBack {
        verified: bool,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        differences: Vec<String>,
    },
    /// It ran without a transaction: these statements stay applied.
    PartiallyApplied { statements: Vec<AppliedStatement> },
}

/// A statement that ran before a non-transactional migration failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedStatement {
    pub line: u32,
    pub text: String,
}

/// Which run of an up this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The first, watched and judged.
    First,
    /// The re-run after its down, whose effects are compared.
    Again,
    /// A replay nothing looks at (a merged migration, a rebuild): as fast as it goes.
    Replay,
}

/// Runs one direction of one migration of the chain on a connection.
pub trait Steps {
    /// Called whenever the stairway creates the database it applies the chain to (at the start
    /// and when it rebuilds one), before anything runs there: a tool that opens its own
    /// connection connects to it here.
    fn database(&mut self, _database: &ScratchDatabase) -> impl Future<Output = Result<(), StairwayError>> {
        async { Ok(()) }
    }

    /// Applies migration `index`, for `pass`.
    fn up(
        &mut self,
        conn: &mut PgConnection,
        index: usize,
        pass: Pass,
    ) -> impl Future<Output = Result<ScriptOutcome, StairwayError>>;

    /// Reverts migration `index`; only called when [`Steps::has_down`] is true.
    fn down(
        &mut self,
        conn: &mut PgConnection,
        index: usize,
    ) -> impl Future<Output = Result<ScriptOutcome, StairwayError>>;

    /// True when migration `index` has a down with something in it.
    fn has_down(&self, index: usize) -> bool;

    /// The migrations the change under review adds start here: objects with OIDs from
    /// `first_oid` on are theirs, new in production too.
    fn change_starts(&mut self, first_oid: u32);

    /// The SQL the up of migration `index` runs, known once its first up ran: findings are
    /// located in it and the data check reads which tables it names. `None` when unknown (the
    /// data check then skips the migration rather than guess).
    fn script(&self, index: usize) -> Option<&Script>;

    /// The tables whose rows the last up or down may have written (`schema.table`), beyond
    /// what its DDL altered; `None` when unknown.
    fn written(&mut self) -> Option<BTreeSet<String>> {
        None
    }

    /// The stairway ran something on the database itself (seed data).
    fn unobserved(&mut self) {}
}

/// SQL migrations run by our [`runner`]; the observer sees the first up of each migration.
pub struct SqlSteps<'a, O> {
    chain: &'a Chain,
    observer: O,
    written: data::Written,
    /// Whether anything reads what the scripts wrote (the data checks): else no script is
    /// watched for it, which would cost a lock query per script that may write rows.
    watch_writes: bool,
}

impl<'a, O: Observer> SqlSteps<'a, O> {
    /// Steps over `chain`'s scripts; `observer` sees the first up of each migration; the tables
    /// each script may have written are found when `watch_writes` (see [`Plan::effects`]).
    pub fn new(chain: &'a Chain, observer: O, watch_writes: bool) -> Self {
        SqlSteps { chain, observer, written: data::Written::default(), watch_writes }
    }

    /// Starts watching `script` for the rows it writes, when anything reads them.
    fn start_watching(&mut self, script: &Script) {
        self.written = data::Written::default();
        if self.watch_writes {
            self.written.start(script);
        }
    }

    /// Gives the observer back.
    pub fn into_observer(self) -> O {
        self.observer
    }

    /// Runs a script the observer does not see (a down, an up again, a replay), telling it
    /// afterwards what the script locked if it asks; `written` watches it when `watch_writes`.
    async fn run_unseen(
        &mut self,
        conn: &mut PgConnection,
        script: &Script,
        watch_writes: bool,
    ) -> Result<ScriptOutcome, StairwayError> {
        let asks = self.observer.unseen_starts();
        let mut locked = runner::locked_relations(asks, script);
        let outcome = if watch_writes {
            runner::run_script(conn, script, &mut (&mut self.written, &mut locked)).await?
        } else {
            runner::run_script(conn, script, &mut locked).await?
        };
        if asks {
            let lost = |source| runner::RunError::Connection { path: script.display_path(), source };
            self.observer.ran_unseen(runner::locked(&mut locked, &outcome).map_err(lost)?);
        }
        Ok(outcome)
    }
}

impl<O: Observer> Steps for SqlSteps<'_, O> {
    async fn up(&mut self, conn: &mut PgConnection, index: usize, pass: Pass) -> Result<ScriptOutcome, StairwayError> {
        let migration = &self.chain.migrations[index];
        let script = &migration.up;
        self.start_watching(script);
        match pass {
            Pass::First => {
                let outcome = runner::run_script(conn, script, &mut (&mut self.observer, &mut self.written)).await?;
                self.observer.finished(&migration.id, script, &outcome);
                Ok(outcome)
            }
            // What a script that may write rows writes is read statement by statement.
            Pass::Again if self.written.watching() => self.run_unseen(conn, script, true).await,
            _ => {
                if self.written.watching() {
                    // Unwatched, what it wrote is unknown.
                    self.written.take();
                }
                self.run_unseen(conn, script, false).await
            }
        }
    }

    async fn down(&mut self, conn: &mut PgConnection, index: usize) -> Result<ScriptOutcome, StairwayError> {
        let script = self.chain.migrations[index].down.as_ref().expect("has_down checked");
        self.start_watching(script);
        let watch = self.written.watching();
        self.run_unseen(conn, script, watch).await
    }

    fn written(&mut self) -> Option<BTreeSet<String>> {
        self.written.take()
    }

    fn has_down(&self, index: usize) -> bool {
        self.chain.migrations[index].down.as_ref().is_some_and(|d| !d.is_empty())
    }

    fn change_starts(&mut self, first_oid: u32) {
        self.observer.change_starts(first_oid);
    }

    fn script(&self, index: usize) -> Option<&Script> {
        Some(&self.chain.migrations[index].up)
    }

    fn unobserved(&mut self) {
        self.observer.unobserved();
    }
}

/// What to do besides applying.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Per migration, in chain order: judge it (trace, snapshots, effects, data, round trip).
    /// The others are replayed only.
    pub judged: Vec<bool>,
    /// Per migration, in chain order: round-trip it.
    pub round_trip: Vec<bool>,
    /// Why migrations are not round-tripped, for the report.
    pub not_selected: String,
    /// Per migration, in chain order: why it is one-way on purpose, if it is.
    pub one_way: Vec<Option<OneWay>>,
    /// Longest a migration's up or down may take: one that waits for ever fails.
    pub timeout: Duration,
    /// The first migration the change adds, when there is a base to tell: what it and later
    /// added migrations create does not exist in production, so changing it again is no risk.
    pub change_start: Option<usize>,
    pub seed: Option<Seed>,
    /// Where to show the run moving.
    pub progress: crate::progress::Progress,
    /// The archive of the merged migrations leading the chain, restored instead of replaying
    /// them where it is there.
    pub cache: Option<PrefixCache>,
    /// Judge what each judged migration does (its effects and data checks, from snapshots
    /// around it). Off when their rules are: a judged migration that is not round-tripped is
    /// then applied as fast as a merged one, its changes not recorded.
    pub effects: bool,
    /// The lint traces judged migrations as they apply (else they may run unwatched).
    pub trace: bool,
}

/// A migration that is one-way on purpose, and where that is said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneWay {
    pub reason: String,
    pub file: String,
    pub line: u32,
}

impl Plan {
    /// The plan for `mode` over the migrations `scope` judges; `irreversible` lists ids of
    /// migrations that are one-way by design.
    pub fn new(chain: &Chain, mode: RoundTrip, scope: &Scope, irreversible: &[String], seed: Option<Seed>) -> Plan {
        let judged: Vec<bool> = (0..chain.migrations.len()).map(|i| scope.is_changed(i)).collect();
        let (round_trip, not_selected) = match mode {
            RoundTrip::All => (judged.clone(), String::new()),
            RoundTrip::None => (vec![false; judged.len()], "--round-trip none".to_string()),
            RoundTrip::New => (
                judged.iter().zip(&scope.added).map(|(j, a)| *j && *a).collect(),
                "--round-trip new: not added by this change".to_string(),
            ),
        };
        let one_way = chain.migrations.iter().map(|m| one_way(m, irreversible)).collect();
        let change_start = scope
            .has_base
            .then(|| judged.iter().zip(&scope.added).position(|(judged, added)| *judged && *added))
            .flatten();
        Plan {
            judged,
            round_trip,
            not_selected,
            one_way,
            change_start,
            seed,
            timeout: DEFAULT_TIMEOUT,
            progress: crate::progress::Progress::silent(),
            cache: None,
            effects: true,
            trace: true,
        }
    }

    /// One `irreversible-by-design` finding per judged migration that is one-way on purpose.
    pub fn one_way_findings(&self, chain: &Chain) -> Vec<Finding> {
        chain
            .migrations
            .iter()
            .zip(&self.one_way)
            .zip(&self.judged)
            .filter_map(|((m, one_way), judged)| Some((m, one_way.as_ref().filter(|_| *judged)?)))
            .map(|(m, w)| {
                Finding::of(
                    &rules::BY_DESIGN,
                    format!("{} is not reversible by design ({}); its round trip is skipped", m.id, w.reason),
                )
                .in_migration(&m.id)
                .at(w.file.clone(), Some(w.line))
            })
            .collect()
    }
}

/// Why the stairway stopped: the environment, not the migrations.
#[derive(Debug, thiserror::Error)]
pub enum StairwayError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot snapshot the schema")]
    Introspect(#[from] IntrospectError),
    #[error("cannot read the table contents for the data checks")]
    Contents(#[source] sqlx::Error),
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The tool a format's steps run failed to start or died (a failing migration is not this).
    #[error(transparent)]
    Tool(Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "{id}: after its round trip left the database in another state, applying the chain again up to it failed at {file}:{line}: {message}"
    )]
    Replay { id: String, file: String, line: u32, message: String },
}

/// The applied database, one report per migration, and the findings.
pub struct Applied {
    pub database: ScratchDatabase,
    pub migrations: Vec<MigrationReport>,
    pub findings: Vec<Finding>,
    /// What the merged prefix cache did, when there is one.
    pub cache: Option<CacheReport>,
}

/// The stairway's working state: the database, a connection running the migrations, a second
/// one reading table contents while the snapshots (on connections of their own) read the
/// schema, the last snapshot, and the table contents when they are known.
struct Stair<'a> {
    server: &'a Server,
    database: ScratchDatabase,
    conn: PgConnection,
    reader: PgConnection,
    /// Reads the database's schema again after each step, re-reading only what changed.
    snapshots: Snapshots,
    /// The schema as of the last snapshot [`Stair::advance`]d it.
    schema: Schema,
    /// The rows, read again only for the tables a step may have changed (and only around
    /// migrations that may write rows: only they need them).
    contents: ContentsCache,
    /// Event triggers exist: DDL may run code that writes rows.
    event_triggers: bool,
    /// Nothing was read yet, or migrations ran unwatched since `schema` was read: it, the
    /// contents and `event_triggers` are out of date until [`Stair::refresh`].
    stale: bool,
    /// Qualified names of what the change's added migrations created so far (tables, columns,
    /// views, ...): new and empty in production, so later changes to them are no risk.
    fresh: BTreeSet<String>,
}

impl Stair<'_> {
    /// What changed in the schema since the previous snapshot; [`Stair::advance`] takes it in.
    async fn snapshot(&mut self) -> Result<Delta, StairwayError> {
        Ok(masked(self.snapshots.take().await?))
    }

    /// What changed in the schema and the table contents now, read side by side on the two
    /// connections.
    async fn observe(&mut self) -> Result<(Delta, Contents), StairwayError> {
        let (delta, contents) = tokio::join!(self.snapshots.take(), self.contents.read(&mut self.reader));
        Ok((masked(delta?), contents.map_err(StairwayError::Contents)?))
    }

    /// Brings `schema` to the state after `delta`. DDL may rewrite the rows of what it alters
    /// (a type it changes prints differently in any table): their contents are read again.
    fn advance(&mut self, delta: &Delta) {
        self.schema.apply(delta);
        if delta.alters_types() {
            self.contents.forget();
        } else {
            self.contents.invalidate(delta.tables());
        }
    }

    /// Takes in the tables a step may have written rows of (see [`Steps::written`]).
    fn wrote(&mut self, tables: Option<BTreeSet<String>>) {
        // Event triggers may write anywhere.
        let tables = tables.filter(|_| !self.event_triggers);
        self.contents.written(tables);
    }

    /// After a step that ran out of time: stops what it still runs on the server, replaces the
    /// migration connection and the tool's own (its state is unknown), and gives the outcome of
    /// a step that failed with that.
    async fn timed_out<S: Steps>(
        &mut self,
        steps: &mut S,
        plan: &Plan,
        script: &Script,
    ) -> Result<ScriptOutcome, StairwayError> {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1",
        )
        .bind(MIGRATE_APP)
        .execute(&mut self.reader)
        .await
        .map_err(StairwayError::Contents)?;
        self.conn = self.database.connect_as(MIGRATE_APP).await?;
        steps.database(&self.database).await?;
        self.contents.forget();
        let seconds = plan.timeout.as_secs();
        let line = script.split.statements.first().map_or(script.first_line, |s| script.statement_line(s));
        Ok(ScriptOutcome {
            duration: plan.timeout,
            statements_run: 0,
            statement_times: Vec::new(),
            error: Some(StatementError {
                file: script.display_path(),
                line,
                sqlstate: String::new(),
                message: format!("did not finish within {seconds} s (migration-timeout), and was stopped"),
                detail: None,
                hint: Some(
                    "a migration that waits for input or for ever never deploys; raise migration-timeout if it really needs longer"
                        .into(),
                ),
                statement: 0,
                statement_text: String::new(),
                refused: false,
            }),
            partially_applied: !script.transaction.is_wrapped(),
            statements_kept: 0,
        })
    }

    /// Reads the schema again after merged migrations ran unobserved.
    async fn refresh(&mut self) -> Result<(), StairwayError> {
        self.snapshots.start_log().await;
        let delta = self.snapshot().await?;
        self.advance(&delta);
        self.contents.forget();
        self.event_triggers = has_event_triggers(&mut self.reader).await?;
        self.stale = false;
        Ok(())
    }

    /// The table contents now.
    async fn contents(&mut self) -> Result<Contents, StairwayError> {
        self.contents.read(&mut self.reader).await.map_err(StairwayError::Contents)
    }

    /// Whether the migration at `index` may write rows of tables it does not touch, so that
    /// the contents are read around it (without its SQL, there is nothing to check it by).
    fn may_write_rows<S: Steps>(&self, steps: &S, index: usize) -> bool {
        steps.script(index).is_some_and(|script| self.event_triggers || data::may_write_rows(script))
    }
}

/// Applies `chain` on a new scratch database of `server` as `plan` says.
pub async fn apply_chain<S: Steps>(
    server: &Server,
    chain: &Chain,
    steps: &mut S,
    plan: &Plan,
) -> Result<Applied, StairwayError> {
    let (database, restored, mut cache) = restore_prefix(server, plan).await?;
    steps.database(&database).await?;
    let conn = database.connect_as(MIGRATE_APP).await?;
    let reader = database.connect().await?;
    // The DDL log starts before the first watched migration: until then it would only slow
    // every DDL statement down.
    let snapshots = Snapshots::open_scanning(database.connect_admin().await?, database.connect_admin().await?).await?;
    let mut stair = Stair {
        server,
        database,
        conn,
        reader,
        snapshots,
        schema: Schema::default(),
        contents: ContentsCache::default(),
        event_triggers: false,
        stale: true,
        fresh: BTreeSet::new(),
    };
    if let Some(seed) = plan.seed.as_ref().filter(|s| s.after.is_none() && restored == 0) {
        load_seed(&mut stair.conn, seed).await?;
    }
    let mut reports = Vec::with_capacity(chain.migrations.len());
    let mut findings = Vec::new();
    let mut failed = false;
    let total = chain.migrations.len();
    for migration in &chain.migrations[..restored] {
        let mut report = new_report(migration, false);
        report.status = MigrationStatus::Applied;
        reports.push(report);
    }
    if restored > 0 {
        plan.progress.restored(restored, total);
    }
    for (index, migration) in chain.migrations.iter().enumerate().skip(restored) {
        let judged = plan.judged.get(index).copied().unwrap_or(true);
        let mut report = new_report(migration, judged);
        if failed {
            reports.push(report);
            continue;
        }
        if cache.is_none() {
            cache = save_prefix(&stair, plan, index).await;
        }
        plan.progress.migration_starts(index, total, &report.path);
        let selected = plan.round_trip.get(index).copied().unwrap_or(false);
        if plan.change_start == Some(index) {
            steps.change_starts(first_new_oid(&mut stair.reader).await?);
        }
        if !judged || !(plan.effects || selected) {
            // Merged, or judged on how it applies alone (traced, when the lint is on): no
            // snapshot or round trip.
            if judged {
                report.round_trip = Some(not_selected(plan));
            }
            let pass = if judged && plan.trace { Pass::First } else { Pass::Replay };
            let outcome = match within(plan.timeout, steps.up(&mut stair.conn, index, pass)).await? {
                Some(outcome) => outcome,
                None => stair.timed_out(steps, plan, &migration.up).await?,
            };
            // Nothing reads what it wrote.
            steps.written();
            report.duration_ms = report::millis(outcome.duration);
            report.partially_applied = outcome.partially_applied;
            stair.stale = true;
            if outcome.error.is_some() {
                failed = true;
                record_failure(&mut stair, plan, migration, index, outcome, &mut report, &mut findings).await?;
            } else {
                report.status = MigrationStatus::Applied;
                if let Some(seed) = plan.seed.as_ref().filter(|s| s.after == Some(index)) {
                    load_seed(&mut stair.conn, seed).await?;
                    steps.unobserved();
                }
            }
            plan.progress.migration_done(index, total, &report);
            reports.push(report);
            continue;
        }
        if stair.stale {
            stair.refresh().await?;
        }
        let writes = plan.effects && stair.may_write_rows(steps, index);
        let before_contents = if writes { Some(stair.contents().await?) } else { None };
        let outcome = match within(plan.timeout, steps.up(&mut stair.conn, index, Pass::First)).await? {
            Some(outcome) => outcome,
            None => stair.timed_out(steps, plan, &migration.up).await?,
        };
        stair.wrote(steps.written());
        report.duration_ms = report::millis(outcome.duration);
        report.partially_applied = outcome.partially_applied;
        if outcome.error.is_some() {
            failed = true;
            record_failure(&mut stair, plan, migration, index, outcome, &mut report, &mut findings).await?;
            plan.progress.migration_done(index, total, &report);
            reports.push(report);
            continue;
        }
        report.status = MigrationStatus::Applied;
        let (delta, contents) = if writes {
            let (delta, contents) = stair.observe().await?;
            (delta, Some(contents))
        } else {
            (stair.snapshot().await?, None)
        };
        let changes = delta.changes();
        let up = steps.script(index);
        let up_or_file = up.unwrap_or(&migration.up);
        if plan.effects {
            findings.extend(effects::findings(&migration.id, up_or_file, &changes, &stair.schema, &stair.fresh));
        }
        stair.advance(&delta);
        if plan.change_start.is_some_and(|start| index >= start) {
            stair.fresh.extend(changes.iter().filter(|c| c.action == Action::Added).map(|c| c.name.clone()));
        }
        if let (Some(up), Some(before), Some(now)) = (up, &before_contents, &contents) {
            findings.extend(data::changed(&migration.id, up, &changes, before, now, &stair.schema));
        }
        report.changes = changes;
        if up.is_none_or(data::touches_event_triggers) {
            stair.event_triggers = has_event_triggers(&mut stair.reader).await?;
        }

        report.round_trip = Some(if !selected {
            not_selected(plan)
        } else if let Some(one_way) = plan.one_way.get(index).and_then(Option::as_ref) {
            RoundTripResult { status: RoundTripStatus::OneWay, note: Some(one_way.reason.clone()) }
        } else if !steps.has_down(index) {
            RoundTripResult { status: RoundTripStatus::NoDown, note: Some("no down script to run".into()) }
        } else {
            let (result, consistent) =
                round_trip(&mut stair, steps, plan, migration, index, delta, &mut findings).await?;
            if !consistent {
                rebuild(&mut stair, chain, steps, plan, index).await?;
            }
            result
        });
        if let Some(seed) = plan.seed.as_ref().filter(|s| s.after == Some(index)) {
            load_seed(&mut stair.conn, seed).await?;
            steps.unobserved();
            let seeded = stair.snapshot().await?;
            stair.advance(&seeded);
            stair.contents.forget();
            stair.event_triggers |= has_event_triggers(&mut stair.reader).await?;
        }
        plan.progress.migration_done(index, total, &report);
        reports.push(report);
    }
    if cache.is_none() && !failed {
        cache = save_prefix(&stair, plan, total).await;
    }
    if let (None, Some(prefix)) = (&cache, &plan.cache) {
        cache = Some(prefix.unused(Some("a merged migration failed, so the prefix was not saved".into())));
    }
    stair.conn.close().await.ok();
    stair.reader.close().await.ok();
    stair.snapshots.close().await;
    Ok(Applied { database: stair.database, migrations: reports, findings, cache })
}

/// The round trip of a judged migration the plan does not round-trip.
fn not_selected(plan: &Plan) -> RoundTripResult {
    RoundTripResult { status: RoundTripStatus::NotSelected, note: Some(plan.not_selected.clone()) }
}

/// A new database for the stairway, with the merged prefix restored into it where the cache
/// has its archive: the database, how many migrations it already holds, and the cache's report
/// once there is one to make (a restore, or why there is none to try).
async fn restore_prefix(
    server: &Server,
    plan: &Plan,
) -> Result<(ScratchDatabase, usize, Option<CacheReport>), StairwayError> {
    let database = server.create_database().await?;
    let Some(cache) = &plan.cache else { return Ok((database, 0, None)) };
    if !cache.usable() {
        return Ok((database, 0, Some(cache.unused(None))));
    }
    if !cache.available() {
        return Ok((database, 0, None));
    }
    match cache.restore(server, &database).await {
        Ok(took) => Ok((database, cache.migrations(), Some(cache.report(CacheOutcome::Restored, None, took)))),
        Err(e) => {
            // Whatever part of it went in goes with the database.
            server.drop_database(&database).await?;
            let note = format!("restoring the archive failed ({e}); the merged migrations were replayed");
            Ok((server.create_database().await?, 0, Some(cache.unused(Some(note)))))
        }
    }
}

/// Writes the cache's archive when the stairway, about to run migration `next`, has just
/// replayed the merged prefix: the cache's report then, else `None` (not there yet).
async fn save_prefix(stair: &Stair<'_>, plan: &Plan, next: usize) -> Option<CacheReport> {
    let cache = plan.cache.as_ref()?;
    if next != cache.migrations() {
        return None;
    }
    Some(match cache.save(stair.server, &stair.database).await {
        Ok(took) => cache.report(CacheOutcome::Saved, None, took),
        Err(e) => cache.unused(Some(format!("writing the archive failed: {e}"))),
    })
}

/// Files a failed up: the `migration-failed` finding and the state it left the database in
/// (for a judged one, checked against the snapshot from before it).
async fn record_failure(
    stair: &mut Stair<'_>,
    plan: &Plan,
    migration: &Migration,
    index: usize,
    outcome: ScriptOutcome,
    report: &mut MigrationReport,
    findings: &mut Vec<Finding>,
) -> Result<(), StairwayError> {
    let Some(error) = outcome.error else { return Ok(()) };
    report.status = MigrationStatus::Failed;
    let seeded = plan.seed.as_ref().filter(|s| s.after.is_none_or(|at| at < index));
    let mut finding = failure_finding(&migration.id, &error, outcome.statements_kept, seeded);
    if index == 0 && seeded.is_none() && undefined_table(&error) {
        finding.help = Some(BEFORE_FIRST_HELP.to_string());
    }
    if report.scope == MigrationScope::Merged {
        finding.message.push_str(
            "; it is already merged, so the migrations after it (those this change adds among them) could not be checked",
        );
    }
    findings.push(finding);
    report.after_failure = Some(if outcome.partially_applied {
        let statements = migration.up.split.statements[..outcome.statements_kept]
            .iter()
            .map(|s| AppliedStatement { line: migration.up.statement_line(s), text: first_line(migration.up.text(s)) })
            .collect();
        AfterFailure::PartiallyApplied { statements }
    } else if stair.stale {
        // No snapshot was taken before it (merged, or nothing needed one); PostgreSQL rolled it back.
        AfterFailure::RolledBack { verified: false, differences: Vec::new() }
    } else {
        let now = stair.snapshot().await?;
        let differences: Vec<String> = now.changes().iter().map(ToString::to_string).collect();
        stair.advance(&now);
        AfterFailure::RolledBack { verified: differences.is_empty(), differences }
    });
    report.error = Some(error);
    Ok(())
}

/// Down, snapshot, up, snapshot. Returns the result and whether the database is back at the
/// snapshot after the first up (else the caller rebuilds it).
async fn round_trip<S: Steps>(
    stair: &mut Stair<'_>,
    steps: &mut S,
    plan: &Plan,
    migration: &Migration,
    index: usize,
    up: Delta,
    findings: &mut Vec<Finding>,
) -> Result<(RoundTripResult, bool), StairwayError> {
    let id = &migration.id;
    let down_script = migration.down.as_ref();
    let down_file = down_script.map_or_else(|| migration.up.display_path(), |d| d.display_path());
    let down = match within(plan.timeout, steps.down(&mut stair.conn, index)).await? {
        Some(outcome) => outcome,
        None => stair.timed_out(steps, plan, down_script.unwrap_or(&migration.up)).await?,
    };
    stair.wrote(steps.written());
    if let Some(error) = &down.error {
        let mut message = format!("the down of {id} fails: {}{}", error.message, sqlstate(error));
        if let Some(detail) = &error.detail {
            // PostgreSQL lists dependent objects one per line.
            message.push_str(&format!("; {}", detail.lines().collect::<Vec<_>>().join(", ")));
        }
        message.push_str("; the migration cannot be rolled back");
        findings.push(
            Finding::of(&rules::IRREVERSIBLE, message.clone())
                .in_migration(id)
                .at(error.file.clone(), Some(error.line))
                .with_help("fix the down so that it undoes exactly what the up does"),
        );
        // A wrapped down rolled back to the state after the up.
        let consistent = !down.partially_applied;
        return Ok((RoundTripResult { status: RoundTripStatus::Irreversible, note: Some(message) }, consistent));
    }
    let reverted = stair.snapshot().await?;
    stair.advance(&reverted);
    // From before the up to after the down.
    let left = up.then(reverted.clone()).changes();
    let mut result = RoundTripResult { status: RoundTripStatus::Passed, note: None };
    if !left.is_empty() {
        let message = format!(
            "the down of {id} does not restore the schema from before its up; compared with before the up, after the down: {}",
            effects::describe(&left)
        );
        let line = down_script.map_or(1, |d| locate_changes(d, &left));
        findings.push(
            Finding::of(&rules::IRREVERSIBLE, message.clone())
                .in_migration(id)
                .at(down_file.clone(), Some(line))
                .with_help("make the down undo everything the up does (and nothing more)"),
        );
        result = RoundTripResult { status: RoundTripStatus::Irreversible, note: Some(message) };
    }
    let again = match within(plan.timeout, steps.up(&mut stair.conn, index, Pass::Again)).await? {
        Some(outcome) => outcome,
        None => stair.timed_out(steps, plan, &migration.up).await?,
    };
    stair.wrote(steps.written());
    if let Some(error) = &again.error {
        let message =
            format!("{id} applies once but fails when run again after its down: {}{}", error.message, sqlstate(error));
        if result.status == RoundTripStatus::Passed {
            findings.push(reapply_finding(id, message.clone(), error.file.clone(), error.line));
            result = RoundTripResult { status: RoundTripStatus::ReapplyFailed, note: Some(message) };
        } else if let Some(note) = result.note.as_mut() {
            // The broken down explains it; one finding is enough.
            note.push_str(&format!("; running the up again then fails: {}", error.message));
        }
        return Ok((result, false));
    }
    let reapplied = stair.snapshot().await?;
    stair.advance(&reapplied);
    // From after the first up to after the second.
    let differences = reverted.then(reapplied).changes();
    if !differences.is_empty() {
        if result.status == RoundTripStatus::Passed {
            let message =
                format!("{id} gives another schema when run again after its down: {}", effects::describe(&differences));
            let up = steps.script(index).unwrap_or(&migration.up);
            let line = locate_changes(up, &differences);
            findings.push(reapply_finding(id, message.clone(), up.display_path(), line));
            result = RoundTripResult { status: RoundTripStatus::ReapplyFailed, note: Some(message) };
        }
        return Ok((result, false));
    }
    Ok((result, true))
}

/// Why `m` is one-way on purpose, if it is: `irreversible` lists it, or its down raises before
/// doing anything (a `DO` block whose first action is `RAISE EXCEPTION`; an Alembic
/// `downgrade()` whose first statement is `raise`).
fn one_way(m: &Migration, irreversible: &[String]) -> Option<OneWay> {
    if irreversible.contains(&m.id) {
        let file = m.down.as_ref().unwrap_or(&m.up);
        return Some(OneWay {
            reason: "listed under irreversible".into(),
            file: file.display_path(),
            line: file.first_line,
        });
    }
    match &m.apply {
        Apply::Alembic(rev) => rev.downgrade.as_ref().filter(|d| d.raises).map(|d| OneWay {
            reason: "its downgrade() raises".into(),
            file: display_path(&rev.file),
            line: d.line,
        }),
        Apply::Sql | Apply::Opaque(_) => {
            let down = m.down.as_ref()?;
            let first = down.split.statements.iter().find(|s| !is_setting(down.text(s)))?;
            crate::sql::raises_unconditionally(down.text(first)).then(|| OneWay {
                reason: "its down raises an exception".into(),
                file: down.display_path(),
                line: down.statement_line(first),
            })
        }
    }
}

/// `SET ...` and transaction control, which a one-way down may start with.
fn is_setting(text: &str) -> bool {
    let word = text.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(word.as_str(), "SET" | "BEGIN" | "START" | "RESET")
}

fn reapply_finding(id: &str, message: String, file: String, line: u32) -> Finding {
    Finding::of(&rules::REAPPLY_FAILED, message)
        .in_migration(id)
        .at(file, Some(line))
        .with_help("the up must work on the schema its own down leaves; make the down undo all of it")
}

/// The line of the first statement of `script` naming an object of `changes`.
fn locate_changes(script: &crate::migrations::Script, changes: &[Change]) -> u32 {
    let fallback = effects::locate(script, &[], &[]);
    changes
        .iter()
        .map(|c| effects::locate(script, &[], &[c.short_name()]))
        .find(|line| *line != fallback)
        .unwrap_or(fallback)
}

/// Replaces the database by a fresh one with migrations `0..=upto` applied (and the seed where
/// it belongs), after a round trip left it in an unknown state.
async fn rebuild<S: Steps>(
    stair: &mut Stair<'_>,
    chain: &Chain,
    steps: &mut S,
    plan: &Plan,
    upto: usize,
) -> Result<(), StairwayError> {
    // Judged migrations come after the merged prefix: the cache's archive is a start.
    let (database, restored, _) = restore_prefix(stair.server, plan).await?;
    steps.database(&database).await?;
    let mut conn = database.connect_as(MIGRATE_APP).await?;
    if let Some(seed) = plan.seed.as_ref().filter(|s| s.after.is_none() && restored == 0) {
        load_seed(&mut conn, seed).await?;
    }
    for (index, migration) in chain.migrations.iter().enumerate().take(upto + 1).skip(restored) {
        let outcome = steps.up(&mut conn, index, Pass::Replay).await?;
        if let Some(e) = outcome.error {
            return Err(StairwayError::Replay {
                id: chain.migrations[upto].id.clone(),
                file: e.file,
                line: e.line,
                message: format!("{} ({})", e.message, migration.id),
            });
        }
        if index < upto
            && let Some(seed) = plan.seed.as_ref().filter(|s| s.after == Some(index))
        {
            load_seed(&mut conn, seed).await?;
        }
    }
    let reader = database.connect().await?;
    let snapshots = Snapshots::open(database.connect_admin().await?, database.connect_admin().await?).await?;
    let old = std::mem::replace(&mut stair.database, database);
    std::mem::replace(&mut stair.conn, conn).close().await.ok();
    std::mem::replace(&mut stair.reader, reader).close().await.ok();
    std::mem::replace(&mut stair.snapshots, snapshots).close().await;
    stair.server.drop_database(&old).await?;
    steps.unobserved();
    stair.schema = stair.snapshot().await?.after;
    stair.contents.forget();
    Ok(())
}

/// Runs one step under the time limit; `None` when it did not finish in time.
async fn within(
    limit: Duration,
    step: impl Future<Output = Result<ScriptOutcome, StairwayError>>,
) -> Result<Option<ScriptOutcome>, StairwayError> {
    match tokio::time::timeout(limit, step).await {
        Ok(outcome) => outcome.map(Some),
        Err(_) => Ok(None),
    }
}

/// The OID the next object created will have at least (OIDs only grow): one past the largest
/// of the relations and constraints there are.
async fn first_new_oid(conn: &mut PgConnection) -> Result<u32, StairwayError> {
    let oid: i64 = sqlx::query_scalar(
        "SELECT greatest((SELECT max(oid)::int8 FROM pg_class), (SELECT coalesce(max(oid)::int8, 0) FROM pg_constraint)) + 1",
    )
    .fetch_one(conn)
    .await
    .map_err(StairwayError::Contents)?;
    Ok(u32::try_from(oid).unwrap_or(u32::MAX))
}

/// Whether the database has event triggers (they run code on DDL).
async fn has_event_triggers(conn: &mut PgConnection) -> Result<bool, StairwayError> {
    // The snapshots' own DDL log writes no rows of the chain's tables.
    sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_event_trigger WHERE evtfoid::regproc::text NOT LIKE $1)")
        .bind(format!("{}.%", crate::schema::ddl_log::SCHEMA))
        .fetch_one(conn)
        .await
        .map_err(StairwayError::Contents)
}

async fn load_seed(conn: &mut PgConnection, seed: &Seed) -> Result<(), StairwayError> {
    let outcome = runner::run_script(conn, &seed.script, &mut runner::NoObserver).await?;
    match outcome.error {
        None => Ok(()),
        Some(e) => {
            Err(SeedError::Failed { file: e.file, line: e.line, sqlstate: e.sqlstate, message: e.message }.into())
        }
    }
}

fn new_report(migration: &Migration, judged: bool) -> MigrationReport {
    MigrationReport {
        id: migration.id.clone(),
        scope: if judged { MigrationScope::Changed } else { MigrationScope::Merged },
        name: migration.name.clone(),
        path: migration.up.display_path(),
        down_path: migration.down.as_ref().map(|d| d.display_path()),
        status: MigrationStatus::Skipped,
        duration_ms: 0.0,
        transaction: migration.up.transaction.clone(),
        statements: migration.up.split.statements.len(),
        error: None,
        partially_applied: false,
        changes: Vec::new(),
        round_trip: None,
        after_failure: None,
        trace_note: None,
    }
}

/// The `migration-failed` finding (`cluster-wide-statement` for a statement the check refused);
/// `seed` names the test data loaded before it, if any.
pub fn failure_finding(id: &str, error: &StatementError, kept: usize, seed: Option<&Seed>) -> Finding {
    if error.refused {
        let finding = Finding::of(&rules::CLUSTER_WIDE, format!("migration {id}: {}", error.message))
            .in_migration(id)
            .at(error.file.clone(), Some(error.line));
        return match &error.hint {
            Some(hint) => finding.with_help(hint.clone()),
            None => finding,
        };
    }
    let mut message = format!("migration {id} failed: {}{}", error.message, sqlstate(error));
    if let Some(detail) = &error.detail {
        message.push_str(&format!("; {detail}"));
    }
    if kept > 0 {
        message.push_str(&format!("; it runs without a transaction, so {kept} statement(s) before it stay applied"));
    } else {
        message.push_str("; its transaction was rolled back");
    }
    if let Some(seed) = seed {
        message.push_str(&format!(
            " (with the seed data of {} loaded; rows like these in production fail it too)",
            display_path(&seed.script.path)
        ));
    }
    let finding =
        Finding::of(&rules::MIGRATION_FAILED, message).in_migration(id).at(error.file.clone(), Some(error.line));
    // insufficient_privilege: the role migrations run as owns the scratch database and no more.
    let privilege = (error.sqlstate == "42501").then_some(
        "migrations run as a role that owns only the scratch database, not as a superuser; if this migration really needs one (event triggers, untrusted extensions), set allow-superuser: true, which is unsafe for pull requests from people you do not trust",
    );
    match (&error.hint, privilege) {
        (Some(hint), Some(why)) => finding.with_help(format!("{hint} ({why})")),
        (Some(hint), None) => finding.with_help(hint.clone()),
        (None, Some(why)) => finding.with_help(why),
        (None, None) => finding,
    }
}

/// Help for a chain whose first migration needs tables that exist before it.
const BEFORE_FIRST_HELP: &str = "the first migration expects tables that exist before the chain (created by the application, e.g. SQLAlchemy's create_all, or by a schema dump): load their DDL first with --seed FILE.sql (input seed; for SQLAlchemy models, what python/migration_guard_sqlalchemy.py module:attribute prints)";

/// A relation that does not exist: PostgreSQL's undefined_table, also as a Python driver words it.
fn undefined_table(error: &StatementError) -> bool {
    error.sqlstate == "42P01"
        || (error.sqlstate.is_empty()
            && (error.message.contains("UndefinedTable")
                || (error.message.contains("relation \"") && error.message.contains("does not exist"))))
}

/// ` (SQLSTATE 42P01)`, or nothing for an error that did not come from PostgreSQL (a tool's).
fn sqlstate(error: &StatementError) -> String {
    if error.sqlstate.is_empty() { String::new() } else { format!(" (SQLSTATE {})", error.sqlstate) }
}

/// One line on what a failed migration left behind.
pub fn describe_after_failure(after: &AfterFailure) -> String {
    match after {
        AfterFailure::RolledBack { verified: true, .. } => {
            "rolled back: the schema was checked to be exactly as before it".to_string()
        }
        AfterFailure::RolledBack { verified: false, differences } if differences.is_empty() => {
            "rolled back by PostgreSQL (not compared with a snapshot: none is taken before merged migrations, nor where no stage needs one)"
                .to_string()
        }
        AfterFailure::RolledBack { verified: false, differences } => {
            format!("rolled back, but the schema differs from before it: {}", differences.join("; "))
        }
        AfterFailure::PartiallyApplied { statements } if statements.is_empty() => {
            "no statement ran; the database is as before it".to_string()
        }
        AfterFailure::PartiallyApplied { statements } => format!(
            "partially applied (no transaction): {} statement(s) stay applied: {}",
            statements.len(),
            statements.iter().map(|s| format!("line {}: {}", s.line, s.text)).collect::<Vec<_>>().join("; ")
        ),
    }
}

/// `round trip: 10 reversible, 1 irreversible, ...`, or `None` when nothing was round-tripped.
pub fn summary_line<'a>(migrations: impl IntoIterator<Item = &'a MigrationReport>) -> Option<String> {
    let mut counts = [0usize; 6];
    let order = [
        (RoundTripStatus::Passed, "reversible"),
        (RoundTripStatus::Irreversible, "irreversible"),
        (RoundTripStatus::ReapplyFailed, "failed to re-apply"),
        (RoundTripStatus::OneWay, "one-way by design"),
        (RoundTripStatus::NoDown, "without a down (not round-tripped)"),
        (RoundTripStatus::NotSelected, "not selected"),
    ];
    for m in migrations {
        if let Some(r) = &m.round_trip
            && let Some(slot) = order.iter().position(|(status, _)| *status == r.status)
        {
            counts[slot] += 1;
        }
    }
    let parts: Vec<String> =
        order.iter().zip(counts).filter(|(_, n)| *n > 0).map(|((_, label), n)| format!("{n} {label}")).collect();
    (!parts.is_empty()).then(|| format!("round trip (up → down → up): {}", parts.join(", ")))
}

/// `delta` with [`mask_now`] applied to both its states.
fn masked(mut delta: Delta) -> Delta {
    let dates = recent_dates();
    delta.for_both(|schema| mask_now(schema, &dates));
    delta
}

/// Normalizes what differs between two creations of the same object: timestamps PostgreSQL
/// froze when a view or default was created (`'now'::timestamp` is evaluated once, at
/// creation) become `'now'` (a literal counts as frozen when it falls on one of `dates`, around
/// today), and routine bodies are compared with whitespace collapsed.
fn mask_now(schema: &mut Schema, dates: &[String]) {
    let mask = |text: &mut String| {
        for date in dates {
            let needle = format!("'{date} ");
            while let Some(at) = text.find(&needle) {
                let Some(len) = text[at + 1..].find('\'') else { break };
                text.replace_range(at..at + len + 2, "'now'");
            }
        }
    };
    for view in schema.views.values_mut() {
        mask(&mut view.definition);
    }
    for column in schema.columns.values_mut() {
        if let Some(default) = column.default.as_mut() {
            mask(default);
        }
    }
    for constraint in schema.constraints.values_mut() {
        mask(&mut constraint.definition);
    }
    for index in schema.indexes.values_mut() {
        mask(&mut index.definition);
        if let Some(predicate) = index.predicate.as_mut() {
            mask(predicate);
        }
    }
    // PostgreSQL keeps a routine's body as written: a down that re-creates it with other
    // indentation restores the same function.
    for function in schema.functions.values_mut() {
        if let Some(definition) = function.definition.as_mut() {
            *definition = definition.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
}

/// Yesterday, today and tomorrow (UTC) as `YYYY-MM-DD`: the server may print local time.
fn recent_dates() -> Vec<String> {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    [days.saturating_sub(1), days, days + 1].into_iter().map(|d| civil_date(d as i64)).collect()
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or("");
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::View;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }

    #[test]
    fn frozen_now_is_masked() {
        let mut schema = Schema::default();
        let definition =
            "SELECT 1 WHERE p < ('2024-01-01 10:00:00.5'::timestamp - '1 mon'::interval) AND d > '2023-05-01 00:00:00'";
        schema.views.insert(
            "public.v".into(),
            View { materialized: false, definition: definition.into(), options: vec![], comment: None },
        );
        mask_now(&mut schema, &["2024-01-01".to_string()]);
        assert_eq!(
            schema.views["public.v"].definition,
            "SELECT 1 WHERE p < ('now'::timestamp - '1 mon'::interval) AND d > '2023-05-01 00:00:00'"
        );
    }
}
