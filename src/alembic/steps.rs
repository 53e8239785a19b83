//! The stairway's steps for Alembic: the project's own Alembic upgrades and reverts one revision
//! at a time on the stairway's database (one driver process per database). Before a revision's
//! first upgrade, the statements its online upgrade executes are captured (that upgrade rolled
//! back) and traced for the lint in a transaction that is rolled back too. The real application
//! stays Alembic's own upgrade; the captured SQL only feeds the lint, the location of findings
//! and the data check.

use super::run::{Alembic, Captured, RunError, StepOutcome};
use super::{Project, config};
use crate::lint::Tracer;
use crate::migrations::{Apply, Chain, LoadError, Migration, Script, Transaction, display_path};
use crate::postgres::ScratchDatabase;
use crate::report::MigrationReport;
use crate::roundtrip::{Pass, StairwayError, Steps};
use crate::runner::{self, Observer, ScriptOutcome, StatementError};
use crate::sql::TxEffect;
use sqlx::postgres::PgConnection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Help for an env.py that failed: where the environment is set up.
const ENV_HELP: &str = "run from the project root with the Python that has its packages (--python), and see --verbose \
                        for Alembic's output";
/// Help for an env.py that cannot import what it needs.
const IMPORT_HELP: &str = "the Python that runs Alembic cannot import what env.py imports: install the project's \
                           requirements into it (--python-requirements, input python-requirements), point --python at \
                           the project's virtualenv, or set PYTHONPATH";
/// Help for a failing revision.
const STEP_HELP: &str = "run with --verbose to see Alembic's full output";

/// Alembic revisions as [`Steps`]; the tracer sees the captured SQL of each first upgrade.
pub struct AlembicSteps<'a> {
    chain: &'a Chain,
    project: Project,
    python: PathBuf,
    /// SQLAlchemy URL scheme of the installed driver (from `run::preflight`).
    scheme: String,
    /// The user's server URL, whose credentials the driver reuses.
    given_url: Option<String>,
    verbose: bool,
    alembic: Option<Alembic>,
    tracer: Tracer,
    /// Per revision: the SQL its `upgrade()` executed, once captured.
    scripts: Vec<Option<Script>>,
    /// Per revision: why the trace did not see all of it.
    notes: Vec<Option<String>>,
    /// Time spent capturing and tracing, for `--verbose`.
    traced: Duration,
    /// The version table each upgrade must be recorded in (`None`: env.py names it in a way
    /// not read here, so it is not checked).
    version_table: Option<String>,
}

/// A step that failed inside the project's env.py, not in a revision's own code: the
/// environment is broken, so no revision's result would mean anything.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: env.py failed while running revision {revision}: {message}; {hint}")]
pub struct EnvFailed {
    file: String,
    line: u32,
    revision: String,
    message: String,
    hint: &'static str,
}

impl EnvFailed {
    /// The step's failure when it is env.py's.
    fn of(step: &StepOutcome, revision: &str) -> Option<EnvFailed> {
        let error = step.error.as_ref()?;
        let (path, line) = error.location.as_ref().filter(|(path, _)| path.ends_with("env.py"))?;
        let import = ["ModuleNotFoundError", "ImportError"].iter().any(|kind| error.message.starts_with(kind));
        Some(EnvFailed {
            file: display_path(path),
            line: *line,
            revision: revision.to_string(),
            message: error.message.clone(),
            hint: if import { IMPORT_HELP } else { ENV_HELP },
        })
    }
}

/// An upgrade Alembic reported done that the scratch database does not record.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: alembic upgrade {revision} reported success, but {table} in the scratch database {found}: env.py migrated another database or did not commit; it must connect with the URL the check passes (os.environ[\"DATABASE_URL\"], the `-x url` argument or the `sqlalchemy.url` option) and let Alembic commit"
)]
pub struct NotRecorded {
    file: String,
    revision: String,
    table: String,
    found: String,
}

impl<'a> AlembicSteps<'a> {
    /// Steps over `chain` (an Alembic chain) run by `python` with the SQLAlchemy `scheme`.
    pub fn new(
        chain: &'a Chain,
        python: &Path,
        scheme: &str,
        given_url: Option<&str>,
        tracer: Tracer,
        verbose: bool,
    ) -> Result<Self, LoadError> {
        let n = chain.migrations.len();
        let project = config::locate(&chain.dir)?;
        let env_py = project.script_location.as_ref().and_then(|dir| std::fs::read_to_string(dir.join("env.py")).ok());
        let version_table = env_py.as_deref().map_or(Some("alembic_version".to_string()), version_table);
        Ok(AlembicSteps {
            chain,
            project,
            python: python.to_path_buf(),
            scheme: scheme.to_string(),
            given_url: given_url.map(str::to_string),
            verbose,
            alembic: None,
            tracer,
            scripts: vec![None; n],
            notes: vec![None; n],
            traced: Duration::ZERO,
            version_table,
        })
    }

    /// Time spent so far capturing revisions and tracing their SQL.
    pub fn trace_time(&self) -> Duration {
        self.traced
    }

    /// Puts the trace notes into the reports and gives the tracer back.
    pub fn finish(self, reports: &mut [MigrationReport]) -> Tracer {
        if self.verbose {
            eprintln!("alembic: capturing and tracing took {:.1} ms", self.traced.as_secs_f64() * 1000.0);
        }
        for (report, note) in reports.iter_mut().zip(self.notes) {
            report.trace_note = note;
        }
        self.tracer
    }

    fn driver(&mut self) -> &mut Alembic {
        self.alembic.as_mut().expect("the stairway announces its database before running steps")
    }

    /// Captures what revision `index`'s upgrade executes and, with the lint on, traces that SQL
    /// up to where the upgrade leaves its transaction, rolling everything back, sequences
    /// included. Returns what was traced, for [`Tracer::finish`] once the real upgrade succeeded.
    async fn trace(
        &mut self,
        conn: &mut PgConnection,
        index: usize,
    ) -> Result<Option<(Script, ScriptOutcome)>, StairwayError> {
        let started = Instant::now();
        let migration = &self.chain.migrations[index];
        let file = migration.up.path.clone();
        let sequences = Sequences::read(conn).await.map_err(lost(&file))?;
        let captured = self.driver().capture(&migration.id, &file).await.map_err(tool)?;
        // The trace, and then the upgrade, must find them as the capture did.
        sequences.restore(conn).await.map_err(lost(&file))?;
        let capture = match captured {
            Ok(capture) => capture,
            Err(reason) => {
                self.notes[index] = Some(format!("not traced: its upgrade failed when run to be traced ({reason})"));
                return Ok(None);
            }
        };
        let (script, cut) = match captured_script(&migration.up, &capture.statements) {
            Ok(parts) => parts,
            Err(error) => {
                self.notes[index] = Some(format!("not traced: the SQL its upgrade executed cannot be read ({error})"));
                return Ok(None);
            }
        };
        let mut traced = match cut {
            None => script.clone(),
            Some(cut) => {
                let mut prefix = Script::new(&script.path, script.first_line, script.sql[..cut.byte].to_string())
                    .expect("a prefix ending at a statement boundary splits");
                prefix.origins = script.origins.iter().copied().filter(|(at, _)| *at < cut.byte).collect();
                self.notes[index] = Some(format!(
                    "traced up to line {} only: {}, so it and what follows were not traced",
                    cut.line, cut.what
                ));
                prefix
            }
        };
        traced.transaction = Transaction::Wrapped;
        self.scripts[index] = Some(script);
        let mut pending = None;
        if self.tracer.is_enabled() && !traced.is_empty() {
            // The session's lock_timeout as the upgrade found it (env.py may set one on its
            // connection): the trace runs with it.
            if let Some(timeout) = &capture.lock_timeout {
                let lost = |source| runner::RunError::Connection { path: traced.display_path(), source };
                sqlx::query("SELECT set_config('lock_timeout', $1, false)")
                    .bind(timeout)
                    .execute(&mut *conn)
                    .await
                    .map_err(lost)?;
            }
            let outcome = runner::run_rolled_back(conn, &traced, &mut self.tracer).await?;
            sequences.restore(conn).await.map_err(lost(&file))?;
            match &outcome.error {
                None => pending = Some((traced, outcome)),
                Some(error) => {
                    // The captured SQL does not run again as it ran in the upgrade: no trace
                    // beats a wrong one.
                    self.tracer.discard();
                    self.notes[index] = Some(format!(
                        "not traced: the SQL its upgrade executed fails at line {} when traced again ({})",
                        error.line, error.message
                    ));
                }
            }
        }
        self.traced += started.elapsed();
        Ok(pending)
    }
}

/// The sequences' positions before a run that is rolled back: a rollback does not move a
/// sequence back, and the real upgrade must get the values it would have got without the
/// trace (a later revision may rely on the first row being 1).
struct Sequences {
    oids: Vec<i64>,
    /// `None`: not called yet.
    last: Vec<Option<i64>>,
}

impl Sequences {
    async fn read(conn: &mut PgConnection) -> Result<Sequences, sqlx::Error> {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
            // Materialized: the privilege check fails on relations that are not sequences.
            "WITH s AS MATERIALIZED (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind = 'S' AND c.relpersistence <> 't') \
             SELECT s.oid::int8, pg_catalog.pg_sequence_last_value(s.oid) FROM s \
             WHERE pg_catalog.has_sequence_privilege(s.oid, 'SELECT, UPDATE')",
        )
        .fetch_all(&mut *conn)
        .await?;
        let (oids, last) = rows.into_iter().unzip();
        Ok(Sequences { oids, last })
    }

    /// Puts back the sequences the rolled-back run moved (one that was not called yet restarts
    /// at its start value).
    async fn restore(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "SELECT pg_catalog.setval(b.oid, coalesce(b.last, s.seqstart), b.last IS NOT NULL) \
             FROM unnest($1::int8[], $2::int8[]) AS b(oid, last) \
             JOIN pg_catalog.pg_sequence s ON s.seqrelid = b.oid::oid \
             WHERE pg_catalog.pg_sequence_last_value(b.oid::oid) IS DISTINCT FROM b.last",
        )
        .bind(&self.oids)
        .bind(&self.last)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Where the traced part of a captured revision ends.
struct Cut {
    /// Byte offset in the captured SQL.
    byte: usize,
    /// Revision file line of what stops the trace.
    line: u32,
    /// Why the trace stops there (a clause).
    what: String,
}

/// The captured statements as one script of the revision file (each statement at the Python
/// line that executed it), and where tracing must stop: where the upgrade left its
/// transaction, or at a statement that ends the transaction or cannot run inside one.
fn captured_script(up: &Script, items: &[Captured]) -> Result<(Script, Option<Cut>), LoadError> {
    let mut sql = String::new();
    let mut origins = Vec::new();
    let mut cut = None;
    for item in items {
        match item {
            Captured::Statement { sql: text, line } => {
                if text.trim().is_empty() {
                    continue;
                }
                origins.push((sql.len(), line.unwrap_or(up.first_line)));
                sql.push_str(text.trim_end());
                if !text.trim_end().ends_with(';') {
                    sql.push(';');
                }
                sql.push('\n');
            }
            Captured::Autocommit { line, what, .. } => {
                if cut.is_none() {
                    let line = line.unwrap_or(up.first_line);
                    cut = Some(Cut { byte: sql.len(), line, what: what.clone() });
                }
            }
        }
    }
    let mut script = Script::new(&up.path, up.first_line, sql)?;
    script.origins = origins;
    let boundary = script.split.statements.iter().find(|s| s.tx != TxEffect::Plain);
    if let Some(statement) = boundary
        && cut.as_ref().is_none_or(|c| statement.start < c.byte)
    {
        let what = match statement.tx {
            TxEffect::Control(kw) => format!("{kw} ends the migration's transaction"),
            TxEffect::NotInTransaction(what) => format!("{what} runs outside the migration's transaction"),
            TxEffect::Plain => unreachable!("found by its effect"),
        };
        cut = Some(Cut { byte: statement.start, line: script.statement_line(statement), what });
    }
    Ok((script, cut))
}

/// A lost connection to the scratch database while working on `file`.
fn lost(file: &Path) -> impl Fn(sqlx::Error) -> StairwayError + '_ {
    move |source| StairwayError::Run(runner::RunError::Connection { path: display_path(file), source })
}

fn tool(error: RunError) -> StairwayError {
    StairwayError::Tool(Box::new(error))
}

/// A driver step as the runner's outcome: a failure located at the traceback's line in the
/// revision file (or env.py), else at `function`'s `def`.
fn outcome(step: StepOutcome, file: &Path, function: &Script, name: &str) -> ScriptOutcome {
    let error = step.error.map(|error| {
        let (file, line) = match &error.location {
            Some((path, line)) => (display_path(path), *line),
            None => (display_path(file), function.first_line),
        };
        StatementError {
            file,
            line,
            sqlstate: String::new(),
            message: error.message,
            detail: None,
            hint: Some(STEP_HELP.to_string()),
            statement: 0,
            statement_text: name.to_string(),
            refused: false,
        }
    });
    ScriptOutcome {
        duration: step.duration,
        statements_run: 0,
        statement_times: Vec::new(),
        error,
        partially_applied: false,
        statements_kept: 0,
    }
}

/// Stops the check when the scratch database's version table does not hold `revision` after
/// its upgrade: Alembic migrated something else, and every result after would be false.
async fn verify_recorded(
    conn: &mut PgConnection,
    table: &str,
    revision: &str,
    file: &Path,
) -> Result<(), StairwayError> {
    let lost = &lost(file);
    let found: Option<String> = sqlx::query_scalar(
        "SELECT c.oid::regclass::text FROM pg_catalog.pg_class c WHERE c.relname = $1 AND c.relkind IN ('r', 'p') \
         ORDER BY c.oid LIMIT 1",
    )
    .bind(table)
    .fetch_optional(&mut *conn)
    .await
    .map_err(lost)?;
    let found = match found {
        None => "does not exist".to_string(),
        Some(relation) => {
            let sql = format!("SELECT version_num::text FROM {relation}");
            let heads: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(lost)?;
            if heads.iter().any(|h| h == revision) {
                return Ok(());
            }
            format!("holds {}", if heads.is_empty() { "no revision".to_string() } else { heads.join(", ") })
        }
    };
    Err(StairwayError::Tool(Box::new(NotRecorded {
        file: display_path(file),
        revision: revision.to_string(),
        table: table.to_string(),
        found,
    })))
}

/// The version table an env.py configures: `alembic_version` unless it passes
/// `version_table="name"`; `None` when it passes something not written out.
fn version_table(env_py: &str) -> Option<String> {
    let Some(at) = env_py.find("version_table=").or_else(|| env_py.find("version_table =")) else {
        return Some("alembic_version".to_string());
    };
    let rest = env_py[at..].split_once('=')?.1.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let name = rest[1..].split(quote).next()?;
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| name.to_string())
}

/// The file of a revision (Alembic's `upgrade` and `downgrade` report failures there).
pub(crate) fn revision_file(migration: &Migration) -> PathBuf {
    match &migration.apply {
        Apply::Alembic(rev) => rev.file.clone(),
        Apply::Sql | Apply::Opaque(_) => migration.up.path.clone(),
    }
}

impl Steps for AlembicSteps<'_> {
    async fn database(&mut self, database: &ScratchDatabase) -> Result<(), StairwayError> {
        let url = database.url(self.given_url.as_deref(), &self.scheme, true);
        // Stop the driver of the previous database before starting the next.
        self.alembic = None;
        let pgoptions = database.pgoptions();
        self.alembic = Some(Alembic::start(&self.project, &self.python, url, pgoptions).await.map_err(tool)?);
        Ok(())
    }

    async fn up(&mut self, conn: &mut PgConnection, index: usize, pass: Pass) -> Result<ScriptOutcome, StairwayError> {
        let traced = if pass == Pass::First { self.trace(conn, index).await? } else { None };
        let migration = &self.chain.migrations[index];
        let file = revision_file(migration);
        let step = self.driver().upgrade(&migration.id, &file).await.map_err(tool)?;
        if let Some(failed) = EnvFailed::of(&step, &migration.id) {
            return Err(StairwayError::Tool(Box::new(failed)));
        }
        if self.verbose {
            let ms = step.duration.as_secs_f64() * 1000.0;
            eprintln!("alembic upgrade {} ({ms:.1} ms)\n{}", migration.id, step.output.trim_end());
        }
        if step.error.is_none()
            && let Some(table) = &self.version_table
        {
            verify_recorded(conn, table, &migration.id, &file).await?;
        }
        if let Some((script, traced)) = traced {
            // As for SQL migrations, a failed one reports its failure; its lint waits until it applies.
            if step.error.is_none() {
                self.tracer.finish(&migration.id, &script, &traced);
            } else {
                self.tracer.discard();
            }
        }
        Ok(outcome(step, &file, &migration.up, "upgrade()"))
    }

    async fn down(&mut self, _conn: &mut PgConnection, index: usize) -> Result<ScriptOutcome, StairwayError> {
        let migration = &self.chain.migrations[index];
        let file = revision_file(migration);
        let step = self.driver().revert(&migration.id, &file).await.map_err(tool)?;
        if let Some(failed) = EnvFailed::of(&step, &migration.id) {
            return Err(StairwayError::Tool(Box::new(failed)));
        }
        if self.verbose {
            let ms = step.duration.as_secs_f64() * 1000.0;
            eprintln!("alembic downgrade {} ({ms:.1} ms)\n{}", migration.id, step.output.trim_end());
        }
        let function = migration.down.as_ref().unwrap_or(&migration.up);
        Ok(outcome(step, &file, function, "downgrade()"))
    }

    fn has_down(&self, index: usize) -> bool {
        match &self.chain.migrations[index].apply {
            // A revision whose upgrade does nothing (a merge) has nothing to undo: its empty
            // downgrade is right, and Alembic still moves the version table back.
            Apply::Alembic(rev) => {
                rev.downgrade.as_ref().is_some_and(|down| !down.empty || rev.upgrade.as_ref().is_none_or(|up| up.empty))
            }
            Apply::Sql | Apply::Opaque(_) => false,
        }
    }

    fn script(&self, index: usize) -> Option<&Script> {
        self.scripts[index].as_ref()
    }

    fn change_starts(&mut self, first_oid: u32) {
        self.tracer.change_starts(first_oid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tables_named_by_env_py() {
        assert_eq!(version_table("context.configure(connection=c)").as_deref(), Some("alembic_version"));
        assert_eq!(version_table("context.configure(version_table='my_versions')").as_deref(), Some("my_versions"));
        assert_eq!(version_table("context.configure(version_table = \"v\")").as_deref(), Some("v"));
        assert_eq!(version_table("context.configure(version_table=VERSION_TABLE)"), None);
    }

    fn up() -> Script {
        Script::new(Path::new("a1.py"), 9, String::new()).unwrap()
    }

    fn statement(sql: &str, line: u32) -> Captured {
        Captured::Statement { sql: sql.to_string(), line: Some(line) }
    }

    #[test]
    fn statements_keep_their_python_lines() {
        let items =
            [statement("CREATE TABLE t (id int);\n\n", 10), statement("UPDATE t SET id = 1; SELECT 1;\n\n", 14)];
        let (script, cut) = captured_script(&up(), &items).unwrap();
        assert!(cut.is_none());
        let lines: Vec<u32> = script.split.statements.iter().map(|s| script.statement_line(s)).collect();
        assert_eq!(lines, [10, 14, 14]);
    }

    #[test]
    fn trace_stops_at_an_autocommit_block_or_a_transaction_boundary() {
        let items = [
            statement("CREATE TABLE t (id int);\n\n", 10),
            Captured::Autocommit {
                autocommit: true,
                line: Some(12),
                what: "its autocommit_block() runs outside the migration's transaction".into(),
            },
            statement("CREATE INDEX CONCURRENTLY i ON t (id);\n\n", 13),
        ];
        let (script, cut) = captured_script(&up(), &items).unwrap();
        let cut = cut.unwrap();
        assert_eq!((cut.line, &script.sql[..cut.byte]), (12, "CREATE TABLE t (id int);\n"));
        let items = [statement("SELECT 1", 10), statement("COMMIT", 11), statement("SELECT 2", 12)];
        let (_, cut) = captured_script(&up(), &items).unwrap();
        assert_eq!(cut.map(|c| (c.line, c.what)), Some((11, "COMMIT ends the migration's transaction".to_string())));
    }
}
