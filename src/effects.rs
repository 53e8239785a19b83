//! What one migration did to the schema, judged for deploys: from the diff of the snapshots
//! taken before and after its up, the changes that can lose data (`destructive-change`) and the
//! ones that break the application version still running during a rolling deploy
//! (`backward-incompatible`). Pure code over the diff and the up script; runs nothing.

use crate::findings::Finding;
use crate::migrations::Script;
use crate::rules::{self, StageRule};
use crate::schema::diff::{is_widening, one_line};
use crate::schema::{Action, Change, Kind, Schema};
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;
use std::collections::BTreeSet;

/// Rule id: the migration drops or narrows something that held data before it.
pub const DESTRUCTIVE: &str = "destructive-change";
/// Rule id: the migration breaks code written for the schema before it.
pub const INCOMPATIBLE: &str = "backward-incompatible";

const DESTRUCTIVE_HELP: &str = "if the data is really no longer needed, keep this but say so in review; otherwise copy it \
     elsewhere first, or stop using it in one release and drop it in a later one";
const INCOMPATIBLE_HELP: &str = "expand and contract: add the new shape next to the old one, deploy code that works with \
     both, and remove the old shape in a later migration";

/// A table or column rename found in the up script, keyed like the schema model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rename {
    kind: Kind,
    /// `schema.table` or `schema.table.column` before.
    from: String,
    /// The same after.
    to: String,
    /// Line of the statement in the file.
    line: u32,
}

/// The findings for migration `id` whose up is `up`, from `changes` (its diff from `before`).
/// Objects created and changed within the migration never appear in `changes`, so they never
/// count; nor do objects in `fresh` (and what belongs to them), which earlier migrations of the
/// change under review created: in production they are new and empty.
pub fn findings(id: &str, up: &Script, changes: &[Change], before: &Schema, fresh: &BTreeSet<String>) -> Vec<Finding> {
    let is_fresh = |name: &str| fresh.contains(name) || fresh.contains(table_of(name));
    let renames = renames(up);
    let renamed_tables: BTreeSet<&str> =
        renames.iter().filter(|r| r.kind == Kind::Table).flat_map(|r| [r.from.as_str(), r.to.as_str()]).collect();
    let renamed_columns: BTreeSet<&str> =
        renames.iter().filter(|r| r.kind == Kind::Column).flat_map(|r| [r.from.as_str(), r.to.as_str()]).collect();
    let dropped_tables: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.kind == Kind::Table && c.action == Action::Removed)
        .map(|c| c.name.as_str())
        .collect();
    let dropped_columns: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.kind == Kind::Column && c.action == Action::Removed)
        .map(|c| c.name.as_str())
        .collect();
    // A column swap (add a new column, copy, drop the old one, rename the new one to the old
    // name) shows as the old column altered: judged as that change, at the rename.
    let swapped: Vec<&Rename> = renames
        .iter()
        .filter(|r| {
            r.kind == Kind::Column && !before.columns.contains_key(&r.from) && before.columns.contains_key(&r.to)
        })
        .collect();
    let swap_line = |name: &str| swapped.iter().find(|r| r.to == name).map(|r| r.line);
    let mut unique_keys_after = unique_keys_added(changes);
    unique_keys_after.extend(unique_keys_kept(before, changes));
    let file = up.display_path();
    let mut out = Vec::new();
    let mut push = |rule: &'static StageRule, line: u32, message: String| {
        let help = if rule.id == DESTRUCTIVE { DESTRUCTIVE_HELP } else { INCOMPATIBLE_HELP };
        out.push(Finding::of(rule, message).in_migration(id).at(file.clone(), Some(line)).with_help(help));
    };
    for rename in renames.iter().filter(|r| !is_fresh(&r.from)) {
        let what = match rename.kind {
            Kind::Table => "table",
            Kind::Enum => "enum value",
            _ => "column",
        };
        let exists = match rename.kind {
            Kind::Table => before.tables.contains_key(&rename.from),
            Kind::Enum => table_of(&rename.from) == table_of(&rename.to),
            _ => before.columns.contains_key(&rename.from),
        };
        if exists {
            push(
                &rules::INCOMPATIBLE,
                rename.line,
                format!(
                    "{id} renames {what} {} to {}; the application version still running during the deploy uses the old name",
                    short(&rename.from),
                    short(&rename.to)
                ),
            );
        }
    }
    for change in changes.iter().filter(|c| !is_fresh(&c.name)) {
        let name = change.name.as_str();
        let table = table_of(name);
        let column = name.rsplit('.').next().unwrap_or(name);
        match (change.kind, change.action) {
            (Kind::Table, Action::Removed) if !renamed_tables.contains(name) => push(
                &rules::DESTRUCTIVE,
                locate(up, &["drop"], &[short(name)]),
                format!("{id} drops table {}{} and every row in it", short(name), columns_of(before, name)),
            ),
            (Kind::Column, Action::Removed)
                if !dropped_tables.contains(table)
                    && !renamed_tables.contains(table)
                    && !renamed_columns.contains(name) =>
            {
                push(
                    &rules::DESTRUCTIVE,
                    locate(up, &["drop"], &[table, column]),
                    format!("{id} drops column {} and the values in it", short(name)),
                )
            }
            (Kind::View | Kind::MaterializedView, Action::Removed) => push(
                &rules::DESTRUCTIVE,
                locate(up, &["drop"], &[short(name)]),
                format!("{id} drops {} {}; queries using it fail", change.kind, short(name)),
            ),
            (Kind::Enum, Action::Altered) if change.attribute.as_deref() == Some("labels") => {
                let after: Vec<&str> = change.after.as_deref().map(|l| l.split(", ").collect()).unwrap_or_default();
                let lost: Vec<String> = change
                    .before
                    .as_deref()
                    .map(|l| {
                        l.split(", ")
                            .filter(|v| !after.contains(v))
                            .filter(|v| {
                                !renames.iter().any(|r| r.kind == Kind::Enum && r.from == format!("{name}.{v}"))
                            })
                            .map(|v| format!("'{v}'"))
                            .collect()
                    })
                    .unwrap_or_default();
                if !lost.is_empty() {
                    push(
                        &rules::DESTRUCTIVE,
                        locate(up, &[], &[short(name)]),
                        format!(
                            "{id} removes {} from enum {}; rows holding them are lost or rewritten",
                            lost.join(", "),
                            short(name)
                        ),
                    );
                }
            }
            // A column renamed away and re-created under its old name is reported as the rename.
            (Kind::Column, Action::Altered) if renamed_columns.contains(name) && swap_line(name).is_none() => {}
            (Kind::Column, Action::Altered) if change.attribute.as_deref() == Some("data_type") => {
                let (from, to) = (change.before.as_deref().unwrap_or(""), change.after.as_deref().unwrap_or(""));
                let line = swap_line(name).unwrap_or_else(|| locate(up, &["type"], &[table, column]));
                let how = if swap_line(name).is_some() { " (by swapping in a new column under its name)" } else { "" };
                if is_widening(from, to) && textual(from) && textual(to) {
                    // A longer string limit breaks no reader.
                } else if !narrows(from, to) {
                    push(
                        &rules::INCOMPATIBLE,
                        line,
                        format!(
                            "{id} changes the type of column {} from {from} to {to}{how}; code written for {from} may not read it",
                            short(name)
                        ),
                    );
                } else {
                    push(
                        &rules::DESTRUCTIVE,
                        line,
                        format!(
                            "{id} changes the type of column {} from {from} to {to}{how}, which does not hold every {from} value: values are cut, rounded or fail to convert",
                            short(name)
                        ),
                    );
                }
            }
            (Kind::Column, Action::Altered)
                if change.attribute.as_deref() == Some("default")
                    && change.after.is_none()
                    && before.columns.get(name).is_some_and(|c| c.not_null && c.identity.is_none())
                    && !filled_otherwise(name, before, changes) =>
            {
                push(
                    &rules::INCOMPATIBLE,
                    swap_line(name).unwrap_or_else(|| locate(up, &["default"], &[table, column])),
                    format!(
                        "{id} drops the default of NOT NULL column {}; inserts from the running application that leave the column out now fail",
                        short(name)
                    ),
                )
            }
            (Kind::Constraint | Kind::Index, Action::Removed) => {
                let Some((what, on, columns)) = unique_key(before, change) else { continue };
                let lost_column = columns.iter().any(|c| dropped_columns.contains(format!("{on}.{c}").as_str()));
                let table_gone = dropped_tables.contains(on.as_str())
                    || renamed_tables.contains(on.as_str())
                    || changes.iter().any(|c| c.name == on && c.action == Action::Removed);
                if table_gone
                    || lost_column
                    || unique_keys_after.contains(&(on.clone(), columns.clone()))
                    || is_fresh(&on)
                {
                    continue;
                }
                let (key, object) = (columns.join(", "), name.rsplit('.').next().unwrap_or(name));
                push(
                    &rules::INCOMPATIBLE,
                    locate(up, &["drop"], &[object]),
                    format!(
                        "{id} drops {what} {object} on {} ({key}) and no other key covers those columns; code that relies on one row per ({key}), such as `INSERT ... ON CONFLICT ({key})`, breaks, and duplicates can now be written",
                        short(&on)
                    ),
                )
            }
            (Kind::Column, Action::Altered)
                if change.attribute.as_deref() == Some("not_null") && change.after.as_deref() == Some("true") =>
            {
                push(
                    &rules::INCOMPATIBLE,
                    locate(up, &["not", "null"], &[table, column]),
                    format!(
                        "{id} makes column {} NOT NULL; the running application may still write NULL there",
                        short(name)
                    ),
                )
            }
            (Kind::Column, Action::Added)
                if before.tables.contains_key(table)
                    && !renamed_tables.contains(table)
                    && !renamed_columns.contains(name) =>
            {
                let summary = change.after.as_deref().unwrap_or("");
                // `Column::summary` prints NOT NULL, DEFAULT, identity and generation clauses.
                let required =
                    summary.contains(" NOT NULL") && !summary.contains(" DEFAULT ") && !summary.contains(" GENERATED ");
                if required {
                    push(
                        &rules::INCOMPATIBLE,
                        locate(up, &["add"], &[table, column]),
                        format!(
                            "{id} adds column {} NOT NULL without a default; inserts from the running application, which does not know the column, fail",
                            short(name)
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// ` (columns a, b, c)` for a table of `before` (up to 8 named), or nothing when it had none.
fn columns_of(before: &Schema, table: &str) -> String {
    let prefix = format!("{table}.");
    let names: Vec<&str> = before
        .columns
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .map(|(key, _)| &key[prefix.len()..])
        .filter(|rest| !rest.contains('.'))
        .collect();
    match names.len() {
        0 => String::new(),
        n if n <= 8 => format!(" (columns {})", names.join(", ")),
        n => format!(" ({n} columns: {}, …)", names[..8].join(", ")),
    }
}

/// For a removed unique or primary key constraint, or a removed unique index without a
/// predicate, of `before`: what it was, its table and its key columns.
fn unique_key(before: &Schema, change: &Change) -> Option<(&'static str, String, Vec<String>)> {
    match change.kind {
        Kind::Constraint => {
            let constraint = before.constraints.get(&change.name)?;
            let what = match constraint.constraint_type.as_str() {
                "unique" => "unique constraint",
                "primary key" => "primary key",
                _ => return None,
            };
            Some((what, table_of(&change.name).to_string(), key_columns(&constraint.definition)?))
        }
        Kind::Index => {
            let index = before.indexes.get(&change.name).filter(|i| i.unique && i.predicate.is_none())?;
            Some(("unique index", index.table.clone(), key_columns(&index.definition)?))
        }
        _ => None,
    }
}

/// The unique keys (table, sorted columns) of `before` that a migration with `changes` leaves
/// as they were.
fn unique_keys_kept(before: &Schema, changes: &[Change]) -> BTreeSet<(String, Vec<String>)> {
    let changed: BTreeSet<&str> = changes
        .iter()
        .filter(|c| matches!(c.kind, Kind::Constraint | Kind::Index) && c.action != Action::Added)
        .map(|c| c.name.as_str())
        .collect();
    let constraints = before
        .constraints
        .iter()
        .filter(|(name, c)| {
            matches!(c.constraint_type.as_str(), "unique" | "primary key") && !changed.contains(name.as_str())
        })
        .filter_map(|(name, c)| Some((table_of(name).to_string(), key_columns(&c.definition)?)));
    let indexes = before
        .indexes
        .iter()
        .filter(|(name, i)| i.unique && i.predicate.is_none() && !changed.contains(name.as_str()))
        .filter_map(|(_, i)| Some((i.table.clone(), key_columns(&i.definition)?)));
    constraints.chain(indexes).collect()
}

/// True when something other than the column's default fills `column` on insert after the
/// migration: it becomes an identity or generated column, becomes nullable, or its table has
/// triggers (a BEFORE INSERT trigger may set it).
fn filled_otherwise(column: &str, before: &Schema, changes: &[Change]) -> bool {
    let table = table_of(column);
    let prefix = format!("{table}.");
    let altered = |attribute: &str| {
        changes.iter().any(|c| c.name == column && c.attribute.as_deref() == Some(attribute) && c.after.is_some())
    };
    let nullable = changes
        .iter()
        .any(|c| c.name == column && c.attribute.as_deref() == Some("not_null") && c.after.as_deref() == Some("false"));
    let triggers = before.triggers.range(prefix.clone()..).next().is_some_and(|(key, _)| key.starts_with(&prefix))
        || changes.iter().any(|c| c.kind == Kind::Trigger && c.action == Action::Added && c.name.starts_with(&prefix));
    nullable || altered("identity") || altered("generated") || triggers
}

/// The unique keys (table, sorted columns) that constraints and indexes added or redefined by a
/// migration provide.
fn unique_keys_added(changes: &[Change]) -> BTreeSet<(String, Vec<String>)> {
    changes
        .iter()
        .filter(|c| {
            c.action == Action::Added || (c.action == Action::Altered && c.attribute.as_deref() == Some("definition"))
        })
        .filter_map(|c| {
            let summary = c.after.as_deref()?;
            match c.kind {
                Kind::Constraint if summary.starts_with("UNIQUE") || summary.starts_with("PRIMARY KEY") => {
                    Some((table_of(&c.name).to_string(), key_columns(summary)?))
                }
                // `CREATE UNIQUE INDEX name ON schema.table USING method (columns)`, no WHERE.
                Kind::Index if summary.starts_with("CREATE UNIQUE INDEX") && !summary.contains(" WHERE ") => {
                    Some((crate::schema::model::indexed_table(summary)?, key_columns(summary)?))
                }
                _ => None,
            }
        })
        .collect()
}

/// The columns (or expressions) in the first parentheses of a key's definition, without operator
/// classes, collations or ordering, sorted (neither changes what the key makes unique, nor
/// which key `ON CONFLICT` infers): `UNIQUE (b, a)` → `[a, b]`.
fn key_columns(definition: &str) -> Option<Vec<String>> {
    let start = definition.find('(')? + 1;
    let (mut depth, mut columns, mut from) = (0usize, Vec::new(), start);
    let element = |text: &str| {
        let text = text.trim();
        // `name opclass`, `name COLLATE x DESC`: the column; an expression stays whole.
        let column = if text.contains('(') { text } else { text.split_whitespace().next().unwrap_or("") };
        column.replace('"', "")
    };
    for (at, c) in definition[start..].char_indices().map(|(i, c)| (i + start, c)) {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                columns.push(element(&definition[from..at]));
                columns.retain(|c: &String| !c.is_empty());
                columns.sort();
                return Some(columns);
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                columns.push(element(&definition[from..at]));
                from = at + 1;
            }
            _ => {}
        }
    }
    None
}

/// True when converting `from` to `to` can silently cut or round values: a shorter string, a
/// smaller or less precise number, a timestamp to a date or time. A conversion that fails
/// instead (text to an enum) or keeps every value is a type change, not a narrowing.
pub fn narrows(from: &str, to: &str) -> bool {
    if is_widening(from, to) {
        return false;
    }
    let base = |t: &str| t.split('(').next().unwrap_or(t).trim().to_string();
    let (a, b) = (base(from), base(to));
    let textual = |t: &str| matches!(t, "character varying" | "text" | "character");
    let number = |t: &str| matches!(t, "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision");
    let moment = |t: &str| t.starts_with("timestamp");
    match (a.as_str(), b.as_str()) {
        // Every 32-bit integer is exact in a double.
        ("smallint" | "integer", "double precision") => false,
        (x, y) if textual(x) && textual(y) => true,
        (x, y) if number(x) && number(y) => true,
        (x, "date") | (x, "time without time zone") | (x, "time with time zone") if moment(x) => true,
        _ => false,
    }
}

fn textual(t: &str) -> bool {
    let base = t.split('(').next().unwrap_or(t).trim();
    matches!(base, "character varying" | "text" | "character")
}

/// `public.users.email` → `users.email`.
fn short(name: &str) -> &str {
    name.strip_prefix("public.").unwrap_or(name)
}

/// The `schema.table` part of a `schema.table.column` key.
fn table_of(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(table, _)| table)
}

/// The file line of the first statement of `script` holding every word of `words` and naming
/// every one of `names` (case-insensitively, as whole identifiers; for a qualified name its last
/// part); else its first statement's line.
pub fn locate(script: &Script, words: &[&str], names: &[&str]) -> u32 {
    let names: Vec<String> = names.iter().map(|n| n.rsplit('.').next().unwrap_or(n).to_lowercase()).collect();
    let found = script.split.statements.iter().find(|s| {
        let text = script.text(s).to_lowercase();
        words.iter().all(|w| text.contains(w)) && names.iter().all(|n| mentions(&text, n))
    });
    match found.or(script.split.statements.first()) {
        Some(statement) => script.statement_line(statement),
        None => script.first_line,
    }
}

/// True when `word` occurs in `text` as an identifier (not inside a longer one).
pub fn mentions(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(ident) && !text[at + word.len()..].chars().next().is_some_and(ident)
    })
}

/// Table and column renames in `script`, with unqualified names taken to be in `public`.
fn renames(script: &Script) -> Vec<Rename> {
    let mut out = Vec::new();
    for statement in &script.split.statements {
        let Ok(parsed) = pg_query::parse(script.text(statement), 0) else { continue };
        for raw in &parsed.protobuf.stmts {
            let line = script.statement_line(statement);
            let node = raw.stmt.as_ref().and_then(|s| s.node.as_ref());
            if let Some(NodeEnum::AlterEnumStmt(alter)) = node
                && !alter.old_val.is_empty()
            {
                let names: Vec<&str> = alter
                    .type_name
                    .iter()
                    .filter_map(|n| match &n.node {
                        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                        _ => None,
                    })
                    .collect();
                let name = match names.as_slice() {
                    [name] => format!("public.{name}"),
                    [schema, name] => format!("{schema}.{name}"),
                    _ => continue,
                };
                out.push(Rename {
                    kind: Kind::Enum,
                    from: format!("{name}.{}", alter.old_val),
                    to: format!("{name}.{}", alter.new_val),
                    line,
                });
                continue;
            }
            let Some(NodeEnum::RenameStmt(rename)) = node else {
                continue;
            };
            let Some(relation) = &rename.relation else { continue };
            let schema = if relation.schemaname.is_empty() { "public" } else { relation.schemaname.as_str() };
            let table = format!("{schema}.{}", relation.relname);
            if rename.rename_type == ObjectType::ObjectTable as i32 {
                out.push(Rename { kind: Kind::Table, to: format!("{schema}.{}", rename.newname), from: table, line });
            } else if rename.rename_type == ObjectType::ObjectColumn as i32
                && rename.relation_type == ObjectType::ObjectTable as i32
            {
                out.push(Rename {
                    kind: Kind::Column,
                    from: format!("{table}.{}", rename.subname),
                    to: format!("{table}.{}", rename.newname),
                    line,
                });
            }
        }
    }
    out
}

/// The changes on one line, as findings show them; long definitions are cut down to where they
/// differ.
pub fn describe(changes: &[Change]) -> String {
    const MAX: usize = 12;
    let mut parts: Vec<String> = changes.iter().take(MAX).map(describe_one).collect();
    if changes.len() > MAX {
        parts.push(format!("and {} more", changes.len() - MAX));
    }
    parts.join("; ")
}

fn describe_one(change: &Change) -> String {
    match (change.action, change.before.as_deref(), change.after.as_deref()) {
        (Action::Altered, Some(before), Some(after)) if before.len() + after.len() > 120 => {
            let (context, a, b) = difference(&flatten(before), &flatten(after));
            format!(
                "changes {} {} {} at `…{context}`: `{a}` → `{b}`",
                change.kind,
                change.short_name(),
                change.attribute.as_deref().unwrap_or("?").replace('_', " ")
            )
        }
        _ => one_line(&change.to_string()),
    }
}

fn flatten(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where two texts part: up to 40 characters of common context, then each one's differing
/// middle (at most 80 characters).
fn difference(a: &str, b: &str) -> (String, String, String) {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let cut = |s: &[char]| {
        let text: String = s.iter().take(80).collect();
        if s.len() > 80 { format!("{text}…") } else { text }
    };
    let context: String = a[prefix.saturating_sub(40)..prefix].iter().collect();
    (context, cut(&a[prefix..a.len() - suffix]), cut(&b[prefix..b.len() - suffix]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Column, Table};
    use std::path::Path;

    fn script(sql: &str) -> Script {
        Script::new(Path::new("2_up.sql"), 1, sql.to_string()).unwrap()
    }

    fn table() -> Table {
        Table {
            persistence: "permanent".into(),
            partition_by: None,
            partition_bound: None,
            inherits: vec![],
            row_security: false,
            force_row_security: false,
            options: vec![],
            replica_identity: "default".into(),
            comment: None,
        }
    }

    fn column(data_type: &str, not_null: bool, default: Option<&str>) -> Column {
        Column {
            data_type: data_type.into(),
            not_null,
            default: default.map(str::to_string),
            identity: None,
            generated: None,
            collation: None,
            comment: None,
        }
    }

    fn base() -> Schema {
        let mut s = Schema::default();
        s.tables.insert("public.users".into(), table());
        s.columns.insert("public.users.id".into(), column("bigint", true, None));
        s.columns.insert("public.users.name".into(), column("character varying(50)", false, None));
        s
    }

    fn rules(sql: &str, after: &Schema) -> Vec<(String, u32)> {
        rules_between(&base(), after, sql)
    }

    /// (rule, line) of the findings for `sql` taking `before` to `after`.
    fn rules_between(before: &Schema, after: &Schema, sql: &str) -> Vec<(String, u32)> {
        let changes = crate::schema::diff(before, after);
        findings("2", &script(sql), &changes, before, &BTreeSet::new())
            .into_iter()
            .map(|f| (f.rule, f.line.unwrap()))
            .collect()
    }

    #[test]
    fn drops_and_narrowing_are_destructive() {
        let mut after = base();
        after.columns.remove("public.users.name");
        assert_eq!(rules("SELECT 1;\nALTER TABLE users DROP COLUMN name;", &after), [(DESTRUCTIVE.into(), 2)]);
        let mut after = base();
        after.columns.get_mut("public.users.name").unwrap().data_type = "character varying(10)".into();
        assert_eq!(rules("ALTER TABLE users ALTER name TYPE varchar(10);", &after), [(DESTRUCTIVE.into(), 1)]);
        let mut after = Schema::default();
        after.tables.clear();
        // One finding for the table, none for each of its columns.
        assert_eq!(rules("DROP TABLE users;", &after), [(DESTRUCTIVE.into(), 1)]);
    }

    #[test]
    fn widening_and_nullable_additions_are_not_destructive() {
        let mut after = base();
        after.columns.get_mut("public.users.name").unwrap().data_type = "text".into();
        assert_eq!(rules("ALTER TABLE users ALTER name TYPE text;", &after), [], "a longer limit breaks nothing");
        let mut after = base();
        after.columns.get_mut("public.users.id").unwrap().data_type = "integer".into();
        assert_eq!(rules("ALTER TABLE users ALTER id TYPE int;", &after), [(DESTRUCTIVE.into(), 1)]);
        let mut before_int = base();
        before_int.columns.get_mut("public.users.id").unwrap().data_type = "integer".into();
        let changes = crate::schema::diff(&before_int, &base());
        let found =
            findings("2", &script("ALTER TABLE users ALTER id TYPE bigint;"), &changes, &before_int, &BTreeSet::new());
        assert_eq!(
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
            [INCOMPATIBLE],
            "clients decode the old type"
        );
        let mut after = base();
        after.columns.insert("public.users.bio".into(), column("text", false, None));
        after.columns.insert("public.users.karma".into(), column("integer", true, Some("0")));
        assert_eq!(rules("ALTER TABLE users ADD bio text, ADD karma int NOT NULL DEFAULT 0;", &after), []);
    }

    #[test]
    fn required_columns_and_renames_are_incompatible() {
        let mut after = base();
        after.columns.insert("public.users.email".into(), column("text", true, None));
        assert_eq!(rules("ALTER TABLE users ADD email text NOT NULL;", &after), [(INCOMPATIBLE.into(), 1)]);
        let mut after = base();
        let name = after.columns.remove("public.users.name").unwrap();
        after.columns.insert("public.users.full_name".into(), name);
        assert_eq!(
            rules("\n\nALTER TABLE users RENAME COLUMN name TO full_name;", &after),
            [(INCOMPATIBLE.into(), 3)],
            "a rename is not a drop"
        );
        let mut after = Schema::default();
        after.tables.insert("public.accounts".into(), table());
        after.columns.insert("public.accounts.id".into(), column("bigint", true, None));
        after.columns.insert("public.accounts.name".into(), column("character varying(50)", false, None));
        assert_eq!(rules("ALTER TABLE users RENAME TO accounts;", &after), [(INCOMPATIBLE.into(), 1)]);
    }

    #[test]
    fn dropping_the_default_of_a_required_column_is_incompatible() {
        let mut before = base();
        before.columns.get_mut("public.users.name").unwrap().default = Some("'x'::character varying".into());
        let mut after = before.clone();
        after.columns.get_mut("public.users.name").unwrap().default = None;
        let found = rules_between;
        let sql = "SELECT 1;\nALTER TABLE users ALTER name DROP DEFAULT;";
        assert_eq!(found(&before, &after, sql), [], "a nullable column: inserts leave it NULL");
        before.columns.get_mut("public.users.name").unwrap().not_null = true;
        after.columns.get_mut("public.users.name").unwrap().not_null = true;
        assert_eq!(found(&before, &after, sql), [(INCOMPATIBLE.into(), 2)]);
        after.columns.get_mut("public.users.name").unwrap().not_null = false;
        assert_eq!(found(&before, &after, sql), [], "made nullable in the same migration");
    }

    #[test]
    fn a_column_swap_is_judged_as_the_type_change() {
        let mut after = base();
        after.columns.get_mut("public.users.id").unwrap().data_type = "text".into();
        let swap = "ALTER TABLE users ADD COLUMN new_id text;\nUPDATE users SET new_id = id;\n\
                    ALTER TABLE users DROP COLUMN id;\nALTER TABLE users RENAME COLUMN new_id TO id;";
        assert_eq!(rules(swap, &after), [(INCOMPATIBLE.into(), 4)]);
        // The near twin: the old column renamed away and a new one made: the rename is reported.
        let mut after = base();
        let id = after.columns.remove("public.users.id").unwrap();
        after.columns.insert("public.users.old_id".into(), id);
        after.columns.insert("public.users.id".into(), column("text", false, None));
        let rename = "ALTER TABLE users RENAME COLUMN id TO old_id;\nALTER TABLE users ADD COLUMN id text;";
        assert_eq!(rules(rename, &after), [(INCOMPATIBLE.into(), 1)]);
    }

    #[test]
    fn dropping_a_unique_key_without_a_replacement_is_incompatible() {
        use crate::schema::model::{Constraint, Index};
        let unique = |definition: &str| Constraint {
            constraint_type: "unique".into(),
            definition: definition.into(),
            comment: None,
        };
        let mut before = base();
        before.constraints.insert("public.users.users_name_key".into(), unique("UNIQUE (name)"));
        let mut check = unique("CHECK (id > 0)");
        check.constraint_type = "check".into();
        before.constraints.insert("public.users.users_id_check".into(), check);
        let found = |after: &Schema, sql: &str| rules_between(&before, after, sql);
        let mut after = before.clone();
        after.constraints.remove("public.users.users_name_key");
        let drop = "SELECT 1;\nALTER TABLE users DROP CONSTRAINT users_name_key;";
        assert_eq!(found(&after, drop), [(INCOMPATIBLE.into(), 2)]);
        let mut replaced = after.clone();
        replaced.indexes.insert(
            "public.users_name_idx".into(),
            Index {
                table: "public.users".into(),
                method: "btree".into(),
                unique: true,
                nulls_not_distinct: false,
                columns: vec!["name".into()],
                include: vec![],
                predicate: None,
                definition: "CREATE UNIQUE INDEX users_name_idx ON public.users USING btree (name)".into(),
                comment: None,
            },
        );
        assert_eq!(found(&replaced, drop), [], "a unique index on the same columns replaces it");
        // The same index there before and kept: the key still holds.
        let mut with_index = before.clone();
        with_index.indexes = replaced.indexes.clone();
        assert_eq!(rules_between(&with_index, &replaced, drop), [], "another key on the same columns stays");
        let mut after = before.clone();
        after.constraints.remove("public.users.users_id_check");
        assert_eq!(found(&after, "ALTER TABLE users DROP CONSTRAINT users_id_check;"), [], "not a unique key");
    }

    #[test]
    fn renamed_enum_values_are_not_lost() {
        let mut before = base();
        before.enums.insert(
            "public.mode".into(),
            crate::schema::model::Enum { labels: vec!["open".into(), "closed".into()], comment: None },
        );
        let mut after = before.clone();
        after.enums.get_mut("public.mode").unwrap().labels = vec!["Open".into(), "closed".into()];
        let changes = crate::schema::diff(&before, &after);
        let found = findings(
            "2",
            &script("ALTER TYPE mode RENAME VALUE 'open' TO 'Open';"),
            &changes,
            &before,
            &BTreeSet::new(),
        );
        assert_eq!(found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), [INCOMPATIBLE]);
        assert!(found[0].message.contains("renames enum value mode.open to mode.Open"), "{}", found[0].message);
        let found = findings("2", &script("SELECT 1;"), &changes, &before, &BTreeSet::new());
        assert_eq!(found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), [DESTRUCTIVE]);
    }

    #[test]
    fn new_tables_never_count() {
        let mut after = base();
        after.tables.insert("public.posts".into(), table());
        after.columns.insert("public.posts.title".into(), column("text", true, None));
        assert_eq!(rules("CREATE TABLE posts (title text NOT NULL);", &after), []);
    }

    #[test]
    fn objects_the_change_created_earlier_do_not_count() {
        let before = base();
        let mut after = base();
        after.columns.remove("public.users.name");
        let changes = crate::schema::diff(&before, &after);
        let up = script("ALTER TABLE users DROP COLUMN name;");
        let found = |fresh: &[&str]| {
            let fresh: BTreeSet<String> = fresh.iter().map(|s| s.to_string()).collect();
            findings("2", &up, &changes, &before, &fresh).len()
        };
        assert_eq!(found(&[]), 1);
        assert_eq!(found(&["public.users"]), 0, "a table the change added");
        assert_eq!(found(&["public.users.name"]), 0, "a column the change added");
        assert_eq!(found(&["public.accounts"]), 1);
    }

    #[test]
    fn narrowing() {
        for (a, b) in [
            ("character varying(50)", "character varying(10)"),
            ("text", "character varying(150)"),
            ("bigint", "integer"),
            ("double precision", "integer"),
            ("numeric(10,2)", "numeric(10,1)"),
            ("timestamp with time zone", "date"),
        ] {
            assert!(narrows(a, b), "{a} → {b}");
        }
        for (a, b) in [
            ("timestamp without time zone", "timestamp with time zone"),
            ("integer", "double precision"),
            ("integer", "bigint"),
            ("text", "mood"),
            ("smallint", "sort_type_enum"),
        ] {
            assert!(!narrows(a, b), "{a} → {b}");
        }
    }

    #[test]
    fn long_definitions_are_cut_to_the_difference() {
        let (context, a, b) = difference("SELECT a, b, c FROM t WHERE x", "SELECT a, b, d FROM t WHERE x");
        assert_eq!((context.as_str(), a.as_str(), b.as_str()), ("SELECT a, b, ", "c", "d"));
    }

    #[test]
    fn mentions_whole_identifiers_only() {
        assert!(mentions("drop index users_email_idx", "users_email_idx"));
        assert!(!mentions("drop index users_email_idx", "users"));
        assert!(mentions("alter table users drop name;", "users"));
    }

    #[test]
    fn key_columns_ignore_order_opclass_and_collation() {
        let key = |d: &str| key_columns(d).unwrap();
        assert_eq!(key("UNIQUE (b, \"A\")"), ["A", "b"]);
        assert_eq!(key("CREATE UNIQUE INDEX i ON public.t USING btree (index_id varchar_pattern_ops)"), ["index_id"]);
        assert_eq!(key("CREATE UNIQUE INDEX i ON t USING btree (name COLLATE \"C\" DESC, id)"), ["id", "name"]);
        assert_eq!(
            key("CREATE UNIQUE INDEX i ON t USING btree (lower((name)::text), id)"),
            ["id", "lower((name)::text)"]
        );
    }
}
