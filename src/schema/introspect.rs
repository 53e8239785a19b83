//! Reads a database's schema from the system catalogs into the [`Schema`] model: one set-based
//! query per object kind (SQL in `sql/*.sql`), inside one read-only snapshot with a fixed
//! `search_path` so that type names and expressions print the same on every connection.
//! Skips system schemas, objects owned by extensions and migration tools' bookkeeping tables.

use super::model::*;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Executor, Row};

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
    // may be inside one.
    let previous: String =
        sqlx::query_scalar("SELECT current_setting('search_path')").fetch_one(&mut *conn).await.map_err(setting)?;
    conn.execute("SET search_path = public").await.map_err(setting)?;
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

async fn fetch(conn: &mut PgConnection, what: &'static str, sql: &'static str) -> Result<Vec<PgRow>, IntrospectError> {
    sqlx::query(sql).fetch_all(conn).await.map_err(|source| IntrospectError::Query { what, source })
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

    const TYPES: &str = "types";
    for row in fetch(conn, TYPES, include_str!("sql/types.sql")).await? {
        let name = key2(&get::<String>(&row, 0, TYPES)?, &get::<String>(&row, 1, TYPES)?);
        let comment: Option<String> = get(&row, 11, TYPES)?;
        match get::<String>(&row, 2, TYPES)?.as_str() {
            "e" => {
                let labels: Option<Vec<String>> = get(&row, 3, TYPES)?;
                s.enums.insert(name, Enum { labels: labels.unwrap_or_default(), comment });
            }
            "d" => {
                s.domains.insert(
                    name,
                    Domain {
                        base_type: get::<Option<String>>(&row, 4, TYPES)?.unwrap_or_default(),
                        not_null: get(&row, 5, TYPES)?,
                        default: get(&row, 6, TYPES)?,
                        constraints: get(&row, 7, TYPES)?,
                        collation: get(&row, 10, TYPES)?,
                        comment,
                    },
                );
            }
            "c" => {
                s.composites.insert(name, Composite { attributes: get(&row, 8, TYPES)?, comment });
            }
            _ => {
                s.ranges.insert(name, Range { subtype: get(&row, 9, TYPES)?, comment });
            }
        }
    }

    const SEQUENCES: &str = "sequences";
    for row in fetch(conn, SEQUENCES, include_str!("sql/sequences.sql")).await? {
        let name = key2(&get::<String>(&row, 0, SEQUENCES)?, &get::<String>(&row, 1, SEQUENCES)?);
        s.sequences.insert(
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
        );
    }

    const TABLES: &str = "tables";
    for row in fetch(conn, TABLES, include_str!("sql/tables.sql")).await? {
        let name = key2(&get::<String>(&row, 0, TABLES)?, &get::<String>(&row, 1, TABLES)?);
        let replica_identity = match get::<String>(&row, 10, TABLES)?.as_str() {
            "n" => "nothing",
            "f" => "full",
            "i" => "index",
            _ => "default",
        };
        s.tables.insert(
            name,
            Table {
                persistence: persistence(&get::<String>(&row, 3, TABLES)?),
                row_security: get(&row, 4, TABLES)?,
                force_row_security: get(&row, 5, TABLES)?,
                partition_by: get(&row, 6, TABLES)?,
                partition_bound: get(&row, 7, TABLES)?,
                inherits: get(&row, 8, TABLES)?,
                options: get(&row, 9, TABLES)?,
                replica_identity: replica_identity.to_string(),
                comment: get(&row, 11, TABLES)?,
            },
        );
    }

    const COLUMNS: &str = "columns";
    for row in fetch(conn, COLUMNS, include_str!("sql/columns.sql")).await? {
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
        s.columns.insert(
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
        );
    }

    const CONSTRAINTS: &str = "constraints";
    for row in fetch(conn, CONSTRAINTS, include_str!("sql/constraints.sql")).await? {
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
        s.constraints.insert(
            name,
            Constraint {
                constraint_type: constraint_type.to_string(),
                definition: get(&row, 4, CONSTRAINTS)?,
                comment: get(&row, 5, CONSTRAINTS)?,
            },
        );
    }

    const INDEXES: &str = "indexes";
    for row in fetch(conn, INDEXES, include_str!("sql/indexes.sql")).await? {
        let schema: String = get(&row, 0, INDEXES)?;
        let name = key2(&schema, &get::<String>(&row, 1, INDEXES)?);
        let definition: String = get(&row, 7, INDEXES)?;
        let (columns, include) = index_columns(&definition);
        s.indexes.insert(
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
        );
    }

    const VIEWS: &str = "views";
    for row in fetch(conn, VIEWS, include_str!("sql/views.sql")).await? {
        let name = key2(&get::<String>(&row, 0, VIEWS)?, &get::<String>(&row, 1, VIEWS)?);
        s.views.insert(
            name,
            View {
                materialized: get::<String>(&row, 2, VIEWS)? == "m",
                definition: get::<Option<String>>(&row, 3, VIEWS)?.unwrap_or_default(),
                options: get(&row, 4, VIEWS)?,
                comment: get(&row, 5, VIEWS)?,
            },
        );
    }

    const FUNCTIONS: &str = "functions";
    for row in fetch(conn, FUNCTIONS, include_str!("sql/functions.sql")).await? {
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
        s.functions.insert(
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
        );
    }

    const TRIGGERS: &str = "triggers";
    for row in fetch(conn, TRIGGERS, include_str!("sql/triggers.sql")).await? {
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
        s.triggers.insert(
            name,
            Trigger {
                definition: get(&row, 3, TRIGGERS)?,
                enabled: enabled.to_string(),
                comment: get(&row, 5, TRIGGERS)?,
            },
        );
    }

    const POLICIES: &str = "policies";
    for row in fetch(conn, POLICIES, include_str!("sql/policies.sql")).await? {
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
        s.policies.insert(
            name,
            Policy {
                command: command.to_string(),
                permissive: get(&row, 4, POLICIES)?,
                roles: get(&row, 5, POLICIES)?,
                using: get(&row, 6, POLICIES)?,
                with_check: get(&row, 7, POLICIES)?,
            },
        );
    }
    Ok(s)
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
