//! Applies migration scripts to a database statement by statement, inside the transaction the
//! script's format asks for, timing each one and mapping PostgreSQL errors back to file lines.
//! Records what happened; decides nothing about pass or fail.

use crate::migrations::{Script, Transaction};
use crate::sql::{Reach, Statement, TxEffect};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition, PgRow};
use sqlx::{Connection, Either, Executor, Row, error::DatabaseError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Why a script could not be run at all (the connection broke); SQL errors are not this.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("lost the connection to PostgreSQL while running {path}")]
    Connection {
        path: String,
        #[source]
        source: sqlx::Error,
    },
}

/// A statement PostgreSQL rejected, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementError {
    /// File of the failing statement.
    pub file: String,
    /// 1-based line in `file` of the error position (or of the statement when PostgreSQL gave
    /// no position).
    pub line: u32,
    /// Five-character SQLSTATE, e.g. `42P01`.
    pub sqlstate: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// 0-based index of the statement in its script.
    pub statement: usize,
    /// The statement's first line, trimmed, for reports.
    pub statement_text: String,
    /// The check refused to run it: it reaches beyond the scratch database.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

/// What running one script did.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptOutcome {
    /// Wall time of the whole script, transaction control included.
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// Statements that completed (and, for a wrapped script that failed, were rolled back).
    pub statements_run: usize,
    /// Time of each completed statement, in order.
    #[serde(skip)]
    pub statement_times: Vec<Duration>,
    /// The error that stopped the script.
    pub error: Option<StatementError>,
    /// A failed script without a wrapping transaction left statements before the failure
    /// applied (those it did not run inside its own, now rolled back, transaction).
    pub partially_applied: bool,
    /// How many statements of a failed script stay applied.
    pub statements_kept: usize,
}

impl ScriptOutcome {
    /// True when every statement ran.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// SQL an observer sends in the same message as a statement, so that looking costs no round
/// trip of its own: `before` runs just before the statement, `after` just after it, and the rows
/// of each query come back to [`Observer::after`] in order.
#[derive(Debug, Default)]
pub struct Wrap {
    /// Run first (e.g. a `BEGIN`, a catalog query).
    pub before: Vec<String>,
    /// Run after the statement (e.g. a catalog query, then a `COMMIT`).
    pub after: Vec<String>,
}

impl Wrap {
    /// A wrap that runs `query` after the statement when `when`, and nothing otherwise.
    pub fn after_if(when: bool, query: &str) -> Wrap {
        Wrap { before: Vec::new(), after: if when { vec![query.to_string()] } else { Vec::new() } }
    }

    fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty()
    }
}

/// The rows of the queries of a [`Wrap`], the first query's first on each side; each observer
/// takes its own from the front.
#[derive(Debug, Default)]
pub struct Replies {
    pub before: VecDeque<Vec<PgRow>>,
    pub after: VecDeque<Vec<PgRow>>,
}

/// Hooks called around each statement on the same connection (and inside the same
/// transaction), so tracers can look at locks and catalogs as the migration runs.
pub trait Observer {
    /// Before statement `index` of `script`: what to send along with it.
    fn before(
        &mut self,
        _conn: &mut PgConnection,
        _script: &Script,
        _index: usize,
    ) -> impl Future<Output = Result<Wrap, sqlx::Error>> {
        async { Ok(Wrap::default()) }
    }

    /// After statement `index` of `script` completed in `elapsed`; `replies` holds the rows of
    /// the `after` queries this observer's [`Wrap`] asked for (it takes them from the front).
    fn after(
        &mut self,
        _conn: &mut PgConnection,
        _script: &Script,
        _index: usize,
        _elapsed: Duration,
        _replies: &mut Replies,
    ) -> impl Future<Output = Result<(), sqlx::Error>> {
        async { Ok(()) }
    }

    /// After the whole script of `migration` ran (successfully or not).
    fn finished(&mut self, _migration: &str, _script: &Script, _outcome: &ScriptOutcome) {}

    /// The migrations the change under review adds start here; objects with OIDs from
    /// `first_oid` on are theirs.
    fn change_starts(&mut self, _first_oid: u32) {}

    /// Something ran on the database that the observer did not see (a replay, a down, seed
    /// data): what it learned of the database may be out of date.
    fn unobserved(&mut self) {}

    /// A script it will not see runs next (a down, a replay): until [`Observer::ran_unseen`]
    /// it must hold nothing it learned of the database as true. Returns whether it wants to
    /// be told what the script locked (reading that costs a query per script).
    fn unseen_starts(&mut self) -> bool {
        self.unobserved();
        false
    }

    /// The script announced by [`Observer::unseen_starts`] ran; `locked` holds every relation
    /// its transaction locked when known (what it did not lock, it did not change).
    fn ran_unseen(&mut self, _locked: Option<Vec<u32>>) {}
}

/// An observer that does nothing.
pub struct NoObserver;

impl Observer for NoObserver {}

impl<T: Observer> Observer for &mut T {
    fn before(
        &mut self,
        conn: &mut PgConnection,
        script: &Script,
        index: usize,
    ) -> impl Future<Output = Result<Wrap, sqlx::Error>> {
        (**self).before(conn, script, index)
    }

    fn after(
        &mut self,
        conn: &mut PgConnection,
        script: &Script,
        index: usize,
        elapsed: Duration,
        replies: &mut Replies,
    ) -> impl Future<Output = Result<(), sqlx::Error>> {
        (**self).after(conn, script, index, elapsed, replies)
    }

    fn finished(&mut self, migration: &str, script: &Script, outcome: &ScriptOutcome) {
        (**self).finished(migration, script, outcome);
    }

    fn change_starts(&mut self, first_oid: u32) {
        (**self).change_starts(first_oid);
    }

    fn unobserved(&mut self) {
        (**self).unobserved();
    }

    fn unseen_starts(&mut self) -> bool {
        (**self).unseen_starts()
    }

    fn ran_unseen(&mut self, locked: Option<Vec<u32>>) {
        (**self).ran_unseen(locked);
    }
}

/// Both observers, the first one first (its queries too, on both sides of the statement).
impl<A: Observer, B: Observer> Observer for (A, B) {
    async fn before(&mut self, conn: &mut PgConnection, script: &Script, index: usize) -> Result<Wrap, sqlx::Error> {
        let mut wrap = self.0.before(conn, script, index).await?;
        let second = self.1.before(conn, script, index).await?;
        wrap.before.extend(second.before);
        wrap.after.extend(second.after);
        Ok(wrap)
    }

    async fn after(
        &mut self,
        conn: &mut PgConnection,
        script: &Script,
        index: usize,
        elapsed: Duration,
        replies: &mut Replies,
    ) -> Result<(), sqlx::Error> {
        self.0.after(conn, script, index, elapsed, replies).await?;
        self.1.after(conn, script, index, elapsed, replies).await
    }

    fn finished(&mut self, migration: &str, script: &Script, outcome: &ScriptOutcome) {
        self.0.finished(migration, script, outcome);
        self.1.finished(migration, script, outcome);
    }

    fn change_starts(&mut self, first_oid: u32) {
        self.0.change_starts(first_oid);
        self.1.change_starts(first_oid);
    }

    fn unobserved(&mut self) {
        self.0.unobserved();
        self.1.unobserved();
    }

    fn unseen_starts(&mut self) -> bool {
        let first = self.0.unseen_starts();
        self.1.unseen_starts() || first
    }

    fn ran_unseen(&mut self, locked: Option<Vec<u32>>) {
        self.0.ran_unseen(locked.clone());
        self.1.ran_unseen(locked);
    }
}

/// Sends one query in a script's last statement's message (inside its transaction when it
/// has one) and keeps the query's rows; with no query it adds nothing.
#[derive(Debug, Default)]
pub struct AfterLast {
    query: Option<String>,
    rows: Option<Vec<PgRow>>,
}

impl AfterLast {
    /// An observer that sends `query` with the last statement.
    pub fn new(query: Option<String>) -> AfterLast {
        AfterLast { query, rows: None }
    }

    /// The query's rows; `None` when it was not sent or its script did not get there.
    pub fn take(&mut self) -> Option<Vec<PgRow>> {
        self.rows.take()
    }

    fn sends(&self, script: &Script, index: usize) -> bool {
        self.query.is_some() && index + 1 == script.split.statements.len()
    }
}

impl Observer for AfterLast {
    async fn before(&mut self, _conn: &mut PgConnection, script: &Script, index: usize) -> Result<Wrap, sqlx::Error> {
        if index == 0 {
            self.rows = None;
        }
        Ok(Wrap::after_if(self.sends(script, index), self.query.as_deref().unwrap_or_default()))
    }

    async fn after(
        &mut self,
        _conn: &mut PgConnection,
        script: &Script,
        index: usize,
        _elapsed: Duration,
        replies: &mut Replies,
    ) -> Result<(), sqlx::Error> {
        if self.sends(script, index) {
            self.rows = Some(replies.after.pop_front().unwrap_or_default());
        }
        Ok(())
    }
}

/// The relations this transaction holds a lock on (user objects only).
const LOCKED_SQL: &str = "SELECT DISTINCT l.relation::int8 FROM pg_catalog.pg_locks l \
     WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384";

/// Collects the relations `script`'s transaction locks, read in its last statement's message
/// before it commits, for an observer that did not see the script (see
/// [`Observer::ran_unseen`]); adds nothing unless `wanted`, or when the script does not run as
/// one transaction (a script that ends transactions of its own releases locks before the read).
pub fn locked_relations(wanted: bool, script: &Script) -> AfterLast {
    let readable = wanted
        && script.transaction.is_wrapped()
        && script.split.statements.iter().all(|s| !matches!(s.tx, TxEffect::Control(_)));
    AfterLast::new(readable.then(|| LOCKED_SQL.to_string()))
}

/// What the script of [`locked_relations`] locked; `None` when it did not run as one
/// transaction to the end.
pub fn locked(after: &mut AfterLast, outcome: &ScriptOutcome) -> Result<Option<Vec<u32>>, sqlx::Error> {
    let Some(rows) = after.take().filter(|_| outcome.succeeded()) else { return Ok(None) };
    let oids = rows.iter().map(|row| row.try_get::<i64, _>(0).map(|oid| oid as u32));
    Ok(Some(oids.collect::<Result<_, _>>()?))
}

/// Runs `script` on `conn`: wrapped in BEGIN/COMMIT when its transaction mode says so (rolled
/// back on failure), else statement by statement in autocommit.
pub async fn run_script(
    conn: &mut PgConnection,
    script: &Script,
    observer: &mut impl Observer,
) -> Result<ScriptOutcome, RunError> {
    run(conn, script, observer, false).await
}

/// Runs `script` where nothing watches its statements (a replay).
pub async fn run_replay(conn: &mut PgConnection, script: &Script) -> Result<ScriptOutcome, RunError> {
    run_script(conn, script, &mut NoObserver).await
}

/// Whether `script` goes to the server as one message, its transaction control and the
/// observers' queries included: a transaction of plain statements the parser split into one
/// command each, so that the results tell which statement an error stopped at. Statements that
/// drop prepared statements go one by one (the observers' queries use them).
fn in_one_message(script: &Script, wrapped: bool) -> bool {
    let split = &script.split;
    let plain = |s: &Statement| {
        matches!(s.reach, Reach::Database) && matches!(s.tx, TxEffect::Plain) && !forgets_prepared(script.text(s))
    };
    wrapped
        && split.syntax_error.is_none()
        && !split.compound
        && !split.statements.is_empty()
        && split.statements.iter().all(plain)
}

/// A message being built, with its length in characters (what error positions count).
#[derive(Default)]
struct Message {
    text: String,
    chars: usize,
}

impl Message {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        self.chars += text.chars().count();
    }
}

/// Where a result of a one-message script belongs.
#[derive(Clone, Copy)]
enum Part {
    Begin,
    Before(usize),
    Statement(usize),
    After(usize),
    End,
}

/// Runs a script [`in_one_message`]: `BEGIN`, each statement with its observers' queries around
/// it, and `COMMIT` (or `ROLLBACK`) in one round trip. The observers see each statement's
/// replies after the message; a failure rolls the transaction back.
async fn run_in_one_message(
    conn: &mut PgConnection,
    script: &Script,
    observer: &mut impl Observer,
    rollback: bool,
) -> Result<ScriptOutcome, RunError> {
    let started = Instant::now();
    let lost = |source| RunError::Connection { path: script.display_path(), source };
    let statements = &script.split.statements;
    let mut outcome = ScriptOutcome {
        duration: Duration::ZERO,
        statements_run: 0,
        statement_times: Vec::new(),
        error: None,
        partially_applied: false,
        statements_kept: 0,
    };
    let mut wraps = Vec::with_capacity(statements.len());
    for (index, statement) in statements.iter().enumerate() {
        match observer.before(conn, script, index).await {
            Ok(wrap) => wraps.push(wrap),
            Err(sqlx::Error::Database(db)) => {
                outcome.error = Some(locate(script, index, statement, db.as_ref(), 0));
                outcome.duration = started.elapsed();
                return Ok(outcome);
            }
            Err(other) => return Err(lost(other)),
        }
    }
    let mut message = Message::default();
    let mut parts = vec![Part::Begin];
    message.push("BEGIN;\n");
    // Characters before each statement: error positions count from the message's start.
    let mut sent_before = Vec::with_capacity(statements.len());
    for (index, (statement, wrap)) in statements.iter().zip(&wraps).enumerate() {
        for query in &wrap.before {
            message.push(query);
            message.push(";\n");
            parts.push(Part::Before(index));
        }
        sent_before.push(message.chars);
        message.push(script.sent(statement));
        // A line break before the `;`: the statement may end in a `--` comment.
        message.push("\n;\n");
        parts.push(Part::Statement(index));
        for query in &wrap.after {
            message.push(query);
            message.push(";\n");
            parts.push(Part::After(index));
        }
    }
    let end_at = message.chars;
    message.push(if rollback { "ROLLBACK" } else { "COMMIT" });
    parts.push(Part::End);
    let mut replies: Vec<Replies> = statements.iter().map(|_| Replies::default()).collect();
    let mut rows = Vec::new();
    let mut results = 0;
    let mut failure = None;
    let mut stream = conn.fetch_many(sqlx::raw_sql(sqlx::AssertSqlSafe(message.text)));
    loop {
        match stream.try_next().await {
            Ok(Some(Either::Left(_))) => {
                let rows = std::mem::take(&mut rows);
                match parts.get(results) {
                    Some(Part::Before(index)) => replies[*index].before.push_back(rows),
                    Some(Part::After(index)) => replies[*index].after.push_back(rows),
                    Some(_) => {}
                    None => {
                        return Err(lost(sqlx::Error::Protocol(format!(
                            "more results than the {} commands sent",
                            parts.len()
                        ))));
                    }
                }
                results += 1;
            }
            // Only our queries' rows are kept, not those of the migration's own statements.
            Ok(Some(Either::Right(row))) => {
                if matches!(parts.get(results), Some(Part::Before(_) | Part::After(_))) {
                    rows.push(row);
                }
            }
            Ok(None) => break,
            Err(sqlx::Error::Database(db)) => {
                failure = Some(db);
                break;
            }
            Err(other) => return Err(lost(other)),
        }
    }
    drop(stream);
    // Statements whose every result came back; a failure stopped the next one (or COMMIT).
    let done = match failure.as_ref().map(|_| parts.get(results).copied()) {
        None => statements.len(),
        Some(Some(Part::Before(index) | Part::Statement(index) | Part::After(index))) => index,
        Some(Some(Part::End)) => statements.len(),
        Some(_) => 0,
    };
    if let Some(db) = failure {
        conn.execute("ROLLBACK").await.map_err(lost)?;
        let error = if done == statements.len() {
            // Deferred constraints fail at COMMIT.
            let last = statements.len() - 1;
            let mut error = locate(script, last, &statements[last], db.as_ref(), end_at);
            error.statement_text = "COMMIT".into();
            error
        } else {
            locate(script, done, &statements[done], db.as_ref(), sent_before[done])
        };
        outcome.error = Some(error);
    } else if !rollback {
        outcome.statements_kept = statements.len();
    }
    outcome.statements_run = done;
    for (index, replies) in replies.iter_mut().enumerate().take(done) {
        // The statements are committed or rolled back by now: an observer's query that fails
        // is no failure of theirs.
        observer.after(conn, script, index, Duration::ZERO, replies).await.map_err(lost)?;
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// Whether a statement may drop the session's prepared statements (`DEALLOCATE`, `DISCARD ALL`).
fn forgets_prepared(text: &str) -> bool {
    ["DEALLOCATE", "DISCARD"].iter().any(|word| text.get(..word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word)))
}

/// Sends `sql` with `wrap`'s queries around it in one simple-protocol message (a failure stops
/// the rest of it, as separate messages would), and gives the rows of each `after` query.
async fn send_wrapped(conn: &mut PgConnection, wrap: &Wrap, sql: &str) -> Result<Replies, sqlx::Error> {
    let mut message = String::new();
    for query in &wrap.before {
        message.push_str(query);
        message.push_str(";\n");
    }
    // A line break before the `;`: the statement may end in a `--` comment.
    message.push_str(sql);
    message.push_str("\n;\n");
    message.push_str(&wrap.after.join(";\n"));
    // The `before` results come first; the `after` ones are counted from the end (the statement
    // itself may give any number of results), so only the last few are kept.
    let (first, last) = (wrap.before.len(), wrap.after.len());
    let mut replies = Replies::default();
    let mut rows = Vec::new();
    let mut results = 0;
    let mut stream = conn.fetch_many(sqlx::raw_sql(sqlx::AssertSqlSafe(message)));
    while let Some(item) = stream.try_next().await? {
        match item {
            Either::Left(_) => {
                results += 1;
                let rows = std::mem::take(&mut rows);
                if results <= first {
                    replies.before.push_back(rows);
                } else {
                    replies.after.push_back(rows);
                    if replies.after.len() > last {
                        replies.after.pop_front();
                    }
                }
            }
            Either::Right(row) => rows.push(row),
        }
    }
    if results < first + last {
        return Err(sqlx::Error::Protocol(format!(
            "{results} results for a statement sent with {} queries around it",
            first + last
        )));
    }
    Ok(replies)
}

/// Runs `script` inside a transaction that is always rolled back: the observer sees every
/// statement run and the database keeps none of it. For tracing SQL that another tool applies;
/// statements that end the transaction or refuse to run inside one must be left out.
pub async fn run_rolled_back(
    conn: &mut PgConnection,
    script: &Script,
    observer: &mut impl Observer,
) -> Result<ScriptOutcome, RunError> {
    run(conn, script, observer, true).await
}

async fn run(
    conn: &mut PgConnection,
    script: &Script,
    observer: &mut impl Observer,
    rollback: bool,
) -> Result<ScriptOutcome, RunError> {
    let wrapped = rollback || matches!(script.transaction, Transaction::Wrapped);
    if in_one_message(script, wrapped) {
        return run_in_one_message(conn, script, observer, rollback).await;
    }
    let started = Instant::now();
    let lost = |source| RunError::Connection { path: script.display_path(), source };
    if wrapped {
        conn.execute("BEGIN").await.map_err(lost)?;
    }
    let mut outcome = ScriptOutcome {
        duration: Duration::ZERO,
        statements_run: 0,
        statement_times: Vec::with_capacity(script.split.statements.len()),
        error: None,
        partially_applied: false,
        statements_kept: 0,
    };
    // Statements up to here are durable: autocommitted, or committed by the script itself.
    let mut own_transaction = None;
    for (index, statement) in script.split.statements.iter().enumerate() {
        if let Some(error) = refusal(script, index, statement) {
            outcome.error = Some(error);
            break;
        }
        let skipped = matches!(statement.reach, Reach::Declared(_));
        // Characters sent before the statement in its message: error positions count them.
        let mut sent_before = 0;
        let result = async {
            if skipped {
                // A role the check created before the chain.
                return Ok(Duration::ZERO);
            }
            let wrap = observer.before(conn, script, index).await?;
            let t = Instant::now();
            let mut replies = if wrap.is_empty() {
                conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(script.sent(statement)))).await?;
                Replies::default()
            } else {
                sent_before = wrap.before.iter().map(|query| query.chars().count() + 2).sum();
                send_wrapped(conn, &wrap, script.sent(statement)).await?
            };
            let elapsed = t.elapsed();
            if forgets_prepared(script.text(statement)) {
                // The server dropped the statements sqlx prepared on this connection: without
                // this, the next query through its cache fails as the migration's own error.
                conn.clear_cached_statements().await?;
            }
            observer.after(conn, script, index, elapsed, &mut replies).await?;
            Ok::<_, sqlx::Error>(elapsed)
        }
        .await;
        match result {
            Ok(elapsed) => {
                match statement.tx {
                    crate::sql::TxEffect::Control("BEGIN") => own_transaction = Some(index),
                    crate::sql::TxEffect::Control(_) => {
                        own_transaction = None;
                        outcome.statements_kept = index + 1;
                    }
                    _ if own_transaction.is_none() => outcome.statements_kept = index + 1,
                    _ => {}
                }
                outcome.statements_run += 1;
                outcome.statement_times.push(elapsed);
            }
            Err(sqlx::Error::Database(db)) => {
                outcome.error = Some(locate(script, index, statement, db.as_ref(), sent_before));
                break;
            }
            Err(other) => return Err(lost(other)),
        }
    }
    if let (Some(begin), None, false) = (own_transaction, &outcome.error, wrapped) {
        // A BEGIN the script never ends: the tool would leave its transaction open, and the
        // changes are lost when the connection closes. Roll it back and say so.
        let statement = &script.split.statements[begin];
        outcome.error = Some(StatementError {
            file: script.display_path(),
            line: script.statement_line(statement),
            sqlstate: String::new(),
            message: "this BEGIN is never committed: the script ends with its transaction open, so what it \
                      did after the BEGIN is rolled back when the connection closes"
                .to_string(),
            detail: None,
            hint: Some("end the transaction with COMMIT".to_string()),
            statement: begin,
            statement_text: first_line(script.text(statement)),
            refused: false,
        });
    }
    if rollback {
        conn.execute("ROLLBACK").await.map_err(lost)?;
        outcome.statements_kept = 0;
    } else if outcome.error.is_some() {
        // A script that opened its own transaction may have left it aborted; ROLLBACK outside
        // a transaction is only a warning.
        conn.execute("ROLLBACK").await.map_err(lost)?;
        if wrapped {
            outcome.statements_kept = 0;
        }
        outcome.partially_applied = outcome.statements_kept > 0;
    } else if wrapped && let Err(e) = conn.execute("COMMIT").await {
        // Deferred constraints fail at COMMIT.
        match e {
            sqlx::Error::Database(db) => {
                let last = script.split.statements.len().saturating_sub(1);
                let statement = script.split.statements.get(last).cloned().unwrap_or(Statement {
                    start: 0,
                    end: 0,
                    line: 1,
                    tx: crate::sql::TxEffect::Plain,
                    reach: crate::sql::Reach::Database,
                    sent: None,
                    tree: None,
                });
                let mut error = locate(script, last, &statement, db.as_ref(), 0);
                error.statement_text = "COMMIT".into();
                outcome.error = Some(error);
            }
            other => return Err(lost(other)),
        }
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// Maps PostgreSQL's error (its position counts characters from the start of the statement we
/// sent) to a file line.
fn locate(
    script: &Script,
    index: usize,
    statement: &Statement,
    error: &dyn DatabaseError,
    sent_before: usize,
) -> StatementError {
    let text = script.text(statement);
    let pg = error.try_downcast_ref::<PgDatabaseError>();
    let line = match pg.and_then(PgDatabaseError::position) {
        Some(PgErrorPosition::Original(position)) if position > sent_before => {
            script.file_line(statement.start + crate::sql::char_position_to_byte(text, position - sent_before))
        }
        // Errors raised while a DO block runs carry no position, only PL/pgSQL's line.
        _ => pg
            .and_then(PgDatabaseError::r#where)
            .and_then(crate::sql::plpgsql_do_line)
            .and_then(|line| crate::sql::do_body_line(text, line))
            .map_or_else(|| script.statement_line(statement), |byte| script.file_line(statement.start + byte)),
    };
    StatementError {
        file: script.display_path(),
        line,
        sqlstate: error.code().map(|c| c.into_owned()).unwrap_or_default(),
        message: error.message().to_string(),
        detail: pg.and_then(|e| e.detail()).map(str::to_string),
        hint: pg.and_then(|e| e.hint()).map(str::to_string),
        statement: index,
        statement_text: first_line(text),
        refused: false,
    }
}

/// The error of a statement the check does not run because it reaches beyond the scratch
/// database, if `statement` is one.
fn refusal(script: &Script, index: usize, statement: &Statement) -> Option<StatementError> {
    let (message, hint) = match &statement.reach {
        Reach::Database | Reach::Declared(_) => return None,
        Reach::Cluster(what) => (
            format!("refused to run {what}: it changes the server as a whole or reaches outside the scratch database"),
            "keep server set-up (roles, databases, tablespaces, settings) out of the migration chain, in a provisioning step",
        ),
        Reach::Roles(names) => (
            format!(
                "refused to run it: roles ({}) belong to the whole server, not the scratch database",
                names.join(", ")
            ),
            "declare the roles the chain needs under `roles`: the check creates them before the chain and skips statements that create them",
        ),
    };
    Some(StatementError {
        file: script.display_path(),
        line: script.statement_line(statement),
        sqlstate: String::new(),
        message,
        detail: None,
        hint: Some(hint.to_string()),
        statement: index,
        statement_text: first_line(script.text(statement)),
        refused: true,
    })
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or("");
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(120).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Serializes a duration as milliseconds with one decimal.
pub(crate) fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
}
