//! Incremental snapshots (`schema::introspect::Snapshots`) against full reads: after every
//! step of real migration histories, and of DDL chosen to change how untouched objects print
//! (renames of what they reference, comments, schemas), the two must be equal.

use crate::support::*;
use migration_guard::migrations::{self, LoadOptions};
use migration_guard::runner::{self, NoObserver};
use migration_guard::schema::{self, Schema, introspect::Snapshots};
use sqlx::Executor;
use sqlx::postgres::PgConnection;

/// Snapshots, the schema their deltas add up to, and the previous full read.
struct Watched {
    snapshots: Snapshots,
    state: Schema,
    full: Schema,
}

impl Watched {
    fn new(snapshots: Snapshots) -> Watched {
        Watched { snapshots, state: Schema::default(), full: Schema::default() }
    }
}

/// Takes a snapshot and a full read; panics when the deltas so far do not add up to the full
/// read, or when this delta's changes are not those between the two full reads.
async fn agree(watched: &mut Watched, conn: &mut PgConnection, step: &str) {
    let delta = watched.snapshots.take().await.unwrap();
    watched.state.apply(&delta);
    let full = schema::introspect(conn).await.unwrap();
    let differences: Vec<String> = schema::diff(&full, &watched.state).iter().map(ToString::to_string).collect();
    assert!(differences.is_empty(), "after {step}, the snapshots differ from a full read: {differences:#?}");
    assert_eq!(delta.changes(), schema::diff(&watched.full, &full), "after {step}, the delta's changes");
    watched.full = full;
}

#[tokio::test]
async fn renames_comments_and_drops_reach_the_objects_that_reference_them() {
    renames_comments_and_drops(true).await;
}

#[tokio::test]
async fn renames_comments_and_drops_reach_them_without_the_ddl_log() {
    renames_comments_and_drops(false).await;
}

/// The steps, read through the DDL log (`logged`) or by scanning the catalogs.
async fn renames_comments_and_drops(logged: bool) {
    let shared = shared_server();
    let db = shared.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    let (owners, whole) = (db.connect_admin().await.unwrap(), db.connect_admin().await.unwrap());
    let mut snapshots = Watched::new(if logged {
        Snapshots::open(owners, whole).await.unwrap()
    } else {
        Snapshots::open_scanning(owners, whole).await.unwrap()
    });
    assert_eq!(snapshots.snapshots.logged(), logged, "a superuser's snapshots read the DDL log");
    agree(&mut snapshots, &mut conn, "nothing").await;
    let steps = [
        "CREATE TYPE mood AS ENUM ('ok', 'sad')",
        "CREATE FUNCTION positive(i int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT i > 0'",
        "CREATE SEQUENCE counter",
        "CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE, m mood DEFAULT 'ok', \
         n int DEFAULT nextval('counter') CHECK (positive(n)))",
        "CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent (id), \
         code text REFERENCES parent (code))",
        "CREATE INDEX child_parent ON child (parent_id) WHERE parent_id > 0",
        "CREATE VIEW v AS SELECT p.code, c.id FROM parent p JOIN child c ON c.parent_id = p.id",
        "CREATE FUNCTION coded() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM v; END",
        "ALTER VIEW v RENAME TO w",
        "ALTER VIEW w RENAME TO v",
        "ALTER TABLE parent RENAME TO mother",
        "ALTER TABLE mother RENAME COLUMN code TO label",
        "ALTER TABLE mother RENAME COLUMN id TO key",
        "ALTER SEQUENCE counter RENAME TO ticker",
        "ALTER TYPE mood RENAME TO feeling",
        "ALTER TYPE feeling ADD VALUE 'glad'",
        "CREATE DOMAIN score AS int CHECK (VALUE >= 0)",
        "ALTER DOMAIN score ADD CONSTRAINT small CHECK (VALUE < 100)",
        "CREATE TYPE pair AS (a int, b score)",
        "ALTER TYPE pair ADD ATTRIBUTE c text",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
        "CREATE TRIGGER touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch()",
        "ALTER TABLE child DISABLE TRIGGER touch",
        "ALTER TABLE child ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY mine ON child USING (id > 0)",
        "ALTER POLICY mine ON child USING (id > 1)",
        "CREATE POLICY checked ON child USING (positive(id))",
        "CREATE TABLE base (x int)",
        "CREATE TABLE derived (y int) INHERITS (base)",
        "ALTER TABLE base RENAME TO root",
        "CREATE VIEW vv AS SELECT code FROM v",
        "ALTER VIEW v RENAME COLUMN code TO the_code",
        "ALTER VIEW v RENAME COLUMN the_code TO code",
        "CREATE OR REPLACE VIEW v AS SELECT p.label AS code, c.id, c.id + 1 AS next FROM mother p JOIN child c ON c.parent_id = p.key",
        "CREATE TABLE events (at date NOT NULL) PARTITION BY RANGE (at)",
        "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        "ALTER TABLE events DETACH PARTITION events_2024",
        "ALTER FUNCTION touch() RENAME TO touched",
        "ALTER FUNCTION positive(int) RENAME TO above_zero",
        "ALTER INDEX child_parent RENAME TO child_mother",
        "ALTER TABLE child RENAME CONSTRAINT child_parent_id_fkey TO child_mother_fk",
        "COMMENT ON COLUMN child.parent_id IS 'the mother'",
        "COMMENT ON CONSTRAINT child_mother_fk ON child IS 'fk'",
        "ALTER SEQUENCE child_id_seq OWNED BY NONE",
        "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM child",
        "CREATE UNIQUE INDEX totals_n ON totals (n)",
        "DROP MATERIALIZED VIEW totals",
        // Made and dropped in one step: the drain finds no owner for what is gone, and the
        // drops name their owners.
        "ALTER TABLE mother ADD CONSTRAINT brief CHECK (length(label) < 9); \
         CREATE INDEX brief_label ON mother (label); CREATE TRIGGER brief BEFORE UPDATE ON mother \
         FOR EACH ROW EXECUTE FUNCTION touched(); ALTER TABLE mother DROP CONSTRAINT brief; \
         DROP INDEX brief_label; DROP TRIGGER brief ON mother",
        "CREATE TYPE gone AS (a int); CREATE TABLE keeps (g gone); DROP TABLE keeps; DROP TYPE gone",
        "CREATE SCHEMA app",
        "ALTER TABLE child SET SCHEMA app",
        "ALTER SCHEMA app RENAME TO application",
        "CREATE EXTENSION citext",
        "ALTER TABLE mother ADD COLUMN email citext",
        "DROP FUNCTION coded()",
        "DROP VIEW v CASCADE",
        "ALTER TABLE application.child ALTER COLUMN parent_id TYPE bigint",
        "DROP TABLE application.child",
        "ALTER TABLE mother DROP COLUMN email",
        "DROP EXTENSION citext",
        "CREATE OR REPLACE FUNCTION above_zero(i int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT i >= 1'",
        "DROP TABLE mother",
        "DROP FUNCTION above_zero(int)",
        // Partitions change with their parent; dropped parts find their table.
        "CREATE TABLE m2 (id int PRIMARY KEY, x text) PARTITION BY RANGE (id)",
        "CREATE TABLE m2_a PARTITION OF m2 FOR VALUES FROM (0) TO (10)",
        "CREATE TABLE m2_b (id int PRIMARY KEY, x text)",
        "ALTER TABLE m2 ATTACH PARTITION m2_b FOR VALUES FROM (10) TO (20)",
        "ALTER TABLE m2 ADD COLUMN y int DEFAULT 3",
        "CREATE INDEX m2_x ON m2 (x)",
        "DROP INDEX m2_x",
        "ALTER TABLE m2 DETACH PARTITION m2_b",
        "CREATE TABLE kid (z int) INHERITS (m2_b)",
        "ALTER TABLE m2_b ADD COLUMN w int",
        "ALTER TABLE kid NO INHERIT m2_b",
        "CREATE TABLE standalone (id int)",
        "CREATE INDEX standalone_id ON standalone (id)",
        "COMMENT ON INDEX standalone_id IS 'i'",
        "DROP INDEX standalone_id",
        "CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
        "CREATE TRIGGER t1 BEFORE INSERT ON standalone FOR EACH ROW EXECUTE FUNCTION trg()",
        "COMMENT ON TRIGGER t1 ON standalone IS 't'",
        "DROP TRIGGER t1 ON standalone",
        "ALTER TABLE standalone ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY p1 ON standalone USING (true)",
        "DROP POLICY p1 ON standalone",
        "GRANT SELECT ON standalone TO PUBLIC",
        "CREATE DOMAIN pos AS int CONSTRAINT pos_check CHECK (VALUE > 0)",
        "ALTER DOMAIN pos DROP CONSTRAINT pos_check",
        "CREATE TYPE color AS ENUM ('red')",
        "ALTER TABLE standalone ADD COLUMN c color",
        "DROP TYPE color CASCADE",
        "ALTER TABLE standalone ALTER COLUMN id SET DEFAULT 1",
        "ALTER TABLE standalone ALTER COLUMN id DROP DEFAULT",
        "CREATE RULE r1 AS ON UPDATE TO standalone DO INSTEAD NOTHING",
        "DROP RULE r1 ON standalone",
        "DO $$ BEGIN EXECUTE 'CREATE TABLE dynamic (id int)'; END $$",
        "CREATE TEMP TABLE scratch (id int)",
        "CREATE SEQUENCE ticks OWNED BY standalone.id",
        "DROP TABLE standalone",
        // Types read by owner: arrays, composites, domains over renamed types and functions.
        "CREATE TYPE tone AS ENUM ('low', 'high')",
        "CREATE TABLE sounds (id int, tones tone[], pitch tone)",
        "CREATE TYPE chord AS (root tone, third tone)",
        "CREATE DOMAIN loud AS tone CHECK (VALUE <> 'low')",
        "CREATE FUNCTION ok_pitch(t tone) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'",
        "CREATE DOMAIN checked_tone AS tone CHECK (ok_pitch(VALUE))",
        "ALTER TYPE tone RENAME TO pitch_class",
        "ALTER FUNCTION ok_pitch(pitch_class) RENAME TO fine_pitch",
        "ALTER TYPE chord ADD ATTRIBUTE fifth pitch_class",
        "ALTER TYPE chord RENAME ATTRIBUTE third TO second",
        "COMMENT ON TYPE chord IS 'c'",
        "COMMENT ON DOMAIN loud IS 'l'",
        "CREATE TABLE rows_of (r sounds)",
        "ALTER TABLE sounds RENAME TO noises",
        "CREATE TYPE span AS RANGE (subtype = int4)",
        "ALTER TYPE span RENAME TO stretch",
        "DROP TYPE chord",
        "DROP DOMAIN checked_tone",
        "DROP TABLE rows_of",
        "DROP TYPE pitch_class CASCADE",
    ];
    for step in steps {
        conn.execute(step).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        agree(&mut snapshots, &mut conn, step).await;
    }
    drop(conn);
    snapshots.snapshots.close().await;
    shared.drop_database(&db).await.unwrap();
}

/// Applies each migration of a corpus up, down and up again, comparing after every step; a
/// broken down is followed by a rebuild (a new database with the ups so far), as the stairway
/// does. Returns how many migrations were walked.
async fn walk(corpus_name: &str, path: &str) -> Option<usize> {
    let dir = corpus(corpus_name)?.join(path);
    let chain = migrations::load(&dir, &LoadOptions::default()).unwrap();
    let shared = shared_server();
    let mut db = shared.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    let mut snapshots = Watched::new(
        Snapshots::open(db.connect_admin().await.unwrap(), db.connect_admin().await.unwrap()).await.unwrap(),
    );
    let mut walked = 0;
    for (index, m) in chain.migrations.iter().enumerate() {
        let outcome = runner::run_script(&mut conn, &m.up, &mut NoObserver).await.unwrap();
        if let Some(e) = outcome.error {
            eprintln!("{corpus_name}: stops at {}:{}: {}", e.file, e.line, e.message);
            break;
        }
        agree(&mut snapshots, &mut conn, &format!("{} up", m.id)).await;
        if let Some(down) = m.down.as_ref().filter(|d| !d.is_empty()) {
            runner::run_script(&mut conn, down, &mut NoObserver).await.unwrap();
            agree(&mut snapshots, &mut conn, &format!("{} down", m.id)).await;
            if runner::run_script(&mut conn, &m.up, &mut NoObserver).await.unwrap().succeeded() {
                agree(&mut snapshots, &mut conn, &format!("{} up again", m.id)).await;
            } else {
                drop(conn);
                snapshots.snapshots.close().await;
                shared.drop_database(&db).await.unwrap();
                db = shared.create_database().await.unwrap();
                conn = db.connect().await.unwrap();
                for earlier in &chain.migrations[..=index] {
                    runner::run_script(&mut conn, &earlier.up, &mut NoObserver).await.unwrap();
                }
                snapshots = Watched::new(
                    Snapshots::open(db.connect_admin().await.unwrap(), db.connect_admin().await.unwrap())
                        .await
                        .unwrap(),
                );
                agree(&mut snapshots, &mut conn, &format!("rebuild after {}", m.id)).await;
            }
        }
        walked += 1;
    }
    drop(conn);
    snapshots.snapshots.close().await;
    shared.drop_database(&db).await.unwrap();
    Some(walked)
}

#[tokio::test]
async fn lemmy_up_down_up() {
    let Some(applied) = walk("lemmy", "migrations").await else { return };
    assert!(applied >= 200, "{applied}");
}

#[tokio::test]
async fn ente_up_down_up() {
    let Some(applied) = walk("ente", "server/migrations").await else { return };
    assert!(applied >= 100, "{applied}");
}

#[tokio::test]
async fn goalert_up_down_up() {
    let Some(applied) = walk("goalert", "migrate/migrations").await else { return };
    assert!(applied >= 200, "{applied}");
}
