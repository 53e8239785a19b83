//! `plan`: what `apply` would do on a target, read and never written: its bookkeeping status,
//! each pending migration's statements, and a pre-check of what those statements will meet
//! there (rows and size of the tables they touch, NULLs before `SET NOT NULL`, duplicates
//! before a unique key, values a column type change cannot convert), with a fingerprint of
//! the target's schema and version that `apply --plan` holds the target to.

use crate::bookkeeping::{self, Status};
use crate::migrations::{Apply, Chain, Migration};
use crate::report::markdown::{code, escape, fence_safe};
use crate::sql::ident;
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ConstrType, Node, TypeName};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;
use sqlx::{Executor, Row};
use std::path::Path;

/// How long one pre-check count may take on the target before it is given up.
const COUNT_TIMEOUT: &str = "10s";

/// What `apply` would do on a target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The bookkeeping table read.
    pub table: String,
    /// The migration the target is at.
    pub current: Option<String>,
    pub pending: Vec<PlannedMigration>,
    /// SHA-256 of the target's schema (as introspected) and its applied migrations.
    pub fingerprint: String,
    /// With `--drift`: how the target's schema differs from the one the chain makes up to the
    /// migrations the target applied, a line each (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Vec<String>>,
}

/// One pending migration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedMigration {
    pub id: String,
    pub file: String,
    /// Runs in one transaction.
    pub transaction: bool,
    pub statements: Vec<PlannedStatement>,
    /// With `--evidence`: what the pull request check found on this migration (its lint trace's
    /// locks and rewrites, its round trip, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::findings::Finding>,
}

/// One statement and what the target holds for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedStatement {
    pub line: u32,
    pub sql: String,
    /// Existing tables it names: estimated rows and total size.
    pub tables: Vec<TableFacts>,
    /// What the target's data says it will meet (NULLs, duplicates), one sentence each.
    pub checks: Vec<String>,
}

/// An existing table's size on the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableFacts {
    pub name: String,
    /// The planner's estimate (`reltuples`); -1 when never analyzed.
    pub rows: i64,
    pub bytes: i64,
}

/// Reads the target behind `conn` and plans the pending migrations of `chain` (in a read-only
/// transaction, rolled back).
/// An Alembic chain's statements come from Alembic's offline mode, run by `python`.
pub async fn plan(conn: &mut PgConnection, chain: &Chain, python: &Path) -> Result<Plan, sqlx::Error> {
    let status = bookkeeping::status(conn, chain).await?;
    let fingerprint = fingerprint(conn, &status).await?;
    conn.execute("BEGIN READ ONLY").await?;
    let planned = plan_pending(conn, chain, &status, python).await;
    conn.execute("ROLLBACK").await?;
    Ok(Plan {
        table: status.table.clone(),
        current: status.applied.last().cloned(),
        pending: planned?,
        fingerprint,
        drift: None,
    })
}

/// How the target behind `conn` differs from the schema `chain` makes up to the migrations the
/// target applied (built on `server`): a line per difference, the target being the `after` side.
pub async fn drift(
    conn: &mut PgConnection,
    chain: &Chain,
    server: &crate::postgres::Server,
    python: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    let status = bookkeeping::status(conn, chain).await?;
    let mut expected = chain.clone();
    expected.migrations.retain(|m| status.applied.contains(&m.id));
    let expected = crate::schema::declared::chain_schema(server, expected, python).await?;
    let actual = crate::schema::introspect(conn).await?;
    let changes = crate::schema::diff(&expected, &actual);
    Ok(changes.iter().map(|c| c.to_string()).collect())
}

/// The target's schema and applied migrations, hashed: what `apply --plan` compares.
pub async fn fingerprint(conn: &mut PgConnection, status: &Status) -> Result<String, sqlx::Error> {
    let schema = crate::schema::introspect::introspect(conn)
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("cannot read the target's schema: {e}")))?;
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(&schema).unwrap_or_default());
    hash.update(status.applied.join("\n").as_bytes());
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

async fn plan_pending(
    conn: &mut PgConnection,
    chain: &Chain,
    status: &Status,
    python: &Path,
) -> Result<Vec<PlannedMigration>, sqlx::Error> {
    let mut planned = Vec::new();
    // Alembic's offline mode needs the project's alembic.ini.
    let ini = (chain.format == crate::migrations::Format::Alembic)
        .then(|| crate::alembic::config::locate(&chain.dir).ok())
        .flatten()
        .filter(|project| project.ini.is_some());
    for m in chain.migrations.iter().filter(|m| status.pending.contains(&m.id)) {
        let offline = match (&m.apply, &ini) {
            (Apply::Alembic(rev), Some(project)) => offline_sql(project, m, python).await.map(|text| (text, &**rev)),
            _ => None,
        };
        planned.push(plan_migration(conn, m, offline).await?);
    }
    Ok(planned)
}

/// The statements an Alembic revision's `upgrade()` emits in Alembic's offline mode
/// (`upgrade <parent>:<revision> --sql`, through the project's env.py, given a URL that names
/// PostgreSQL and no server, so nothing connects): `None` where offline mode cannot say (an
/// env.py without it, a merge revision, an error).
async fn offline_sql(project: &crate::alembic::config::Project, m: &Migration, python: &Path) -> Option<String> {
    const OFFLINE: &str = "import argparse, sys\n\
        from alembic import command\n\
        from alembic.config import Config\n\
        config = Config(sys.argv[1])\n\
        config.set_main_option('sqlalchemy.url', sys.argv[2])\n\
        config.cmd_opts = argparse.Namespace(x=['url=' + sys.argv[2]])\n\
        command.upgrade(config, sys.argv[3], sql=True)\n";
    let ini = project.ini.as_ref()?;
    let range = match m.parents.as_slice() {
        [] => m.id.clone(),
        [parent] => format!("{parent}:{}", m.id),
        _ => return None,
    };
    let url = "postgresql://";
    let mut command = crate::scrub::command(python);
    command
        .arg("-c")
        .arg(OFFLINE)
        .arg(ini)
        .arg(url)
        .arg(&range)
        .current_dir(&project.run_dir)
        .env("DATABASE_URL", url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(OFFLINE_TIMEOUT, command.output()).await.ok()?.ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// How long Alembic's offline mode may take for one revision.
const OFFLINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

async fn plan_migration(
    conn: &mut PgConnection,
    m: &Migration,
    offline: Option<(String, &crate::alembic::Revision)>,
) -> Result<PlannedMigration, sqlx::Error> {
    // An Alembic revision: the statements of its offline SQL, at its upgrade()'s line, without
    // Alembic's own (the transaction and alembic_version); none when offline mode cannot say.
    let offline = offline.and_then(|(text, rev)| {
        let script = crate::migrations::Script::new(&rev.file, 1, text).ok()?;
        Some((script, rev.upgrade.as_ref().map_or(rev.revision_line, |u| u.line)))
    });
    let (script, at) = match &offline {
        Some((script, line)) => (script, Some(*line)),
        None => (&m.up, None),
    };
    let mut statements = Vec::new();
    let sql = offline.is_some() || matches!(m.apply, Apply::Sql);
    for statement in script.split.statements.iter().filter(|_| sql) {
        let sql = script.text(statement).to_string();
        if at.is_some() && alembic_own(&sql) {
            continue;
        }
        let parsed = pg_query::parse(&sql, 0).ok();
        let node = parsed
            .as_ref()
            .and_then(|p| p.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()).and_then(|s| s.node.clone()));
        let names = parsed.map(|p| p.tables()).unwrap_or_default();
        let mut tables = Vec::new();
        for name in dedup(names) {
            if let Some(facts) = table_facts(conn, &name).await? {
                tables.push(facts);
            }
        }
        let checks = data_checks(conn, node.as_ref()).await?;
        statements.push(PlannedStatement { line: at.unwrap_or(script.statement_line(statement)), sql, tables, checks });
    }
    Ok(PlannedMigration {
        id: m.id.clone(),
        file: m.up.display_path(),
        transaction: m.up.transaction.is_wrapped(),
        statements,
        findings: Vec::new(),
    })
}

/// What Alembic's offline SQL holds of Alembic's own: the transaction and its version table.
fn alembic_own(sql: &str) -> bool {
    let word = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(word.as_str(), "BEGIN" | "COMMIT") || sql.contains("alembic_version")
}

fn dedup(mut names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Rows and size of table `name` on the target, if it is an existing table.
async fn table_facts(conn: &mut PgConnection, name: &str) -> Result<Option<TableFacts>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT c.oid::regclass::text, c.reltuples::int8, pg_catalog.pg_total_relation_size(c.oid) \
         FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind IN ('r', 'p', 'm')",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(TableFacts { name: r.try_get(0)?, rows: r.try_get(1)?, bytes: r.try_get(2)? })).transpose()
}

/// What the target's rows say the statement will meet: NULLs in a column set NOT NULL (or made
/// a primary key), duplicates under a new unique key, values a new column type cannot hold.
async fn data_checks(conn: &mut PgConnection, node: Option<&NodeEnum>) -> Result<Vec<String>, sqlx::Error> {
    let mut checks = Vec::new();
    match node {
        Some(NodeEnum::AlterTableStmt(stmt)) => {
            let Some(table) = stmt.relation.as_ref().map(range_name) else { return Ok(checks) };
            for cmd in stmt.cmds.iter().filter_map(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => Some(cmd),
                _ => None,
            }) {
                match AlterTableType::try_from(cmd.subtype) {
                    Ok(AlterTableType::AtSetNotNull) => {
                        checks.extend(nulls(conn, &table, std::slice::from_ref(&cmd.name)).await?);
                    }
                    Ok(AlterTableType::AtAlterColumnType) => {
                        let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                            continue;
                        };
                        // A USING expression is the migration's own code: only one of column
                        // references, constants and casts (no function it could call) is run
                        // on the target before apply runs it.
                        let using = def.raw_default.as_deref();
                        if let (true, Some(type_name)) = (using.is_none_or(plain), &def.type_name) {
                            checks.extend(conversions(conn, &table, &cmd.name, using, type_name).await?);
                        }
                    }
                    Ok(AlterTableType::AtAddConstraint) => {
                        let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                            continue;
                        };
                        let keys: Vec<String> = c.keys.iter().filter_map(string).collect();
                        let kind = ConstrType::try_from(c.contype);
                        if matches!(kind, Ok(ConstrType::ConstrPrimary)) {
                            checks.extend(nulls(conn, &table, &keys).await?);
                        }
                        if matches!(kind, Ok(ConstrType::ConstrPrimary | ConstrType::ConstrUnique)) {
                            checks.extend(duplicates(conn, &table, &keys).await?);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(NodeEnum::IndexStmt(stmt)) if stmt.unique => {
            let Some(table) = stmt.relation.as_ref().map(range_name) else { return Ok(checks) };
            let columns: Vec<String> = stmt
                .index_params
                .iter()
                .filter_map(|p| match &p.node {
                    Some(NodeEnum::IndexElem(e)) if !e.name.is_empty() => Some(e.name.clone()),
                    _ => None,
                })
                .collect();
            // An expression index is not counted.
            if columns.len() == stmt.index_params.len() {
                checks.extend(duplicates(conn, &table, &columns).await?);
            }
        }
        _ => {}
    }
    Ok(checks)
}

fn range_name(r: &pg_query::protobuf::RangeVar) -> String {
    if r.schemaname.is_empty() { ident(&r.relname) } else { format!("{}.{}", ident(&r.schemaname), ident(&r.relname)) }
}

fn string(node: &pg_query::protobuf::Node) -> Option<String> {
    match &node.node {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

/// Runs a count of the target's rows under a time limit; `None` when the table does not exist
/// (yet), the count took too long or it failed.
async fn count(conn: &mut PgConnection, table: &str, query: String) -> Result<Option<i64>, sqlx::Error> {
    Ok(probe(conn, table, query).await?.and_then(Result::ok))
}

/// Like [`count`], with the SQLSTATE of a data exception (class 22: a value that does not
/// convert) as `Err`; other failures (a column that does not exist yet, a timeout) are `None`.
async fn probe(
    conn: &mut PgConnection,
    table: &str,
    query: String,
) -> Result<Option<Result<i64, String>>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT pg_catalog.to_regclass($1) IS NOT NULL").bind(table).fetch_one(&mut *conn).await?;
    if !exists {
        return Ok(None);
    }
    conn.execute("SAVEPOINT migration_guard_count").await?;
    conn.execute(sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = '{COUNT_TIMEOUT}'"))).await?;
    match sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(query)).fetch_one(&mut *conn).await {
        Ok(n) => {
            conn.execute("RELEASE SAVEPOINT migration_guard_count").await?;
            Ok(Some(Ok(n)))
        }
        Err(sqlx::Error::Database(e)) => {
            conn.execute("ROLLBACK TO SAVEPOINT migration_guard_count").await?;
            let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
            Ok(code.starts_with("22").then_some(Err(code)))
        }
        Err(other) => Err(other),
    }
}

/// Values of `table.column` the column's new type cannot hold, converted as `ALTER COLUMN ...
/// TYPE` converts them (`using`, else the column): by the type's cast, and, for `varchar(n)`
/// and `char(n)` without `using`, refusing longer strings (where an explicit cast would cut
/// them). The target's values are never shown: the plan is read by more people than the data
/// is.
async fn conversions(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    using: Option<&Node>,
    type_name: &TypeName,
) -> Result<Vec<String>, sqlx::Error> {
    let reference = Node {
        node: Some(NodeEnum::ColumnRef(pg_query::protobuf::ColumnRef {
            fields: vec![Node {
                node: Some(NodeEnum::String(pg_query::protobuf::String { sval: column.to_string() })),
            }],
            location: -1,
        })),
    };
    let cast = Node {
        node: Some(NodeEnum::TypeCast(Box::new(pg_query::protobuf::TypeCast {
            arg: Some(Box::new(using.cloned().unwrap_or(reference))),
            type_name: Some(type_name.clone()),
            location: -1,
        }))),
    };
    let (Some(converted), Some(shown)) = (expression(cast), type_shown(type_name)) else { return Ok(Vec::new()) };
    let col = ident(column);
    let mut out = Vec::new();
    if let (None, Some(limit)) = (using, length_limit(type_name)) {
        let query = format!("SELECT count(*) FROM {table} WHERE pg_catalog.length({col}::text) > {limit}");
        if let Some(n) = count(conn, table, query).await?.filter(|n| *n > 0) {
            out.push(format!(
                "{n} value(s) of {table}.{column} are longer than {limit} characters: the statement fails on this target"
            ));
            return Ok(out);
        }
    }
    let query = format!("SELECT count(*) FROM {table} WHERE {col} IS NOT NULL AND ({converted}) IS NULL");
    if let Some(Err(sqlstate)) = probe(conn, table, query).await? {
        out.push(format!(
            "values of {table}.{column} do not convert to {shown} (SQLSTATE {sqlstate}): the statement fails on this target"
        ));
    }
    Ok(out)
}

/// Whether `node` is made of column references, constants and casts alone.
fn plain(node: &Node) -> bool {
    match &node.node {
        Some(NodeEnum::ColumnRef(_) | NodeEnum::AConst(_)) => true,
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().is_some_and(plain),
        _ => false,
    }
}

/// `node` as SQL text, deparsed as the expression of a `SELECT`.
fn expression(node: Node) -> Option<String> {
    let mut tree = pg_query::parse("SELECT 1", 0).ok()?.protobuf;
    let select = tree.stmts.first_mut()?.stmt.as_mut()?.node.as_mut()?;
    let NodeEnum::SelectStmt(select) = select else { return None };
    let NodeEnum::ResTarget(target) = select.target_list.first_mut()?.node.as_mut()? else { return None };
    target.val = Some(Box::new(node));
    pg_query::deparse(&tree, pg_query::DeparseOptions::default()).ok()?.strip_prefix("SELECT ").map(str::to_string)
}

/// The type as written back by the parser (`integer`, `character varying(20)`, `public.mood`).
fn type_shown(type_name: &TypeName) -> Option<String> {
    let null =
        Node { node: Some(NodeEnum::AConst(pg_query::protobuf::AConst { isnull: true, location: -1, val: None })) };
    let cast =
        pg_query::protobuf::TypeCast { arg: Some(Box::new(null)), type_name: Some(type_name.clone()), location: -1 };
    let text = expression(Node { node: Some(NodeEnum::TypeCast(Box::new(cast))) })?;
    Some(text.strip_prefix("NULL::").map(str::to_string).unwrap_or(text))
}

/// `n` of `varchar(n)` / `char(n)` (not of arrays of them).
fn length_limit(type_name: &TypeName) -> Option<i32> {
    let last = type_name.names.last().and_then(string)?;
    if !matches!(last.as_str(), "varchar" | "bpchar") || !type_name.array_bounds.is_empty() {
        return None;
    }
    match type_name.typmods.as_slice() {
        [Node { node: Some(NodeEnum::AConst(c)) }] => match &c.val {
            Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i.ival),
            _ => None,
        },
        _ => None,
    }
}

async fn nulls(conn: &mut PgConnection, table: &str, columns: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::new();
    for column in columns {
        let query = format!("SELECT count(*) FROM {table} WHERE {} IS NULL", ident(column));
        if let Some(n) = count(conn, table, query).await?.filter(|n| *n > 0) {
            out.push(format!("{n} row(s) of {table} have {column} NULL: the statement fails on this target"));
        }
    }
    Ok(out)
}

async fn duplicates(conn: &mut PgConnection, table: &str, columns: &[String]) -> Result<Vec<String>, sqlx::Error> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let list = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let query = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE ({list}) IS NOT NULL GROUP BY {list} HAVING count(*) > 1) d"
    );
    Ok(count(conn, table, query)
        .await?
        .filter(|n| *n > 0)
        .map(|n| {
            format!(
                "{n} value(s) of ({}) repeat in {table}: the unique key cannot be built on this target",
                columns.join(", ")
            )
        })
        .into_iter()
        .collect())
}

/// The plan as Markdown (the job summary the approver reads).
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = format!(
        "## Migration plan\n\nTarget at {} (`{}`), {} pending; schema fingerprint `{}`.\n",
        plan.current.as_deref().map(|c| format!("`{}`", code(c))).unwrap_or_else(|| "no migration".into()),
        code(&plan.table),
        plan.pending.len(),
        &plan.fingerprint[..16.min(plan.fingerprint.len())]
    );
    match plan.drift.as_deref() {
        Some([]) => out.push_str("\nNo drift: the target's schema is the one the chain makes at its version.\n"),
        Some(drift) => {
            out.push_str(&format!(
                "\n### Drift\n\nThe target's schema differs from the one the chain makes at its version in {} way(s):\n\n",
                drift.len()
            ));
            for d in drift {
                out.push_str(&format!("- {}\n", escape(d)));
            }
        }
        None => {}
    }
    for m in &plan.pending {
        let tx = if m.transaction { "one transaction" } else { "no transaction" };
        out.push_str(&format!("\n### `{}` {} ({tx})\n", code(&m.id), escape(&m.file)));
        if !m.findings.is_empty() {
            out.push_str("\nThe pull request check found:\n\n");
            for f in &m.findings {
                let at = f.line.map(|l| format!(" line {l}")).unwrap_or_default();
                out.push_str(&format!("- {} `{}`{at}: {}\n", f.severity, code(&f.rule), escape(&f.message)));
            }
        }
        for s in &m.statements {
            out.push_str(&format!("\nLine {}:\n\n```sql\n{}\n```\n", s.line, fence_safe(s.sql.trim())));
            for t in &s.tables {
                out.push_str(&format!("- {}: ~{} rows, {}\n", escape(&t.name), t.rows.max(0), size(t.bytes)));
            }
            for c in &s.checks {
                out.push_str(&format!("- **{}**\n", escape(c)));
            }
        }
    }
    out
}

/// The plan for a terminal: a line per statement that meets something on the target.
pub fn to_text(plan: &Plan) -> String {
    let mut out = format!(
        "target at {} ({}), {} pending, fingerprint {}\n",
        plan.current.as_deref().unwrap_or("no migration"),
        plan.table,
        plan.pending.len(),
        plan.fingerprint
    );
    match plan.drift.as_deref() {
        Some([]) => out.push_str("drift: none\n"),
        Some(drift) => {
            for d in drift {
                out.push_str(&format!("drift: {d}\n"));
            }
        }
        None => {}
    }
    for m in &plan.pending {
        out.push_str(&format!("{} {} ({} statements)\n", m.id, m.file, m.statements.len()));
        for f in &m.findings {
            let at = f.line.map(|l| format!("line {l}: ")).unwrap_or_default();
            out.push_str(&format!("  {at}{} {}: {}\n", f.severity, f.rule, crate::schema::diff::one_line(&f.message)));
        }
        for s in &m.statements {
            for t in &s.tables {
                out.push_str(&format!("  line {}: {} ~{} rows, {}\n", s.line, t.name, t.rows.max(0), size(t.bytes)));
            }
            for c in &s.checks {
                out.push_str(&format!("  line {}: {c}\n", s.line));
            }
        }
    }
    out
}

fn size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", units[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ALTER COLUMN ... TYPE command of `sql`: its USING expression and type.
    fn column_type(sql: &str) -> (Option<Node>, TypeName) {
        let parsed = pg_query::parse(sql, 0).unwrap().protobuf;
        let Some(NodeEnum::AlterTableStmt(stmt)) = parsed.stmts[0].stmt.as_ref().and_then(|s| s.node.clone()) else {
            panic!("{sql}")
        };
        let Some(NodeEnum::AlterTableCmd(cmd)) = stmt.cmds[0].node.clone() else { panic!("{sql}") };
        let Some(NodeEnum::ColumnDef(def)) = cmd.def.and_then(|d| d.node) else { panic!("{sql}") };
        (def.raw_default.map(|d| *d), def.type_name.unwrap())
    }

    #[test]
    fn column_types_as_written_and_their_length_limits() {
        let (_, t) = column_type("ALTER TABLE t ALTER COLUMN c TYPE varchar(20)");
        assert_eq!((type_shown(&t).as_deref(), length_limit(&t)), (Some("varchar(20)"), Some(20)));
        let (_, t) = column_type("ALTER TABLE t ALTER COLUMN c TYPE integer");
        assert_eq!((type_shown(&t).as_deref(), length_limit(&t)), (Some("int"), None));
        let (_, t) = column_type("ALTER TABLE t ALTER COLUMN c TYPE varchar(20)[]");
        assert_eq!(length_limit(&t), None);
    }

    #[test]
    fn only_plain_using_expressions_run_on_the_target() {
        let (using, _) = column_type("ALTER TABLE t ALTER COLUMN c TYPE integer USING c::text::integer");
        assert!(plain(&using.unwrap()));
        let (using, _) = column_type("ALTER TABLE t ALTER COLUMN c TYPE integer USING abs(c)");
        assert!(!plain(&using.unwrap()));
        let (using, _) = column_type("ALTER TABLE t ALTER COLUMN c TYPE integer USING (SELECT 1)");
        assert!(!plain(&using.unwrap()));
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(12 * 1024 * 1024 * 1024), "12.0 GB");
    }
}
