//! The sticky PR comment: found again by a hidden marker keyed by workflow and job (or
//! `comment-key`), created once and edited on every later run, never duplicated.

use super::api::{ApiError, Comment, GitHub};

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

/// Whether `comment` is ours: written by `login`, with `marker` as its whole first line. Anyone
/// can write a marker into a comment (or a PostgreSQL message into ours), so neither alone counts.
pub fn is_ours(comment: &Comment, login: &str, marker: &str) -> bool {
    let author = comment.user.as_ref().is_some_and(|u| u.login == login);
    let first_line = comment.body.as_deref().and_then(|b| b.lines().next()).map(str::trim_end);
    author && first_line == Some(marker)
}

/// Finds our comment carrying `marker` on PR `number` and edits it to `body`, or creates it
/// when `create` allows. `body` must start with the marker line.
pub async fn upsert(
    github: &GitHub,
    number: u64,
    marker: &str,
    body: &str,
    create: bool,
) -> Result<CommentOutcome, ApiError> {
    let login = github.current_login().await?;
    let comments = github.list_comments(number).await?;
    // The oldest of our marked comments is the sticky one; later duplicates (from a race) are
    // left alone.
    match comments.iter().find(|c| is_ours(c, &login, marker)) {
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
    fn only_our_own_comment_with_the_marker_line_first_is_ours() {
        let comment = |login: &str, body: &str| Comment {
            id: 1,
            body: Some(body.to_string()),
            user: Some(super::super::api::Login { login: login.to_string() }),
        };
        let marker = marker("CI/db");
        let ours = format!("{marker}\n## ✅ Migration Guard passed");
        assert!(is_ours(&comment("github-actions[bot]", &ours), "github-actions[bot]", &marker));
        assert!(!is_ours(&comment("mallory", &ours), "github-actions[bot]", &marker), "someone else's");
        let quoted = format!("> {marker}\n{marker}");
        assert!(!is_ours(&comment("github-actions[bot]", &quoted), "github-actions[bot]", &marker), "not first");
        let other_key = format!("{}\n", super::marker("CI/other"));
        assert!(!is_ours(&comment("github-actions[bot]", &other_key), "github-actions[bot]", &marker));
    }

    #[test]
    fn markers_are_stable_and_cannot_be_closed() {
        assert_eq!(marker(&default_key("CI", "migrations")), "<!-- migration-guard:CI/migrations -->");
        assert_eq!(marker("a--->b\n"), "<!-- migration-guard:a->b -->");
    }
}
