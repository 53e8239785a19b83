//! Proof that introspection is exact: over many one-statement mutations of a corpus' migrated
//! schema, two databases' introspections are equal exactly when their normalized
//! `pg_dump --schema-only` outputs are. Also the stravacollector migrations against the
//! schema dump that project ships.

use crate::support::*;
use migration_guard::postgres::{ScratchDatabase, Server};
use migration_guard::schema::{self, Schema};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use std::process::Command;

/// Objects of kinds the corpus lacks, so that every kind gets mutated.
const EXTRAS: &str = r#"
CREATE SCHEMA extra;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE DOMAIN extra.posint AS integer CHECK (VALUE > 0);
CREATE TYPE extra.pair AS (a integer, b text);
CREATE TYPE extra.mood AS ENUM ('sad', 'ok');
CREATE SEQUENCE extra.counter INCREMENT 2;
CREATE TABLE extra.accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text NOT NULL DEFAULT current_user,
    balance numeric(12,2) DEFAULT 0 CHECK (balance >= 0),
    name text COLLATE "C",
    lname text GENERATED ALWAYS AS (lower(name)) STORED,
    mood extra.mood,
    code extra.posint
);
CREATE TABLE extra.events (at date NOT NULL, account_id bigint REFERENCES extra.accounts ON DELETE CASCADE, payload jsonb)
    PARTITION BY RANGE (at);
CREATE TABLE extra.events_2024 PARTITION OF extra.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_at ON extra.events (at);
CREATE INDEX accounts_name_trgm ON extra.accounts USING gin (name gin_trgm_ops);
CREATE UNIQUE INDEX accounts_owner_name ON extra.accounts (owner, name) INCLUDE (balance) WHERE balance > 0;
CREATE FUNCTION extra.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON extra.accounts FOR EACH ROW EXECUTE FUNCTION extra.touch();
ALTER TABLE extra.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON extra.accounts USING (owner = current_user);
CREATE VIEW extra.rich AS SELECT id, balance FROM extra.accounts WHERE balance > 1000;
CREATE PROCEDURE extra.noop() LANGUAGE sql AS $$ SELECT 1 $$;
"#;

/// `"a"."b"` from an unquoted `a.b` key.
fn quoted(key: &str) -> String {
    key.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// (`"schema"."table"`, `"column"`) of a `schema.table.column` key.
fn split_member(key: &str) -> (String, String) {
    let (table, name) = key.rsplit_once('.').unwrap();
    (quoted(table), format!("\"{name}\""))
}

/// One-statement changes to every object of `base`, plus statements that change nothing; at
/// most `PER_TEMPLATE` objects, spread over the schema, get each kind of change.
fn mutations(base: &Schema) -> Vec<String> {
    let all = all_mutations(base);
    let mut by_template: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for mutation in all {
        by_template.entry(template(&mutation)).or_default().push(mutation);
    }
    let mut picked = Vec::new();
    for (_, list) in by_template {
        let step = list.len().div_ceil(PER_TEMPLATE).max(1);
        picked.extend(list.into_iter().step_by(step));
    }
    picked
}

const PER_TEMPLATE: usize = 3;

/// A mutation with its identifiers blanked out, to group mutations by kind.
fn template(mutation: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in mutation.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out.chars().filter(|c| !c.is_ascii_digit()).collect()
}

fn all_mutations(base: &Schema) -> Vec<String> {
    let mut m: Vec<String> = vec![
        "SELECT 1".into(),
        "ANALYZE".into(),
        "CREATE SCHEMA mg_new".into(),
        "CREATE EXTENSION hstore".into(),
        "CREATE TYPE mg_e AS ENUM ('a')".into(),
        "CREATE TABLE mg_t (id int)".into(),
        "CREATE SEQUENCE mg_s".into(),
        "CREATE FUNCTION mg_f() RETURNS int LANGUAGE sql AS 'SELECT 1'".into(),
        "COMMENT ON SCHEMA extra IS 'x'".into(),
    ];
    for (name, table) in &base.tables {
        let t = quoted(name);
        m.push(format!("ALTER TABLE {t} ADD COLUMN mg_new integer"));
        m.push(format!("COMMENT ON TABLE {t} IS 'mutated'"));
        m.push(format!("ALTER TABLE {t} SET (fillfactor = 60)"));
        m.push(format!("ALTER TABLE {t} REPLICA IDENTITY FULL"));
        m.push(format!("ALTER TABLE {t} {} ROW LEVEL SECURITY", if table.row_security { "DISABLE" } else { "ENABLE" }));
        m.push(format!("REINDEX TABLE {t}"));
        if table.comment.is_none() {
            m.push(format!("COMMENT ON TABLE {t} IS NULL"));
        }
        m.push(format!("CREATE INDEX ON {t} ((1))"));
        m.push(format!("ALTER TABLE {t} ADD CONSTRAINT mg_check CHECK (true) NOT VALID"));
    }
    for (name, column) in base.columns.iter() {
        let (t, c) = split_member(name);
        m.push(format!("ALTER TABLE {t} DROP COLUMN {c} CASCADE"));
        m.push(format!("ALTER TABLE {t} ALTER COLUMN {c} {} NOT NULL", if column.not_null { "DROP" } else { "SET" }));
        m.push(match column.default {
            Some(_) => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
            None => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT NULL"),
        });
        m.push(format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE text"));
        m.push(format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {}", column.data_type));
        m.push(format!("COMMENT ON COLUMN {t}.{c} IS 'mutated'"));
        m.push(format!("ALTER TABLE {t} RENAME COLUMN {c} TO mg_renamed"));
    }
    for name in base.constraints.keys() {
        let (t, c) = split_member(name);
        m.push(format!("ALTER TABLE {t} DROP CONSTRAINT {c} CASCADE"));
        m.push(format!("COMMENT ON CONSTRAINT {c} ON {t} IS 'mutated'"));
    }
    for name in base.indexes.keys() {
        m.push(format!("DROP INDEX {}", quoted(name)));
        m.push(format!("COMMENT ON INDEX {} IS 'mutated'", quoted(name)));
        m.push(format!("ALTER INDEX {} SET (fillfactor = 50)", quoted(name)));
    }
    for (name, view) in &base.views {
        let v = quoted(name);
        if view.materialized {
            m.push(format!("DROP MATERIALIZED VIEW {v} CASCADE"));
            m.push(format!("REFRESH MATERIALIZED VIEW {v}"));
            m.push(format!("COMMENT ON MATERIALIZED VIEW {v} IS 'mutated'"));
        } else {
            m.push(format!("DROP VIEW {v} CASCADE"));
            m.push(format!("CREATE OR REPLACE VIEW {v} AS {}", view.definition.trim_end_matches(';')));
            m.push(format!("COMMENT ON VIEW {v} IS 'mutated'"));
            m.push(format!("ALTER VIEW {v} SET (security_barrier = true)"));
        }
    }
    for name in base.enums.keys() {
        m.push(format!("ALTER TYPE {} ADD VALUE 'mg_new'", quoted(name)));
        m.push(format!("ALTER TYPE {} ADD VALUE IF NOT EXISTS 'ok'", quoted(name)));
        m.push(format!("COMMENT ON TYPE {} IS 'mutated'", quoted(name)));
    }
    for name in base.domains.keys() {
        m.push(format!("ALTER DOMAIN {} SET DEFAULT 1", quoted(name)));
        m.push(format!("ALTER DOMAIN {} ADD CONSTRAINT mg_check CHECK (VALUE < 100)", quoted(name)));
    }
    for name in base.composites.keys() {
        m.push(format!("ALTER TYPE {} ADD ATTRIBUTE mg_new integer", quoted(name)));
    }
    for (name, sequence) in &base.sequences {
        m.push(format!("ALTER SEQUENCE {} INCREMENT BY 7", quoted(name)));
        m.push(format!("ALTER SEQUENCE {} CACHE 10", quoted(name)));
        m.push(format!("SELECT setval('{}', 99)", quoted(name)));
        if sequence.owned_by.is_none() {
            m.push(format!("ALTER SEQUENCE {} AS integer", quoted(name)));
        }
    }
    for name in base.functions.keys() {
        let (schema_and_name, args) = name.split_once('(').unwrap();
        let f = format!("{}({args}", quoted(schema_and_name));
        m.push(format!("DROP FUNCTION {f} CASCADE"));
        m.push(format!("ALTER ROUTINE {f} SECURITY DEFINER"));
        m.push(format!("COMMENT ON ROUTINE {f} IS 'mutated'"));
    }
    for name in base.triggers.keys() {
        let (t, c) = split_member(name);
        m.push(format!("ALTER TABLE {t} DISABLE TRIGGER {c}"));
        m.push(format!("DROP TRIGGER {c} ON {t}"));
    }
    for name in base.policies.keys() {
        let (t, c) = split_member(name);
        m.push(format!("DROP POLICY {c} ON {t}"));
        m.push(format!("ALTER POLICY {c} ON {t} USING (true)"));
    }
    m
}

/// `pg_dump --schema-only` of `db`, normalized: no comments, settings or psql meta-commands;
/// columns of a table in name order (the model ignores column order by design); statements
/// sorted.
fn normalized_dump(options: &PgConnectOptions, db: &str) -> Vec<String> {
    let host = options.get_socket().map(|s| s.display().to_string()).unwrap_or_else(|| options.get_host().to_string());
    let output = Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--no-privileges", "-h", &host])
        .args(["-p", &options.get_port().to_string(), "-U", options.get_username(), db])
        .output()
        .expect("run pg_dump");
    assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("--") && !l.starts_with('\\') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let split = migration_guard::sql::split(&text).unwrap();
    let mut statements: Vec<String> = split
        .statements
        .iter()
        .map(|s| text[s.start..s.end].to_string())
        .filter(|s| !s.starts_with("SET ") && !s.starts_with("SELECT pg_catalog.set_config"))
        .map(|s| {
            if s.starts_with("CREATE TABLE ") && s.contains("(\n") {
                let (head, rest) = s.split_once("(\n").unwrap();
                let (body, tail) = rest.rsplit_once("\n)").unwrap();
                let mut columns: Vec<&str> = body.lines().map(|l| l.trim().trim_end_matches(',')).collect();
                columns.sort();
                format!("{head}(\n{}\n){tail}", columns.join(",\n"))
            } else {
                s
            }
        })
        .collect();
    statements.sort();
    statements
}

async fn introspect(options: &PgConnectOptions) -> Schema {
    let mut conn = options.connect().await.unwrap();
    let s = schema::introspect(&mut conn).await.unwrap();
    conn.close().await.ok();
    s
}

async fn admin(server: &Server, base: &ScratchDatabase) -> sqlx::PgConnection {
    let _ = base;
    server.admin_options().clone().database("postgres").log_statements(log::LevelFilter::Off).connect().await.unwrap()
}

#[tokio::test]
async fn introspection_equality_matches_pg_dump_equality() {
    let Some(dir) = corpus("stravacollector") else { return };
    let server = shared_server();
    let base = server.create_database().await.unwrap();
    let mut conn = base.connect().await.unwrap();
    apply_dir(&mut conn, &dir.join("database/migrations")).await;
    conn.execute(sqlx::raw_sql(EXTRAS)).await.unwrap();
    conn.close().await.unwrap();
    let base_schema = introspect(&base.options).await;
    let base_dump = normalized_dump(&base.options, &base.name);

    let mut admin = admin(&server, &base).await;
    let mut mismatches = Vec::new();
    let (mut equal, mut different, mut rejected) = (0, 0, 0);
    let mutations = mutations(&base_schema);
    eprintln!("oracle: {} mutations", mutations.len());
    for (i, mutation) in mutations.iter().enumerate() {
        let name = format!("{}_m{i}", base.name);
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", base.name)))
            .await
            .unwrap();
        let options = base.options.clone().database(&name).log_statements(log::LevelFilter::Off);
        let mut conn = options.connect().await.unwrap();
        let applied = conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(mutation.clone()))).await;
        conn.close().await.ok();
        if applied.is_ok() {
            let model_equal = schema::diff(&base_schema, &introspect(&options).await).is_empty();
            let dump_equal = normalized_dump(&options, &name) == base_dump;
            if model_equal != dump_equal {
                mismatches.push(format!("{mutation}: introspection equal {model_equal}, pg_dump equal {dump_equal}"));
            }
            if dump_equal { equal += 1 } else { different += 1 }
        } else {
            rejected += 1;
        }
        admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\""))).await.unwrap();
    }
    // Physical settings pg_dump prints and the model leaves out by design: the oracle must see
    // them, or it could not see anything.
    for gap in [
        "ALTER TABLE extra.accounts ALTER COLUMN name SET STATISTICS 500",
        "ALTER TABLE extra.accounts ALTER COLUMN owner SET STORAGE MAIN",
    ] {
        let name = format!("{}_gap", base.name);
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", base.name)))
            .await
            .unwrap();
        let options = base.options.clone().database(&name).log_statements(log::LevelFilter::Off);
        let mut conn = options.connect().await.unwrap();
        conn.execute(gap).await.unwrap();
        conn.close().await.ok();
        assert!(schema::diff(&base_schema, &introspect(&options).await).is_empty(), "{gap}");
        assert_ne!(normalized_dump(&options, &name), base_dump, "{gap}");
        admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\""))).await.unwrap();
    }
    eprintln!("oracle: {equal} pairs equal, {different} different, {rejected} mutations rejected by PostgreSQL");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
    assert!(different >= 80 && equal >= 15, "too few mutations applied: {equal} equal, {different} different");
}

#[tokio::test]
async fn stravacollector_migrations_match_its_dump() {
    let Some(dir) = corpus("stravacollector") else { return };
    let server = shared_server();
    let migrated = server.create_database().await.unwrap();
    let mut conn = migrated.connect().await.unwrap();
    apply_dir(&mut conn, &dir.join("database/migrations")).await;
    let actual = schema::introspect(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let declared = server.create_database().await.unwrap();
    let mut conn = declared.connect().await.unwrap();
    let dump = std::fs::read_to_string(dir.join("database/dump.sql")).unwrap();
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(dump))).await.unwrap();
    let expected = schema::introspect(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    // The project generates dump.sql from its migrations, and every object of the migrated
    // database (15 tables, 183 columns, 27 constraints, 6 indexes, 10 views and materialized
    // views, 1 enum with its comment) is in it as written: there is no true difference.
    let changes = schema::diff(&expected, &actual);
    assert_eq!(changes, vec![], "{}", schema::diff::to_text(&changes));
    assert_eq!(
        (actual.tables.len(), actual.columns.len(), actual.constraints.len(), actual.indexes.len(), actual.views.len()),
        (15, 183, 27, 6, 10)
    );
    assert_eq!(
        actual.enums["public.activity_detail_source"].comment.as_deref(),
        Some("The source of the activity fetching.")
    );
    // And pg_dump agrees.
    assert_eq!(normalized_dump(&migrated.options, &migrated.name), normalized_dump(&declared.options, &declared.name));
}
