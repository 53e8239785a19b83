//! Publishing a finished report inside GitHub Actions: step outputs, job summary, check run with
//! annotations (or workflow-command annotations), sticky PR comment, artifact, Slack. Never
//! decides pass or fail: every failure here becomes a notice, and the caller chooses whether
//! publishing errors matter (`fail-on-publish-error`).

pub mod api;
pub mod artifact;
pub mod checks;
pub mod comment;
pub mod context;
pub mod deployed;
pub mod inputs;
pub mod retry;
pub mod slack;
pub mod workflow;

use crate::findings::Status;
use crate::report::{Report, markdown};
use crate::settings::{CheckSettings, PublishSettings};
pub use context::Context;
use retry::Backoff;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// When to write the sticky PR comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommentMode {
    /// On every run of a pull request (default).
    #[default]
    Always,
    /// Only when the check fails; an earlier comment is still kept up to date.
    OnFailure,
    /// Never.
    Never,
}

/// The check run's name.
pub const CHECK_NAME: &str = "Migration Guard";

/// What publishing did; `errors` are the steps that failed (each also printed as a notice).
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub comment: Option<comment::CommentOutcome>,
    pub check_run: Option<u64>,
    pub artifact: Option<artifact::Uploaded>,
    pub errors: Vec<String>,
}

/// Records a failed publishing step and tells the user with a notice.
fn fail(published: &mut Published, what: &str, error: String) {
    println!("{}", workflow::notice(CHECK_NAME, &format!("{what}: {error}")));
    published.errors.push(format!("{what}: {error}"));
}

/// Lines that make the runner hide the token, webhook and database password from the log;
/// print them before anything else.
/// Empty outside GitHub Actions, where the lines would print the secrets instead.
pub fn masks(settings: &CheckSettings) -> Vec<String> {
    let Some(publish) = &settings.publish else { return Vec::new() };
    let mut secrets = Vec::new();
    secrets.extend(publish.github_token.clone());
    secrets.extend(publish.slack_webhook.clone());
    if let Some(url) = &settings.provision.database_url {
        secrets.extend(password_of(url));
    }
    secrets.into_iter().filter(|s| !s.is_empty()).map(|s| workflow::mask(&s)).collect()
}

/// The password in a `postgres://user:password@host/db` URL, raw and percent-decoded.
fn password_of(url: &str) -> Vec<String> {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else { return Vec::new() };
    let Some((userinfo, _)) = rest.rsplit_once('@') else { return Vec::new() };
    let Some((_, password)) = userinfo.split_once(':') else { return Vec::new() };
    let decoded = percent_decode(password);
    if decoded == password { vec![password.to_string()] } else { vec![password.to_string(), decoded] }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Step outputs: `status`, `findings`, `errors`, `warnings`, `drift`, `heads`, `report-dir`.
pub fn outputs(report: &Report, report_dir: Option<&Path>) -> Vec<(&'static str, String)> {
    let value = serde_json::to_value(report).unwrap_or(Value::Null);
    let status = match report.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
    };
    vec![
        ("status", status.to_string()),
        ("findings", report.findings.len().to_string()),
        ("errors", report.summary.errors.to_string()),
        ("warnings", report.summary.warnings.to_string()),
        ("drift", drift_count(&value).to_string()),
        ("heads", heads(&value)),
        ("report-dir", report_dir.map(|d| d.display().to_string()).unwrap_or_default()),
    ]
}

/// Differences the drift stage found: its list's length, else drift findings.
fn drift_count(value: &Value) -> usize {
    match &value["drift"] {
        Value::Array(items) => items.len(),
        Value::Object(map) => ["differences", "changes", "items"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array))
            .map_or(0, Vec::len),
        _ => value["findings"]
            .as_array()
            .map_or(0, |f| f.iter().filter(|f| f["rule"].as_str().is_some_and(|r| r.contains("drift"))).count()),
    }
}

/// The revision graph's heads, space-separated, when the graph stage reported them.
fn heads(value: &Value) -> String {
    value["graph"]["heads"]
        .as_array()
        .map(|heads| {
            heads
                .iter()
                .map(|h| {
                    h.as_str()
                        .map(str::to_string)
                        .or_else(|| h["id"].as_str().map(str::to_string))
                        .unwrap_or_else(|| h.to_string())
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Tells the workflow that the check could not run at all (bad input or environment): an error
/// annotation, `status=error` and the message in the job summary. Best effort.
pub fn publish_failure(ctx: &Context, message: &str) {
    println!("{}", workflow::error(message));
    if let Some(file) = &ctx.output_file {
        let _ = workflow::write_outputs(file, &[("status", "error".to_string())]);
    }
    if let Some(file) = &ctx.summary_file {
        let text =
            format!("## ⚠️ Migration Guard could not run\n\n```text\n{}\n```\n", message.replace("```", "` ` `"));
        let _ = workflow::append_summary(file, &text);
    }
}

/// One line on what was published, for the log.
pub fn describe(published: &Published) -> String {
    let mut parts = Vec::new();
    match &published.comment {
        Some(comment::CommentOutcome::Created(id)) => parts.push(format!("PR comment {id} created")),
        Some(comment::CommentOutcome::Updated(id)) => parts.push(format!("PR comment {id} updated")),
        Some(comment::CommentOutcome::Unchanged(id)) => parts.push(format!("PR comment {id} unchanged")),
        Some(comment::CommentOutcome::NotNeeded) | None => {}
    }
    if let Some(id) = published.check_run {
        parts.push(format!("check run {id}"));
    }
    if let Some(artifact) = &published.artifact {
        parts.push(format!("artifact {} ({} bytes)", artifact.id, artifact.size));
    }
    if !published.errors.is_empty() {
        parts.push(format!("{} publishing step(s) failed", published.errors.len()));
    }
    if parts.is_empty() {
        "published: outputs and summary".to_string()
    } else {
        format!("published: {}", parts.join(", "))
    }
}

/// Publishes `report` as `settings` say. `files` are the written report files (for the artifact).
/// Prints workflow commands (annotations, notices) to stdout as it goes.
pub async fn publish(
    ctx: &Context,
    settings: &PublishSettings,
    report: &Report,
    report_dir: Option<&Path>,
    files: &[PathBuf],
    backoff: Backoff,
) -> Published {
    let mut published = Published::default();

    if let Some(file) = &ctx.output_file
        && let Err(e) = workflow::write_outputs(file, &outputs(report, report_dir))
    {
        fail(&mut published, "could not write step outputs", format!("{}: {e}", file.display()));
    }
    let artifact_name = &settings.artifact_name;
    let pointer = match (artifact_name.is_empty(), ctx.run_url()) {
        (false, Some(url)) => format!("the full report is in the [`{artifact_name}` artifact]({url}#artifacts)"),
        (false, None) => format!("the full report is in the `{artifact_name}` artifact"),
        (true, _) => "the full report is in the job log".to_string(),
    };
    if let Some(file) = &ctx.summary_file {
        // The job summary takes up to 1 MiB per step.
        let summary = markdown::render_limited(report, 1_000_000, &pointer);
        if let Err(e) = workflow::append_summary(file, &summary) {
            fail(&mut published, "could not write the job summary", format!("{}: {e}", file.display()));
        }
    }

    let github = match (&settings.github_token, ctx.has_repository()) {
        (Some(token), true) => match api::GitHub::new(&ctx.api_url, token, &ctx.owner, &ctx.repo, backoff) {
            Ok(github) => Some(github),
            Err(e) => {
                fail(&mut published, "cannot reach the GitHub API", e.to_string());
                None
            }
        },
        (None, _) => {
            println!(
                "{}",
                workflow::notice(CHECK_NAME, "no github-token: no check run or PR comment, annotations only")
            );
            None
        }
        (Some(_), false) => {
            println!("{}", workflow::notice(CHECK_NAME, "GITHUB_REPOSITORY is not set: no check run or PR comment"));
            None
        }
    };
    let key = settings.comment_key.clone().unwrap_or_else(|| comment::default_key(&ctx.workflow, &ctx.job));
    let check_name = match &settings.comment_key {
        Some(key) => format!("{CHECK_NAME} ({key})"),
        None => CHECK_NAME.to_string(),
    };

    // Check run, or annotations through workflow commands when it cannot be created.
    let mut annotated = false;
    if let (Some(github), true, Some(sha)) = (&github, settings.check_run, &ctx.sha) {
        match checks::publish(github, ctx, report, &check_name, sha, &pointer).await {
            Ok(id) => {
                published.check_run = Some(id);
                annotated = true;
            }
            Err(e) if e.is_forbidden() => println!(
                "{}",
                workflow::notice(
                    CHECK_NAME,
                    &format!(
                        "{e}; the token cannot create check runs (grant `checks: write`), falling back to annotations"
                    )
                )
            ),
            Err(e) => {
                fail(&mut published, "could not create the check run", format!("{e}; falling back to annotations"))
            }
        }
    }
    if !annotated {
        for finding in &report.findings {
            println!("{}", workflow::annotation(finding, finding.file.as_deref().map(|f| ctx.repo_path(f)).as_deref()));
        }
    }

    // Sticky PR comment.
    let wanted = match settings.comment {
        CommentMode::Always => Some(true),
        CommentMode::OnFailure => Some(report.status == Status::Fail),
        CommentMode::Never => None,
    };
    if let (Some(github), Some(number), Some(create)) = (&github, ctx.pr_number, wanted) {
        let marker = comment::marker(&key);
        let mut body = format!("{marker}\n");
        let footer = ctx.run_url().map(|url| format!("\n<sub>[workflow run]({url})</sub>\n")).unwrap_or_default();
        let budget = markdown::COMMENT_BUDGET - body.chars().count() - footer.chars().count();
        body.push_str(&markdown::render_limited(report, budget, &pointer));
        body.push_str(&footer);
        match comment::upsert(github, number, &marker, &body, create).await {
            Ok(outcome) => published.comment = Some(outcome),
            Err(e) => {
                let hint =
                    if ctx.fork && e.is_forbidden() { " (pull requests from forks get a read-only token)" } else { "" };
                fail(&mut published, "could not write the PR comment", format!("{e}{hint}"));
            }
        }
    }

    // Artifact through the results service, when the runner passed its credentials.
    if !artifact_name.is_empty() && !files.is_empty() {
        match (&ctx.runtime_token, &ctx.results_url) {
            (Some(token), Some(url)) => match artifact::upload(url, token, artifact_name, files, backoff).await {
                Ok(uploaded) => published.artifact = Some(uploaded),
                Err(e) => fail(&mut published, "could not upload the artifact", e.to_string()),
            },
            _ => println!(
                "{}",
                workflow::notice(
                    CHECK_NAME,
                    "ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL not set: no artifact uploaded; the files are in report-dir for actions/upload-artifact"
                )
            ),
        }
    }

    if let Some(webhook) = &settings.slack_webhook {
        let message = slack::message(report, &format!("{}/{}", ctx.owner, ctx.repo), ctx.run_url().as_deref());
        if let Err(e) = slack::post(webhook, &message, backoff).await {
            fail(&mut published, "could not post to Slack", e.to_string());
        }
    }
    published
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_only_inside_actions() {
        let args = crate::cli::CheckArgs {
            database_url: Some("postgres://u:pw@h/d".into()),
            ..crate::cli::CheckArgs::default()
        };
        let outside = CheckSettings::resolve(args.clone(), &|_| None).unwrap();
        assert!(masks(&outside).is_empty());
        let env = |k: &str| match k {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "INPUT_GITHUB_TOKEN" => Some("tok".to_string()),
            _ => None,
        };
        let inside = CheckSettings::resolve(args, &env).unwrap();
        assert_eq!(masks(&inside), vec!["::add-mask::tok".to_string(), "::add-mask::pw".to_string()]);
    }

    #[test]
    fn passwords_are_found_raw_and_decoded() {
        assert_eq!(password_of("postgres://u:p%40ss@h:5432/d"), vec!["p%40ss".to_string(), "p@ss".to_string()]);
        assert_eq!(password_of("postgres://u:secret@h/d"), vec!["secret".to_string()]);
        assert!(password_of("postgres://u@h/d").is_empty());
        assert!(password_of("not a url").is_empty());
    }

    #[test]
    fn outputs_read_sections_from_other_stages() {
        let value = serde_json::json!({"graph": {"heads": ["a1", {"id": "b2"}]}, "drift": [1, 2, 3], "findings": []});
        assert_eq!(heads(&value), "a1 b2");
        assert_eq!(drift_count(&value), 3);
        let none = serde_json::json!({"findings": [{"rule": "schema-drift"}, {"rule": "x"}]});
        assert_eq!((heads(&none), drift_count(&none)), (String::new(), 1));
    }
}
