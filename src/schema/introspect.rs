//! Reads a database's schema from the system catalogs into the [`Schema`] model: one set-based
//! query per object kind (SQL in `sql/*.sql`), inside one read-only snapshot with a fixed
//! `search_path` so that type names and expressions print the same on every connection.
//! Skips system schemas, objects owned by extensions and migration tools' bookkeeping tables.
//! [`Snapshots`] reads the same schema repeatedly, re-reading only the objects that changed, and
//! hands out what changed as a [`Delta`].

use super::delta::Delta;
use super::model::*;
use futures_util::TryStreamExt;
use sqlx::Either;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Connection, Executor, Row, ValueRef};
use std::collections::{HashMap, HashSet};

/// Tables migration tools keep their history in; they are not part of the application schema.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "alembic_version",
    "_sqlx_migrations",
    "schema_migrations",
    "goose_db_version",
    "gorp_migrations",
    "__diesel_schema_migrations",
    "flyway_schema_history",
];

/// Why a schema could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("cannot read {what} from the catalogs")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

/// Reads the schema of the database `conn` is connected to.
pub async fn introspect(conn: &mut PgConnection) -> Result<Schema, IntrospectError> {
    let setting = |source| IntrospectError::Query { what: "search_path", source };
    // `public` only, so that objects there print unqualified and everything else qualified,
    // whatever the connection had set; restored afterwards. No transaction of our own: the caller
    // may be inside one. (PostgreSQL computes the select list left to right: the old value is
    // read first.)
    let (previous, _): (String, String) =
        sqlx::query_as("SELECT current_setting('search_path'), set_config('search_path', 'public', false)")
            .fetch_one(&mut *conn)
            .await
            .map_err(setting)?;
    let result = read_all(conn).await;
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(&previous)
        .execute(&mut *conn)
        .await
        .map_err(setting)?;
    let mut schema = result?;
    drop_bookkeeping(&mut schema);
    Ok(schema)
}

/// Reads the schema of one database again and again (the stairway snapshots it around every
/// migration), re-reading the tables, views, columns, constraints, indexes, triggers,
/// policies, functions and sequences only of the objects whose catalog rows changed since the
/// previous read, or that depend on one that did. Printing those is most of the cost of a
/// read; a migration usually touches few tables. It reads through two connections of its own,
/// each running half of the queries at the same time, so it sees what the migrations committed.
#[derive(Debug)]
pub struct Snapshots {
    owners: PgConnection,
    whole: PgConnection,
    last: Option<Last>,
    /// The DDL log is installed: what changed is read from it (in proportion to what the
    /// migrations touched) instead of being found by scanning the catalogs.
    logged: bool,
    /// The log was installed after the previous read: the next read is a whole one.
    log_started: bool,
    /// How the connections join, as last set for the reads (see [`Joins`]).
    joins: Joins,
    /// How many owners there were when the cached statements were planned.
    planned_for: usize,
    /// The per-owner statements prepared on `owners` and on `whole`.
    prepared: [HashSet<&'static str>; 2],
}

/// How the connections plan joins. A read of a few owners touches a few rows of each catalog:
/// nested loops over index lookups are right for it, whatever the plan cached when the catalogs
/// were small guessed (a merge join reading pg_class in OID order up to the owner costs more
/// the later the owner was made). Whole reads keep the planner's joins. A cached plan keeps
/// the settings it was made with, and each kind of read has statements of its own, so the
/// settings change only when the kind of read does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joins {
    Planner,
    Lookups,
}

impl Joins {
    /// Sets the joins on both connections for a read of `only` (all owners when `None`).
    async fn set_for(
        &mut self,
        owners: &mut PgConnection,
        whole: &mut PgConnection,
        only: Option<&[Oid]>,
    ) -> Result<(), IntrospectError> {
        let wanted = if only.is_some() { Joins::Lookups } else { Joins::Planner };
        if *self != wanted {
            let sql = match wanted {
                Joins::Lookups => "SET enable_mergejoin = off; SET enable_hashjoin = off",
                Joins::Planner => "RESET enable_mergejoin; RESET enable_hashjoin",
            };
            for conn in [owners, whole] {
                conn.execute(sql).await.map_err(|source| IntrospectError::Query { what: "join settings", source })?;
            }
            *self = wanted;
        }
        Ok(())
    }
}

/// The owners whose objects changed since the previous read.
#[derive(Debug)]
enum Touched {
    /// Anything may print differently (or there is no previous read): read everything.
    Everything,
    /// `changed` (sorted) with their kinds; `kept` those that existed before and still do.
    Owners { changed: Vec<Oid>, kinds: Vec<String>, kept: Vec<Oid> },
}

impl Touched {
    /// These owners with their kinds; `kept` tells which existed before and still do (new and
    /// dropped objects rename nothing: what references them changed too).
    fn owners(mut changed: Vec<(u32, String)>, kept: impl Fn(u32) -> bool) -> Touched {
        changed.sort_unstable_by_key(|(owner, _)| *owner);
        let kept = changed.iter().map(|(owner, _)| *owner).filter(|o| kept(*o)).map(Oid).collect();
        let (changed, kinds) = changed.into_iter().map(|(owner, kind)| (Oid(owner), kind)).unzip();
        Touched::Owners { changed, kinds, kept }
    }
}

/// What the previous read saw.
#[derive(Debug)]
struct Last {
    versions: Versions,
    owned: Owned,
    /// The schemas and extensions it read (read whole); the rest is in `owned`.
    namespaces: Schema,
}

impl Snapshots {
    /// Reads through `owners` and `whole`, two connections to the same database that nothing
    /// else uses (their `search_path` and plan cache mode are set here for good).
    /// Installs the DDL log where the connections may (a superuser's, on a database without
    /// one), so that finding what changed costs in proportion to what changed.
    pub async fn open(owners: PgConnection, mut whole: PgConnection) -> Result<Snapshots, IntrospectError> {
        let logged = super::ddl_log::install(&mut whole).await;
        let mut snapshots = Snapshots::open_scanning(owners, whole).await?;
        snapshots.logged = logged;
        Ok(snapshots)
    }

    /// Installs the DDL log from now on where it can be (see [`Snapshots::open`]); the next
    /// read is then a whole one. For a caller that runs DDL it does not snapshot first: the
    /// log's event triggers slow every DDL statement down.
    pub async fn start_log(&mut self) {
        if !self.logged && super::ddl_log::install(&mut self.whole).await {
            self.logged = true;
            self.log_started = true;
        }
    }

    /// Like [`Snapshots::open`] without the DDL log: each read scans the catalogs for changes.
    pub async fn open_scanning(
        mut owners: PgConnection,
        mut whole: PgConnection,
    ) -> Result<Snapshots, IntrospectError> {
        // `public` only, so that objects there print unqualified and everything else qualified.
        // Generic plans: the per-owner queries take a parameter, and planning them anew for each
        // call would cost more than running them. No JIT: compiling costs more than any of them.
        // No sequential scans where an index serves: a generic plan guesses how many owners it
        // gets and scans whole catalogs for one (measured on a 3,000-migration schema, every
        // query was as fast or faster this way, full reads included).
        for conn in [&mut owners, &mut whole] {
            conn.execute(
                "SET search_path = public; SET plan_cache_mode = force_generic_plan; SET jit = off; \
                 SET enable_seqscan = off",
            )
            .await
            .map_err(|source| IntrospectError::Query { what: "search_path", source })?;
        }
        Ok(Snapshots {
            owners,
            whole,
            last: None,
            logged: false,
            log_started: false,
            joins: Joins::Planner,
            planned_for: 0,
            prepared: Default::default(),
        })
    }

    /// Whether changes are read from the DDL log (else found by scanning the catalogs).
    pub fn logged(&self) -> bool {
        self.logged
    }

    /// Closes the connections (a database with open connections cannot be dropped).
    pub async fn close(self) {
        self.owners.close().await.ok();
        self.whole.close().await.ok();
    }

    /// What changed since the previous read (the first read: everything). Applied in turn to an
    /// empty schema, the deltas give what [`introspect`] would return.
    pub async fn take(&mut self) -> Result<Delta, IntrospectError> {
        let mut delta = self.read().await?;
        delta.for_both(drop_bookkeeping);
        Ok(delta)
    }

    async fn read(&mut self) -> Result<Delta, IntrospectError> {
        let (touched, versions) = if self.logged {
            let entries = super::ddl_log::drain(&mut self.whole).await?;
            // What changed before the log started is not in it.
            let log_started = std::mem::take(&mut self.log_started);
            let touched = match &self.last {
                Some(last) if !log_started => touched_by_log(entries, &last.owned),
                _ => Touched::Everything,
            };
            (touched, Versions::new())
        } else {
            let versions = versions(&mut self.owners, &mut self.whole).await?;
            let touched =
                self.last.as_ref().map_or(Touched::Everything, |last| touched_by_versions(&last.versions, &versions));
            (touched, versions)
        };
        let Snapshots { owners, whole, last, logged, joins, planned_for, prepared, .. } = self;
        // Where changes are found by scanning, the scans want the planner's joins too.
        let mut joins = logged.then_some(joins);
        let mut delta = Delta::default();
        let (owned, namespaces) = match (last.take(), touched) {
            (Some(Last { mut owned, namespaces, .. }), Touched::Owners { changed, kinds, kept }) => {
                let kinds = Kinds::of(kinds.iter().map(String::as_str));
                let fresh = read_both((owners, whole), prepared, joins.as_deref_mut(), Some(&changed), kinds).await?;
                let renamed = owned.renamed(&kept, &fresh);
                owned.remove(&changed).fill(&mut delta.before);
                fresh.fill(&mut delta.after);
                owned.merge(fresh);
                if !renamed.is_empty() {
                    // A rename may change how anything that references the renamed object prints.
                    let mut dependents: Vec<Oid> = dependents(owners, &renamed)
                        .await?
                        .into_iter()
                        .filter(|d| changed.binary_search_by_key(&d.0, |o| o.0).is_err())
                        .collect();
                    dependents.sort_unstable_by_key(|oid| oid.0);
                    dependents.dedup_by_key(|oid| oid.0);
                    let fresh =
                        read_both((owners, whole), prepared, joins.as_deref_mut(), Some(&dependents), Kinds::ALL)
                            .await?;
                    owned.remove(&dependents).fill(&mut delta.before);
                    fresh.fill(&mut delta.after);
                    owned.merge(fresh);
                }
                // Schemas and extensions change only with owner 0, which reads everything.
                (owned, namespaces)
            }
            (previous, _) => {
                if let Some(Last { owned, namespaces, .. }) = previous {
                    delta.before = namespaces;
                    owned.fill(&mut delta.before);
                }
                let (owned, namespaces) = (
                    read_both((owners, whole), prepared, joins, None, Kinds::ALL).await?,
                    read_namespaces(whole).await?,
                );
                delta.after = namespaces.clone();
                owned.fill(&mut delta.after);
                (owned, namespaces)
            }
        };
        if crate::postgres::plans_outgrown(*planned_for, owned.owners()) {
            for conn in [owners, whole] {
                conn.clear_cached_statements()
                    .await
                    .map_err(|source| IntrospectError::Query { what: "cached statements", source })?;
                conn.execute("DEALLOCATE ALL")
                    .await
                    .map_err(|source| IntrospectError::Query { what: "cached statements", source })?;
            }
            *prepared = Default::default();
            *planned_for = owned.owners();
        }
        *last = Some(Last { versions, owned, namespaces });
        Ok(delta)
    }
}

/// What changed, from the catalog versions of the previous read and of this one.
fn touched_by_versions(previous: &Versions, versions: &Versions) -> Touched {
    // Schemas, comments, extensions, collations or operators changed: anything may print
    // differently.
    if previous.get(&0) != versions.get(&0) {
        return Touched::Everything;
    }
    let changed = versions
        .iter()
        .filter(|(owner, version)| previous.get(owner) != Some(version))
        .chain(previous.iter().filter(|(owner, _)| !versions.contains_key(owner)))
        .map(|(owner, (_, _, kind))| (*owner, kind.clone()))
        .collect();
    Touched::owners(changed, |o| previous.contains_key(&o) && versions.contains_key(&o))
}

/// What changed, from the DDL log's entries since the previous read, whose per-owner cache is
/// `owned`.
fn touched_by_log(entries: Vec<super::ddl_log::Entry>, owned: &Owned) -> Touched {
    use super::ddl_log::Entry;
    let mut changed: HashMap<u32, (String, bool)> = HashMap::new();
    for entry in entries {
        match entry {
            Entry::Owner { oid: 0, .. } => return Touched::Everything,
            Entry::Owner { oid, kind, present } => {
                let slot = changed.entry(oid).or_insert((String::new(), present));
                if slot.0 < kind {
                    slot.0 = kind;
                }
            }
            // A dropped index's table is known by the cache alone.
            Entry::DroppedIndex(name) => {
                if let Some(owner) = owned.index_owner(&name) {
                    changed.entry(owner).or_insert(("r".into(), true));
                }
            }
        }
    }
    // A table detached from its parent (or whose parent changed) prints its parents.
    let children: Vec<u32> = changed.keys().flat_map(|&o| owned.children(o)).collect();
    for child in children {
        changed.entry(child).or_insert(("r".into(), true));
    }
    let kept: std::collections::HashSet<u32> =
        changed.iter().filter(|(o, (_, present))| *present && owned.has(**o)).map(|(o, _)| *o).collect();
    Touched::owners(changed.into_iter().map(|(o, (kind, _))| (o, kind)).collect(), |o| kept.contains(&o))
}

/// Per owner (see `sql/versions.sql`): how many catalog rows describe it, their xmin sum, and
/// its kind.
type Versions = HashMap<u32, (i64, i64, String)>;

async fn versions(owners: &mut PgConnection, whole: &mut PgConnection) -> Result<Versions, IntrospectError> {
    const VERSIONS: &str = "object versions";
    let (rows, part_rows) = tokio::join!(
        fetch(owners, VERSIONS, include_str!("sql/versions.sql")),
        fetch(whole, VERSIONS, include_str!("sql/versions_parts.sql"))
    );
    let mut out = Versions::new();
    for row in rows?.iter().chain(part_rows?.iter()) {
        let (count, sum, kind): (i64, i64, String) =
            (get(row, 1, VERSIONS)?, get(row, 2, VERSIONS)?, get(row, 3, VERSIONS)?);
        let version = out.entry(get::<Oid>(row, 0, VERSIONS)?.0).or_insert((0, 0, String::new()));
        version.0 += count;
        version.1 += sum;
        if version.2 < kind {
            version.2 = kind;
        }
    }
    Ok(out)
}

/// Owners of the objects that reference any of `changed` (a rename changes how they print).
async fn dependents(conn: &mut PgConnection, changed: &[Oid]) -> Result<Vec<Oid>, IntrospectError> {
    sqlx::query_scalar(include_str!("sql/dependents.sql"))
        .bind(changed)
        .fetch_all(conn)
        .await
        .map_err(|source| IntrospectError::Query { what: "dependencies", source })
}

/// Runs the per-owner queries `kinds` for `only` (every owner without it), split over the two
/// connections.
async fn read_both(
    (owners, whole): (&mut PgConnection, &mut PgConnection),
    prepared: &mut [HashSet<&'static str>; 2],
    joins: Option<&mut Joins>,
    only: Option<&[Oid]>,
    kinds: Kinds,
) -> Result<Owned, IntrospectError> {
    if let Some(joins) = joins {
        joins.set_for(owners, whole, only).await?;
    }
    let (first, second) = kinds.split();
    let [on_owners, on_whole] = prepared;
    let (owned, more) = tokio::join!(
        Owned::read(owners, only.map(|o| (o, on_owners)), first),
        Owned::read(whole, only.map(|o| (o, on_whole)), second)
    );
    let mut owned = owned?;
    owned.merge(more?);
    Ok(owned)
}

async fn fetch(conn: &mut PgConnection, what: &'static str, sql: &'static str) -> Result<Vec<PgRow>, IntrospectError> {
    sqlx::query(sql).fetch_all(conn).await.map_err(|source| IntrospectError::Query { what, source })
}

/// A per-owner query: its last column is the owner's oid.
struct PerOwner {
    what: &'static str,
    sql: &'static str,
    /// The condition on a row that says its owner is in `$1`, which an index should serve.
    owned: &'static str,
}

/// The per-owner queries, by the name [`Owned::read`] takes their rows by.
const PER_OWNER: &[PerOwner] = &[
    PerOwner {
        what: "types",
        sql: include_str!("sql/types.sql"),
        // The owner (a composite type's is its relation) through pg_type's OID index: a
        // composite type is its relation's row type.
        owned: "t.oid = ANY($1::oid[] || ARRAY(SELECT r.reltype FROM pg_class r WHERE r.oid = ANY($1))) \
                AND (CASE WHEN t.typtype = 'c' THEN t.typrelid ELSE t.oid END) = ANY($1)",
    },
    PerOwner { what: "sequences", sql: include_str!("sql/sequences.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "columns", sql: include_str!("sql/columns.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "constraints", sql: include_str!("sql/constraints.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "indexes", sql: include_str!("sql/indexes.sql"), owned: "i.indrelid = ANY($1)" },
    PerOwner { what: "tables", sql: include_str!("sql/tables.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "views", sql: include_str!("sql/views.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "triggers", sql: include_str!("sql/triggers.sql"), owned: "t.tgrelid = ANY($1)" },
    PerOwner { what: "policies", sql: include_str!("sql/policies.sql"), owned: "c.oid = ANY($1)" },
    PerOwner { what: "functions", sql: include_str!("sql/functions.sql"), owned: "p.oid = ANY($1)" },
];

/// The owners a read is limited to (every owner when `None`), with the per-owner statements
/// already prepared on the connection (the reads of [`Snapshots`] prepare each once).
type Only<'a> = Option<(&'a [Oid], &'a mut HashSet<&'static str>)>;

/// Runs `queries` for every owner, or with `only`, for those owners alone, in one message
/// (one round trip): their rows by [`PerOwner::what`].
/// A limited read executes statements prepared on the connection with the owners as a literal
/// array (a message of several statements takes no parameters).
async fn fetch_owned(
    conn: &mut PgConnection,
    queries: &[&PerOwner],
    only: Only<'_>,
) -> Result<HashMap<&'static str, Vec<PgRow>>, IntrospectError> {
    let mut message = String::new();
    // Results before the queries' own: those of the statements prepared in this message.
    let mut preparing = 0;
    match only {
        None => {
            for q in queries {
                // A line break before the `;`: a query may end in a `--` comment.
                message.push_str(&format!("{}\n;\n", q.sql));
            }
        }
        Some((only, prepared)) => {
            let owners: Vec<String> = only.iter().map(|o| o.0.to_string()).collect();
            let owners = format!("'{{{}}}'", owners.join(","));
            for q in queries.iter().filter(|q| prepared.insert(q.what)) {
                message.push_str(&format!("PREPARE mg_{}(oid[]) AS {}\n  AND {}\n;\n", q.what, q.sql, q.owned));
                preparing += 1;
            }
            for q in queries {
                message.push_str(&format!("EXECUTE mg_{}({owners});\n", q.what));
            }
        }
    }
    let mut sets = HashMap::new();
    if queries.is_empty() {
        return Ok(sets);
    }
    let failed = |source| IntrospectError::Query { what: "per-owner objects", source };
    let (mut rows, mut results) = (Vec::new(), 0usize);
    let mut stream = conn.fetch_many(sqlx::raw_sql(sqlx::AssertSqlSafe(message)));
    while let Some(item) = stream.try_next().await.map_err(failed)? {
        match item {
            Either::Left(_) => {
                let rows = std::mem::take(&mut rows);
                if let Some(q) = results.checked_sub(preparing).and_then(|i| queries.get(i)) {
                    sets.insert(q.what, rows);
                }
                results += 1;
            }
            Either::Right(row) => rows.push(row),
        }
    }
    Ok(sets)
}

/// A text array column (SQL NULL: empty), in either wire format: a message of several
/// statements returns text, whose quoted `"NULL"` element is a string (sqlx's text decoding
/// takes it for a NULL).
fn strings(row: &PgRow, index: usize, what: &'static str) -> Result<Vec<String>, IntrospectError> {
    let value = row.try_get_raw(index).map_err(|source| IntrospectError::Query { what, source })?;
    if value.is_null() {
        return Ok(Vec::new());
    }
    if value.format() == sqlx::postgres::PgValueFormat::Binary {
        return get(row, index, what);
    }
    let text = value.as_str().map_err(|e| IntrospectError::Query { what, source: sqlx::Error::Decode(e) })?;
    Ok(text_array(text))
}

/// The elements of a one-dimensional text array in PostgreSQL's output format (`{a,"b c",NULL}`);
/// unquoted `NULL` elements are left out.
fn text_array(text: &str) -> Vec<String> {
    let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(text);
    let mut elements = Vec::new();
    if inner.is_empty() {
        return elements;
    }
    let (mut element, mut quoted, mut in_quotes, mut escaped) = (String::new(), false, false, false);
    for ch in inner.chars() {
        match ch {
            _ if escaped => {
                element.push(ch);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
            }
            ',' if !in_quotes => {
                if quoted || element != "NULL" {
                    elements.push(std::mem::take(&mut element));
                }
                element.clear();
                quoted = false;
            }
            _ => element.push(ch),
        }
    }
    if quoted || element != "NULL" {
        elements.push(element);
    }
    elements
}

/// Typed column access that reports which catalog query broke.
fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    index: usize,
    what: &'static str,
) -> Result<T, IntrospectError> {
    row.try_get(index).map_err(|source| IntrospectError::Query { what, source })
}

fn key2(a: &str, b: &str) -> String {
    format!("{a}.{b}")
}

fn key3(a: &str, b: &str, c: &str) -> String {
    format!("{a}.{b}.{c}")
}

fn persistence(code: &str) -> String {
    match code {
        "u" => "unlogged",
        "t" => "temporary",
        _ => "permanent",
    }
    .to_string()
}

async fn read_all(conn: &mut PgConnection) -> Result<Schema, IntrospectError> {
    let mut s = read_namespaces(conn).await?;
    Owned::read(conn, None, Kinds::ALL).await?.fill(&mut s);
    Ok(s)
}

/// The kinds read whole (they are cheap and change rarely): schemas and extensions.
async fn read_namespaces(conn: &mut PgConnection) -> Result<Schema, IntrospectError> {
    let mut s = Schema::default();
    const SCHEMAS: &str = "schemas";
    for row in fetch(conn, SCHEMAS, include_str!("sql/schemas.sql")).await? {
        s.schemas.insert(get(&row, 0, SCHEMAS)?, Namespace { comment: get(&row, 1, SCHEMAS)? });
    }
    const EXTENSIONS: &str = "extensions";
    for row in fetch(conn, EXTENSIONS, include_str!("sql/extensions.sql")).await? {
        s.extensions.insert(
            get(&row, 0, EXTENSIONS)?,
            Extension { schema: get(&row, 1, EXTENSIONS)?, version: get(&row, 2, EXTENSIONS)? },
        );
    }
    Ok(s)
}

/// Which per-owner queries to run: those of the kinds of owners that changed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Kinds {
    /// Table rows.
    tables: bool,
    /// Columns and constraints.
    columns: bool,
    indexes: bool,
    views: bool,
    /// Triggers and policies.
    attached: bool,
    sequences: bool,
    functions: bool,
    /// Enums, domains, composite and range types.
    types: bool,
}

impl Kinds {
    const ALL: Kinds = Kinds {
        tables: true,
        columns: true,
        indexes: true,
        views: true,
        attached: true,
        sequences: true,
        functions: true,
        types: true,
    };
    const NONE: Kinds = Kinds {
        tables: false,
        columns: false,
        indexes: false,
        views: false,
        attached: false,
        sequences: false,
        functions: false,
        types: false,
    };

    /// The queries owners of these kinds (`relkind`, or `F` for a routine) need.
    fn of<'a>(kinds: impl Iterator<Item = &'a str>) -> Kinds {
        let mut needed = Kinds::NONE;
        for kind in kinds {
            match kind {
                "r" | "p" => {
                    (needed.tables, needed.columns, needed.indexes, needed.attached) = (true, true, true, true);
                }
                // Materialized views have indexes; views, INSTEAD OF triggers.
                "m" => (needed.views, needed.indexes) = (true, true),
                "v" => (needed.views, needed.attached) = (true, true),
                "f" => needed.attached = true,
                "S" => needed.sequences = true,
                "F" => needed.functions = true,
                // A type, or a composite type's relation.
                "y" | "c" => needed.types = true,
                _ => {}
            }
        }
        needed
    }

    /// Whether the per-owner query `what` (see [`PER_OWNER`]) is one of these kinds'.
    fn wants(self, what: &str) -> bool {
        match what {
            "types" => self.types,
            "sequences" => self.sequences,
            "columns" | "constraints" => self.columns,
            "indexes" => self.indexes,
            "tables" => self.tables,
            "views" => self.views,
            "triggers" | "policies" => self.attached,
            "functions" => self.functions,
            _ => false,
        }
    }

    /// Two shares of about the same cost, for two connections: columns, constraints and
    /// indexes (the bulk of a table), and the rest.
    fn split(self) -> (Kinds, Kinds) {
        let first = Kinds { columns: self.columns, indexes: self.indexes, ..Kinds::NONE };
        (first, Kinds { columns: false, indexes: false, ..self })
    }
}

/// A user-defined type, as the per-owner cache keeps it.
#[derive(Debug, Clone)]
enum TypeDef {
    Enum(Enum),
    Domain(Domain),
    Composite(Composite),
    Range(Range),
}

/// The kinds read per owner, keyed by the owner's oid.
#[derive(Debug, Default)]
struct Owned {
    tables: HashMap<u32, Vec<(String, Table)>>,
    sequences: HashMap<u32, Vec<(String, Sequence)>>,
    columns: HashMap<u32, Vec<(String, Column)>>,
    constraints: HashMap<u32, Vec<(String, Constraint)>>,
    indexes: HashMap<u32, Vec<(String, Index)>>,
    views: HashMap<u32, Vec<(String, View)>>,
    triggers: HashMap<u32, Vec<(String, Trigger)>>,
    policies: HashMap<u32, Vec<(String, Policy)>>,
    functions: HashMap<u32, Vec<(String, Function)>>,
    /// Keyed by the type's oid (a composite type's by its relation's).
    types: HashMap<u32, Vec<(String, TypeDef)>>,
    /// (table, attnum) → column key, to tell a renamed column from a changed one.
    column_names: HashMap<(u32, i16), String>,
}

impl Owned {
    /// How many owners have tables, views, sequences, functions or types: the schema's size.
    fn owners(&self) -> usize {
        self.tables.len() + self.views.len() + self.sequences.len() + self.functions.len() + self.types.len()
    }

    /// Reads the objects of every owner, or of `only` those.
    async fn read(conn: &mut PgConnection, only: Only<'_>, kinds: Kinds) -> Result<Owned, IntrospectError> {
        let mut o = Owned::default();
        if only.as_ref().is_some_and(|(only, _)| only.is_empty()) {
            return Ok(o);
        }
        let wanted: Vec<&PerOwner> = PER_OWNER.iter().filter(|q| kinds.wants(q.what)).collect();
        let mut sets = fetch_owned(conn, &wanted, only).await?;
        let mut rows = |what: &str| sets.remove(what).unwrap_or_default();

        const TYPES: &str = "types";
        if kinds.types {
            for row in rows(TYPES) {
                let types = o.types.entry(get::<Oid>(&row, 12, TYPES)?.0).or_default();
                let name = key2(&get::<String>(&row, 0, TYPES)?, &get::<String>(&row, 1, TYPES)?);
                let comment: Option<String> = get(&row, 11, TYPES)?;
                match get::<String>(&row, 2, TYPES)?.as_str() {
                    "e" => {
                        let labels = strings(&row, 3, TYPES)?;
                        types.push((name, TypeDef::Enum(Enum { labels, comment })));
                    }
                    "d" => {
                        types.push((
                            name,
                            TypeDef::Domain(Domain {
                                base_type: get::<Option<String>>(&row, 4, TYPES)?.unwrap_or_default(),
                                not_null: get(&row, 5, TYPES)?,
                                default: get(&row, 6, TYPES)?,
                                constraints: strings(&row, 7, TYPES)?,
                                collation: get(&row, 10, TYPES)?,
                                comment,
                            }),
                        ));
                    }
                    "c" => {
                        types.push((
                            name,
                            TypeDef::Composite(Composite { attributes: strings(&row, 8, TYPES)?, comment }),
                        ));
                    }
                    _ => {
                        types.push((name, TypeDef::Range(Range { subtype: get(&row, 9, TYPES)?, comment })));
                    }
                }
            }
        }

        const SEQUENCES: &str = "sequences";
        if kinds.sequences {
            for row in rows(SEQUENCES) {
                let name = key2(&get::<String>(&row, 0, SEQUENCES)?, &get::<String>(&row, 1, SEQUENCES)?);
                o.sequences.entry(get::<Oid>(&row, 12, SEQUENCES)?.0).or_default().push((
                    name,
                    Sequence {
                        data_type: get(&row, 2, SEQUENCES)?,
                        start: get(&row, 3, SEQUENCES)?,
                        increment: get(&row, 4, SEQUENCES)?,
                        min_value: get(&row, 5, SEQUENCES)?,
                        max_value: get(&row, 6, SEQUENCES)?,
                        cache: get(&row, 7, SEQUENCES)?,
                        cycle: get(&row, 8, SEQUENCES)?,
                        persistence: persistence(&get::<String>(&row, 9, SEQUENCES)?),
                        owned_by: get(&row, 10, SEQUENCES)?,
                        comment: get(&row, 11, SEQUENCES)?,
                    },
                ));
            }
        }

        const COLUMNS: &str = "columns";
        if kinds.columns {
            for row in rows(COLUMNS) {
                let name = key3(
                    &get::<String>(&row, 0, COLUMNS)?,
                    &get::<String>(&row, 1, COLUMNS)?,
                    &get::<String>(&row, 2, COLUMNS)?,
                );
                let identity = match get::<String>(&row, 6, COLUMNS)?.as_str() {
                    "a" => Some("always".to_string()),
                    "d" => Some("by default".to_string()),
                    _ => None,
                };
                let owner = get::<Oid>(&row, 11, COLUMNS)?.0;
                o.column_names.insert((owner, get(&row, 10, COLUMNS)?), name.clone());
                o.columns.entry(owner).or_default().push((
                    name,
                    Column {
                        data_type: get(&row, 3, COLUMNS)?,
                        not_null: get(&row, 4, COLUMNS)?,
                        default: get(&row, 5, COLUMNS)?,
                        identity,
                        generated: get(&row, 7, COLUMNS)?,
                        collation: get(&row, 8, COLUMNS)?,
                        comment: get(&row, 9, COLUMNS)?,
                    },
                ));
            }
        }

        const CONSTRAINTS: &str = "constraints";
        if kinds.columns {
            for row in rows(CONSTRAINTS) {
                let name = key3(
                    &get::<String>(&row, 0, CONSTRAINTS)?,
                    &get::<String>(&row, 1, CONSTRAINTS)?,
                    &get::<String>(&row, 2, CONSTRAINTS)?,
                );
                let constraint_type = match get::<String>(&row, 3, CONSTRAINTS)?.as_str() {
                    "p" => "primary key",
                    "u" => "unique",
                    "f" => "foreign key",
                    "c" => "check",
                    "x" => "exclusion",
                    "t" => "trigger",
                    _ => "other",
                };
                o.constraints.entry(get::<Oid>(&row, 6, CONSTRAINTS)?.0).or_default().push((
                    name,
                    Constraint {
                        constraint_type: constraint_type.to_string(),
                        definition: get(&row, 4, CONSTRAINTS)?,
                        comment: get(&row, 5, CONSTRAINTS)?,
                    },
                ));
            }
        }

        const INDEXES: &str = "indexes";
        if kinds.indexes {
            for row in rows(INDEXES) {
                let schema: String = get(&row, 0, INDEXES)?;
                let name = key2(&schema, &get::<String>(&row, 1, INDEXES)?);
                let definition: String = get(&row, 7, INDEXES)?;
                let (columns, include) = index_columns(&definition);
                o.indexes.entry(get::<Oid>(&row, 9, INDEXES)?.0).or_default().push((
                    name,
                    Index {
                        table: key2(&schema, &get::<String>(&row, 2, INDEXES)?),
                        method: get(&row, 3, INDEXES)?,
                        unique: get(&row, 4, INDEXES)?,
                        nulls_not_distinct: get(&row, 5, INDEXES)?,
                        columns,
                        include,
                        predicate: get(&row, 6, INDEXES)?,
                        definition,
                        comment: get(&row, 8, INDEXES)?,
                    },
                ));
            }
        }

        const TABLES: &str = "tables";
        if kinds.tables {
            for row in rows(TABLES) {
                let name = key2(&get::<String>(&row, 0, TABLES)?, &get::<String>(&row, 1, TABLES)?);
                let replica_identity = match get::<String>(&row, 10, TABLES)?.as_str() {
                    "n" => "nothing",
                    "f" => "full",
                    "i" => "index",
                    _ => "default",
                };
                o.tables.entry(get::<Oid>(&row, 12, TABLES)?.0).or_default().push((
                    name,
                    Table {
                        persistence: persistence(&get::<String>(&row, 3, TABLES)?),
                        row_security: get(&row, 4, TABLES)?,
                        force_row_security: get(&row, 5, TABLES)?,
                        partition_by: get(&row, 6, TABLES)?,
                        partition_bound: get(&row, 7, TABLES)?,
                        inherits: strings(&row, 8, TABLES)?,
                        options: strings(&row, 9, TABLES)?,
                        replica_identity: replica_identity.to_string(),
                        comment: get(&row, 11, TABLES)?,
                    },
                ));
            }
        }

        const VIEWS: &str = "views";
        if kinds.views {
            for row in rows(VIEWS) {
                let name = key2(&get::<String>(&row, 0, VIEWS)?, &get::<String>(&row, 1, VIEWS)?);
                o.views.entry(get::<Oid>(&row, 6, VIEWS)?.0).or_default().push((
                    name,
                    View {
                        materialized: get::<String>(&row, 2, VIEWS)? == "m",
                        definition: get::<Option<String>>(&row, 3, VIEWS)?.unwrap_or_default(),
                        options: strings(&row, 4, VIEWS)?,
                        comment: get(&row, 5, VIEWS)?,
                    },
                ));
            }
        }

        const TRIGGERS: &str = "triggers";
        if kinds.attached {
            for row in rows(TRIGGERS) {
                let name = key3(
                    &get::<String>(&row, 0, TRIGGERS)?,
                    &get::<String>(&row, 1, TRIGGERS)?,
                    &get::<String>(&row, 2, TRIGGERS)?,
                );
                let enabled = match get::<String>(&row, 4, TRIGGERS)?.as_str() {
                    "D" => "disabled",
                    "R" => "replica",
                    "A" => "always",
                    _ => "origin",
                };
                o.triggers.entry(get::<Oid>(&row, 6, TRIGGERS)?.0).or_default().push((
                    name,
                    Trigger {
                        definition: get(&row, 3, TRIGGERS)?,
                        enabled: enabled.to_string(),
                        comment: get(&row, 5, TRIGGERS)?,
                    },
                ));
            }
        }

        const POLICIES: &str = "policies";
        if kinds.attached {
            for row in rows(POLICIES) {
                let name = key3(
                    &get::<String>(&row, 0, POLICIES)?,
                    &get::<String>(&row, 1, POLICIES)?,
                    &get::<String>(&row, 2, POLICIES)?,
                );
                let command = match get::<String>(&row, 3, POLICIES)?.as_str() {
                    "r" => "select",
                    "a" => "insert",
                    "w" => "update",
                    "d" => "delete",
                    _ => "all",
                };
                o.policies.entry(get::<Oid>(&row, 8, POLICIES)?.0).or_default().push((
                    name,
                    Policy {
                        command: command.to_string(),
                        permissive: get(&row, 4, POLICIES)?,
                        roles: strings(&row, 5, POLICIES)?,
                        using: get(&row, 6, POLICIES)?,
                        with_check: get(&row, 7, POLICIES)?,
                    },
                ));
            }
        }

        const FUNCTIONS: &str = "functions";
        if kinds.functions {
            for row in rows(FUNCTIONS) {
                let name = format!(
                    "{}.{}({})",
                    get::<String>(&row, 0, FUNCTIONS)?,
                    get::<String>(&row, 1, FUNCTIONS)?,
                    get::<Option<String>>(&row, 2, FUNCTIONS)?.unwrap_or_default()
                );
                let routine_kind = match get::<String>(&row, 3, FUNCTIONS)?.as_str() {
                    "p" => "procedure",
                    "a" => "aggregate",
                    "w" => "window",
                    _ => "function",
                };
                let volatility = match get::<String>(&row, 6, FUNCTIONS)?.as_str() {
                    "i" => "immutable",
                    "s" => "stable",
                    _ => "volatile",
                };
                o.functions.entry(get::<Oid>(&row, 11, FUNCTIONS)?.0).or_default().push((
                    name,
                    Function {
                        routine_kind: routine_kind.to_string(),
                        returns: get(&row, 4, FUNCTIONS)?,
                        language: get(&row, 5, FUNCTIONS)?,
                        volatility: volatility.to_string(),
                        strict: get(&row, 7, FUNCTIONS)?,
                        security_definer: get(&row, 8, FUNCTIONS)?,
                        definition: get(&row, 9, FUNCTIONS)?,
                        comment: get(&row, 10, FUNCTIONS)?,
                    },
                ));
            }
        }

        Ok(o)
    }

    /// Whether the cache holds objects of `owner`.
    fn has(&self, owner: u32) -> bool {
        self.tables.contains_key(&owner)
            || self.sequences.contains_key(&owner)
            || self.views.contains_key(&owner)
            || self.functions.contains_key(&owner)
            || self.columns.contains_key(&owner)
            || self.types.contains_key(&owner)
    }

    /// The table the index `name` (qualified as the cache keys it) belongs to.
    fn index_owner(&self, name: &str) -> Option<u32> {
        self.indexes.iter().find(|(_, entries)| entries.iter().any(|(key, _)| key == name)).map(|(o, _)| *o)
    }

    /// The tables that inherit from `owner` (or are its partitions), as of the last read.
    fn children(&self, owner: u32) -> Vec<u32> {
        let Some(names) = self.tables.get(&owner) else { return Vec::new() };
        self.tables
            .iter()
            .filter(|(_, entries)| {
                entries.iter().any(|(_, t)| t.inherits.iter().any(|parent| names.iter().any(|(n, _)| n == parent)))
            })
            .map(|(o, _)| *o)
            .collect()
    }

    /// Takes what `other` read (for other owners, or other kinds).
    fn merge(&mut self, other: Owned) {
        self.tables.extend(other.tables);
        self.sequences.extend(other.sequences);
        self.columns.extend(other.columns);
        self.constraints.extend(other.constraints);
        self.indexes.extend(other.indexes);
        self.views.extend(other.views);
        self.triggers.extend(other.triggers);
        self.policies.extend(other.policies);
        self.functions.extend(other.functions);
        self.types.extend(other.types);
        self.column_names.extend(other.column_names);
    }

    /// Takes out what `owners` (sorted) had.
    fn remove(&mut self, owners: &[Oid]) -> Owned {
        fn take<T>(map: &mut HashMap<u32, T>, into: &mut HashMap<u32, T>, owner: u32) {
            if let Some(entries) = map.remove(&owner) {
                into.insert(owner, entries);
            }
        }
        let mut out = Owned::default();
        for &Oid(owner) in owners {
            take(&mut self.tables, &mut out.tables, owner);
            take(&mut self.sequences, &mut out.sequences, owner);
            take(&mut self.columns, &mut out.columns, owner);
            take(&mut self.constraints, &mut out.constraints, owner);
            take(&mut self.indexes, &mut out.indexes, owner);
            take(&mut self.views, &mut out.views, owner);
            take(&mut self.triggers, &mut out.triggers, owner);
            take(&mut self.policies, &mut out.policies, owner);
            take(&mut self.functions, &mut out.functions, owner);
            take(&mut self.types, &mut out.types, owner);
        }
        self.column_names.retain(|(table, _), _| owners.binary_search_by_key(table, |o| o.0).is_err());
        out
    }

    /// Of the `changed` owners, those whose name (or a column's name) differs in `fresh`, and
    /// those whose names this cache does not follow (views, whose column names it does not
    /// keep): objects that reference them may print differently.
    fn renamed(&self, changed: &[Oid], fresh: &Owned) -> Vec<Oid> {
        fn keys<T>(map: &HashMap<u32, Vec<(String, T)>>, owner: u32) -> Option<Vec<&str>> {
            map.get(&owner).map(|entries| entries.iter().map(|(key, _)| key.as_str()).collect())
        }
        let renamed = |owner: &&Oid| {
            let o = owner.0;
            if self.columns.contains_key(&o) {
                // A renamed table renames all its column keys; a renamed column keeps its number.
                self.column_names.iter().any(|((table, number), key)| {
                    *table == o && fresh.column_names.get(&(o, *number)).is_some_and(|now| now != key)
                })
            } else if self.sequences.contains_key(&o) {
                fresh.sequences.contains_key(&o) && keys(&self.sequences, o) != keys(&fresh.sequences, o)
            } else if self.functions.contains_key(&o) {
                fresh.functions.contains_key(&o) && keys(&self.functions, o) != keys(&fresh.functions, o)
            } else if self.types.contains_key(&o) {
                fresh.types.contains_key(&o) && keys(&self.types, o) != keys(&fresh.types, o)
            } else {
                true
            }
        };
        changed.iter().filter(renamed).copied().collect()
    }

    /// Copies everything into `s`.
    fn fill(&self, s: &mut Schema) {
        fn copy<T: Clone>(from: &HashMap<u32, Vec<(String, T)>>, to: &mut std::collections::BTreeMap<String, T>) {
            to.extend(from.values().flatten().cloned());
        }
        copy(&self.tables, &mut s.tables);
        copy(&self.sequences, &mut s.sequences);
        copy(&self.columns, &mut s.columns);
        copy(&self.constraints, &mut s.constraints);
        copy(&self.indexes, &mut s.indexes);
        copy(&self.views, &mut s.views);
        copy(&self.triggers, &mut s.triggers);
        copy(&self.policies, &mut s.policies);
        copy(&self.functions, &mut s.functions);
        for (name, def) in self.types.values().flatten() {
            match def.clone() {
                TypeDef::Enum(t) => s.enums.insert(name.clone(), t).map(drop),
                TypeDef::Domain(t) => s.domains.insert(name.clone(), t).map(drop),
                TypeDef::Composite(t) => s.composites.insert(name.clone(), t).map(drop),
                TypeDef::Range(t) => s.ranges.insert(name.clone(), t).map(drop),
            };
        }
    }
}

/// Key columns (with operator class and ordering, as written) and INCLUDE columns of a
/// `pg_get_indexdef` definition: `... USING method (a, lower(b) DESC) INCLUDE (c) ...`.
fn index_columns(definition: &str) -> (Vec<String>, Vec<String>) {
    let Some(using) = definition.find(" USING ") else { return (Vec::new(), Vec::new()) };
    let rest = &definition[using + 7..];
    let Some(open) = rest.find('(') else { return (Vec::new(), Vec::new()) };
    let (columns, after) = parenthesized(&rest[open..]);
    let include = match after.strip_prefix(" INCLUDE ") {
        Some(tail) => parenthesized(tail).0,
        None => Vec::new(),
    };
    (columns, include)
}

/// Splits `(a, f(b, c), "d,e")...` at its top-level commas; returns the items and what follows
/// the closing parenthesis.
fn parenthesized(text: &str) -> (Vec<String>, &str) {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 1;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    items.push(text[start..i].trim().to_string());
                    return (items, &text[i + 1..]);
                }
            }
            (None, ',') if depth == 1 => {
                items.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    (items, "")
}

/// The table part (`schema.table`) of a `schema.table.name` key.
fn table_of(key: &str) -> &str {
    key.rsplit_once('.').map_or(key, |(table, _)| table)
}

/// True when `schema.table` names a bookkeeping table.
fn is_bookkeeping(table: &str) -> bool {
    let name = table.rsplit_once('.').map_or(table, |(_, name)| name);
    BOOKKEEPING_TABLES.contains(&name)
}

/// Removes migration tools' history tables and everything hanging off them.
fn drop_bookkeeping(s: &mut Schema) {
    s.tables.retain(|name, _| !is_bookkeeping(name));
    s.columns.retain(|name, _| !is_bookkeeping(table_of(name)));
    s.constraints.retain(|name, _| !is_bookkeeping(table_of(name)));
    s.triggers.retain(|name, _| !is_bookkeeping(table_of(name)));
    s.policies.retain(|name, _| !is_bookkeeping(table_of(name)));
    s.indexes.retain(|_, index| !is_bookkeeping(&index.table));
    s.sequences.retain(|_, seq| !seq.owned_by.as_deref().is_some_and(|col| is_bookkeeping(table_of(col))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_arrays_in_output_format() {
        assert_eq!(text_array(r#"{a,"b c","NULL",NULL,"x\"y","d,e",""}"#), ["a", "b c", "NULL", "x\"y", "d,e", ""]);
        assert_eq!(text_array("{}"), Vec::<String>::new());
        assert_eq!(text_array("{fillfactor=70}"), ["fillfactor=70"]);
    }

    #[test]
    fn index_columns_from_definitions() {
        let (columns, include) = index_columns(
            "CREATE UNIQUE INDEX i ON t USING btree (lower(email), \"a,b\" DESC, coalesce(x, 'y)')) INCLUDE (c, d) WHERE (x > 0)",
        );
        assert_eq!(columns, vec!["lower(email)", "\"a,b\" DESC", "coalesce(x, 'y)')"]);
        assert_eq!(include, vec!["c", "d"]);
        assert_eq!(index_columns("CREATE INDEX i ON t USING gin (tags)"), (vec!["tags".to_string()], vec![]));
    }

    #[test]
    fn bookkeeping_objects_are_dropped() {
        let mut s = Schema::default();
        let column = Column {
            data_type: "integer".into(),
            not_null: true,
            default: None,
            identity: None,
            generated: None,
            collation: None,
            comment: None,
        };
        s.columns.insert("public.goose_db_version.id".into(), column.clone());
        s.columns.insert("public.users.id".into(), column);
        s.sequences.insert(
            "public.goose_db_version_id_seq".into(),
            Sequence {
                data_type: "integer".into(),
                start: 1,
                increment: 1,
                min_value: 1,
                max_value: i32::MAX.into(),
                cache: 1,
                cycle: false,
                persistence: "permanent".into(),
                owned_by: Some("public.goose_db_version.id".into()),
                comment: None,
            },
        );
        drop_bookkeeping(&mut s);
        assert_eq!(s.columns.keys().collect::<Vec<_>>(), vec!["public.users.id"]);
        assert!(s.sequences.is_empty());
    }
}
