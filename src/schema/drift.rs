//! Drift: the differences between the schema a chain produced and the schema the project
//! declares, turned into `drift` findings that name the object, the attribute, what the models
//! expect and what the migrated database has.

use super::declared::{self, DeclaredError, Source};
use super::diff::{Action, Change, diff, one_line};
use super::introspect::introspect;
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
    let expected = declared::build(server, models, options).await?;
    let mut conn = migrated.connect().await?;
    let actual = introspect(&mut conn).await?;
    conn.close().await.ok();
    Ok(diff(&expected, &actual))
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
