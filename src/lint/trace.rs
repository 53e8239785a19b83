//! The tracer: an `Observer` of the runner that, around each statement and on the migration's own
//! connection and transaction, records which relations that existed before the migration were
//! locked (and how strongly), rewritten, scanned, dropped or given validated constraints, then
//! asks the rules about it. One catalog query per statement at most, sent in the statement's own
//! message (a prepared statement, so no round trip and no planning of its own), and none for
//! statements that cannot lock or rewrite anything; a statement confined to tables its
//! transaction created shares the query of the statement before it, and inside a script's
//! transaction the queries before its last statement leave out the relations the script made
//! (what the rules need of them excepted); constraints are listed only after statements that
//! may change them, and scan counts only after statements with a baseline. Plus one snapshot
//! per migration and one query after the last statement of a migration that added a foreign key.

use super::rules::{self, Rule};
use crate::findings::Finding;
use crate::migrations::Script;
use crate::runner::{Observer, Replies, ScriptOutcome, StatementError, Wrap};
use crate::sql::TxEffect;
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ConstrType, RangeVar};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Executor, Row};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

const STATEMENT_SQL: &str = include_str!("catalog/statement.sql");
const BASELINE_SQL: &str = include_str!("catalog/baseline.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("catalog/foreign_keys.sql");
/// The statement and baseline queries as prepared on the migration's connection (the `p` row
/// says whether they are there).
const PREPARE_STATEMENT: &str = "PREPARE migration_guard_statement(int8, bool, bool, bool) AS ";
/// The statement query's `$1` that lists every relation held.
const FULL: i64 = u32::MAX as i64;
const PREPARE_BASELINE: &str = "PREPARE migration_guard_baseline(text) AS ";
const PREPARE_FOREIGN_KEYS: &str = "PREPARE migration_guard_foreign_keys(oid[], int8) AS ";
/// The foreign keys made after `newest` of the tables the transaction locked, asked after a
/// migration's last statement.
fn execute_foreign_keys(newest: u32) -> String {
    format!("EXECUTE migration_guard_foreign_keys(NULL, {newest})")
}
/// Whether this session has the tracer's queries prepared under the names it gives them.
macro_rules! prepared {
    () => {
        "(SELECT count(*) = 3 FROM pg_catalog.pg_prepared_statements s \
          WHERE s.name IN ('migration_guard_statement', 'migration_guard_baseline', 'migration_guard_foreign_keys'))"
    };
}
/// A query of snapshot rows (the columns of `catalog/snapshot.sql`) with the `p` row after them.
macro_rules! with_prepared_row {
    ($sql:expr) => {
        concat!($sql, "UNION ALL\nSELECT 'p', 0, '', 0, 0, '', '', ", prepared!())
    };
}
/// The relations and constraints before a script, and whether the queries are prepared (`p`).
const SNAPSHOT_SQL: &str = with_prepared_row!(include_str!("catalog/snapshot.sql"));
/// The relations scripts the trace did not see locked, and whether the queries are prepared.
const REFRESH_SQL: &str = with_prepared_row!(include_str!("catalog/refresh.sql"));
/// The `p` row alone, when the kept snapshot needs no reading.
const PREPARED_SQL: &str = concat!("SELECT 'p'::text AS tag, ", prepared!(), " AS flag");

/// The statement query's arguments (see `catalog/statement.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ask {
    /// `$1`: relations above it are the script's own, listed in brief.
    bound: i64,
    /// `$2`: the statements it covers may have made an index on an older table or a foreign
    /// key to one (see [`makes_links_to_older`]).
    links: bool,
    /// `$3`: constraints are listed (see [`may_change_constraints`]).
    constraints: bool,
    /// `$4`: scan and dropped-column counts are read (the statement has a baseline).
    counts: bool,
}

impl Ask {
    /// Everything the transaction holds, constraints included, without counts.
    const FULL: Ask = Ask { bound: FULL, links: true, constraints: true, counts: false };

    /// The statement query as sent in a statement's message.
    fn execute(&self) -> String {
        let Ask { bound, links, constraints, counts } = self;
        format!("EXECUTE migration_guard_statement({bound}, {links}, {constraints}, {counts})")
    }
}

impl Default for Ask {
    fn default() -> Ask {
        Ask::FULL
    }
}

/// Whether the migration's session has the statement query prepared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Prepared {
    /// Not known since the last snapshot query (a `DISCARD` or `DEALLOCATE` ran): queried apart.
    #[default]
    Unknown,
    Missing,
    Ready,
}

/// PostgreSQL's table-level lock modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// Parses `pg_locks.mode`.
    fn parse(mode: &str) -> Option<LockMode> {
        Some(match mode {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    /// The name as written in `LOCK TABLE ... IN <name> MODE`.
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// The name with its indefinite article, for messages ("an ACCESS EXCLUSIVE").
    pub fn with_article(self) -> String {
        let article = if matches!(self, LockMode::AccessShare | LockMode::AccessExclusive | LockMode::Exclusive) {
            "an"
        } else {
            "a"
        };
        format!("{article} {}", self.sql_name())
    }

    /// Whether the mode conflicts with INSERT/UPDATE/DELETE.
    pub fn blocks_writes(self) -> bool {
        self >= LockMode::Share
    }

    /// What the mode blocks, for messages.
    pub fn blocks(self) -> &'static str {
        if self == LockMode::AccessExclusive { "reads and writes" } else { "writes" }
    }
}

/// A relation (table, materialized view or index) as the trace knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`.
    pub kind: char,
    /// For an index, the OID of its table.
    pub table: Option<u32>,
}

impl Relation {
    /// `schema.name`, or `name` alone in `public`.
    pub fn qualified(&self) -> String {
        if self.schema == "public" || self.schema.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }

    /// A table, partitioned table or materialized view.
    pub fn is_table(&self) -> bool {
        matches!(self.kind, 'r' | 'p' | 'm')
    }

    /// A relation queries read through: a table, materialized view or view (whose ACCESS
    /// EXCLUSIVE lock, e.g. from CREATE OR REPLACE VIEW, queues every query using it).
    pub fn is_queried(&self) -> bool {
        matches!(self.kind, 'r' | 'p' | 'm' | 'v')
    }

    /// An index or partitioned index.
    pub fn is_index(&self) -> bool {
        matches!(self.kind, 'i' | 'I')
    }

    /// Whether a parse-tree relation name designates this relation.
    pub fn matches(&self, range: &RangeVar) -> bool {
        self.name == range.relname && (range.schemaname.is_empty() || self.schema == range.schemaname)
    }
}

/// The locks the transaction holds on a relation that existed before the migration.
#[derive(Debug, Clone)]
pub struct HeldLock {
    pub relation: Relation,
    /// The strongest mode held.
    pub strongest: LockMode,
    /// Modes this statement acquired (not held before it).
    pub acquired: Vec<LockMode>,
}

/// A constraint on a table that existed before the migration that this statement created or
/// validated.
#[derive(Debug, Clone)]
pub struct ConstraintChange {
    pub name: String,
    /// `pg_constraint.contype`: c, f, p, u, x.
    pub kind: char,
    pub table: Relation,
    /// Created by this statement (otherwise it existed and was validated now).
    pub created: bool,
    /// `convalidated` after the statement.
    pub validated: bool,
    /// The strongest lock the transaction holds on the table.
    pub table_lock: Option<LockMode>,
}

/// A foreign key this migration added that, at the end of the migration, no index on the
/// referencing table covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnindexedForeignKey {
    pub name: String,
    /// The referencing table, `schema.name` or `name` in `public`.
    pub table: String,
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table, qualified like `table`.
    pub referenced: String,
}

/// Everything the trace saw of one statement; the rules' only input.
#[derive(Debug)]
pub struct StatementTrace<'a> {
    /// The parsed statement, when the parser accepted it.
    pub node: Option<&'a NodeEnum>,
    /// What the statement does to the surrounding transaction.
    pub tx: &'a TxEffect,
    /// Whether it ran inside a transaction block.
    pub in_transaction: bool,
    /// `server_version_num`, e.g. 150004.
    pub server_version_num: u32,
    /// Locks held after the statement on relations that existed before the migration.
    pub locks: Vec<HeldLock>,
    /// A table that existed before the migration on which the transaction already held ACCESS
    /// EXCLUSIVE before this statement started.
    pub exclusive_before: Option<Relation>,
    /// Whether `lock_timeout` was set (non-zero) after the statement.
    pub lock_timeout: bool,
    /// Pre-existing relations whose file node changed (rewritten or rebuilt).
    pub rewritten: Vec<Relation>,
    /// Pre-existing tables that were sequentially scanned.
    pub scanned: Vec<Relation>,
    /// Pre-existing tables that really lost a column (`DROP COLUMN IF EXISTS` of a missing one
    /// does not count).
    pub columns_dropped: Vec<Relation>,
    /// Pre-existing relations that no longer exist.
    pub dropped: Vec<Relation>,
    /// Indexes created by this statement on pre-existing tables: (index, table).
    pub new_indexes: Vec<(Relation, Relation)>,
    /// Constraints created or validated on pre-existing tables.
    pub constraints: Vec<ConstraintChange>,
    /// Enum values added earlier in the same transaction: (file line, `type.value`).
    pub enum_values_added: &'a [(u32, String)],
    /// Columns this migration added to pre-existing tables before this statement: (table OID, name).
    pub added_columns: &'a HashSet<(u32, String)>,
    /// Tables emptied earlier in the same transaction (`TRUNCATE`, or `DELETE` without `WHERE`),
    /// as (schema as written, name); a table named without a schema has an empty one.
    pub emptied: &'a [(String, String)],
    /// Foreign keys this statement added that no index covers once the whole migration ran (known
    /// only then: filled in the trace the tracer builds for them at the end of the migration).
    pub unindexed_foreign_keys: Vec<UnindexedForeignKey>,
    /// The error, when the statement failed.
    pub error: Option<&'a StatementError>,
    /// Wall time of the statement.
    pub elapsed: Duration,
}

impl<'a> StatementTrace<'a> {
    /// A trace with no catalog facts (no locks, rewrites, scans, drops or constraints), for a
    /// statement the tracer read nothing for; callers fill in what they know besides.
    fn bare(
        node: Option<&'a NodeEnum>,
        tx: &'a TxEffect,
        in_transaction: bool,
        server_version_num: u32,
        added_columns: &'a HashSet<(u32, String)>,
    ) -> StatementTrace<'a> {
        StatementTrace {
            node,
            tx,
            in_transaction,
            server_version_num,
            locks: Vec::new(),
            exclusive_before: None,
            lock_timeout: true,
            rewritten: Vec::new(),
            scanned: Vec::new(),
            columns_dropped: Vec::new(),
            dropped: Vec::new(),
            new_indexes: Vec::new(),
            constraints: Vec::new(),
            enum_values_added: &[],
            added_columns,
            emptied: &[],
            unindexed_foreign_keys: Vec::new(),
            error: None,
            elapsed: Duration::ZERO,
        }
    }
}

impl StatementTrace<'_> {
    /// The pre-existing table a parse-tree relation name designates, among those the
    /// transaction holds a lock on.
    pub fn existing_table(&self, range: Option<&RangeVar>) -> Option<&HeldLock> {
        let range = range?;
        self.locks.iter().find(|l| l.relation.is_table() && l.relation.matches(range))
    }

    /// The ALTER TABLE subcommand types of the statement, if it is one.
    pub fn alter_table_commands(
        &self,
    ) -> Vec<(pg_query::protobuf::AlterTableType, &pg_query::protobuf::AlterTableCmd)> {
        let Some(NodeEnum::AlterTableStmt(stmt)) = self.node else { return Vec::new() };
        stmt.cmds
            .iter()
            .filter_map(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => {
                    pg_query::protobuf::AlterTableType::try_from(cmd.subtype).ok().map(|t| (t, cmd.as_ref()))
                }
                _ => None,
            })
            .collect()
    }

    /// The columns named by the statement's ALTER TABLE subcommands of type `kind`.
    pub fn altered_columns(&self, kind: pg_query::protobuf::AlterTableType) -> Vec<&str> {
        self.alter_table_commands().into_iter().filter(|(t, _)| *t == kind).map(|(_, c)| c.name.as_str()).collect()
    }

    /// The relation an ALTER TABLE names.
    pub fn alter_table_relation(&self) -> Option<&RangeVar> {
        match self.node {
            Some(NodeEnum::AlterTableStmt(stmt)) => stmt.relation.as_ref(),
            _ => None,
        }
    }
}

/// What existed before the migration.
#[derive(Debug, Default)]
struct Snapshot {
    relations: HashMap<u32, Relation>,
    filenodes: HashMap<u32, i64>,
    /// Constraint OID → `convalidated`.
    constraints: HashMap<u32, bool>,
    /// (table OID, constraint name) → `convalidated`, to recognize constraints PostgreSQL drops
    /// and re-creates (ALTER COLUMN TYPE) as the same ones.
    constraint_names: HashMap<(u32, String), bool>,
    /// Constraint OID → its table's OID.
    constraint_tables: HashMap<u32, u32>,
    /// Table OID → the relations that belong to it (indexes, TOAST) and its constraints (OID,
    /// name): what forgetting a table removes, found without walking the whole snapshot.
    owned: HashMap<u32, Owned>,
    /// Relations that scripts the trace did not see locked: read again before use.
    stale: HashSet<u32>,
}

/// What belongs to one table in a [`Snapshot`].
#[derive(Debug, Default)]
struct Owned {
    relations: HashSet<u32>,
    constraints: HashSet<(u32, String)>,
}

impl Snapshot {
    /// Takes in rows of `catalog/snapshot.sql`; gives the highest OID among them.
    fn add(&mut self, rows: &[sqlx::postgres::PgRow]) -> Result<u32, sqlx::Error> {
        let mut newest = 0;
        for row in rows {
            let tag: String = row.try_get("tag")?;
            // The `p` row of PREPARED_SQL has no other columns.
            let oid = || row.try_get::<i64, _>("oid").map(|oid| oid as u32);
            match tag.as_str() {
                "r" => {
                    let oid = oid()?;
                    newest = newest.max(oid);
                    self.add_relation(relation(row, oid)?, row.try_get("filenode")?);
                }
                "c" => {
                    let (oid, table) = (oid()?, row.try_get::<i64, _>("parent")? as u32);
                    newest = newest.max(oid);
                    self.add_constraint(oid, table, row.try_get("name")?, row.try_get("flag")?);
                }
                _ => {}
            }
        }
        Ok(newest)
    }

    fn add_relation(&mut self, relation: Relation, filenode: i64) {
        self.filenodes.insert(relation.oid, filenode);
        if let Some(table) = relation.table {
            self.owned.entry(table).or_default().relations.insert(relation.oid);
        }
        self.relations.insert(relation.oid, relation);
    }

    fn add_constraint(&mut self, oid: u32, table: u32, name: String, valid: bool) {
        self.constraints.insert(oid, valid);
        self.constraint_tables.insert(oid, table);
        self.owned.entry(table).or_default().constraints.insert((oid, name.clone()));
        self.constraint_names.insert((table, name), valid);
    }

    /// Takes in what a committed script left of the relations it locked, so that the next
    /// script starts from the database as it is without reading it again. Objects from
    /// `fresh_from` on stay out, as the snapshot query leaves them out.
    fn merge(&mut self, seen: Seen, fresh_from: i64) {
        let existing = |oid: u32| oid >= 16384 && i64::from(oid) < fresh_from;
        for (oid, row) in seen.relations {
            match row {
                // A dropped table takes its indexes and constraints with it.
                None => self.forget(oid),
                Some((relation, filenode)) if existing(oid) && SNAPSHOT_KINDS.contains(&relation.kind) => {
                    self.add_relation(relation, filenode);
                }
                Some(_) => {}
            }
        }
        for (table, constraints) in seen.constraints {
            let old = self.owned.get_mut(&table).map(|o| std::mem::take(&mut o.constraints)).unwrap_or_default();
            self.forget_constraints(table, old);
            for (oid, name, valid) in constraints.into_iter().filter(|(oid, ..)| existing(*oid)) {
                self.add_constraint(oid, table, name, valid);
            }
        }
    }

    /// Forgets a dropped relation and, for a table, its indexes and constraints.
    fn forget(&mut self, table: u32) {
        let owned = self.owned.remove(&table).unwrap_or_default();
        for oid in std::iter::once(table).chain(owned.relations) {
            self.relations.remove(&oid);
            self.filenodes.remove(&oid);
        }
        self.forget_constraints(table, owned.constraints);
    }

    /// Forgets `constraints` (OID, name) of `table`.
    fn forget_constraints(&mut self, table: u32, constraints: HashSet<(u32, String)>) {
        for (oid, name) in constraints {
            self.constraints.remove(&oid);
            self.constraint_tables.remove(&oid);
            self.constraint_names.remove(&(table, name));
        }
    }
}

/// The relation kinds a [`Snapshot`] holds (as `catalog/snapshot.sql` reads them).
const SNAPSHOT_KINDS: &[char] = &['r', 'p', 'm', 'i', 'I', 'v', 'S'];

/// What a script's statement queries last saw of the relations it locked.
#[derive(Debug, Default)]
struct Seen {
    /// Relation OID → the relation and its file node (None: dropped).
    relations: HashMap<u32, Option<(Relation, i64)>>,
    /// Table OID → all its constraints (OID, name, validated), for the tables locked strongly
    /// enough to add, drop or validate one.
    constraints: HashMap<u32, Vec<(u32, String, bool)>>,
    /// The highest OID the statement queries returned.
    newest: u32,
}

impl Seen {
    /// Takes in an `l` row of the statement query (`constraints`: the query listed them).
    fn relation(
        &mut self,
        row: &PgRow,
        oid: u32,
        exists: bool,
        modes: &[LockMode],
        constraints: bool,
    ) -> Result<(), sqlx::Error> {
        if exists {
            self.relations.insert(oid, Some((relation(row, oid)?, row.try_get("filenode")?)));
            // The constraint rows list all of a table locked strongly enough to change them.
            if constraints && modes.iter().any(|m| *m >= LockMode::ShareUpdateExclusive) {
                self.constraints.insert(oid, Vec::new());
            }
        } else {
            self.relations.insert(oid, None);
            self.constraints.remove(&oid);
        }
        Ok(())
    }

    /// Takes in a `c` row of the statement query (after the `l` rows).
    fn constraint(&mut self, row: &PgRow, oid: u32, table: u32) -> Result<(), sqlx::Error> {
        if let Some(list) = self.constraints.get_mut(&table) {
            list.push((oid, row.try_get("name")?, row.try_get("flag")?));
        }
        Ok(())
    }

    /// Takes in all rows of a statement query that no rule looks at: what the script's last
    /// statement left, when the statement queries before it were brief.
    fn absorb(&mut self, rows: &[PgRow]) -> Result<(), sqlx::Error> {
        for tag in ["l", "c"] {
            for row in rows.iter().filter(|row| row.try_get::<String, _>("tag").is_ok_and(|t| t == tag)) {
                let oid = row.try_get::<i64, _>("oid")? as u32;
                self.newest = self.newest.max(oid);
                if tag == "l" {
                    let modes = lock_modes(row)?;
                    self.relation(row, oid, row.try_get("flag")?, &modes, true)?;
                } else {
                    self.constraint(row, oid, row.try_get::<i64, _>("parent")? as u32)?;
                }
            }
        }
        Ok(())
    }
}

/// A rule that fired on a statement.
#[derive(Debug)]
struct Hit {
    statement: usize,
    rule: &'static Rule,
    message: String,
}

/// Per-script state, reset at the start of each script.
#[derive(Debug, Default)]
struct ScriptState {
    snapshot: Option<Snapshot>,
    /// What was sent with each statement whose replies are yet to come, the first one first
    /// (the runner may send several statements before their replies arrive).
    planned: VecDeque<Planned>,
    in_tx: bool,
    held: HashSet<(u32, LockMode)>,
    /// What the script's statements left of the relations they locked.
    seen: Seen,
    /// A statement may have changed relations without the trace seeing its locks (run outside
    /// a transaction, CONCURRENTLY, or not looked at): a kept snapshot would be wrong.
    blind: bool,
    /// File nodes, `convalidated` by constraint OID and by (table OID, name), as the script's
    /// statements left them: what is not here is as in the snapshot (read through, not copied
    /// per script, so a script costs what it touched).
    filenodes: HashMap<u32, i64>,
    scans: HashMap<u32, i64>,
    dropped_columns: HashMap<u32, i64>,
    validated: HashMap<u32, bool>,
    constraint_names: HashMap<(u32, String), bool>,
    seen_new: HashSet<u32>,
    /// (table OID, name) of indexes this migration created on pre-existing tables.
    new_index_names: HashSet<(u32, String)>,
    dropped: HashSet<u32>,
    exclusive: Option<Relation>,
    exclusive_before: Option<Relation>,
    enum_added: Vec<(u32, String)>,
    added_columns: HashSet<(u32, String)>,
    /// Tables emptied in the current transaction: (schema as written, name).
    emptied: Vec<(String, String)>,
    /// Foreign keys this migration created that involve a pre-existing table: (statement, OID).
    new_foreign_keys: Vec<(usize, u32)>,
    /// A statement so far spells out a foreign key.
    may_add_foreign_key: bool,
    /// Tables (schema as written, name) the statements planned so far in the current
    /// transaction create: a statement confined to them locks nothing that existed before.
    created: Vec<(String, String)>,
    /// The last statement planned left its statement query to the statement after it.
    deferring: bool,
    /// The next statement, decoded while planning the one before it.
    lookahead: Option<(usize, Option<NodeEnum>, bool)>,
    /// The statement whose statement query comes with a later statement's replies.
    deferred: Option<Deferred>,
    /// The script ends or starts transactions itself: every statement query lists everything.
    tx_control: bool,
    /// A brief statement query went out: the script's last statement must send a full one.
    brief_sent: bool,
    /// What the query of the deferring statement asks (the covered statements add theirs).
    deferred_ask: Ask,
    /// A brief query left out constraints of tables the script made, or of tables a statement
    /// may have changed them on: the full query after the last statement lists them.
    constraints_owed: bool,
    /// The statement being observed.
    node: Option<NodeEnum>,
    hits: Vec<Hit>,
    fired: HashSet<&'static str>,
}

impl ScriptState {
    /// Whether the statement after `index` is [`confined`] to the tables the transaction
    /// created (keeping its decoded tree for when it is planned).
    fn next_is_confined(&mut self, script: &Script, index: usize) -> bool {
        let Some(next) = script.split.statements.get(index + 1) else { return false };
        if next.tx != TxEffect::Plain {
            return false;
        }
        let (node, more) = script.parsed(next);
        let confined = !more && confined(node.as_ref(), &self.created);
        self.lookahead = Some((index + 1, node, more));
        confined
    }
}

/// A statement observed with the replies of the statements after it (see [`confined`]).
#[derive(Debug)]
struct Deferred {
    index: usize,
    node: Option<NodeEnum>,
    exclusive_before: Option<Relation>,
    elapsed: Duration,
    /// The covered statements whose replies came so far, checked once it is observed.
    covered: Vec<Covered>,
}

/// A covered statement waiting for the statement before it to be observed.
#[derive(Debug)]
struct Covered {
    index: usize,
    in_tx: bool,
    node: Option<NodeEnum>,
    elapsed: Duration,
}

/// What the tracer decided before a statement, for when its replies come.
#[derive(Debug, Default)]
struct Planned {
    node: Option<NodeEnum>,
    /// Inside a transaction before the statement.
    in_tx: bool,
    /// The statement query runs after it.
    queried: bool,
    /// We opened a transaction around an autocommit statement to see its locks.
    opened: bool,
    /// The statement query (and our BEGIN and COMMIT around it) went in its message.
    sent_along: bool,
    /// So did the baseline query, before it.
    baseline_along: bool,
    /// So did the foreign-key query, after the statement query (the script's last statement).
    foreign_keys_along: bool,
    /// Its statement query is the one after the next statement, which is [`confined`].
    defers: bool,
    /// A [`confined`] statement after one that deferred its query: what it locks belongs to
    /// the deferring statement, whose query comes after this one (or after a later one).
    covered: bool,
    /// The statement query's arguments.
    ask: Ask,
    /// A full statement query after the script's last statement, whose rows only bring what the
    /// script left into `seen` (no rule looks at them): sent in its message, or asked after it.
    absorb_along: bool,
    absorb: bool,
}

impl Planned {
    /// Whether a statement query comes after the statement (its own, or one it covers).
    fn sends_query(&self) -> bool {
        self.queried && !self.defers
    }
}

/// The ACCESS EXCLUSIVE lock held when a statement started (`exclusive`, as the earlier
/// statements left it), for statements that need one of their own.
fn exclusive_held(in_tx: bool, node: Option<&NodeEnum>, exclusive: &Option<Relation>) -> Option<Relation> {
    if in_tx && !is_trivial(node) && !is_metadata_only(node) { exclusive.clone() } else { None }
}

/// Traces statements as the runner applies them and collects lint findings.
#[derive(Debug)]
pub struct Tracer {
    enabled: bool,
    server_version_num: u32,
    /// Objects with OIDs from this one on were created by the change under review: they do
    /// not exist in production yet, so they count as new, not existing.
    fresh_from: i64,
    state: ScriptState,
    findings: Vec<Finding>,
    /// The snapshot of the last script, which committed, brought up to date with what its
    /// statement queries saw: the next script starts from it instead of reading every
    /// relation. After scripts it did not see (a round trip), it reads again what they locked;
    /// after anything else unobserved, everything.
    kept: Option<Snapshot>,
    /// The kept snapshot while a script the trace does not see runs: kept again, with what
    /// the script locked marked stale, once the script's locks are known.
    pending: Option<Snapshot>,
    prepared: Prepared,
    /// How many relations there were when the statement query was planned.
    planned_for: usize,
    /// The highest OID of the objects snapshots read and the statement queries of earlier
    /// scripts returned: a bound below the objects the current script makes, fresh ones
    /// included (which snapshots leave out). OIDs only grow.
    newest: u32,
}

impl Tracer {
    /// A tracer for a server of `server_version_num`; a disabled one observes nothing.
    pub fn new(enabled: bool, server_version_num: u32) -> Tracer {
        Tracer {
            enabled,
            server_version_num,
            fresh_from: i64::MAX,
            state: ScriptState::default(),
            findings: Vec::new(),
            kept: None,
            pending: None,
            prepared: Prepared::Unknown,
            planned_for: 0,
            newest: 0,
        }
    }

    /// Ends a script run by the runner: lints a failing statement (a failed script keeps only the
    /// findings that explain its failure) and files the findings under `migration`.
    pub fn finish(&mut self, migration: &str, script: &Script, outcome: &ScriptOutcome) {
        if !self.enabled {
            return;
        }
        if outcome.error.is_some() {
            // A failed migration reports its failure; what its earlier statements would do is
            // linted once it applies. Only rules explaining the failure itself stay.
            self.state.hits.clear();
        }
        if let Some(error) = &outcome.error
            && let Some(statement) = script.split.statements.get(error.statement)
        {
            let (node, _) = script.parsed(statement);
            // The failing statement's plan is the first one without replies (none when it was
            // refused before it was planned).
            let exclusive_before = match self.state.planned.pop_front() {
                Some(planned) => exclusive_held(planned.in_tx, planned.node.as_ref(), &self.state.exclusive),
                None => self.state.exclusive_before.clone(),
            };
            let trace = StatementTrace {
                exclusive_before,
                lock_timeout: false,
                enum_values_added: &self.state.enum_added,
                emptied: &self.state.emptied,
                error: Some(error),
                ..StatementTrace::bare(
                    node.as_ref(),
                    &statement.tx,
                    self.state.in_tx,
                    self.server_version_num,
                    &self.state.added_columns,
                )
            };
            let hits = check(&trace, error.statement, &mut self.state.fired);
            self.state.hits.extend(hits);
        }
        let mut state = std::mem::take(&mut self.state);
        self.newest = self.newest.max(state.seen.newest);
        let committed =
            outcome.error.is_none() && outcome.statements_kept == script.split.statements.len() && !state.blind;
        match state.snapshot.take() {
            Some(mut snapshot) if committed => {
                snapshot.merge(std::mem::take(&mut state.seen), self.fresh_from);
                self.kept = Some(snapshot);
            }
            // Nothing was traced: what was kept still holds.
            None if committed => {}
            _ => self.kept = None,
        }
        // Findings decided at the end of the migration join the others in statement order.
        state.hits.sort_by_key(|hit| hit.statement);
        for hit in state.hits {
            let statement = &script.split.statements[hit.statement];
            let finding = Finding::new(hit.rule.id, hit.rule.severity, hit.message)
                .in_migration(migration)
                .at(script.display_path(), Some(script.statement_line(statement)))
                .with_help(hit.rule.help);
            self.findings.push(finding);
        }
    }

    /// Whether the tracer looks at anything (`--no-lint` turns it off).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Forgets what was seen of the script being traced, for a trace that cannot be trusted
    /// (its SQL failed where the real migration may not).
    pub fn discard(&mut self) {
        self.state = ScriptState::default();
        self.kept = None;
    }

    /// The findings so far.
    pub fn take(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// The relations and constraints before the script: the kept snapshot, else all of them
    /// read.
    async fn snapshot(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let rows = match &self.kept {
            Some(kept) if !kept.stale.is_empty() => {
                let stale: Vec<i64> = kept.stale.iter().map(|oid| i64::from(*oid)).collect();
                sqlx::query(REFRESH_SQL).bind(stale).bind(self.fresh_from).fetch_all(&mut *conn).await?
            }
            Some(_) if self.prepared == Prepared::Ready => Vec::new(),
            Some(_) => sqlx::query(PREPARED_SQL).fetch_all(&mut *conn).await?,
            None => sqlx::query(SNAPSHOT_SQL).bind(self.fresh_from).fetch_all(&mut *conn).await?,
        };
        let mut snapshot = self.kept.take().unwrap_or_default();
        for oid in std::mem::take(&mut snapshot.stale) {
            snapshot.forget(oid);
        }
        self.newest = self.newest.max(snapshot.add(&rows)?);
        self.note_prepared(&rows)?;
        let size = snapshot.relations.len();
        self.state.snapshot = Some(snapshot);
        // A prepared statement keeps the plan made when it was prepared.
        let stale = self.prepared == Prepared::Ready && crate::postgres::plans_outgrown(self.planned_for, size);
        if self.prepared == Prepared::Missing || stale {
            let deallocate = if stale {
                "DEALLOCATE migration_guard_statement;\nDEALLOCATE migration_guard_baseline;\n\
                 DEALLOCATE migration_guard_foreign_keys;\n"
            } else {
                ""
            };
            conn.execute(sqlx::AssertSqlSafe(format!(
                "{deallocate}{PREPARE_STATEMENT}{STATEMENT_SQL};\n{PREPARE_BASELINE}{BASELINE_SQL};\n\
                 {PREPARE_FOREIGN_KEYS}{FOREIGN_KEYS_SQL}"
            )))
            .await?;
            self.prepared = Prepared::Ready;
            self.planned_for = size;
        }
        Ok(())
    }

    /// Notes from snapshot rows whether the statement query is prepared in this session.
    fn note_prepared(&mut self, rows: &[PgRow]) -> Result<(), sqlx::Error> {
        for row in rows {
            if row.try_get::<String, _>("tag")? == "p" {
                self.prepared = if row.try_get("flag")? { Prepared::Ready } else { Prepared::Missing };
            }
        }
        Ok(())
    }

    /// Before an ALTER TABLE that sets NOT NULL or drops columns: the table's scan and
    /// dropped-column counts, so the statement query after it can tell what it did.
    async fn baseline(&mut self, conn: &mut PgConnection, name: String) -> Result<(), sqlx::Error> {
        let row = sqlx::query(BASELINE_SQL).bind(name).fetch_optional(&mut *conn).await?;
        self.note_baseline(row.as_ref())
    }

    /// Keeps the baseline query's row (none: no such table yet).
    fn note_baseline(&mut self, row: Option<&PgRow>) -> Result<(), sqlx::Error> {
        if let Some(row) = row {
            let oid = row.try_get::<i64, _>("oid")? as u32;
            self.state.scans.insert(oid, row.try_get("scans")?);
            self.state.dropped_columns.insert(oid, row.try_get("dropped")?);
        }
        Ok(())
    }

    /// Turns the statement query's rows into a trace of what changed.
    fn observe(
        &mut self,
        rows: Vec<PgRow>,
        ask: Ask,
        script: &Script,
        index: usize,
        elapsed: Duration,
    ) -> Result<(), sqlx::Error> {
        let state = &mut self.state;
        let Some(snapshot) = &state.snapshot else { return Ok(()) };
        let mut locks = Vec::new();
        let mut rewritten = Vec::new();
        let mut scanned = Vec::new();
        let mut columns_dropped = Vec::new();
        let mut dropped = Vec::new();
        let mut new_indexes = Vec::new();
        let mut constraint_rows = Vec::new();
        let mut lock_timeout = false;
        // ALTER COLUMN TYPE drops and re-creates dependent indexes and constraints under their
        // old names: those are rebuilds, not new objects.
        let retypes = alter_column_type(state.node.as_ref());
        for row in &rows {
            let tag: String = row.try_get("tag")?;
            let oid = row.try_get::<i64, _>("oid")? as u32;
            state.seen.newest = state.seen.newest.max(oid);
            match tag.as_str() {
                "l" => {
                    let exists: bool = row.try_get("flag")?;
                    let modes = lock_modes(row)?;
                    let acquired: Vec<LockMode> =
                        modes.iter().copied().filter(|m| state.held.insert((oid, *m))).collect();
                    state.seen.relation(row, oid, exists, &modes, ask.constraints)?;
                    let Some(before) = snapshot.relations.get(&oid) else {
                        // Created by this migration: only new indexes on old tables matter.
                        if exists && state.seen_new.insert(oid) {
                            let rel = relation(row, oid)?;
                            if let Some(table) = rel.table.and_then(|t| snapshot.relations.get(&t))
                                && rel.is_index()
                            {
                                // An index re-created under its old name (ALTER COLUMN TYPE) is no
                                // new index: a rebuild, unless PostgreSQL kept its file (a
                                // binary-compatible change such as varchar to text).
                                // Looked up among the table's own relations, not the whole snapshot.
                                let old = snapshot
                                    .owned
                                    .get(&table.oid)
                                    .filter(|_| retypes)
                                    .and_then(|owned| {
                                        owned
                                            .relations
                                            .iter()
                                            .filter_map(|oid| snapshot.relations.get(oid))
                                            .find(|r| r.name == rel.name)
                                    })
                                    .map(|r| r.oid);
                                let key = (table.oid, rel.name.clone());
                                if let Some(old) = old {
                                    let filenode: i64 = row.try_get("filenode")?;
                                    let before = state.filenodes.get(&old).or(snapshot.filenodes.get(&old));
                                    if before != Some(&filenode) {
                                        rewritten.push(rel);
                                    }
                                } else if state.new_index_names.insert(key) {
                                    new_indexes.push((rel, table.clone()));
                                }
                            }
                        }
                        continue;
                    };
                    let current = if exists { relation(row, oid)? } else { before.clone() };
                    if !exists {
                        if state.dropped.insert(oid) {
                            dropped.push(current.clone());
                        }
                    } else {
                        let filenode: i64 = row.try_get("filenode")?;
                        // Sequences get a new file on RESTART; views have none.
                        let stored = current.is_table() || current.is_index();
                        let before = state.filenodes.insert(oid, filenode).or(snapshot.filenodes.get(&oid).copied());
                        if before.is_some_and(|old| old != filenode) && stored {
                            rewritten.push(current.clone());
                        }
                        // Scan and dropped-column counts have a baseline only for tables the
                        // statement names in a SET NOT NULL or DROP COLUMN (see `baseline`).
                        if ask.counts {
                            let scans: i64 = row.try_get("scans")?;
                            if state.scans.insert(oid, scans).is_some_and(|old| scans > old) {
                                scanned.push(current.clone());
                            }
                            let gone: i64 = row.try_get("dropped")?;
                            if state.dropped_columns.insert(oid, gone).is_some_and(|old| gone > old) {
                                columns_dropped.push(current.clone());
                            }
                        }
                    }
                    if let Some(strongest) = modes.iter().copied().max() {
                        locks.push(HeldLock { relation: current, strongest, acquired });
                    }
                }
                "c" => constraint_rows.push((oid, row)),
                _ => {
                    let value: String = row.try_get("kind")?;
                    lock_timeout = !matches!(value.trim(), "0" | "0ms" | "0s" | "");
                }
            }
        }
        let mut constraints = Vec::new();
        for (oid, row) in constraint_rows {
            let table_oid = row.try_get::<i64, _>("parent")? as u32;
            let kind: String = row.try_get("kind")?;
            state.seen.constraint(row, oid, table_oid)?;
            if kind == "f" && !snapshot.constraints.contains_key(&oid) {
                let referenced = row.try_get::<i64, _>("referenced")? as u32;
                let name: String = row.try_get("name")?;
                // ALTER COLUMN TYPE re-creates the table's foreign keys under their old names.
                let rebuilt = retypes && snapshot.constraint_names.contains_key(&(table_oid, name));
                let involves_existing =
                    snapshot.relations.contains_key(&table_oid) || snapshot.relations.contains_key(&referenced);
                if !rebuilt && involves_existing && !state.new_foreign_keys.iter().any(|(_, o)| *o == oid) {
                    state.new_foreign_keys.push((index, oid));
                }
            }
            let Some(lock) = locks.iter().find(|l| l.relation.oid == table_oid && l.relation.is_table()) else {
                continue;
            };
            let validated: bool = row.try_get("flag")?;
            let name: String = row.try_get("name")?;
            let key = (table_oid, name.clone());
            let by_name = state.constraint_names.insert(key.clone(), validated);
            let by_name = by_name.or_else(|| snapshot.constraint_names.get(&key).copied()).filter(|_| retypes);
            let previous =
                state.validated.insert(oid, validated).or(snapshot.constraints.get(&oid).copied()).or(by_name);
            let created = previous.is_none();
            if created || (previous == Some(false) && validated) {
                constraints.push(ConstraintChange {
                    name,
                    kind: kind.chars().next().unwrap_or('?'),
                    table: lock.relation.clone(),
                    created,
                    validated,
                    table_lock: Some(lock.strongest),
                });
            }
        }
        // By name, not in the order pg_locks lists them (which follows OIDs): the same
        // statement names the same relations, in the same order, on every run.
        for list in [&mut rewritten, &mut scanned, &mut columns_dropped, &mut dropped] {
            list.sort_by_cached_key(|r| r.qualified());
        }
        new_indexes.sort_by_cached_key(|(index, _)| index.qualified());
        state.exclusive = locks
            .iter()
            .filter(|l| {
                l.strongest == LockMode::AccessExclusive
                    && l.relation.is_queried()
                    && !state.dropped.contains(&l.relation.oid)
            })
            .min_by_key(|l| l.relation.qualified())
            .map(|l| l.relation.clone());
        let statement = &script.split.statements[index];
        let trace = StatementTrace {
            node: state.node.as_ref(),
            tx: &statement.tx,
            in_transaction: state.in_tx,
            server_version_num: self.server_version_num,
            locks,
            exclusive_before: state.exclusive_before.clone(),
            lock_timeout,
            rewritten,
            scanned,
            columns_dropped,
            dropped,
            new_indexes,
            constraints,
            enum_values_added: &state.enum_added,
            added_columns: &state.added_columns,
            emptied: &state.emptied,
            unindexed_foreign_keys: Vec::new(),
            error: None,
            elapsed,
        };
        let hits = check(&trace, index, &mut state.fired);
        let added: Vec<(u32, String)> = match trace.existing_table(trace.alter_table_relation()) {
            Some(table) => trace
                .alter_table_commands()
                .into_iter()
                .filter(|(t, _)| *t == pg_query::protobuf::AlterTableType::AtAddColumn)
                .filter_map(|(_, c)| match c.def.as_ref().and_then(|d| d.node.as_ref()) {
                    Some(NodeEnum::ColumnDef(def)) => Some((table.relation.oid, def.colname.clone())),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        state.hits.extend(hits);
        state.added_columns.extend(added);
        Ok(())
    }

    /// After the last statement of a migration that added foreign keys: reports those that no index
    /// covers now (an index created later in the same migration counts), each at the statement
    /// that added it. `along`: the rows of the query sent in the migration's message, used when
    /// they list every new key; otherwise the keys are queried by OID.
    async fn foreign_keys(
        &mut self,
        conn: &mut PgConnection,
        script: &Script,
        along: Option<Vec<PgRow>>,
    ) -> Result<(), sqlx::Error> {
        let listed = |rows: &[PgRow]| {
            let oids: HashSet<i64> = rows.iter().filter_map(|row| row.try_get::<i64, _>("oid").ok()).collect();
            self.state.new_foreign_keys.iter().all(|(_, oid)| oids.contains(&i64::from(*oid)))
        };
        let rows = match along.filter(|rows| listed(rows)) {
            Some(rows) => rows,
            None => {
                let oids: Vec<i64> = self.state.new_foreign_keys.iter().map(|(_, oid)| i64::from(*oid)).collect();
                sqlx::query(FOREIGN_KEYS_SQL).bind(Some(oids)).bind(0_i64).fetch_all(&mut *conn).await?
            }
        };
        let qualified =
            |schema: String, name: String| if schema == "public" { name } else { format!("{schema}.{name}") };
        let mut by_statement: Vec<(usize, UnindexedForeignKey)> = Vec::new();
        for row in &rows {
            let oid = row.try_get::<i64, _>("oid")? as u32;
            let Some(&(statement, _)) = self.state.new_foreign_keys.iter().find(|(_, o)| *o == oid) else { continue };
            if row.try_get("covered")? {
                continue;
            }
            by_statement.push((
                statement,
                UnindexedForeignKey {
                    name: row.try_get("name")?,
                    table: qualified(row.try_get("schema")?, row.try_get("table")?),
                    columns: row.try_get("columns")?,
                    referenced: qualified(row.try_get("referenced_schema")?, row.try_get("referenced")?),
                },
            ));
        }
        by_statement.sort_by_key(|(statement, _)| *statement);
        let mut fks = by_statement.into_iter().peekable();
        while let Some((statement, first)) = fks.next() {
            let mut unindexed = vec![first];
            while let Some((_, fk)) = fks.next_if(|(s, _)| *s == statement) {
                unindexed.push(fk);
            }
            let added = &script.split.statements[statement];
            let (node, _) = script.parsed(added);
            let trace = StatementTrace {
                unindexed_foreign_keys: unindexed,
                ..StatementTrace::bare(
                    node.as_ref(),
                    &added.tx,
                    self.state.in_tx,
                    self.server_version_num,
                    &self.state.added_columns,
                )
            };
            for rule in rules::AT_END.iter().copied() {
                for message in (rule.check)(&trace) {
                    self.state.hits.push(Hit { statement, rule, message });
                }
            }
        }
        Ok(())
    }

    /// Checks a statement the trace read no catalog for: only rules about statements run under
    /// an earlier lock have anything to go on.
    fn check_unqueried(&mut self, script: &Script, index: usize, elapsed: Duration) {
        if self.state.exclusive_before.is_none() {
            return;
        }
        let statement = &script.split.statements[index];
        let trace = StatementTrace {
            exclusive_before: self.state.exclusive_before.clone(),
            enum_values_added: &self.state.enum_added,
            emptied: &self.state.emptied,
            elapsed,
            ..StatementTrace::bare(
                self.state.node.as_ref(),
                &statement.tx,
                self.state.in_tx,
                self.server_version_num,
                &self.state.added_columns,
            )
        };
        let hits = check(&trace, index, &mut self.state.fired);
        self.state.hits.extend(hits);
    }

    /// Forgets the locks of a transaction that ended.
    fn end_transaction(&mut self) {
        self.state.in_tx = false;
        self.state.held.clear();
        self.state.exclusive = None;
        self.state.enum_added.clear();
        self.state.emptied.clear();
    }
}

impl Observer for Tracer {
    fn finished(&mut self, migration: &str, script: &Script, outcome: &ScriptOutcome) {
        self.finish(migration, script, outcome);
    }

    fn change_starts(&mut self, first_oid: u32) {
        self.fresh_from = i64::from(first_oid);
        // What it kept counted the change's objects as existing.
        self.kept = None;
        self.pending = None;
    }

    fn unobserved(&mut self) {
        self.kept = None;
        self.pending = None;
    }

    fn unseen_starts(&mut self) -> bool {
        // The script may drop the prepared queries (DEALLOCATE): the next snapshot tells.
        self.prepared = Prepared::Unknown;
        self.pending = self.kept.take();
        self.enabled && self.pending.is_some()
    }

    fn ran_unseen(&mut self, locked: Option<Vec<u32>>) {
        if let (Some(mut snapshot), Some(locked)) = (self.pending.take(), locked) {
            snapshot.stale.extend(locked);
            self.kept = Some(snapshot);
        }
    }

    async fn before(&mut self, conn: &mut PgConnection, script: &Script, index: usize) -> Result<Wrap, sqlx::Error> {
        let mut wrap = Wrap::default();
        if !self.enabled {
            return Ok(wrap);
        }
        if index == 0 {
            let tx_control = script.split.statements.iter().any(|s| s.tx != TxEffect::Plain);
            self.state = ScriptState { in_tx: script.transaction.is_wrapped(), tx_control, ..ScriptState::default() };
        }
        let last = index + 1 == script.split.statements.len();
        let statement = &script.split.statements[index];
        let (node, more) = match self.state.lookahead.take() {
            Some((at, node, more)) if at == index => (node, more),
            _ => script.parsed(statement),
        };
        if matches!(node, Some(NodeEnum::DiscardStmt(_) | NodeEnum::DeallocateStmt(_))) {
            // It may drop the prepared statement query: the next snapshot tells.
            self.prepared = Prepared::Unknown;
        }
        let mut planned = Planned { in_tx: self.state.in_tx, ..Planned::default() };
        // A statement confined to tables the transaction created locks nothing of interest:
        // what it locks is read with the statement before it, in one query after both.
        planned.covered = std::mem::take(&mut self.state.deferring) && !more;
        if statement.tx != TxEffect::Plain || matches!(node, Some(NodeEnum::VariableSetStmt(_))) {
            // Names may resolve elsewhere after a transaction boundary or a search_path change.
            self.state.created.clear();
        }
        let interesting = planned.covered || may_lock(node.as_ref());
        if interesting {
            let baseline = baseline_target(node.as_ref()).filter(|_| !planned.covered);
            // A single statement in its own transaction behaves the same; holding the
            // transaction open until we looked lets the trace see its locks.
            let opens = !self.state.in_tx && statement.tx == TxEffect::Plain && wrappable(node.as_ref());
            // Our queries go in the statement's message inside a transaction only (outside
            // one, the message would make one of its statement and ours).
            let sendable = self.state.in_tx || opens;
            if self.state.snapshot.is_none() {
                self.snapshot(conn).await?;
            }
            // Reading the snapshot may have prepared the queries.
            let along = sendable && self.prepared == Prepared::Ready;
            if opens {
                if along {
                    wrap.before.push("BEGIN".into());
                } else {
                    conn.execute("BEGIN").await?;
                }
                planned.opened = true;
                self.state.in_tx = true;
            }
            planned.queried = self.state.in_tx;
            if planned.queried {
                if let Some(created) = created_table(node.as_ref()) {
                    self.state.created.push(created);
                }
                planned.defers = !planned.opened
                    && statement.tx == TxEffect::Plain
                    && !matches!(node, Some(NodeEnum::TruncateStmt(_)))
                    && self.state.next_is_confined(script, index);
                self.state.deferring = planned.defers;
                // Inside one transaction to the script's end, the queries before the last one
                // need not list again what the script created.
                let brief = !planned.opened && !last && !self.state.tx_control && !planned.defers;
                let changes_constraints = may_change_constraints(node.as_ref(), self.server_version_num);
                planned.ask = if planned.covered {
                    // The covered statements are confined: only the deferring one may link
                    // anything or have a baseline.
                    let ask = &mut self.state.deferred_ask;
                    ask.constraints |= changes_constraints;
                    *ask
                } else {
                    Ask {
                        bound: FULL,
                        links: makes_links_to_older(node.as_ref()),
                        constraints: changes_constraints,
                        counts: baseline.is_some(),
                    }
                };
                if brief {
                    planned.ask.bound = i64::from(self.newest);
                    self.state.constraints_owed |= planned.ask.constraints;
                } else if !planned.defers {
                    planned.ask.constraints |= std::mem::take(&mut self.state.constraints_owed);
                }
                if planned.defers && !planned.covered {
                    self.state.deferred_ask = planned.ask;
                }
                self.state.brief_sent |= brief;
                if along {
                    if let Some(name) = baseline {
                        wrap.before.push(format!("EXECUTE migration_guard_baseline({})", escaped_literal(&name)));
                        planned.baseline_along = true;
                    }
                    if !planned.defers {
                        wrap.after.push(planned.ask.execute());
                        planned.sent_along = true;
                    }
                } else if let Some(name) = baseline {
                    self.baseline(conn, name).await?;
                }
            }
        }
        // Sequences and schema elements are made without a lock the trace looks at; the
        // statements after the first of a block are not looked at.
        let unseen = more || matches!(node, Some(NodeEnum::CreateSeqStmt(_) | NodeEnum::CreateSchemaStmt(_)));
        if (interesting && !planned.queried) || unseen {
            self.state.blind = true;
        }
        if last && self.state.brief_sent && !planned.sends_query() && self.state.in_tx {
            if self.prepared == Prepared::Ready {
                wrap.after.push(Ask::FULL.execute());
                planned.absorb_along = true;
            } else {
                planned.absorb = true;
            }
        }
        self.state.may_add_foreign_key |= adds_foreign_key(node.as_ref());
        // Which of the migration's new foreign keys no index covers is asked in its message,
        // before it commits (the query reads the tables the transaction locked).
        if self.state.may_add_foreign_key
            && last
            && self.state.in_tx
            && statement.tx == TxEffect::Plain
            && self.prepared == Prepared::Ready
        {
            wrap.after.push(execute_foreign_keys(self.newest));
            planned.foreign_keys_along = true;
        }
        if planned.opened && planned.sent_along {
            wrap.after.push("COMMIT".into());
        }
        planned.node = node;
        self.state.planned.push_back(planned);
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
        if !self.enabled {
            return Ok(());
        }
        let mut planned = self.state.planned.pop_front().unwrap_or_default();
        if planned.opened && planned.sent_along {
            // Our BEGIN's (empty) result.
            replies.before.pop_front();
        }
        if planned.baseline_along {
            let rows = replies.before.pop_front().unwrap_or_default();
            self.note_baseline(rows.first())?;
        }
        let rows = match (planned.sends_query(), planned.sent_along) {
            (false, _) => None,
            (true, true) => Some(replies.after.pop_front().unwrap_or_default()),
            (true, false) => Some(statement_query(conn, planned.ask).await?),
        };
        let absorbed = match (planned.absorb_along, planned.absorb) {
            (true, _) => replies.after.pop_front(),
            (false, true) => Some(statement_query(conn, Ask::FULL).await?),
            (false, false) => None,
        };
        if let Some(rows) = absorbed {
            self.state.seen.absorb(&rows)?;
        }
        match self.state.deferred.as_mut().filter(|_| planned.covered) {
            // A covered statement's locks are read with those of the statement that deferred
            // its query: observed first, once the rows come, so that what it took counts as held
            // before the covered statements, which are checked after it in their order.
            Some(head) => {
                head.covered.push(Covered { index, in_tx: planned.in_tx, node: planned.node.take(), elapsed });
                self.state.node = None;
                if let Some(rows) = rows
                    && let Some(head) = self.state.deferred.take()
                {
                    self.state.exclusive_before = head.exclusive_before;
                    self.state.node = head.node;
                    self.observe(rows, planned.ask, script, head.index, head.elapsed)?;
                    for covered in head.covered {
                        self.state.exclusive_before =
                            exclusive_held(covered.in_tx, covered.node.as_ref(), &self.state.exclusive);
                        self.state.node = covered.node;
                        self.check_unqueried(script, covered.index, covered.elapsed);
                    }
                }
            }
            None => {
                self.state.exclusive_before =
                    exclusive_held(planned.in_tx, planned.node.as_ref(), &self.state.exclusive);
                self.state.node = planned.node.take();
                match rows {
                    Some(rows) => self.observe(rows, planned.ask, script, index, elapsed)?,
                    None if !planned.defers => self.check_unqueried(script, index, elapsed),
                    // Observed with the replies of the statements after it.
                    None => {}
                }
            }
        }
        let keys = if planned.foreign_keys_along { replies.after.pop_front() } else { None };
        if planned.opened && planned.sent_along {
            // Our COMMIT's (empty) result.
            replies.after.pop_front();
        }
        if planned.opened {
            if !planned.sent_along {
                conn.execute("COMMIT").await?;
            }
            self.end_transaction();
        }
        let statement = &script.split.statements[index];
        match statement.tx {
            TxEffect::Control("BEGIN") => self.state.in_tx = true,
            TxEffect::Control(_) => self.end_transaction(),
            _ => {}
        }
        if let Some(NodeEnum::AlterEnumStmt(stmt)) = &self.state.node
            && self.state.in_tx
            && !stmt.new_val.is_empty()
        {
            let name = stmt
                .type_name
                .iter()
                .filter_map(|n| match &n.node {
                    Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(".");
            let line = script.statement_line(statement);
            self.state.enum_added.push((line, format!("{name}.{}", stmt.new_val)));
        }
        if self.state.in_tx {
            let emptied = emptied_tables(self.state.node.as_ref());
            self.state.emptied.extend(emptied);
            // Rows inserted after the table was emptied need filling again.
            if let Some(NodeEnum::InsertStmt(stmt)) = &self.state.node
                && let Some(r) = &stmt.relation
            {
                self.state.emptied.retain(|(schema, name)| {
                    !(*name == r.relname && (schema.is_empty() || r.schemaname.is_empty() || *schema == r.schemaname))
                });
            }
        }
        if !self.state.in_tx {
            self.state.held.clear();
            self.state.exclusive = None;
        }
        if planned.defers && !planned.covered {
            self.state.deferred = Some(Deferred {
                index,
                node: self.state.node.take(),
                exclusive_before: self.state.exclusive_before.clone(),
                elapsed,
                covered: Vec::new(),
            });
        }
        if index + 1 == script.split.statements.len() && !self.state.new_foreign_keys.is_empty() {
            self.foreign_keys(conn, script, keys).await?;
        }
        Ok(())
    }
}

/// The statement query on its own round trip, for when it cannot go in the statement's message.
async fn statement_query(conn: &mut PgConnection, ask: Ask) -> Result<Vec<PgRow>, sqlx::Error> {
    let Ask { bound, links, constraints, counts } = ask;
    sqlx::query(STATEMENT_SQL).bind(bound).bind(links).bind(constraints).bind(counts).fetch_all(&mut *conn).await
}

/// Runs every rule on a trace; rules that report once per migration fire on their first hit.
fn check(trace: &StatementTrace, statement: usize, fired: &mut HashSet<&'static str>) -> Vec<Hit> {
    let mut hits = Vec::new();
    for rule in rules::ALL.iter().copied() {
        if rule.once_per_migration && fired.contains(rule.id) {
            continue;
        }
        for message in (rule.check)(trace) {
            fired.insert(rule.id);
            hits.push(Hit { statement, rule, message });
            if rule.once_per_migration {
                break;
            }
        }
    }
    hits
}

/// The lock modes of an `l` row of the statement query.
fn lock_modes(row: &PgRow) -> Result<Vec<LockMode>, sqlx::Error> {
    let modes: Vec<String> = row.try_get::<Option<Vec<String>>, _>("modes")?.unwrap_or_default();
    Ok(modes.iter().filter_map(|m| LockMode::parse(m)).collect())
}

fn relation(row: &PgRow, oid: u32) -> Result<Relation, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let parent = row.try_get::<i64, _>("parent")? as u32;
    Ok(Relation {
        oid,
        schema: row.try_get("schema")?,
        name: row.try_get("name")?,
        kind: kind.chars().next().unwrap_or('?'),
        table: (parent != 0).then_some(parent),
    })
}

/// `text` as a string literal whatever `standard_conforming_strings` says.
fn escaped_literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Statements that take no lock stronger than ROW EXCLUSIVE on existing relations and rewrite
/// nothing, so the trace need not look after them.
/// The table (quoted as written) whose scan and dropped-column counts are read before an ALTER
/// TABLE that sets NOT NULL or drops columns, so the statement query after it can tell what it did.
fn baseline_target(node: Option<&NodeEnum>) -> Option<String> {
    let Some(NodeEnum::AlterTableStmt(stmt)) = node else { return None };
    let range = stmt.relation.as_ref()?;
    let counted = stmt.cmds.iter().any(|c| {
        matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
            if cmd.subtype == AlterTableType::AtSetNotNull as i32 || cmd.subtype == AlterTableType::AtDropColumn as i32)
    });
    if !counted {
        return None;
    }
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    Some(if range.schemaname.is_empty() {
        quote(&range.relname)
    } else {
        format!("{}.{}", quote(&range.schemaname), quote(&range.relname))
    })
}

/// Whether the statement may take a lock a rule looks at (anything but ACCESS SHARE, ROW SHARE or
/// ROW EXCLUSIVE) on a relation that existed before it; the others need no statement query.
fn may_lock(node: Option<&NodeEnum>) -> bool {
    !matches!(
        node,
        Some(
            NodeEnum::CreateFunctionStmt(_)
                | NodeEnum::VariableSetStmt(_)
                | NodeEnum::VariableShowStmt(_)
                | NodeEnum::InsertStmt(_)
                | NodeEnum::UpdateStmt(_)
                | NodeEnum::DeleteStmt(_)
                | NodeEnum::CommentStmt(_)
                | NodeEnum::GrantStmt(_)
                | NodeEnum::GrantRoleStmt(_)
                | NodeEnum::CreateEnumStmt(_)
                | NodeEnum::AlterEnumStmt(_)
                | NodeEnum::CompositeTypeStmt(_)
                | NodeEnum::CreateDomainStmt(_)
                | NodeEnum::CreateSchemaStmt(_)
                | NodeEnum::CreateSeqStmt(_)
                | NodeEnum::TransactionStmt(_)
                | NodeEnum::DefineStmt(_)
                | NodeEnum::CreateRoleStmt(_)
                | NodeEnum::AlterRoleStmt(_)
        )
    )
}

/// Whether the statement spells out a foreign key: a table's or a column's, in CREATE TABLE or
/// ALTER TABLE (keys added otherwise, by a function say, are queried after the migration).
fn adds_foreign_key(node: Option<&NodeEnum>) -> bool {
    let foreign = |n: &pg_query::Node| matches!(&n.node, Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrForeign as i32);
    let spells = |n: &pg_query::Node| match &n.node {
        Some(NodeEnum::ColumnDef(def)) => def.constraints.iter().any(foreign),
        _ => foreign(n),
    };
    match node {
        Some(NodeEnum::CreateStmt(stmt)) => stmt.table_elts.iter().any(spells),
        Some(NodeEnum::AlterTableStmt(stmt)) => stmt
            .cmds
            .iter()
            .any(|c| matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd)) if cmd.def.as_deref().is_some_and(spells))),
        _ => false,
    }
}

/// The table a statement creates, (schema as written, name); not one made only if missing (it
/// may be an existing table).
fn created_table(node: Option<&NodeEnum>) -> Option<(String, String)> {
    match node {
        Some(NodeEnum::CreateStmt(stmt)) if !stmt.if_not_exists => {
            stmt.relation.as_ref().map(|r| (r.schemaname.clone(), r.relname.clone()))
        }
        _ => None,
    }
}

/// Whether a statement can take a lock that blocks writes, rewrite, scan, drop or add
/// constraints only on tables in `created` (made earlier in the same transaction, named as
/// written) and on relations it creates itself: its locks on anything that existed before are
/// at most ACCESS SHARE. Such a statement needs no statement query of its own; the one after it
/// tells what the statement before it did. Conservative: a name spelled differently, a foreign
/// key to another table, inheritance or a copied definition all say no.
fn confined(node: Option<&NodeEnum>, created: &[(String, String)]) -> bool {
    let new = |r: &RangeVar| created.iter().any(|(schema, name)| *schema == r.schemaname && *name == r.relname);
    let new_at = |r: &Option<RangeVar>| r.as_ref().is_some_and(new);
    // Foreign keys lock the table they reference; only keys between new tables stay confined.
    let keys_confined = |n: &pg_query::Node| match &n.node {
        Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrForeign as i32 => new_at(&c.pktable),
        Some(NodeEnum::Constraint(_)) => true,
        Some(NodeEnum::ColumnDef(def)) => def.constraints.iter().all(|c| match &c.node {
            Some(NodeEnum::Constraint(c)) if c.contype == ConstrType::ConstrForeign as i32 => new_at(&c.pktable),
            _ => true,
        }),
        _ => false,
    };
    match node {
        Some(NodeEnum::IndexStmt(stmt)) => !stmt.concurrent && new_at(&stmt.relation),
        Some(NodeEnum::CreateStmt(stmt)) => {
            !stmt.if_not_exists
                && stmt.inh_relations.is_empty()
                && stmt.partbound.is_none()
                && stmt.of_typename.is_none()
                && stmt.table_elts.iter().all(keys_confined)
        }
        Some(NodeEnum::AlterTableStmt(stmt)) => {
            new_at(&stmt.relation)
                && stmt.objtype == pg_query::protobuf::ObjectType::ObjectTable as i32
                && stmt.cmds.iter().all(|c| {
                    let Some(NodeEnum::AlterTableCmd(cmd)) = &c.node else { return false };
                    let def_confined = cmd.def.as_deref().is_none_or(keys_confined);
                    matches!(
                        AlterTableType::try_from(cmd.subtype),
                        Ok(AlterTableType::AtAddColumn
                            | AlterTableType::AtColumnDefault
                            | AlterTableType::AtSetNotNull
                            | AlterTableType::AtDropNotNull
                            | AlterTableType::AtAddConstraint
                            | AlterTableType::AtAlterColumnType)
                    ) && def_confined
                })
        }
        _ => false,
    }
}

/// Whether a statement may make an index on a table older than its script, or a foreign key
/// (of a table of its script) to one: what a brief statement query lists of the script's own
/// relations. Statements of unknown effect (functions, DO blocks) may.
fn makes_links_to_older(node: Option<&NodeEnum>) -> bool {
    match node {
        Some(
            NodeEnum::ViewStmt(_)
            | NodeEnum::DropStmt(_)
            | NodeEnum::RenameStmt(_)
            | NodeEnum::CreateTrigStmt(_)
            | NodeEnum::RefreshMatViewStmt(_),
        ) => false,
        // PARTITION OF and INHERITS copy the parent's keys and indexes.
        Some(NodeEnum::CreateStmt(stmt)) => {
            adds_foreign_key(node) || stmt.partbound.is_some() || !stmt.inh_relations.is_empty()
        }
        _ => true,
    }
}

/// Whether a statement may add, drop, rename or validate a constraint of a table it locks, or
/// make a table (whose constraints the trace learns with it): what the statement query lists
/// constraints for. Conservative: statements of unknown effect (functions, DO blocks) may; only
/// kinds known to leave `pg_constraint` alone say no. NOT NULL is a constraint row from
/// PostgreSQL 18 on.
fn may_change_constraints(node: Option<&NodeEnum>, server_version_num: u32) -> bool {
    use pg_query::protobuf::{DropBehavior, ObjectType};
    let not_null_is_row = server_version_num >= 180_000;
    let kind = |t: i32| ObjectType::try_from(t).ok();
    // Column definitions whose only constraints are defaults (and, before 18, NOT NULL).
    let plain_column = |def: &pg_query::protobuf::ColumnDef| {
        def.constraints.iter().all(|c| match &c.node {
            Some(NodeEnum::Constraint(c)) => match ConstrType::try_from(c.contype) {
                Ok(ConstrType::ConstrDefault) => true,
                Ok(ConstrType::ConstrNotnull | ConstrType::ConstrNull) => !not_null_is_row,
                _ => false,
            },
            _ => false,
        })
    };
    match node {
        Some(
            NodeEnum::IndexStmt(_)
            | NodeEnum::ViewStmt(_)
            | NodeEnum::RefreshMatViewStmt(_)
            | NodeEnum::CreateTableAsStmt(_),
        ) => false,
        Some(NodeEnum::CreateTrigStmt(stmt)) => stmt.isconstraint,
        Some(NodeEnum::DropStmt(stmt)) => {
            stmt.behavior == DropBehavior::DropCascade as i32
                || !matches!(
                    kind(stmt.remove_type),
                    Some(ObjectType::ObjectIndex | ObjectType::ObjectView | ObjectType::ObjectMatview | ObjectType::ObjectSequence)
                )
        }
        // Renaming an index renames the constraint it backs.
        Some(NodeEnum::RenameStmt(stmt)) => !matches!(
            kind(stmt.rename_type),
            Some(
                ObjectType::ObjectTable
                    | ObjectType::ObjectColumn
                    | ObjectType::ObjectView
                    | ObjectType::ObjectMatview
                    | ObjectType::ObjectSequence
            )
        ),
        Some(NodeEnum::AlterTableStmt(stmt)) => !stmt.cmds.iter().all(|c| {
            let Some(NodeEnum::AlterTableCmd(cmd)) = &c.node else { return false };
            match AlterTableType::try_from(cmd.subtype) {
                Ok(AlterTableType::AtAddColumn) => {
                    matches!(cmd.def.as_deref().and_then(|d| d.node.as_ref()), Some(NodeEnum::ColumnDef(def)) if plain_column(def))
                }
                Ok(AlterTableType::AtDropNotNull | AlterTableType::AtSetNotNull) => !not_null_is_row,
                Ok(
                    AlterTableType::AtColumnDefault
                    | AlterTableType::AtSetStatistics
                    | AlterTableType::AtSetOptions
                    | AlterTableType::AtResetOptions
                    | AlterTableType::AtSetStorage
                    | AlterTableType::AtSetCompression
                    | AlterTableType::AtChangeOwner
                    | AlterTableType::AtClusterOn
                    | AlterTableType::AtDropCluster
                    | AlterTableType::AtSetLogged
                    | AlterTableType::AtSetUnLogged
                    | AlterTableType::AtSetAccessMethod
                    | AlterTableType::AtSetTableSpace
                    | AlterTableType::AtSetRelOptions
                    | AlterTableType::AtResetRelOptions
                    | AlterTableType::AtReplaceRelOptions
                    | AlterTableType::AtEnableTrig
                    | AlterTableType::AtEnableAlwaysTrig
                    | AlterTableType::AtEnableReplicaTrig
                    | AlterTableType::AtDisableTrig
                    | AlterTableType::AtEnableTrigAll
                    | AlterTableType::AtDisableTrigAll
                    | AlterTableType::AtEnableTrigUser
                    | AlterTableType::AtDisableTrigUser
                    | AlterTableType::AtEnableRule
                    | AlterTableType::AtEnableAlwaysRule
                    | AlterTableType::AtEnableReplicaRule
                    | AlterTableType::AtDisableRule
                    | AlterTableType::AtReplicaIdentity
                    | AlterTableType::AtEnableRowSecurity
                    | AlterTableType::AtDisableRowSecurity
                    | AlterTableType::AtForceRowSecurity
                    | AlterTableType::AtNoForceRowSecurity
                    | AlterTableType::AtGenericOptions,
                ) => true,
                _ => false,
            }
        }),
        _ => true,
    }
}

/// Statements that behave the same inside a transaction of their own, so that the tracer may
/// wrap them when the script runs without one.
fn wrappable(node: Option<&NodeEnum>) -> bool {
    match node {
        Some(NodeEnum::IndexStmt(s)) => !s.concurrent,
        Some(NodeEnum::DropStmt(s)) => !s.concurrent,
        Some(
            NodeEnum::AlterTableStmt(_)
            | NodeEnum::RenameStmt(_)
            | NodeEnum::CreateStmt(_)
            | NodeEnum::CreateTrigStmt(_)
            | NodeEnum::RefreshMatViewStmt(_),
        ) => true,
        _ => false,
    }
}

/// Whether the statement is an ALTER TABLE that changes a column's type.
fn alter_column_type(node: Option<&NodeEnum>) -> bool {
    let Some(NodeEnum::AlterTableStmt(stmt)) = node else { return false };
    stmt.cmds.iter().any(|c| {
        matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
            if cmd.subtype == pg_query::protobuf::AlterTableType::AtAlterColumnType as i32)
    })
}

/// The tables a `TRUNCATE`, or a `DELETE` without `WHERE`, leaves empty: (schema as written, name).
fn emptied_tables(node: Option<&NodeEnum>) -> Vec<(String, String)> {
    let name = |r: &RangeVar| (r.schemaname.clone(), r.relname.clone());
    match node {
        Some(NodeEnum::DeleteStmt(stmt)) if stmt.where_clause.is_none() && stmt.using_clause.is_empty() => {
            stmt.relation.iter().map(name).collect()
        }
        Some(NodeEnum::TruncateStmt(stmt)) => stmt
            .relations
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::RangeVar(r)) => Some(name(r)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Statements that do no work of their own (settings, transaction control).
pub fn is_trivial(node: Option<&NodeEnum>) -> bool {
    matches!(node, Some(NodeEnum::VariableSetStmt(_) | NodeEnum::VariableShowStmt(_) | NodeEnum::TransactionStmt(_)))
}

/// Statements that only write a catalog row about an object (comments, privileges, security
/// labels): they read no table data and finish at once, so running one under an earlier ACCESS
/// EXCLUSIVE lock does not lengthen the outage.
pub fn is_metadata_only(node: Option<&NodeEnum>) -> bool {
    matches!(
        node,
        Some(
            NodeEnum::CommentStmt(_)
                | NodeEnum::GrantStmt(_)
                | NodeEnum::GrantRoleStmt(_)
                | NodeEnum::SecLabelStmt(_)
                | NodeEnum::AlterDefaultPrivilegesStmt(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(sql: &str) -> Option<NodeEnum> {
        crate::sql::split(sql).unwrap().statements[0].parsed(sql).0
    }

    #[test]
    fn truncate_and_unfiltered_delete_empty_tables() {
        let pair = |s: &str, n: &str| (s.to_string(), n.to_string());
        assert_eq!(emptied_tables(node("DELETE FROM orders").as_ref()), vec![pair("", "orders")]);
        assert_eq!(emptied_tables(node("TRUNCATE a, shop.b").as_ref()), vec![pair("", "a"), pair("shop", "b")]);
        assert!(emptied_tables(node("DELETE FROM orders WHERE id > 1").as_ref()).is_empty());
        assert!(emptied_tables(node("DELETE FROM orders USING customers").as_ref()).is_empty());
        assert!(emptied_tables(node("UPDATE orders SET id = 1").as_ref()).is_empty());
    }

    #[test]
    fn literals_stay_literals_whatever_the_settings() {
        assert_eq!(escaped_literal(r#""public"."o'k\""#), r#"E'"public"."o''k\\"'"#);
    }

    #[test]
    fn comments_and_grants_are_metadata_only() {
        assert!(is_metadata_only(node("COMMENT ON COLUMN t.c IS 'x'").as_ref()));
        assert!(is_metadata_only(node("GRANT SELECT ON t TO PUBLIC").as_ref()));
        assert!(is_metadata_only(node("REVOKE ALL ON t FROM PUBLIC").as_ref()));
        assert!(!is_metadata_only(node("UPDATE t SET c = 1").as_ref()));
        assert!(!is_metadata_only(node("CREATE INDEX ON t (c)").as_ref()));
    }

    #[test]
    fn statements_confined_to_tables_the_transaction_created() {
        let created = vec![(String::new(), "a".to_string()), ("s".to_string(), "b".to_string())];
        let confined = |sql: &str| confined(node(sql).as_ref(), &created);
        assert!(confined("CREATE INDEX ON a (x)"));
        assert!(confined("CREATE INDEX ON s.b (x)"));
        assert!(confined("CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a (id))"));
        assert!(confined("CREATE TABLE c (a_id int, FOREIGN KEY (a_id) REFERENCES s.b (id), CHECK (a_id > 0))"));
        assert!(confined("ALTER TABLE a ADD COLUMN y int NOT NULL DEFAULT 0, ADD CONSTRAINT u UNIQUE (y)"));
        // Another table, a name spelled otherwise, or a lock on an older table: not confined.
        assert!(!confined("CREATE INDEX ON c (x)"));
        assert!(!confined("CREATE INDEX ON public.a (x)"));
        assert!(!confined("CREATE INDEX CONCURRENTLY ON a (x)"));
        assert!(!confined("CREATE TABLE c (id int REFERENCES old (id))"));
        assert!(!confined("CREATE TABLE c (LIKE old)"));
        assert!(!confined("CREATE TABLE c () INHERITS (a)"));
        assert!(!confined("CREATE TABLE IF NOT EXISTS c (id int)"));
        assert!(!confined("ALTER TABLE a ADD FOREIGN KEY (x) REFERENCES old (id)"));
        assert!(!confined("ALTER TABLE a ADD COLUMN z int REFERENCES old (id)"));
        assert!(!confined("ALTER TABLE a DROP CONSTRAINT k"));
        assert!(!confined("ALTER TABLE old ADD COLUMN z int"));
        assert!(!confined("CREATE VIEW v AS SELECT 1"));
        assert!(!confined("INSERT INTO a VALUES (1)"));
        assert_eq!(created_table(node("CREATE TABLE s.c (id int)").as_ref()), Some(("s".into(), "c".into())));
        assert_eq!(created_table(node("CREATE TABLE IF NOT EXISTS c (id int)").as_ref()), None);
    }

    #[test]
    fn statements_that_may_change_constraints() {
        let changes = |sql: &str, version: u32| may_change_constraints(node(sql).as_ref(), version);
        for sql in [
            "CREATE INDEX a_b ON a (b)",
            "CREATE VIEW v AS SELECT 1",
            "DROP INDEX a_b",
            "ALTER TABLE a ADD COLUMN b int DEFAULT 0",
            "ALTER TABLE a ALTER COLUMN b SET DEFAULT 1, ALTER COLUMN b SET STATISTICS 100",
            "ALTER TABLE a RENAME COLUMN b TO c",
            "ALTER TABLE a RENAME TO b",
            "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()",
        ] {
            assert!(!changes(sql, 170_000), "{sql}");
        }
        for sql in [
            "CREATE TABLE a (id int PRIMARY KEY)",
            "ALTER TABLE a ADD COLUMN b int REFERENCES c (id)",
            "ALTER TABLE a ADD COLUMN b int UNIQUE",
            "ALTER TABLE a ADD CONSTRAINT a_b CHECK (b > 0) NOT VALID",
            "ALTER TABLE a VALIDATE CONSTRAINT a_b",
            "ALTER TABLE a DROP COLUMN b",
            "ALTER TABLE a ALTER COLUMN b TYPE bigint",
            "ALTER TABLE a ALTER COLUMN b SET DEFAULT 1, DROP CONSTRAINT a_b",
            "ALTER INDEX a_pkey RENAME TO a_key",
            "DROP INDEX a_b CASCADE",
            "DROP TABLE a",
            "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()",
            "SELECT f()",
            "DO $$ BEGIN END $$",
        ] {
            assert!(changes(sql, 170_000), "{sql}");
        }
        // From PostgreSQL 18 on, NOT NULL is a row of pg_constraint.
        assert!(!changes("ALTER TABLE a ALTER COLUMN b SET NOT NULL", 170_000));
        assert!(changes("ALTER TABLE a ALTER COLUMN b SET NOT NULL", 180_000));
        assert!(!changes("ALTER TABLE a ADD COLUMN b int NOT NULL DEFAULT 0", 170_000));
        assert!(changes("ALTER TABLE a ADD COLUMN b int NOT NULL DEFAULT 0", 180_000));
    }

    #[test]
    fn foreign_keys_spelled_out_in_create_and_alter_table() {
        let spelled = |sql: &str| adds_foreign_key(node(sql).as_ref());
        assert!(spelled("CREATE TABLE t (a int REFERENCES u (id))"));
        assert!(spelled("CREATE TABLE t (a int, FOREIGN KEY (a) REFERENCES u (id))"));
        assert!(spelled("ALTER TABLE t ADD COLUMN a int REFERENCES u (id)"));
        assert!(spelled(
            "ALTER TABLE t ADD COLUMN b int, ADD CONSTRAINT k FOREIGN KEY (a) REFERENCES u (id) NOT VALID"
        ));
        assert!(!spelled("CREATE TABLE t (a int PRIMARY KEY, b int UNIQUE CHECK (b > 0))"));
        assert!(!spelled("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0), VALIDATE CONSTRAINT k"));
        assert!(!spelled("SELECT 'FOREIGN KEY (a) REFERENCES u (id)'"));
    }
}
