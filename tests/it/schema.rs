//! Schema introspection and diff on real PostgreSQL, one test per object kind: acceptance
//! tables of (DDL before, DDL after, expected changes), plus what the model reads.

use crate::support::*;
use migration_guard::postgres::Server;
use migration_guard::schema::{self, Schema};
use sqlx::Executor;

/// Applies `sql` to a new scratch database and introspects it.
async fn schema_of(server: &Server, sql: &str) -> Schema {
    let db = server.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let schema = schema::introspect(&mut conn).await.unwrap();
    drop(conn);
    server.drop_database(&db).await.unwrap();
    schema
}

/// Runs each case: `before` alone, then `before` + `after`; the changes must read as expected
/// and diffing a schema with itself must find nothing.
async fn cases(server: &Server, base: &str, cases: &[(&str, &str, &[&str])]) {
    let mut failures = Vec::new();
    for (before, after, expected) in cases {
        let a = schema_of(server, &format!("{base};{before}")).await;
        let b = schema_of(server, &format!("{base};{before};{after}")).await;
        assert!(schema::diff(&a, &a).is_empty());
        let got: Vec<String> = schema::diff(&a, &b).iter().map(ToString::to_string).collect();
        if got != *expected {
            failures.push(format!("{after}\n  expected {expected:?}\n  got      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn schemas_and_extensions() {
    let server = shared_server();
    cases(
        &server,
        "SELECT 1",
        &[
            ("", "CREATE SCHEMA app", &["adds schema app"]),
            (
                "CREATE SCHEMA app",
                "COMMENT ON SCHEMA app IS 'the app'",
                &["changes schema app comment: (none) → the app"],
            ),
            ("CREATE SCHEMA app", "DROP SCHEMA app", &["drops schema app"]),
            ("", "CREATE EXTENSION pg_trgm", &["adds extension pg_trgm 1.6 in schema public"]),
        ],
    )
    .await;
    // Objects owned by an extension are the extension's business.
    let s = schema_of(&server, "CREATE EXTENSION pg_trgm; CREATE EXTENSION hstore").await;
    assert!(s.functions.is_empty() && s.ranges.is_empty() && s.domains.is_empty(), "{:?}", s.functions.keys());
    assert_eq!(s.extensions.keys().collect::<Vec<_>>(), vec!["hstore", "pg_trgm", "plpgsql"]);
}

#[tokio::test]
async fn enums_domains_composites_and_ranges() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TYPE mood AS ENUM ('sad', 'ok')",
        &[
            ("", "ALTER TYPE mood ADD VALUE 'happy'", &["changes enum mood labels: sad, ok → sad, ok, happy"]),
            ("", "ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok'", &["changes enum mood labels: sad, ok → sad, meh, ok"]),
            ("", "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", &["changes enum mood labels: sad, ok → sad, fine"]),
            ("", "CREATE TYPE color AS ENUM ('red')", &["adds enum color ('red')"]),
            ("", "CREATE DOMAIN posint AS integer CHECK (VALUE > 0)", &["adds domain posint integer"]),
            (
                "CREATE DOMAIN posint AS integer",
                "ALTER DOMAIN posint ADD CONSTRAINT positive CHECK (VALUE > 0)",
                &["changes domain posint constraints: (none) → positive CHECK (VALUE > 0)"],
            ),
            (
                "CREATE DOMAIN code AS varchar(3)",
                "ALTER DOMAIN code SET NOT NULL",
                &["changes domain code not null: false → true"],
            ),
            (
                "CREATE DOMAIN code AS varchar(3)",
                "ALTER DOMAIN code SET DEFAULT 'abc'",
                &["changes domain code default: (none) → 'abc'::character varying"],
            ),
            ("", "CREATE TYPE pair AS (a integer, b text)", &["adds composite type pair (a integer, b text)"]),
            (
                "CREATE TYPE pair AS (a integer, b text)",
                "ALTER TYPE pair ADD ATTRIBUTE c numeric(5,2)",
                &["changes composite type pair attributes: a integer, b text → a integer, b text, c numeric(5,2)"],
            ),
            ("", "CREATE TYPE floatrange AS RANGE (subtype = float8)", &["adds range type floatrange"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn sequences() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TABLE t (id serial, n bigint)",
        &[
            ("", "CREATE SEQUENCE s", &["adds sequence s bigint"]),
            ("CREATE SEQUENCE s", "ALTER SEQUENCE s INCREMENT BY 5", &["changes sequence s increment: 1 → 5"]),
            (
                "CREATE SEQUENCE s",
                "ALTER SEQUENCE s AS integer",
                &[
                    "changes sequence s data type: bigint → integer",
                    "changes sequence s max value: 9223372036854775807 → 2147483647",
                ],
            ),
            (
                "CREATE SEQUENCE s",
                "ALTER SEQUENCE s CYCLE START 10 RESTART 10 MINVALUE 10 CACHE 20",
                &[
                    "changes sequence s start: 1 → 10",
                    "changes sequence s min value: 1 → 10",
                    "changes sequence s cache: 1 → 20",
                    "changes sequence s cycle: false → true",
                ],
            ),
            (
                "CREATE SEQUENCE s",
                "ALTER SEQUENCE s OWNED BY t.n",
                &["changes sequence s owned by: (none) → public.t.n"],
            ),
            (
                "CREATE SEQUENCE s",
                "ALTER SEQUENCE s SET UNLOGGED",
                &["changes sequence s persistence: permanent → unlogged"],
            ),
            ("", "SELECT setval('t_id_seq', 42)", &[]),
        ],
    )
    .await;
    let s = schema_of(&server, "CREATE TABLE t (id serial)").await;
    assert_eq!(s.sequences["public.t_id_seq"].owned_by.as_deref(), Some("public.t.id"));
    assert_eq!(s.columns["public.t.id"].default.as_deref(), Some("nextval('t_id_seq'::regclass)"));
}

#[tokio::test]
async fn tables_and_columns() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TABLE users (id bigint PRIMARY KEY, name varchar(20), email text)",
        &[
            ("", "CREATE TABLE teams (id int)", &["adds table teams", "adds column teams.id integer"]),
            (
                "",
                "DROP TABLE users",
                &[
                    "drops table users",
                    "drops column users.email",
                    "drops column users.id",
                    "drops column users.name",
                    "drops constraint users.users_pkey",
                ],
            ),
            (
                "",
                "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0",
                &["adds column users.age integer NOT NULL DEFAULT 0"],
            ),
            (
                "",
                "ALTER TABLE users ALTER name TYPE varchar(40)",
                &["changes column users.name data type: character varying(20) → character varying(40)"],
            ),
            ("", "ALTER TABLE users ALTER name TYPE varchar(20)", &[]),
            ("", "ALTER TABLE users ALTER email SET NOT NULL", &["changes column users.email not null: false → true"]),
            (
                "",
                "ALTER TABLE users ALTER email SET DEFAULT lower('X')",
                &["changes column users.email default: (none) → lower('X'::text)"],
            ),
            (
                "",
                "ALTER TABLE users ALTER id ADD GENERATED ALWAYS AS IDENTITY",
                &["adds sequence users_id_seq bigint", "changes column users.id identity: (none) → always"],
            ),
            (
                "",
                "ALTER TABLE users ADD COLUMN lname text GENERATED ALWAYS AS (lower(name)) STORED",
                &["adds column users.lname text GENERATED ALWAYS AS (lower((name)::text)) STORED"],
            ),
            (
                "",
                "ALTER TABLE users ALTER email TYPE text COLLATE \"C\"",
                &["changes column users.email collation: (none) → \"C\""],
            ),
            (
                "",
                "COMMENT ON COLUMN users.email IS 'where to write'",
                &["changes column users.email comment: (none) → where to write"],
            ),
            ("", "COMMENT ON TABLE users IS 'people'", &["changes table users comment: (none) → people"]),
            ("", "ALTER TABLE users SET UNLOGGED", &["changes table users persistence: permanent → unlogged"]),
            ("", "ALTER TABLE users ENABLE ROW LEVEL SECURITY", &["changes table users row security: false → true"]),
            (
                "",
                "ALTER TABLE users FORCE ROW LEVEL SECURITY",
                &["changes table users force row security: false → true"],
            ),
            ("", "ALTER TABLE users SET (fillfactor = 70)", &["changes table users options: (none) → fillfactor=70"]),
            ("", "ALTER TABLE users REPLICA IDENTITY FULL", &["changes table users replica identity: default → full"]),
            (
                "",
                "CREATE TABLE m (at date, v int) PARTITION BY RANGE (at)",
                &["adds table m", "adds column m.at date", "adds column m.v integer"],
            ),
            (
                "CREATE TABLE m (at date) PARTITION BY RANGE (at)",
                "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
                &["adds table m1", "adds column m1.at date"],
            ),
            (
                "",
                "ALTER TABLE users RENAME email TO mail",
                &["drops column users.email", "adds column users.mail text"],
            ),
            ("", "INSERT INTO users VALUES (1, 'a', 'b'); ANALYZE users", &[]),
            // Bookkeeping tables of migration tools are not part of the schema.
            (
                "",
                "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean); \
                  CREATE TABLE goose_db_version (id serial PRIMARY KEY)",
                &[],
            ),
        ],
    )
    .await;
    let s = schema_of(
        &server,
        "CREATE TABLE m (at date) PARTITION BY RANGE (at); \
        CREATE TABLE m1 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    )
    .await;
    assert_eq!(s.tables["public.m"].partition_by.as_deref(), Some("RANGE (at)"));
    assert_eq!(
        s.tables["public.m1"].partition_bound.as_deref(),
        Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    );
    assert_eq!(s.tables["public.m1"].inherits, vec!["public.m"]);
}

#[tokio::test]
async fn constraints() {
    let server = shared_server();
    cases(
        &server,
        "CREATE EXTENSION btree_gist; CREATE TABLE teams (id int PRIMARY KEY, code text); \
         CREATE TABLE users (id int, team_id int, age int, during tsrange)",
        &[
            ("", "ALTER TABLE users ADD PRIMARY KEY (id)", &[
                "changes column users.id not null: false → true",
                "adds constraint users.users_pkey PRIMARY KEY (id)",
            ]),
            ("", "ALTER TABLE users ADD UNIQUE (team_id, age)", &[
                "adds constraint users.users_team_id_age_key UNIQUE (team_id, age)",
            ]),
            ("", "ALTER TABLE teams ADD UNIQUE NULLS NOT DISTINCT (code)", &[
                "adds constraint teams.teams_code_key UNIQUE NULLS NOT DISTINCT (code)",
            ]),
            ("", "ALTER TABLE users ADD FOREIGN KEY (team_id) REFERENCES teams", &[
                "adds constraint users.users_team_id_fkey FOREIGN KEY (team_id) REFERENCES teams(id)",
            ]),
            ("ALTER TABLE users ADD FOREIGN KEY (team_id) REFERENCES teams", 
             "ALTER TABLE users DROP CONSTRAINT users_team_id_fkey, ADD FOREIGN KEY (team_id) REFERENCES teams MATCH FULL ON DELETE CASCADE ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED", &[
                "changes constraint users.users_team_id_fkey definition: FOREIGN KEY (team_id) REFERENCES teams(id) → FOREIGN KEY (team_id) REFERENCES teams(id) MATCH FULL ON UPDATE SET NULL ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
            ]),
            ("", "ALTER TABLE users ADD CONSTRAINT adult CHECK (age >= 18) NOT VALID", &[
                "adds constraint users.adult CHECK (age >= 18) NOT VALID",
            ]),
            ("ALTER TABLE users ADD CONSTRAINT adult CHECK (age >= 18) NOT VALID", "ALTER TABLE users VALIDATE CONSTRAINT adult", &[
                "changes constraint users.adult definition: CHECK (age >= 18) NOT VALID → CHECK (age >= 18)",
            ]),
            ("", "ALTER TABLE users ADD CONSTRAINT no_overlap EXCLUDE USING gist (team_id WITH =, during WITH &&)", &[
                "adds constraint users.no_overlap EXCLUDE USING gist (team_id WITH =, during WITH &&)",
            ]),
            ("", "ALTER TABLE teams DROP CONSTRAINT teams_pkey", &["drops constraint teams.teams_pkey"]),
            ("", "COMMENT ON CONSTRAINT teams_pkey ON teams IS 'key'", &[
                "changes constraint teams.teams_pkey comment: (none) → key",
            ]),
        ],
    )
    .await;
}

#[tokio::test]
async fn indexes() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TABLE users (id int, email text, team int, deleted boolean, tags text[])",
        &[
            ("", "CREATE INDEX users_email ON users (email)", &[
                "adds index users_email CREATE INDEX users_email ON users USING btree (email)",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE UNIQUE INDEX users_email ON users (email)", &[
                "changes index users_email unique: false → true",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE INDEX users_email ON users USING hash (email)", &[
                "changes index users_email method: btree → hash",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE INDEX users_email ON users (lower(email))", &[
                "changes index users_email columns: email → lower(email)",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE INDEX users_email ON users (email) INCLUDE (team)", &[
                "changes index users_email include: (none) → team",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE INDEX users_email ON users (email) WHERE NOT deleted", &[
                "changes index users_email predicate: (none) → NOT deleted",
            ]),
            ("CREATE UNIQUE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE UNIQUE INDEX users_email ON users (email) NULLS NOT DISTINCT", &[
                "changes index users_email nulls not distinct: false → true",
            ]),
            ("CREATE INDEX users_email ON users (email)", "DROP INDEX users_email; CREATE INDEX users_email ON users (email DESC)", &[
                "changes index users_email columns: email → email DESC",
            ]),
            ("CREATE INDEX users_email ON users (email)", "REINDEX INDEX users_email", &[]),
            ("CREATE INDEX users_email ON users (email)", "ALTER INDEX users_email SET (fillfactor = 50)", &[
                "changes index users_email definition: CREATE INDEX users_email ON users USING btree (email) → CREATE INDEX users_email ON users USING btree (email) WITH (fillfactor='50')",
            ]),
            ("", "CREATE INDEX users_tags ON users USING gin (tags)", &[
                "adds index users_tags CREATE INDEX users_tags ON users USING gin (tags)",
            ]),
            // The index behind a constraint is part of the constraint.
            ("", "ALTER TABLE users ADD PRIMARY KEY (id)", &[
                "changes column users.id not null: false → true",
                "adds constraint users.users_pkey PRIMARY KEY (id)",
            ]),
        ],
    )
    .await;
}

#[tokio::test]
async fn views_and_materialized_views() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TABLE users (id int, name text); CREATE VIEW names AS SELECT name FROM users",
        &[
            ("", "CREATE OR REPLACE VIEW names AS select   NAME from USERS", &[]),
            ("", "CREATE OR REPLACE VIEW names AS SELECT name FROM users WHERE id > 0", &[
                "changes view names definition: SELECT users.name FROM users; → SELECT users.name FROM users WHERE users.id > 0;",
            ]),
            ("", "ALTER VIEW names SET (security_barrier = true)", &[
                "changes view names options: (none) → security_barrier=true",
            ]),
            ("", "CREATE MATERIALIZED VIEW ids AS SELECT id FROM users", &["adds materialized view ids"]),
            ("CREATE MATERIALIZED VIEW ids AS SELECT id FROM users", "REFRESH MATERIALIZED VIEW ids", &[]),
            ("CREATE MATERIALIZED VIEW ids AS SELECT id FROM users", "CREATE UNIQUE INDEX ids_id ON ids (id)", &[
                "adds index ids_id CREATE UNIQUE INDEX ids_id ON ids USING btree (id)",
            ]),
            ("", "DROP VIEW names; CREATE MATERIALIZED VIEW names AS SELECT name FROM users", &[
                "drops view names",
                "adds materialized view names",
            ]),
            ("", "COMMENT ON VIEW names IS 'just names'", &["changes view names comment: (none) → just names"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn functions_and_procedures() {
    let server = shared_server();
    cases(
        &server,
        "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
        &[
            ("", "CREATE FUNCTION add(a bigint, b bigint) RETURNS bigint LANGUAGE sql AS 'SELECT a + b'", &[
                "adds function add(a bigint, b bigint) returning bigint in sql",
            ]),
            ("", "CREATE OR REPLACE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b + 0'", &[
                "changes function add(a integer, b integer) definition: CREATE OR REPLACE FUNCTION public.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $function$SELECT a + b$function$ → CREATE OR REPLACE FUNCTION public.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $function$SELECT a + b + 0$function$",
            ]),
            ("", "ALTER FUNCTION add(int, int) STABLE STRICT SECURITY DEFINER", &[
                "changes function add(a integer, b integer) volatility: immutable → stable",
                "changes function add(a integer, b integer) strict: false → true",
                "changes function add(a integer, b integer) security definer: false → true",
            ]),
            ("", "CREATE PROCEDURE noop() LANGUAGE plpgsql AS $$ BEGIN END $$", &["adds procedure noop() in plpgsql"]),
            ("", "CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int)", &[
                "adds aggregate total(integer) returning integer in internal",
            ]),
            ("", "DROP FUNCTION add(int, int)", &["drops function add(a integer, b integer)"]),
            ("", "COMMENT ON FUNCTION add(int, int) IS 'sum'", &[
                "changes function add(a integer, b integer) comment: (none) → sum",
            ]),
        ],
    )
    .await;
}

#[tokio::test]
async fn triggers_and_policies() {
    let server = shared_server();
    cases(
        &server,
        "CREATE TABLE users (id int, owner text, updated timestamptz); \
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated = now(); RETURN NEW; END $$",
        &[
            ("", "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()", &[
                "adds trigger users.users_touch CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
            ]),
            ("CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()", "ALTER TABLE users DISABLE TRIGGER users_touch", &[
                "changes trigger users.users_touch enabled: origin → disabled",
            ]),
            ("CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()", "CREATE OR REPLACE TRIGGER users_touch BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()", &[
                "changes trigger users.users_touch definition: CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch() → CREATE TRIGGER users_touch BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
            ]),
            // Foreign keys' internal triggers are not user triggers.
            ("ALTER TABLE users ADD PRIMARY KEY (id)", "CREATE TABLE posts (user_id int REFERENCES users)", &[
                "adds table posts",
                "adds column posts.user_id integer",
                "adds constraint posts.posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id)",
            ]),
            ("", "CREATE POLICY mine ON users FOR SELECT USING (owner = current_user)", &["adds policy users.mine for select"]),
            ("CREATE POLICY mine ON users USING (owner = current_user)", "ALTER POLICY mine ON users TO postgres", &[
                "changes policy users.mine roles: public → postgres",
            ]),
            ("CREATE POLICY mine ON users USING (owner = current_user)", "ALTER POLICY mine ON users WITH CHECK (owner <> '')", &[
                "changes policy users.mine with check: (none) → owner <> ''::text",
            ]),
            ("CREATE POLICY mine ON users USING (owner = current_user)", "DROP POLICY mine ON users; CREATE POLICY mine ON users AS RESTRICTIVE USING (owner = current_user)", &[
                "changes policy users.mine permissive: true → false",
            ]),
        ],
    )
    .await;
}

#[tokio::test]
async fn introspection_keeps_the_connection_search_path() {
    let server = shared_server();
    let db = server.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    conn.execute("CREATE SCHEMA app; SET search_path = app, public").await.unwrap();
    conn.execute("CREATE TABLE t (id int)").await.unwrap();
    let s = schema::introspect(&mut conn).await.unwrap();
    assert!(s.tables.contains_key("app.t"));
    let path: String = sqlx::query_scalar("SHOW search_path").fetch_one(&mut conn).await.unwrap();
    assert_eq!(path, "app, public");
}
