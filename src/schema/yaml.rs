//! The YAML model format (documented in `docs/models.md`): tables, columns, keys, references,
//! indexes, checks and enums, compiled to DDL statements that each remember the YAML line they
//! came from, so that PostgreSQL's complaints point at the model file.

use crate::sql::{ident, literal};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A DDL statement compiled from the model file, with the YAML line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub line: u32,
    pub sql: String,
}

/// Why a model file cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    /// Schema of names given without one.
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    extensions: Vec<Spanned<String>>,
    #[serde(default)]
    enums: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    tables: BTreeMap<String, Spanned<TableDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDef {
    #[serde(default)]
    columns: BTreeMap<String, Spanned<ColumnSpec>>,
    #[serde(default)]
    primary_key: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    unique: Vec<Spanned<Vec<String>>>,
    #[serde(default)]
    indexes: Vec<Spanned<IndexDef>>,
    #[serde(default)]
    check: Vec<Spanned<String>>,
    #[serde(default)]
    comment: Option<String>,
}

/// `name: type` or the full mapping.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ColumnSpec {
    Type(String),
    Full(ColumnDef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnDef {
    #[serde(rename = "type")]
    data_type: String,
    #[serde(default)]
    nullable: Option<bool>,
    #[serde(default)]
    default: Option<Scalar>,
    #[serde(default)]
    primary_key: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    references: Option<String>,
    #[serde(default)]
    on_delete: Option<String>,
    #[serde(default)]
    on_update: Option<String>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// A default: strings are SQL expressions (`now()`, `'draft'`), numbers and booleans literals.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexDef {
    #[serde(default)]
    name: Option<String>,
    columns: Vec<String>,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    using: Option<String>,
    #[serde(default, rename = "where")]
    predicate: Option<String>,
    #[serde(default)]
    include: Vec<String>,
}

/// `schema.name` (or `name` in the default schema) as a quoted qualified name.
fn qualified(name: &str, default_schema: &str) -> (String, String) {
    match name.split_once('.') {
        Some((schema, object)) => (schema.to_string(), format!("{}.{}", ident(schema), ident(object))),
        None => (default_schema.to_string(), format!("{}.{}", ident(default_schema), ident(name))),
    }
}

fn idents(names: &[String]) -> String {
    names.iter().map(|n| ident(n)).collect::<Vec<_>>().join(", ")
}

/// Compiles a YAML model file into DDL statements in an order PostgreSQL accepts: schemas,
/// extensions, enums, tables and columns, keys and checks, foreign keys, indexes.
pub fn compile(text: &str) -> Result<Vec<Statement>, YamlError> {
    let model: ModelFile = if text.trim().is_empty() {
        ModelFile { schema: None, extensions: Vec::new(), enums: BTreeMap::new(), tables: BTreeMap::new() }
    } else {
        serde_saphyr::from_str(text).map_err(|e| YamlError {
            line: e.location().map_or(1, |l| l.line() as u32),
            message: first_line(&e.to_string()),
        })?
    };
    let default_schema = model.schema.clone().unwrap_or_else(|| "public".to_string());
    let mut schemas = Vec::new();
    let mut head = Vec::new();
    let mut tables = Vec::new();
    let mut keys = Vec::new();
    let mut foreign = Vec::new();
    let mut indexes = Vec::new();
    let mut need_schema = |schema: &str, line: u32| {
        if schema != "public" && !schemas.iter().any(|s: &Statement| s.sql.ends_with(&ident(schema))) {
            schemas.push(Statement { line, sql: format!("CREATE SCHEMA IF NOT EXISTS {}", ident(schema)) });
        }
    };
    for extension in &model.extensions {
        head.push(Statement {
            line: extension.referenced.line() as u32,
            sql: format!("CREATE EXTENSION IF NOT EXISTS {}", ident(&extension.value)),
        });
    }
    for (name, labels) in &model.enums {
        let line = labels.referenced.line() as u32;
        let (schema, qname) = qualified(name, &default_schema);
        need_schema(&schema, line);
        let labels = labels.value.iter().map(|l| literal(l)).collect::<Vec<_>>().join(", ");
        head.push(Statement { line, sql: format!("CREATE TYPE {qname} AS ENUM ({labels})") });
    }
    for (name, table) in &model.tables {
        let table_line = table.referenced.line() as u32;
        let (schema, qname) = qualified(name, &default_schema);
        need_schema(&schema, table_line);
        tables.push(Statement { line: table_line, sql: format!("CREATE TABLE {qname} ()") });
        if let Some(comment) = &table.value.comment {
            tables
                .push(Statement { line: table_line, sql: format!("COMMENT ON TABLE {qname} IS {}", literal(comment)) });
        }
        let mut primary: Vec<String> = Vec::new();
        for (column, spec) in &table.value.columns {
            let line = spec.referenced.line() as u32;
            let def = match &spec.value {
                ColumnSpec::Type(data_type) => {
                    tables.push(Statement {
                        line,
                        sql: format!("ALTER TABLE {qname} ADD COLUMN {} {data_type}", ident(column)),
                    });
                    continue;
                }
                ColumnSpec::Full(def) => def,
            };
            let mut sql = format!("ALTER TABLE {qname} ADD COLUMN {} {}", ident(column), def.data_type);
            if let Some(identity) = &def.identity {
                let kind = match identity.to_lowercase().as_str() {
                    "always" => "ALWAYS",
                    "by default" | "by_default" => "BY DEFAULT",
                    other => {
                        return Err(YamlError {
                            line,
                            message: format!("identity: {other:?} is not `always` or `by default`"),
                        });
                    }
                };
                sql.push_str(&format!(" GENERATED {kind} AS IDENTITY"));
            }
            if def.nullable == Some(false) || (def.primary_key && def.nullable.is_none()) {
                sql.push_str(" NOT NULL");
            } else if def.nullable == Some(true) && def.primary_key {
                return Err(YamlError { line, message: format!("column {column}: a primary key cannot be nullable") });
            }
            if let Some(default) = &def.default {
                let expr = match default {
                    Scalar::Bool(b) => b.to_string(),
                    Scalar::Int(i) => i.to_string(),
                    Scalar::Float(f) => f.to_string(),
                    Scalar::Text(t) => t.clone(),
                };
                sql.push_str(&format!(" DEFAULT {expr}"));
            }
            if def.unique {
                sql.push_str(" UNIQUE");
            }
            if let Some(check) = &def.check {
                sql.push_str(&format!(" CHECK ({check})"));
            }
            tables.push(Statement { line, sql });
            if let Some(comment) = &def.comment {
                tables.push(Statement {
                    line,
                    sql: format!("COMMENT ON COLUMN {qname}.{} IS {}", ident(column), literal(comment)),
                });
            }
            if def.primary_key {
                primary.push(column.clone());
            }
            if let Some(target) = &def.references {
                let target_sql = match target.split_once('(') {
                    Some((table, rest)) => format!("{}({}", qualified(table.trim(), &default_schema).1, rest),
                    None => match target.rsplit_once('.') {
                        Some((table, col)) => format!("{}({})", qualified(table, &default_schema).1, ident(col)),
                        None => {
                            return Err(YamlError {
                                line,
                                message: format!("references: {target:?} is not `table.column` or `table(column)`"),
                            });
                        }
                    },
                };
                let mut sql =
                    format!("ALTER TABLE {qname} ADD FOREIGN KEY ({}) REFERENCES {target_sql}", ident(column));
                if let Some(action) = &def.on_delete {
                    sql.push_str(&format!(" ON DELETE {}", action.to_uppercase()));
                }
                if let Some(action) = &def.on_update {
                    sql.push_str(&format!(" ON UPDATE {}", action.to_uppercase()));
                }
                foreign.push(Statement { line, sql });
            }
        }
        match (&table.value.primary_key, primary.is_empty()) {
            (Some(pk), true) => keys.push(Statement {
                line: pk.referenced.line() as u32,
                sql: format!("ALTER TABLE {qname} ADD PRIMARY KEY ({})", idents(&pk.value)),
            }),
            (Some(pk), false) => {
                return Err(YamlError {
                    line: pk.referenced.line() as u32,
                    message: format!("table {name}: primary_key given both on the table and on columns"),
                });
            }
            (None, false) => keys.push(Statement {
                line: table_line,
                sql: format!("ALTER TABLE {qname} ADD PRIMARY KEY ({})", idents(&primary)),
            }),
            (None, true) => {}
        }
        for unique in &table.value.unique {
            keys.push(Statement {
                line: unique.referenced.line() as u32,
                sql: format!("ALTER TABLE {qname} ADD UNIQUE ({})", idents(&unique.value)),
            });
        }
        for check in &table.value.check {
            keys.push(Statement {
                line: check.referenced.line() as u32,
                sql: format!("ALTER TABLE {qname} ADD CHECK ({})", check.value),
            });
        }
        for index in &table.value.indexes {
            let def = &index.value;
            let mut sql = String::from(if def.unique { "CREATE UNIQUE INDEX" } else { "CREATE INDEX" });
            if let Some(name) = &def.name {
                sql.push_str(&format!(" {}", ident(name)));
            }
            sql.push_str(&format!(" ON {qname}"));
            if let Some(method) = &def.using {
                sql.push_str(&format!(" USING {method}"));
            }
            // Columns are written as SQL: a name or an expression such as `lower(email)`.
            sql.push_str(&format!(" ({})", def.columns.join(", ")));
            if !def.include.is_empty() {
                sql.push_str(&format!(" INCLUDE ({})", idents(&def.include)));
            }
            if let Some(predicate) = &def.predicate {
                sql.push_str(&format!(" WHERE {predicate}"));
            }
            indexes.push(Statement { line: index.referenced.line() as u32, sql });
        }
    }
    Ok(schemas.into_iter().chain(head).chain(tables).chain(keys).chain(foreign).chain(indexes).collect())
}

/// The parser's message on one line, without the position it repeats and with a hint for the
/// column shorthand.
fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid YAML").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.split_once(": ") {
        Some((position, rest)) if position.starts_with("line ") => rest,
        _ => line,
    };
    if line.contains("untagged enum ColumnSpec") {
        "a column is a type name or a mapping with `type:` and the keys listed in docs/models.md".to_string()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_tables_with_lines() {
        let yaml = "\
enums:
  mood: [sad, happy]
tables:
  users:
    columns:
      id: {type: bigint, primary_key: true, identity: always}
      email: {type: text, nullable: false, unique: true}
      mood: mood
      team_id: {type: bigint, references: teams.id, on_delete: cascade}
    indexes:
      - {columns: [lower(email)], name: users_lower_email}
  teams:
    columns:
      id: {type: bigint, primary_key: true}
";
        let statements = compile(yaml).unwrap();
        let find = |needle: &str| {
            statements.iter().find(|s| s.sql.contains(needle)).unwrap_or_else(|| panic!("{needle}: {statements:#?}"))
        };
        assert_eq!(find("CREATE TYPE").sql, "CREATE TYPE \"public\".\"mood\" AS ENUM ('sad', 'happy')");
        assert_eq!(find("CREATE TYPE").line, 2);
        assert_eq!(
            find("ADD COLUMN \"id\" bigint GENERATED").sql,
            "ALTER TABLE \"public\".\"users\" ADD COLUMN \"id\" bigint GENERATED ALWAYS AS IDENTITY NOT NULL"
        );
        assert_eq!(find("\"email\" text NOT NULL UNIQUE").line, 7);
        assert_eq!(find("FOREIGN KEY").line, 9);
        assert!(find("FOREIGN KEY").sql.ends_with("REFERENCES \"public\".\"teams\"(\"id\") ON DELETE CASCADE"));
        assert_eq!(find("CREATE INDEX").line, 11);
        let fk = statements.iter().position(|s| s.sql.contains("FOREIGN KEY")).unwrap();
        let teams = statements.iter().position(|s| s.sql.contains("CREATE TABLE \"public\".\"teams\"")).unwrap();
        assert!(teams < fk, "tables come before foreign keys");
    }

    #[test]
    fn errors_name_the_line() {
        let err = compile("tables:\n  users:\n    colums: {}\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let err = compile("tables:\n  t:\n    columns:\n      id: {type: int, identity: sometimes}\n").unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("identity"), "{err}");
    }
}
