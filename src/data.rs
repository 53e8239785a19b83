//! Rows, not schema: loading the test data given with `--seed` at a chosen point of the chain,
//! and checking that a migration leaves the rows of tables it does not touch alone (row count
//! and a checksum of the content per table, `data-changed`).

use crate::effects;
use crate::findings::Finding;
use crate::migrations::{Chain, LoadError, Script, read_sql_file};
use crate::runner::{Observer, Replies, Wrap};
use crate::schema::introspect::BOOKKEEPING_TABLES;
use crate::schema::{Change, Schema};
use crate::sql::{TxEffect, ident, literal};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Rule id: rows of a table the migration does not touch changed.
pub const DATA_CHANGED: &str = "data-changed";

/// Test data to load, and where in the chain.
#[derive(Debug, Clone)]
pub struct Seed {
    pub script: Script,
    /// Load after the migration at this index; `None`: before the first migration.
    pub after: Option<usize>,
}

/// Why the seed cannot be used; each message names the setting or the seed's file:line.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("--seed: {0}")]
    Load(#[from] LoadError),
    #[error("--seed-at {0}: no migration has this id (use an id from the report, e.g. {1})")]
    UnknownRevision(String, String),
    #[error("--seed-at needs --seed FILE.sql")]
    NoSeed,
    #[error(
        "{file}:{line}: the seed data fails: {message} (SQLSTATE {sqlstate}); fix --seed or move it with --seed-at"
    )]
    Failed { file: String, line: u32, sqlstate: String, message: String },
}

impl Seed {
    /// Reads the seed file and resolves `--seed-at` against the chain's ids.
    pub fn load(path: Option<&Path>, at: Option<&str>, chain: &Chain) -> Result<Option<Seed>, SeedError> {
        let Some(path) = path else {
            return if at.is_some() { Err(SeedError::NoSeed) } else { Ok(None) };
        };
        let script = Script::new(path, 1, read_sql_file(path)?)?;
        let after = match at {
            None => None,
            Some(id) => Some(chain.migrations.iter().position(|m| m.id == id).ok_or_else(|| {
                SeedError::UnknownRevision(
                    id.to_string(),
                    chain.migrations.last().map(|m| m.id.clone()).unwrap_or_default(),
                )
            })?),
        };
        Ok(Some(Seed { script, after }))
    }
}

/// Row count and content checksum of every table holding rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// `schema.table` → (rows, md5 of the rows as text in sorted order).
    pub tables: BTreeMap<String, (i64, String)>,
}

/// Reads the contents of the permanent tables holding rows: all of them, or those named `only`
/// (as `schema.table`). Tables never written to have no file pages
/// (`pg_relation_size` is 0) and are skipped without being scanned, which keeps this cheap on
/// the mostly empty databases migrations run on.
async fn contents_of(conn: &mut PgConnection, only: Option<&BTreeSet<String>>) -> Result<Contents, sqlx::Error> {
    const WRITTEN: &str = "WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND n.nspname <> 'information_schema' \
                           AND n.nspname NOT LIKE 'pg\\_%' AND pg_relation_size(c.oid) > 0";
    let written: Vec<(String, String)> = match only {
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace {WRITTEN}"
            )))
            .fetch_all(&mut *conn)
            .await?
        }
        Some(tables) => {
            // `schema.table` at each of its dots (either name may hold one): looked up by
            // name, not by scanning every table.
            let (schemas, names): (Vec<&str>, Vec<&str>) =
                tables.iter().flat_map(|t| t.match_indices('.').map(move |(at, _)| (&t[..at], &t[at + 1..]))).unzip();
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT n.nspname::text, c.relname::text FROM unnest($1::text[], $2::text[]) AS w(s, t) \
                 JOIN pg_namespace n ON n.nspname = w.s JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.t \
                 {WRITTEN}"
            )))
            .bind(schemas)
            .bind(names)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut out = Contents::default();
    if written.is_empty() {
        return Ok(out);
    }
    let parts: Vec<String> = written
        .iter()
        .map(|(schema, table)| {
            format!(
                "SELECT {} AS name, count(*) AS n, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM {}.{} t",
                literal(&format!("{schema}.{table}")),
                ident(schema),
                ident(table)
            )
        })
        .collect();
    let sql = format!("SELECT name, n, sum FROM ({}) c WHERE n > 0", parts.join(" UNION ALL "));
    for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await? {
        out.tables.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    Ok(out)
}

/// Table contents kept between reads: a table is read again only once a step may have changed
/// its rows, so that the data check around a migration costs what it changed, not what the
/// database holds.
#[derive(Debug, Default)]
pub struct ContentsCache {
    /// The contents as of the last read; `None`: not read since anything may have changed.
    known: Option<Contents>,
    /// Tables whose rows may have changed since `known` was read.
    stale: BTreeSet<String>,
}

impl ContentsCache {
    /// Anything may have changed: the next read reads every table.
    pub fn forget(&mut self) {
        self.known = None;
        self.stale.clear();
    }

    /// The rows of `tables` (`schema.table`) may have changed.
    pub fn invalidate(&mut self, tables: impl IntoIterator<Item = String>) {
        if self.known.is_some() {
            self.stale.extend(tables);
        }
    }

    /// What a step may have written, as [`Written::take`] gives it (`None`: unknown).
    pub fn written(&mut self, tables: Option<BTreeSet<String>>) {
        match tables {
            Some(tables) => self.invalidate(tables),
            None => self.forget(),
        }
    }

    /// The contents now, reading only the tables that may have changed.
    pub async fn read(&mut self, conn: &mut PgConnection) -> Result<Contents, sqlx::Error> {
        match self.known.as_mut() {
            None => self.known = Some(contents_of(conn, None).await?),
            Some(known) if !self.stale.is_empty() => {
                let fresh = contents_of(conn, Some(&self.stale)).await?;
                for table in &self.stale {
                    known.tables.remove(table);
                }
                known.tables.extend(fresh.tables);
                self.stale.clear();
            }
            Some(_) => {}
        }
        Ok(self.known.clone().expect("read above"))
    }
}

/// Watches a script on its own connection for the tables whose rows it may write: those its
/// transaction holds a lock on that writing takes (ROW EXCLUSIVE or stronger), read once
/// before the transaction ends. A statement that may write rows outside a transaction block
/// leaves it unknown.
#[derive(Debug, Default)]
pub struct Written {
    /// `None`: unknown.
    tables: Option<BTreeSet<String>>,
    /// Whether to look at all (a script of DDL alone writes no rows; what it alters, the
    /// schema's delta tells).
    active: bool,
    /// Inside a transaction block the script opened itself.
    in_block: bool,
}

impl Written {
    /// Starts watching `script` (anew: what an earlier one wrote is dropped).
    pub fn start(&mut self, script: &Script) {
        *self = Written { tables: Some(BTreeSet::new()), active: may_write_rows(script), in_block: false };
    }

    /// Whether the script may write rows, so that its statements are watched.
    pub fn watching(&self) -> bool {
        self.active
    }

    /// The tables the script watched since [`Written::start`] may have written rows of.
    pub fn take(&mut self) -> Option<BTreeSet<String>> {
        std::mem::take(&mut self.tables)
    }

    async fn read_locks(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(WRITE_LOCKS_SQL).fetch_all(conn).await?;
        self.note_locks(&rows)
    }

    fn note_locks(&mut self, rows: &[PgRow]) -> Result<(), sqlx::Error> {
        if let Some(tables) = self.tables.as_mut() {
            for row in rows {
                tables.insert(row.try_get(0)?);
            }
        }
        Ok(())
    }

    /// The last statement of a script in a transaction of its own: the locks are read in its
    /// message, before the transaction ends.
    fn reads_after(&self, script: &Script, index: usize) -> bool {
        self.active
            && script.transaction.is_wrapped()
            && index + 1 == script.split.statements.len()
            && !matches!(script.split.statements[index].tx, TxEffect::Control(_))
    }
}

/// The tables this transaction holds a lock on that writing rows takes.
const WRITE_LOCKS_SQL: &str = "SELECT DISTINCT n.nspname || '.' || c.relname FROM pg_catalog.pg_locks l \
     JOIN pg_catalog.pg_class c ON c.oid = l.relation JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND c.relkind = 'r' \
     AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')";

impl Observer for Written {
    async fn before(&mut self, conn: &mut PgConnection, script: &Script, index: usize) -> Result<Wrap, sqlx::Error> {
        let statement = &script.split.statements[index];
        if self.active && self.in_block && matches!(statement.tx, TxEffect::Control(kw) if kw != "BEGIN") {
            // The script ends its own transaction: its locks go with it.
            self.read_locks(conn).await?;
        }
        Ok(Wrap::after_if(self.reads_after(script, index), WRITE_LOCKS_SQL))
    }

    async fn after(
        &mut self,
        _conn: &mut PgConnection,
        script: &Script,
        index: usize,
        _elapsed: Duration,
        replies: &mut Replies,
    ) -> Result<(), sqlx::Error> {
        if !self.active {
            return Ok(());
        }
        if self.reads_after(script, index) {
            let rows = replies.after.pop_front().unwrap_or_default();
            return self.note_locks(&rows);
        }
        let statement = &script.split.statements[index];
        match statement.tx {
            TxEffect::Control(kw) => self.in_block = kw == "BEGIN",
            _ if script.transaction.is_wrapped() => {}
            _ if !self.in_block && text_may_write(script.text(statement)) => self.tables = None,
            _ => {}
        }
        Ok(())
    }
}

/// Statements that cannot change the rows of a table they do not name: DDL (its expressions
/// run no user code that writes, event triggers aside), session and transaction control,
/// maintenance. Anything else (DML, `SELECT`, `DO`, `CALL`, `COPY`, ...) may.
const ROW_SAFE: &[&str] = &[
    "CREATE",
    "ALTER",
    "DROP",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SECURITY",
    "SET",
    "RESET",
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "LOCK",
    "ANALYZE",
    "ANALYSE",
    "VACUUM",
    "CLUSTER",
    "REINDEX",
    "DISCARD",
    "NOTIFY",
    "LISTEN",
    "UNLISTEN",
    "CHECKPOINT",
    "IMPORT",
    "REFRESH",
];

/// Whether running `script` may change rows of tables other than those its DDL creates, alters
/// or drops. Only then do the data checks need the table contents around it. Writes to the
/// migration tool's bookkeeping tables (Alembic's rendered SQL updates `alembic_version`) do
/// not count; they are not checked.
pub fn may_write_rows(script: &Script) -> bool {
    script.split.statements.iter().any(|s| text_may_write(script.text(s)))
}

/// Whether one statement of a script may write rows; a block kept whole (goose's
/// StatementBegin/End) may hold several statements.
fn text_may_write(text: &str) -> bool {
    if !text.contains(';') {
        return statement_may_write(text);
    }
    match crate::sql::split(text) {
        Ok(split) if split.statements.len() > 1 => {
            split.statements.iter().any(|inner| statement_may_write(&text[inner.start..inner.end]))
        }
        Ok(_) => statement_may_write(text),
        Err(_) => true,
    }
}

/// Whether `script` creates or changes an event trigger, after which any DDL may run code
/// that writes rows.
pub fn touches_event_triggers(script: &Script) -> bool {
    script.sql.to_ascii_uppercase().contains("EVENT TRIGGER")
}

fn statement_may_write(text: &str) -> bool {
    let words: Vec<String> = leading_words(text).take(3).collect();
    // Nothing but comments writes nothing; anything else that does not start with a word
    // (a parenthesized query) may.
    let Some(first) = words.first() else { return !skip_comments(text).trim_matches(';').trim().is_empty() };
    if ROW_SAFE.contains(&first.as_str()) {
        return false;
    }
    // INSERT INTO t, UPDATE [ONLY] t, DELETE FROM t: the table is the next word but one.
    let target = match first.as_str() {
        "INSERT" | "DELETE" => words.get(2),
        "UPDATE" => words.get(1).filter(|w| *w != "ONLY"),
        _ => return true,
    };
    !target.is_some_and(|t| {
        let name = t.rsplit('.').next().unwrap_or(t).trim_matches('"').to_ascii_lowercase();
        BOOKKEEPING_TABLES.contains(&name.as_str())
    })
}

/// `text` from its first character that is neither whitespace nor part of a comment.
fn skip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix("--") {
            text = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = text.strip_prefix("/*") {
            text = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            return text;
        }
    }
}

/// The words at the start of a statement, upper-cased, after comments; a word ends at
/// whitespace, `(` or `;`. Stops at anything that is not a word.
fn leading_words(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = skip_comments(rest);
        let end = rest.find(|c: char| c.is_whitespace() || c == '(' || c == ';').unwrap_or(rest.len());
        let word = &rest[..end];
        let is_word = word.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"');
        rest = &rest[end..];
        is_word.then(|| word.to_ascii_uppercase())
    })
}

/// Whether a migration touches `table`: names it in its SQL (`sql` lower-cased), or changes
/// it or something of it in its diff.
fn touches(sql: &str, changes: &[Change], schema: &Schema, table: &str) -> bool {
    let bare = table.rsplit('.').next().unwrap_or(table).to_lowercase();
    effects::mentions(sql, &bare)
        || changes.iter().any(|change| {
            change.name == table
                || change.name.strip_prefix(table).is_some_and(|rest| rest.starts_with('.'))
                || schema.indexes.get(&change.name).is_some_and(|index| index.table == table)
        })
}

/// The foreign keys of `schema` as (referencing table, referenced table).
fn foreign_keys(schema: &Schema) -> Vec<(String, String)> {
    // `schema.table.constraint` → `REFERENCES other(...)`.
    schema
        .constraints
        .iter()
        .filter(|(_, c)| c.constraint_type == "foreign key")
        .filter_map(|(key, c)| {
            let table = key.rsplit_once('.')?.0.to_string();
            let target = c.definition.split("REFERENCES ").nth(1)?.split('(').next()?.trim();
            let target = if target.contains('.') { target.to_string() } else { format!("public.{target}") };
            Some((table, target.replace('"', "")))
        })
        .collect()
}

/// Whether `table` is linked by foreign keys (in `links`, either way, through any number of
/// tables) to one `touched` says the migration touches: a cascade may have written it.
fn linked_to_touched(table: &str, links: &[(String, String)], touched: impl Fn(&str) -> bool) -> bool {
    let mut seen: BTreeSet<&str> = BTreeSet::from([table]);
    let mut queue = vec![table];
    while let Some(current) = queue.pop() {
        for (from, to) in links {
            let next = match (from.as_str(), to.as_str()) {
                (f, t) if f == current => t,
                (f, t) if t == current => f,
                _ => continue,
            };
            if seen.insert(next) {
                if touched(next) {
                    return true;
                }
                queue.push(next);
            }
        }
    }
    false
}

/// `data-changed` findings: tables holding rows before or after the up of `id` whose rows
/// changed although the migration does not touch them.
pub fn changed(
    id: &str,
    up: &Script,
    changes: &[Change],
    before: &Contents,
    after: &Contents,
    schema: &Schema,
) -> Vec<Finding> {
    if before == after {
        return Vec::new();
    }
    let sql = up.sql.to_lowercase();
    let touched = |table: &str| touches(&sql, changes, schema, table);
    // Read only if a changed table is not touched itself: the question is then whether a
    // cascade reached it.
    let mut links = None;
    let names: BTreeSet<&String> = before.tables.keys().chain(after.tables.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (a, b) = (before.tables.get(name), after.tables.get(name));
        // A table that no longer exists was dropped, which the schema diff reports.
        if a == b || !schema.tables.contains_key(name) || touched(name) {
            continue;
        }
        if linked_to_touched(name, links.get_or_insert_with(|| foreign_keys(schema)), touched) {
            continue;
        }
        let rows = |c: Option<&(i64, String)>| c.map_or(0, |(n, _)| *n);
        let what = if rows(a) == rows(b) {
            format!("its {} rows changed content", rows(a))
        } else {
            format!("it went from {} to {} rows", rows(a), rows(b))
        };
        out.push(
            Finding::of(
                &crate::rules::DATA_CHANGED,
                format!(
                    "{id} does not name table {} but {what} (a trigger, rule or cascade did this)",
                    name.strip_prefix("public.").unwrap_or(name)
                ),
            )
            .in_migration(id)
            .at(up.display_path(), Some(up.split.statements.first().map_or(up.first_line, |s| up.statement_line(s))))
            .with_help("make the data change explicit in the migration, or fix the side effect"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(sql: &str) -> Script {
        Script::new(Path::new("m.sql"), 1, sql.to_string()).unwrap()
    }

    #[test]
    fn ddl_writes_no_rows() {
        let ddl = "-- add a column\nBEGIN;\nALTER TABLE t ADD COLUMN c int DEFAULT 0;\n/* index */ CREATE INDEX i ON t (c);\n\
                   COMMENT ON TABLE t IS 'x'; SET lock_timeout = '1s'; COMMIT;";
        assert!(!may_write_rows(&script(ddl)));
        // Alembic's rendered SQL keeps its own bookkeeping.
        assert!(!may_write_rows(&script(
            "CREATE TABLE a (id int);\nUPDATE alembic_version SET version_num='2' WHERE alembic_version.version_num = '1';\n\
             INSERT INTO \"alembic_version\" (version_num) VALUES ('1');\nDELETE FROM public.alembic_version"
        )));
        assert!(!may_write_rows(&script("")));
    }

    #[test]
    fn every_statement_of_a_block_kept_whole_counts() {
        let sql = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n";
        let block = std::ops::Range { start: 0, end: sql.len() };
        let whole = Script::with_blocks(Path::new("m.sql"), 1, sql.to_string(), &[block]).unwrap();
        assert_eq!(whole.split.statements.len(), 1);
        assert!(may_write_rows(&whole));
    }

    #[test]
    fn dml_and_code_may_write_rows() {
        for sql in [
            "ALTER TABLE t ADD c int; UPDATE t SET c = 1",
            "insert into users (id) values (1)",
            "DELETE FROM sessions",
            "UPDATE ONLY alembic_version SET version_num = '2'",
            "DO $$ BEGIN PERFORM 1; END $$",
            "SELECT setval('s', 10)",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT 1",
            "TRUNCATE t",
            "CALL p()",
            "(SELECT f())",
        ] {
            assert!(may_write_rows(&script(sql)), "{sql}");
        }
        assert!(touches_event_triggers(&script("CREATE EVENT TRIGGER log ON ddl_command_end EXECUTE FUNCTION f()")));
    }

    #[test]
    fn a_cascade_reaches_tables_linked_through_others() {
        let link = |a: &str, b: &str| (a.to_string(), b.to_string());
        let links = [link("public.a", "public.b"), link("public.c", "public.b"), link("public.d", "public.e")];
        let touched = |t: &str| t == "public.c";
        assert!(linked_to_touched("public.a", &links, touched));
        assert!(linked_to_touched("public.b", &links, touched));
        assert!(!linked_to_touched("public.d", &links, touched));
        assert!(!linked_to_touched("public.x", &links, touched));
    }

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("o'k"), "'o''k'");
    }
}
