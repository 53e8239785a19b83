//! The sticky PR comment: found again by a hidden marker keyed by workflow and job (or
//! `comment-key`), created once and edited on every later run, never duplicated.

use super::api::{ApiError, GitHub};

/// What happened to the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    Created(u64),
    Updated(u64),
    /// The existing comment already had this body.
    Unchanged(u64),
    /// No earlier comment and `comment: on-failure` on a passing check.
    NotNeeded,
}

/// The hidden marker for `key`; `-->` cannot end it early.
pub fn marker(key: &str) -> String {
    let mut key: String = key.chars().filter(|c| !c.is_control()).collect();
    while key.contains("--") {
        key = key.replace("--", "-");
    }
    format!("<!-- migration-guard:{} -->", key.trim())
}

/// The key of a job's comment when `comment-key` is not set.
pub fn default_key(workflow: &str, job: &str) -> String {
    format!("{workflow}/{job}")
}

/// Finds the comment carrying `marker` on PR `number` and edits it to `body`, or creates it
/// when `create` allows. `body` must already contain the marker.
pub async fn upsert(
    github: &GitHub,
    number: u64,
    marker: &str,
    body: &str,
    create: bool,
) -> Result<CommentOutcome, ApiError> {
    let comments = github.list_comments(number).await?;
    // The oldest marked comment is the sticky one; later duplicates (from a race) are left alone.
    match comments.iter().find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker))) {
        Some(existing) if existing.body.as_deref() == Some(body) => Ok(CommentOutcome::Unchanged(existing.id)),
        Some(existing) => {
            github.update_comment(existing.id, body).await?;
            Ok(CommentOutcome::Updated(existing.id))
        }
        None if create => Ok(CommentOutcome::Created(github.create_comment(number, body).await?)),
        None => Ok(CommentOutcome::NotNeeded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stable_and_cannot_be_closed() {
        assert_eq!(marker(&default_key("CI", "migrations")), "<!-- migration-guard:CI/migrations -->");
        assert_eq!(marker("a--->b\n"), "<!-- migration-guard:a->b -->");
    }
}
