//! Drift: the differences between the schema a chain produced and the schema the project
//! declares, turned into `drift` findings that name the object, the attribute, what the models
//! expect and what the migrated database has.

use super::declared::{self, DeclaredError, Source};
use super::diff::{Action, Change, diff, one_line};
use super::introspect::introspect;
use super::model::Schema;
use crate::findings::Finding;
use crate::migrations::LoadOptions;
use crate::postgres::{ScratchDatabase, Server};
use serde::Serialize;
use sqlx::Connection;

/// Rule id of drift findings.
pub const RULE: &str = "drift";

/// Builds the declared schema from `models` on `server` and diffs it (expected, before) against
/// the migrated database (actual, after).
pub async fn check(
    server: &Server,
    migrated: &ScratchDatabase,
    models: &Source,
    options: &LoadOptions,
) -> Result<Vec<Change>, DeclaredError> {
    let mut expected = declared::build(server, models, options).await?;
    let mut conn = migrated.connect().await?;
    let actual = introspect(&mut conn).await?;
    conn.close().await.ok();
    match_unnamed_constraints(&mut expected, &actual);
    Ok(diff(&expected, &actual))
}

/// Models often leave constraints unnamed (SQLAlchemy's `unique=True`, a `REFERENCES` in DDL),
/// so PostgreSQL names them (`users_email_key`), while the migrations may have named them
/// (`uq_users_email`): the same constraint. A declared constraint under PostgreSQL's default
/// name that the database lacks takes the name of the one constraint of its table there with
/// the same type and definition that the models do not declare. Named ones must match by name.
fn match_unnamed_constraints(expected: &mut Schema, actual: &Schema) {
    let table_of = |key: &str| key.rsplit_once('.').map(|(table, name)| (table.to_string(), name.to_string()));
    let mut renames: Vec<(String, String)> = Vec::new();
    for (key, declared) in &expected.constraints {
        let Some((table, name)) = table_of(key) else { continue };
        let bare_table = table.rsplit_once('.').map_or(table.as_str(), |(_, t)| t);
        if actual.constraints.contains_key(key) || !generated_name(bare_table, &name, &declared.constraint_type) {
            continue;
        }
        let mut same = actual.constraints.iter().filter(|(other, found)| {
            table_of(other).is_some_and(|(t, _)| t == table)
                && !expected.constraints.contains_key(*other)
                && found.constraint_type == declared.constraint_type
                && found.definition == declared.definition
        });
        if let (Some((only, _)), None) = (same.next(), same.next())
            && !renames.iter().any(|(_, to)| to == only)
        {
            renames.push((key.clone(), only.clone()));
        }
    }
    for (from, to) in renames {
        if let Some(constraint) = expected.constraints.remove(&from) {
            expected.constraints.insert(to, constraint);
        }
    }
}

/// Whether `name` is one PostgreSQL chooses for a constraint of `table` created without a name:
/// the table, then columns for all but a primary key, then the kind's suffix and perhaps a
/// number; long names are cut to 63 bytes, the table's part with them.
fn generated_name(table: &str, name: &str, constraint_type: &str) -> bool {
    let suffix = match constraint_type {
        "primary key" => "_pkey",
        "unique" => "_key",
        "foreign key" => "_fkey",
        "check" => "_check",
        "exclusion" => "_excl",
        _ => return false,
    };
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let shared = table.bytes().zip(name.bytes()).take_while(|(a, b)| a == b).count();
    stem.ends_with(suffix) && (name.starts_with(&format!("{table}_")) || (name.len() >= 56 && shared >= 8))
}

/// True when `patterns` (see `--drift-ignore`) name the object a change is about, or its table.
pub fn ignored(change: &Change, patterns: &[String]) -> bool {
    // `schema.table.column` → itself and `schema.table`; names in public also without it.
    let mut names = vec![change.name.clone()];
    if let Some((table, _)) = change.name.rsplit_once('.').filter(|(table, _)| table.contains('.')) {
        names.push(table.to_string());
    }
    // An index is named apart from its table; its definition names the table.
    if change.kind == crate::schema::Kind::Index
        && let Some(table) =
            [&change.before, &change.after].into_iter().flatten().find_map(|d| crate::schema::model::indexed_table(d))
    {
        names.push(table);
    }
    let short: Vec<String> = names.iter().filter_map(|n| n.strip_prefix("public.")).map(str::to_string).collect();
    names.extend(short);
    patterns.iter().any(|pattern| names.iter().any(|name| glob(pattern, name)))
}

/// `*` matches any text (dots too); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len())
                    .filter(|&at| text.is_char_boundary(head.len() + at))
                    .any(|at| glob(rest, &text[head.len() + at..]))
        }
    }
}

/// The finding for models whose DDL PostgreSQL refuses (at `path`:`line`): drift cannot be
/// checked against them.
pub fn refused(path: &str, line: u32, message: &str) -> Finding {
    Finding::of(
        &crate::rules::DRIFT,
        format!("the models do not apply on PostgreSQL, so drift was not checked: {message}"),
    )
    .at(path, Some(line))
    .with_help("fix the models (or the command that prints them) so that their DDL runs on an empty database")
}

/// One error finding per change; `file` is the models file, when there is one.
pub fn findings(changes: &[Change], file: Option<&str>) -> Vec<Finding> {
    changes
        .iter()
        .map(|change| {
            let finding = Finding::of(&crate::rules::DRIFT, message(change))
                .with_help("add a migration that brings the schema in line with the models, or update the models");
            match file {
                Some(file) => finding.at(file, None),
                None => finding,
            }
        })
        .collect()
}

/// The finding's text for one change between the models (before) and the database (after).
pub fn message(change: &Change) -> String {
    let what = format!("{} {}", change.kind, change.short_name());
    let show = |v: &Option<String>| v.as_deref().map_or("(none)".to_string(), |v| format!("`{}`", one_line(v)));
    match change.action {
        Action::Added => format!("{what} exists in the migrated database but not in the models"),
        Action::Removed => format!("{what} is declared in the models but missing from the migrated database"),
        Action::Altered => format!(
            "{what}: {} is {} in the migrated database, the models declare {}",
            change.attribute.as_deref().unwrap_or("?").replace('_', " "),
            show(&change.after),
            show(&change.before)
        ),
    }
}

/// One difference as the report lists it: the change and its finding's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    #[serde(flatten)]
    pub change: Change,
    pub message: String,
}

/// The report's drift entries.
pub fn entries(changes: &[Change]) -> Vec<Drift> {
    changes.iter().map(|change| Drift { change: change.clone(), message: message(change) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Kind;
    use crate::schema::model::Constraint;

    fn constraints(list: &[(&str, &str, &str)]) -> Schema {
        let mut schema = Schema::default();
        for (key, kind, definition) in list {
            let constraint =
                Constraint { constraint_type: kind.to_string(), definition: definition.to_string(), comment: None };
            schema.constraints.insert(key.to_string(), constraint);
        }
        schema
    }

    #[test]
    fn unnamed_model_constraints_match_the_database_by_definition() {
        let actual = constraints(&[
            ("public.users.uq_users_email", "unique", "UNIQUE (email)"),
            ("public.users.fk_users_team", "foreign key", "FOREIGN KEY (team_id) REFERENCES teams(id)"),
            ("public.users.users_pkey", "primary key", "PRIMARY KEY (id)"),
            ("public.users.ck_positive", "check", "CHECK (score > 0)"),
        ]);
        let mut expected = constraints(&[
            ("public.users.users_email_key", "unique", "UNIQUE (email)"),
            ("public.users.users_team_id_fkey", "foreign key", "FOREIGN KEY (team_id) REFERENCES teams(id)"),
            ("public.users.users_pkey", "primary key", "PRIMARY KEY (id)"),
            // Named in the models: must match by name.
            ("public.users.positive_score", "check", "CHECK (score > 0)"),
        ]);
        match_unnamed_constraints(&mut expected, &actual);
        let changes = diff(&expected, &actual);
        let names: Vec<(&str, Action)> = changes.iter().map(|c| (c.name.as_str(), c.action)).collect();
        assert_eq!(
            names,
            [("public.users.ck_positive", Action::Added), ("public.users.positive_score", Action::Removed)]
        );

        // A different definition, or two candidates, is drift as before.
        let actual = constraints(&[
            ("public.users.uq_a", "unique", "UNIQUE (email, team_id)"),
            ("public.users.uq_b", "unique", "UNIQUE (email)"),
            ("public.users.uq_c", "unique", "UNIQUE (email)"),
        ]);
        let mut expected = constraints(&[
            ("public.users.users_email_team_id_key", "unique", "UNIQUE (team_id, email)"),
            ("public.users.users_email_key", "unique", "UNIQUE (email)"),
        ]);
        match_unnamed_constraints(&mut expected, &actual);
        assert_eq!(diff(&expected, &actual).len(), 5);
    }

    #[test]
    fn postgresql_default_constraint_names() {
        assert!(generated_name("users", "users_email_key", "unique"));
        assert!(generated_name("users", "users_email_key1", "unique"));
        assert!(generated_name("users", "users_pkey", "primary key"));
        assert!(generated_name("users", "users_team_id_fkey", "foreign key"));
        assert!(generated_name("users", "users_score_check", "check"));
        assert!(!generated_name("users", "uq_users_email", "unique"));
        assert!(!generated_name("users", "users_email_key", "foreign key"));
        assert!(!generated_name("users", "accounts_email_key", "unique"));
        let long = "organization_memberships_with_a_very_long_name_xxx_user_id_fkey";
        assert!(generated_name("organization_memberships_with_a_very_long_name_xxxxxxxxx", long, "foreign key"));
    }

    #[test]
    fn ignored_objects_with_what_belongs_to_them() {
        let change = |kind, name: &str, after: Option<&str>| Change {
            kind,
            name: name.into(),
            action: Action::Added,
            attribute: None,
            before: None,
            after: after.map(str::to_string),
        };
        let patterns = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let column = change(Kind::Column, "public.spatial_ref_sys.srid", None);
        assert!(ignored(&column, &patterns(&["spatial_ref_sys"])));
        assert!(ignored(&column, &patterns(&["public.spatial_*"])));
        assert!(!ignored(&column, &patterns(&["spatial_ref"])));
        let index = change(
            Kind::Index,
            "public.srs_idx",
            Some("CREATE INDEX srs_idx ON public.spatial_ref_sys USING btree (srid)"),
        );
        assert!(ignored(&index, &patterns(&["spatial_ref_sys"])), "an index of an ignored table");
        let other = change(Kind::Table, "audit.log", None);
        assert!(ignored(&other, &patterns(&["audit.*"])) && !ignored(&other, &patterns(&["log"])));
        assert!(glob("a*b*c", "a.x.b.y.c") && !glob("a*b", "a.b.c"));
    }

    #[test]
    fn messages_name_object_attribute_expected_and_actual() {
        let change = Change {
            kind: Kind::Column,
            name: "public.users.email".into(),
            action: Action::Altered,
            attribute: Some("data_type".into()),
            before: Some("character varying(255)".into()),
            after: Some("text".into()),
        };
        assert_eq!(
            message(&change),
            "column users.email: data type is `text` in the migrated database, the models declare `character varying(255)`"
        );
        let findings = findings(&[change], Some("models.yaml"));
        assert_eq!(findings[0].rule, "drift");
        assert_eq!(findings[0].severity, crate::findings::Severity::Error);
        assert_eq!(findings[0].file.as_deref(), Some("models.yaml"));
    }
}
