//! `check --models` / `--models-command` drift findings and the `diff` command, end to end.

use crate::support::*;
use std::path::Path;

crate::isolate!(NO_LINT, NO_STAIRWAY);

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

const MIGRATION: &str = "CREATE TABLE teams (id bigint PRIMARY KEY);\n\
    CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, nickname text, team_id bigint REFERENCES teams);\n";

/// The drift messages of a report, sorted.
fn drift_messages(report: &serde_json::Value) -> Vec<String> {
    let mut messages: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "drift")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    messages
}

#[test]
fn yaml_models_report_each_difference_as_drift() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    write(&migrations, "1_init.sql", MIGRATION);
    let models = write(
        dir.path(),
        "models.yaml",
        "tables:\n  teams:\n    columns:\n      id: {type: bigint, primary_key: true}\n  users:\n    columns:\n\
         \x20     id: {type: bigint, primary_key: true}\n      email: {type: varchar(255), nullable: false}\n\
         \x20     team_id: {type: bigint, references: teams.id}\n    indexes:\n      - {columns: [email]}\n",
    );
    let (output, report) = check_json(&migrations, &["--models", &models]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        drift_messages(&report),
        vec![
            "column users.email: data type is `text` in the migrated database, the models declare `character varying(255)`",
            "column users.nickname exists in the migrated database but not in the models",
            "index users_email_idx is declared in the models but missing from the migrated database",
        ]
    );
    assert_eq!(report["drift"].as_array().unwrap().len(), 3);
    assert_eq!(report["drift"][0]["kind"], "column");
    assert_eq!(report["drift"][0]["attribute"], "data_type");
    assert!(report["drift"][0]["message"].as_str().unwrap().starts_with("column users.email: data type"));
    assert!(report["findings"][0]["file"].as_str().unwrap().ends_with("models.yaml"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("[drift] column users.email"));
    // Objects another tool owns are left out: a column by name, an index by its table.
    let (_, report) = check_json(&migrations, &["--models", &models, "--drift-ignore", "users.nick*"]);
    assert_eq!(drift_messages(&report).len(), 2, "{report:#}");
    let (output, report) = check_json(&migrations, &["--models", &models, "--drift-ignore", "public.users"]);
    assert_eq!((output.status.code(), drift_messages(&report).len()), (Some(0), 0), "{report:#}");
}

#[test]
fn sql_models_spelled_differently_are_not_drift() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    write(&migrations, "1_init.sql", MIGRATION);
    // What pg_dump prints, with its meta-commands, owners and grants for roles we lack.
    let dump = "\\restrict abc\nSET statement_timeout = 0;\n\
        CREATE TABLE public.teams (id int8 NOT NULL);\nALTER TABLE public.teams OWNER TO app_owner;\n\
        CREATE TABLE public.users (id BIGINT NOT NULL, email TEXT NOT NULL, nickname TEXT, team_id INT8);\n\
        ALTER TABLE ONLY public.teams ADD CONSTRAINT teams_pkey PRIMARY KEY (id);\n\
        ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n\
        ALTER TABLE ONLY public.users ADD CONSTRAINT users_team_id_fkey FOREIGN KEY (team_id) REFERENCES public.teams(id);\n\
        GRANT SELECT ON public.users TO reporting;\n\\unrestrict abc\n";
    let models = write(dir.path(), "schema.sql", dump);
    let (output, report) = check_json(&migrations, &["--models", &models]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(drift_messages(&report).is_empty());
    assert_eq!(report["drift"], serde_json::json!([]), "models were checked and nothing differs");

    let command = format!("cat '{models}'");
    let (output, _) = check_json(&migrations, &["--models-command", &command]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// Constraints the models leave unnamed match those the migrations named, by definition; a
/// constraint the models name differently, or define differently, is drift.
#[test]
fn unnamed_model_constraints_match_named_ones_by_definition() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    write(
        &migrations,
        "1_init.sql",
        "CREATE TABLE teams (id bigint CONSTRAINT pk_teams PRIMARY KEY);
         CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, team_id bigint,
           CONSTRAINT uq_users_email UNIQUE (email), CONSTRAINT fk_users_team FOREIGN KEY (team_id) REFERENCES teams);
",
    );
    let unnamed = write(
        dir.path(),
        "unnamed.sql",
        "CREATE TABLE teams (id bigint PRIMARY KEY);
         CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, team_id bigint REFERENCES teams);
",
    );
    let (output, report) = check_json(&migrations, &["--models", &unnamed]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(drift_messages(&report).is_empty(), "{:?}", drift_messages(&report));

    // Named otherwise in the models, or another definition: drift, as before.
    let named = write(
        dir.path(),
        "named.sql",
        "CREATE TABLE teams (id bigint PRIMARY KEY);
         CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_unique UNIQUE,
           team_id bigint REFERENCES teams, UNIQUE (email, team_id));
",
    );
    let (output, report) = check_json(&migrations, &["--models", &named]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let messages = drift_messages(&report);
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("users.users_email_unique is declared")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("users.users_email_team_id_key is declared")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("users.uq_users_email exists")), "{messages:?}");
}

/// Models that cannot be read stop the check (exit 2) naming the file and line; models that
/// PostgreSQL refuses are a `drift` error at their line, and the rest of the report stands.
#[test]
fn broken_models_stop_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    write(&migrations, "1_init.sql", MIGRATION);
    for (name, content, expected) in [
        (
            "models.yaml",
            "tables:\n  users:\n    columns:\n      id: {type: bigint, nulable: false}\n",
            "models.yaml:4:",
        ),
        ("models.txt", "", "models.txt: cannot tell what this is"),
    ] {
        let models = write(dir.path(), name, content);
        let output = check(&migrations, &["--models", &models]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(stderr.contains(expected), "expected {expected:?} in\n{stderr}");
    }
    for (name, content, line, expected) in [
        (
            "bad_type.yaml",
            "tables:\n  users:\n    columns:\n      id: {type: bigitn}\n",
            4,
            "type \"bigitn\" does not exist",
        ),
        ("schema.sql", "CREATE TABLE a (id int);\n\nCREATE TABLE b (id nope);\n", 3, "type \"nope\" does not exist"),
    ] {
        let models = write(dir.path(), name, content);
        let (output, report) = check_json(&migrations, &["--models", &models]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert_eq!(report["summary"]["applied"], 1, "{report:#}");
        let finding = &report["findings"][0];
        assert_eq!((finding["rule"].as_str(), finding["line"].as_u64()), (Some("drift"), Some(line)), "{report:#}");
        assert!(finding["file"].as_str().unwrap().ends_with(name), "{finding}");
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains("the models do not apply") && message.contains(expected), "{message}");
    }
    let output = check(&migrations, &["--models-command", "echo broken >&2; exit 3"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("failed (exit status: 3): broken"), "{}", text(&output));
}

#[test]
fn diff_command_prints_changes_and_exits_by_equality() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.sql", "CREATE TABLE users (id int PRIMARY KEY, name varchar(20));\n");
    let b = write(
        dir.path(),
        "b.yaml",
        "tables:\n  users:\n    columns:\n      id: {type: integer, primary_key: true}\n      name: varchar(10)\n      age: int\n",
    );
    let output = bin().args(["diff", &a, &b]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "  adds column users.age integer\n\
         ! changes column users.name data type: character varying(20) → character varying(10)\n\
         2 difference(s), 1 destructive\n"
    );
    let output = bin().args(["diff", "--json", &a, &b]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["equal"], false);
    assert_eq!(json["changes"][1]["destructive"], true);
    assert_eq!(json["changes"][1]["before"], "character varying(20)");
    let output = bin().args(["diff", &a, &a]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "the schemas are equal\n");
    let output = bin().args(["diff", &a, "missing.sql"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn sqlalchemy_models_through_the_python_script() {
    let has_sqlalchemy = std::process::Command::new("python3")
        .args(["-c", "import sqlalchemy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sqlalchemy {
        eprintln!("SKIPPED: python3 with sqlalchemy not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    write(
        &migrations,
        "1_init.sql",
        "CREATE TYPE mood AS ENUM ('sad', 'happy');\n\
         CREATE TABLE teams (id bigserial PRIMARY KEY, name varchar(50) NOT NULL UNIQUE);\n\
         COMMENT ON COLUMN teams.name IS 'display name';\n\
         CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, team_id bigint REFERENCES teams ON DELETE CASCADE,\n\
         \x20 mood mood NOT NULL DEFAULT 'sad');\n\
         CREATE INDEX ix_users_email ON users (email);\n",
    );
    write(
        dir.path(),
        "models.py",
        "import enum\nimport sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\
         class Base(DeclarativeBase):\n    pass\n\n\
         class Mood(enum.Enum):\n    sad = 'sad'\n    happy = 'happy'\n\n\
         class Team(Base):\n    __tablename__ = 'teams'\n    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)\n\
         \x20   name: Mapped[str] = mapped_column(sa.String(50), unique=True, comment='display name')\n\n\
         class User(Base):\n    __tablename__ = 'users'\n    id: Mapped[int] = mapped_column(primary_key=True)\n\
         \x20   email: Mapped[str] = mapped_column(sa.Text, index=True)\n\
         \x20   team_id: Mapped[int | None] = mapped_column(sa.ForeignKey('teams.id', ondelete='CASCADE'))\n\
         \x20   mood: Mapped[Mood] = mapped_column(sa.Enum(Mood, name='mood'), server_default='sad')\n",
    );
    let script = root().join("python/migration_guard_sqlalchemy.py");
    let command = format!("cd '{}' && python3 '{}' models:Base", dir.path().display(), script.display());
    let (output, report) = check_json(&migrations, &["--models-command", &command]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(drift_messages(&report).is_empty());

    // The models say nullable; the migration says NOT NULL.
    let models = std::fs::read_to_string(dir.path().join("models.py")).unwrap();
    write(dir.path(), "models.py", &models.replace("sa.Text, index=True", "sa.Text, index=True, nullable=True"));
    let (output, report) = check_json(&migrations, &["--models-command", &command]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        drift_messages(&report),
        vec!["column users.email: not null is `true` in the migrated database, the models declare `false`"]
    );
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn stravacollector_check_against_its_dump_has_no_drift() {
    let Some(dir) = corpus("stravacollector") else { return };
    let dump = dir.join("database/dump.sql");
    let (output, report) = check_json(&dir.join("database/migrations"), &["--models", dump.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["summary"]["applied"], 41);
    assert!(drift_messages(&report).is_empty());
}
