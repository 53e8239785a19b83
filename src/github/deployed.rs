//! A deploy command's result where it runs: the step outputs and the job summary (when the
//! runner gives their files) and the Slack message (when a webhook is set). Publishing decides
//! nothing: the exit status is the command's own.

use super::context::Context;
use super::retry::Backoff;
use super::{slack, workflow};
use crate::bookkeeping::Status;
use crate::deploy::{Deployed, Direction};
use crate::plan::Plan;
use crate::report::markdown::{code, escape, fence_safe, html, plural};
use serde_json::{Value, json};

/// What a deploy command did or found, as published: a data model its renderers (outputs,
/// Markdown, Slack) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `status`, `plan`, `apply` or `rollback`.
    pub command: &'static str,
    /// The command exits 0.
    pub ok: bool,
    /// The target's bookkeeping table.
    pub table: String,
    /// Nothing was written (a dry run, `status`, `plan`).
    pub dry: bool,
    /// One sentence on what it did or found (migration ids are the repository's: escaped by
    /// each renderer).
    pub headline: String,
    /// Migrations applied, rolled back, or (for `status` and `plan`) pending, in order.
    pub migrations: Vec<String>,
    /// The migration the target is at, where the command knows it.
    pub current: Option<String>,
    /// The migration that failed (`apply`, `rollback`).
    pub failed: Option<String>,
    /// The job summary's body under the headline, as Markdown.
    pub details: String,
}

impl Outcome {
    /// `status`: where the target is and what needs a person.
    pub fn status(status: &Status, text: &str) -> Outcome {
        let mut headline = match status.applied.last() {
            Some(at) => format!("at {at}, {} pending", status.pending.len()),
            None if status.table_exists => format!("nothing applied, {} pending", status.pending.len()),
            None => format!("no {} table, {} pending", status.table, status.pending.len()),
        };
        let mut attention = Vec::new();
        if !status.unknown.is_empty() {
            attention.push(format!("{} unknown to the chain", status.unknown.len()));
        }
        if !status.edited.is_empty() {
            attention.push(format!("{} edited since applied", status.edited.len()));
        }
        if status.dirty.is_some() {
            attention.push("dirty".to_string());
        }
        if !attention.is_empty() {
            headline.push_str(&format!("; needs attention: {}", attention.join(", ")));
        }
        Outcome {
            command: "status",
            ok: !status.needs_attention(),
            table: status.table.clone(),
            dry: true,
            headline,
            migrations: status.pending.clone(),
            current: status.applied.last().cloned(),
            failed: None,
            details: text_block(text),
        }
    }

    /// `plan`: what `apply` would run, with the plan's own Markdown.
    pub fn plan(plan: &Plan) -> Outcome {
        let n = plan.pending.len();
        let headline = match &plan.current {
            Some(at) => format!("at {at}, {} to apply", plural(n, "migration")),
            None => format!("nothing applied, {} to apply", plural(n, "migration")),
        };
        Outcome {
            command: "plan",
            ok: true,
            table: plan.table.clone(),
            dry: true,
            headline,
            migrations: plan.pending.iter().map(|m| m.id.clone()).collect(),
            current: plan.current.clone(),
            failed: None,
            details: crate::plan::to_markdown(plan),
        }
    }

    /// `apply` or `rollback`: what ran, and what failed.
    pub fn deployed(deployed: &Deployed, text: &str) -> Outcome {
        let (command, verb) = match (deployed.direction, deployed.dry_run) {
            (Direction::Up, false) => ("apply", "applied"),
            (Direction::Up, true) => ("apply", "would apply"),
            (Direction::Down, false) => ("rollback", "rolled back"),
            (Direction::Down, true) => ("rollback", "would roll back"),
        };
        let n = deployed.steps.len();
        let mut headline = match n {
            0 if deployed.failed.is_none() => "nothing to do".to_string(),
            _ => format!("{verb} {}", plural(n, "migration")),
        };
        if let Some(failed) = &deployed.failed {
            let e = &failed.error;
            headline.push_str(&format!("; {} failed at {}:{}, nothing after it ran", failed.id, e.file, e.line));
        }
        Outcome {
            command,
            ok: deployed.failed.is_none(),
            table: deployed.table.clone(),
            dry: deployed.dry_run,
            headline,
            migrations: deployed.steps.iter().map(|s| s.id.clone()).collect(),
            current: None,
            failed: deployed.failed.as_ref().map(|f| f.id.clone()),
            details: text_block(text),
        }
    }

    /// The step outputs: `command`, `status` (`pass` or `fail`, as `check` says), `migrations`
    /// (space-separated ids), `count`, `current` and `failed` (empty when not known), `dry-run`.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("command", self.command.to_string()),
            ("status", if self.ok { "pass" } else { "fail" }.to_string()),
            ("migrations", self.migrations.join(" ")),
            ("count", self.migrations.len().to_string()),
            ("current", self.current.clone().unwrap_or_default()),
            ("failed", self.failed.clone().unwrap_or_default()),
            ("dry-run", self.dry.to_string()),
        ]
    }

    /// The job summary: a heading with the status, the headline, the details.
    pub fn markdown(&self) -> String {
        let icon = if self.ok { "✅" } else { "❌" };
        format!(
            "## {icon} Migration Guard {} on `{}`\n\n{}\n\n{}\n",
            self.command,
            code(&self.table),
            escape(&self.headline),
            self.details.trim_end()
        )
    }

    /// The Slack message, linking to the run when known; text from the repository is escaped
    /// as Slack asks (`&`, `<`, `>`), so it cannot make links or mentions.
    pub fn slack(&self, repository: &str, run_url: Option<&str>) -> Value {
        let icon = if self.ok { ":white_check_mark:" } else { ":x:" };
        let mut text = format!(
            "{icon} Migration Guard {} on {} ({}): {}",
            self.command,
            html(repository),
            html(&self.table),
            html(&self.headline)
        );
        if let Some(url) = run_url {
            text.push_str(&format!(" (<{url}|run>)"));
        }
        json!({ "text": text })
    }
}

/// Publishes `outcome`: outputs and summary where `ctx` gives their files, the Slack message
/// where `webhook` is set. Returns what could not be published, one line each.
pub async fn publish(outcome: &Outcome, ctx: Option<&Context>, webhook: Option<&str>, backoff: Backoff) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(file) = ctx.and_then(|c| c.output_file.as_ref())
        && let Err(e) = workflow::write_outputs(file, &outcome.outputs())
    {
        errors.push(format!("could not write the step outputs ({}): {e}", file.display()));
    }
    if let Some(file) = ctx.and_then(|c| c.summary_file.as_ref())
        && let Err(e) = workflow::append_summary(file, &outcome.markdown())
    {
        errors.push(format!("could not write the job summary ({}): {e}", file.display()));
    }
    if let Some(webhook) = webhook {
        let repository = ctx.filter(|c| c.has_repository()).map(|c| format!("{}/{}", c.owner, c.repo));
        let run_url = ctx.and_then(Context::run_url);
        let message = outcome.slack(repository.as_deref().unwrap_or("the target"), run_url.as_deref());
        if let Err(e) = slack::post(webhook, &message, backoff).await {
            errors.push(format!("could not post to Slack: {e}"));
        }
    }
    errors
}

/// A command's text output as a Markdown code block nothing in it can close.
fn text_block(text: &str) -> String {
    format!("```text\n{}\n```\n", fence_safe(text.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        Status {
            table: "schema_migrations".into(),
            table_exists: true,
            applied: vec!["1".into(), "2".into()],
            pending: vec!["3".into(), "4<@here>".into()],
            unknown: vec![],
            edited: vec!["2".into()],
            dirty: None,
        }
    }

    #[test]
    fn status_outputs_say_where_the_target_is_and_what_needs_a_person() {
        let outcome = Outcome::status(&status(), "at 2\n```\npending 3\n");
        assert!(!outcome.ok);
        assert_eq!(outcome.headline, "at 2, 2 pending; needs attention: 1 edited since applied");
        let outputs = outcome.outputs();
        assert!(outputs.contains(&("status", "fail".into())), "{outputs:?}");
        assert!(outputs.contains(&("migrations", "3 4<@here>".into())), "{outputs:?}");
        assert!(outputs.contains(&("current", "2".into())), "{outputs:?}");
        assert!(outputs.contains(&("dry-run", "true".into())), "{outputs:?}");
        // The text cannot close its code block.
        let markdown = outcome.markdown();
        assert_eq!(markdown.matches("```").count(), 2, "{markdown}");
        assert!(markdown.starts_with("## ❌ Migration Guard status on `schema_migrations`"), "{markdown}");
    }

    #[test]
    fn status_job_summary() {
        let mut s = status();
        s.dirty = Some("version 2 is dirty".into());
        let text = "current: 2 (2 of 4 applied)\npending: 2 (3, 4<@here>)\nedited: 2\n";
        insta::assert_snapshot!(Outcome::status(&s, text).markdown());
    }

    #[test]
    fn slack_text_from_the_repository_cannot_mention_or_link() {
        let mut s = status();
        s.applied = vec!["<!channel>".into()];
        let message = Outcome::status(&s, "").slack("acme/shop", Some("https://github.com/acme/shop/actions/runs/1"));
        let text = message["text"].as_str().unwrap();
        assert!(text.contains("at &lt;!channel&gt;"), "{text}");
        assert!(text.ends_with("(<https://github.com/acme/shop/actions/runs/1|run>)"), "{text}");
        assert!(text.starts_with(":x: Migration Guard status on acme/shop (schema_migrations)"), "{text}");
    }
}
