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
