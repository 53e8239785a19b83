//! The GitHub Action end to end: the real binary in a simulated Actions environment (`INPUT_*`,
//! a `pull_request` event, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_API_URL` and the
//! results service pointing at a local fake), plus the `action.yml` input mapping.

use crate::fake_github::{Behaviour, FakeGitHub};
use crate::support::*;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest;
use std::path::PathBuf;
use std::process::Output;

const TOKEN: &str = "ghs_fakeToken0123456789";
const HEAD_SHA: &str = "2f4c8b0e9d1a7c3b5e6f8a9b0c1d2e3f4a5b6c7d";
const MARKER: &str = "<!-- migration-guard:CI/migrations -->";

/// A checkout with `db/migrations` copied from a fixture, and the runner's files beside it.
struct Workspace {
    dir: tempfile::TempDir,
    runner: tempfile::TempDir,
}

impl Workspace {
    fn new(fixture_name: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("db/migrations");
        std::fs::create_dir_all(&migrations).unwrap();
        for entry in std::fs::read_dir(fixture(fixture_name)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), migrations.join(entry.file_name())).unwrap();
        }
        Workspace { dir, runner: tempfile::tempdir().unwrap() }
    }

    fn migrations(&self) -> PathBuf {
        self.dir.path().join("db/migrations")
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.runner.path().join("output")).unwrap_or_default()
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.runner.path().join("summary")).unwrap_or_default()
    }

    /// Runs `migration-guard check` as the action's container would, with `extra` inputs.
    fn run(&self, server: &FakeGitHub, extra: &[(&str, &str)]) -> Output {
        let runtime_token = runtime_token();
        let mut command = bin();
        command
            .current_dir(self.dir.path())
            .arg("check")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", &server.url)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", fixture("github/pull_request.json"))
            .env("GITHUB_SHA", "0000000000000000000000000000000000000000")
            .env("GITHUB_WORKFLOW", "CI")
            .env("GITHUB_JOB", "migrations")
            .env("GITHUB_RUN_ID", "9001")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_WORKSPACE", self.dir.path())
            .env("GITHUB_OUTPUT", self.runner.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.runner.path().join("summary"))
            .env("ACTIONS_RUNTIME_TOKEN", &runtime_token)
            .env("ACTIONS_RESULTS_URL", format!("{}/", server.url))
            .env("MIGRATION_GUARD_RETRY_BASE_MS", "10")
            .env("INPUT_PATH", "db/migrations")
            .env("INPUT_GITHUB_TOKEN", TOKEN)
            .env("INPUT_SLACK_WEBHOOK", format!("{}/slack/hook", server.url));
        for (key, value) in extra {
            command.env(key, value);
        }
        command.output().expect("run migration-guard")
    }
}

/// An (unsigned) runtime token whose claims carry the results-service backend ids.
fn runtime_token() -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({ "scp": "Actions.GenericRead:1 Actions.Results:run-backend:job-backend" });
    format!("{}.{}.sig", engine.encode(r#"{"alg":"none"}"#), engine.encode(claims.to_string()))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn first_run_comments_and_checks_then_second_run_edits_the_comment() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/fail");
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    // Exactly one comment of ours, with the marker, the status and the failing file:line.
    let ours: Vec<(u64, String)> = server.comments().into_iter().filter(|(_, b)| b.contains(MARKER)).collect();
    assert_eq!(ours.len(), 1, "{:?}", server.comments());
    let (comment_id, body) = &ours[0];
    assert!(body.starts_with(MARKER), "{body}");
    assert!(body.contains("## ❌ Migration Guard failed"), "{body}");
    assert!(body.contains("`db/migrations/2_backfill.sql:3`"), "{body}");
    assert!(body.contains("https://github.com/acme/shop/actions/runs/9001"), "{body}");
    assert_eq!(server.matching("POST", "/repos/acme/shop/issues/7/comments").len(), 1);
    insta::with_settings!({filters => vec![
        (r"\d+\.\d+ (ms|s)\b", "[TIME] $1"),
        (r"PostgreSQL .*? \((ephemeral|url|container)\),", "PostgreSQL [VERSION] ($1),"),
    ]}, {
        insta::assert_snapshot!("pr_comment", body);
    });

    // One check run on the PR head with the annotation on the failing line.
    let runs = server.matching("POST", "/repos/acme/shop/check-runs");
    assert_eq!(runs.len(), 1, "{:?}", server.requests());
    let run = &runs[0].json;
    assert_eq!(run["name"], "Migration Guard");
    assert_eq!(run["head_sha"], HEAD_SHA);
    assert_eq!(run["conclusion"], "failure");
    let annotations = run["output"]["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 1, "{annotations:?}");
    assert_eq!(annotations[0]["path"], "db/migrations/2_backfill.sql");
    assert_eq!(annotations[0]["start_line"], 3);
    assert_eq!(annotations[0]["annotation_level"], "failure");
    assert_eq!(annotations[0]["title"], "migration-failed");
    assert_eq!(runs[0].authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));

    // The artifact: create, upload the zip, finalize with its size and hash.
    let create = server.matching("POST", "/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact");
    assert_eq!(create.len(), 1);
    assert_eq!(
        create[0].json,
        json!({"workflow_run_backend_id": "run-backend", "workflow_job_run_backend_id": "job-backend", "name": "migration-guard-report", "version": 4})
    );
    assert_eq!(create[0].authorization.as_deref(), Some(format!("Bearer {}", runtime_token()).as_str()));
    let put = server.matching("PUT", "/blob/artifact.zip");
    assert_eq!(put.len(), 1);
    let zip = &put[0].raw;
    assert!(zip.starts_with(b"PK\x03\x04"));
    let finalize = server.matching("POST", "/twirp/github.actions.results.api.v1.ArtifactService/FinalizeArtifact");
    assert_eq!(finalize.len(), 1);
    let hash: String = sha2::Sha256::digest(zip).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(finalize[0].json["size"], zip.len().to_string());
    assert_eq!(finalize[0].json["hash"], format!("sha256:{hash}"));
    for name in ["report.json", "report.md", "report.sarif", "report.xml"] {
        assert!(zip.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in the zip");
        assert!(ws.dir.path().join("migration-guard-report").join(name).is_file(), "{name} in report-dir");
    }

    // Slack, outputs, summary, and the token masked and never printed otherwise.
    let slack = server.matching("POST", "/slack/hook");
    assert_eq!(slack.len(), 1);
    assert!(
        slack[0].json["text"].as_str().unwrap().contains("Migration Guard failed on acme/shop"),
        "{:?}",
        slack[0].json
    );
    let outputs = ws.outputs();
    for line in [
        "status=fail",
        "findings=1",
        "errors=1",
        "warnings=0",
        "drift=0",
        "heads=3",
        "report-dir=migration-guard-report",
    ] {
        assert!(outputs.lines().any(|l| l == line), "{line} in\n{outputs}");
    }
    assert!(ws.summary().starts_with("## ❌ Migration Guard failed"), "{}", ws.summary());
    let all = format!("{}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
    assert!(all.contains(&format!("::add-mask::{TOKEN}")), "{all}");
    assert_eq!(all.matches(TOKEN).count(), 1, "{all}");
    assert!(!all.contains("::error title=migration-guard"), "annotations went to the check run:\n{all}");

    // After a fix, the second run edits the same comment instead of adding one. (A run whose
    // comment would read exactly the same leaves it alone, so the report must change.)
    let backfill = ws.migrations().join("2_backfill.sql");
    let fixed = std::fs::read_to_string(&backfill).unwrap().replace("emial", "email");
    std::fs::write(&backfill, fixed).unwrap();
    server.clear();
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(server.matching("POST", "/repos/acme/shop/issues/7/comments").is_empty(), "{:?}", server.requests());
    let edits = server.matching("PATCH", &format!("/repos/acme/shop/issues/comments/{comment_id}"));
    assert_eq!(edits.len(), 1, "{:?}", server.requests());
    assert!(edits[0].json["body"].as_str().unwrap().starts_with(MARKER));
    assert_eq!(server.comments().iter().filter(|(_, b)| b.contains(MARKER)).count(), 1);
}

#[test]
fn api_errors_do_not_change_the_exit_status_and_are_reported() {
    let server = FakeGitHub::start(Behaviour { comments_fail: true, ..Behaviour::default() });
    let ws = Workspace::new("github/pass");
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let out = stdout(&output);
    assert!(
        out.contains(
            "::notice title=Migration Guard::could not write the PR comment: list PR comments: GitHub answered 500"
        ),
        "{out}"
    );
    // Retried with backoff before giving up.
    assert_eq!(server.matching("GET", "/repos/acme/shop/issues/7/comments").len(), 4);
    // The rest still published.
    let runs = server.matching("POST", "/repos/acme/shop/check-runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].json["conclusion"], "success");
    assert!(ws.outputs().lines().any(|l| l == "status=pass"));

    // Unless the workflow asks for publishing errors to fail the step.
    let output = ws.run(&server, &[("INPUT_FAIL_ON_PUBLISH_ERROR", "true")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

#[test]
fn read_only_token_falls_back_to_workflow_commands() {
    let server = FakeGitHub::start(Behaviour { read_only: true, ..Behaviour::default() });
    let ws = Workspace::new("github/fail");
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let out = stdout(&output);
    assert!(
        out.lines().any(|l| l.starts_with(
            "::error title=migration-guard%3A migration-failed,file=db/migrations/2_backfill.sql,line=3::migration 2 failed"
        )),
        "{out}"
    );
    assert!(out.contains("the token cannot create check runs"), "{out}");
    assert!(out.contains("::notice title=Migration Guard::could not write the PR comment"), "{out}");
    assert!(server.matching("PATCH", "/repos/").is_empty());
    assert!(ws.summary().contains("Migration Guard failed"));
}

#[test]
fn annotations_are_sent_in_batches_of_fifty() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/pass");
    // 61 migrations sharing version 1: 60 duplicate-version findings, one per file.
    for i in 0..61 {
        std::fs::write(ws.migrations().join(format!("1_dup{i:02}.sql")), "SELECT 1;\n").unwrap();
    }
    std::fs::remove_file(ws.migrations().join("1_users.sql")).unwrap();
    std::fs::remove_file(ws.migrations().join("2_posts.sql")).unwrap();
    let output = ws.run(&server, &[("INPUT_COMMENT", "false")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let created = server.matching("POST", "/repos/acme/shop/check-runs");
    assert_eq!(created.len(), 1);
    let id = 101;
    let updates = server.matching("PATCH", &format!("/repos/acme/shop/check-runs/{id}"));
    let counts: Vec<usize> = std::iter::once(&created[0])
        .chain(updates.iter())
        .map(|r| r.json["output"]["annotations"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(counts, vec![50, 10], "{:?}", server.requests().iter().map(|r| &r.path).collect::<Vec<_>>());
    assert!(server.matching("GET", "/repos/acme/shop/issues").is_empty(), "comment: false");
}

/// A comment that someone else wrote with our marker (or a PostgreSQL message quoting it) is
/// never taken for ours: the action creates its own and leaves theirs alone.
#[test]
fn a_foreign_comment_with_the_marker_is_not_hijacked() {
    let server = FakeGitHub::start(Behaviour::default());
    let forged = server.add_comment("mallory", &format!("{MARKER}\n## ✅ Migration Guard passed"));
    let quoting = server.add_comment("github-actions[bot]", &format!("> {MARKER}\nsomething else"));
    let ws = Workspace::new("github/fail");
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(server.matching("PATCH", "/repos/acme/shop/issues/comments").is_empty(), "{:?}", server.requests());
    let comments = server.comments();
    let body = |id: u64| comments.iter().find(|(c, _)| *c == id).unwrap().1.clone();
    assert!(body(forged).contains("passed"), "left alone");
    assert!(body(quoting).starts_with("> "), "left alone");
    let ours: Vec<_> =
        comments.iter().filter(|(id, b)| *id != forged && *id != quoting && b.starts_with(MARKER)).collect();
    assert_eq!(ours.len(), 1, "{comments:?}");
    assert!(ours[0].1.contains("## ❌ Migration Guard failed"));
}

/// An API that never answers, or answers a byte every two seconds, holds the step no longer
/// than `publish-timeout`; the exit status is the check's.
#[test]
fn a_dead_or_dripping_api_cannot_hold_the_step() {
    for url in [crate::fake_github::black_hole(), crate::fake_github::slow_drip()] {
        let server = FakeGitHub::start(Behaviour::default());
        let ws = Workspace::new("github/fail");
        let started = std::time::Instant::now();
        let output = ws.run(&server, &[("GITHUB_API_URL", &url), ("INPUT_PUBLISH_TIMEOUT", "3")]);
        let elapsed = started.elapsed();
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(elapsed < std::time::Duration::from_secs(25), "{url}: {elapsed:?}\n{}", text(&output));
        assert!(stdout(&output).contains("publishing gave up after 3 s"), "{}", text(&output));
    }
}

/// A migration whose error text carries workflow commands: every line of it is printed while
/// command processing is stopped, and the annotations the action makes escape it.
#[test]
fn pull_request_text_never_runs_as_a_workflow_command() {
    let server = FakeGitHub::start(Behaviour { read_only: true, ..Behaviour::default() });
    let ws = Workspace::new("github/fail");
    std::fs::remove_file(ws.migrations().join("2_backfill.sql")).unwrap();
    std::fs::write(
        ws.migrations().join("2_evil.sql"),
        "DO $$ BEGIN RAISE EXCEPTION E'boom\\n::error file=x.sql::forged\\n::stop-commands::x'; END $$;\n",
    )
    .unwrap();
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    let pause = lines.iter().position(|l| l.starts_with("::stop-commands::")).expect("commands are paused");
    let token = lines[pause].trim_start_matches("::stop-commands::");
    let (pause_line, resume_line) = (format!("::stop-commands::{token}"), format!("::{token}::"));
    assert!(lines.contains(&resume_line.as_str()), "and resumed");
    let (mut paused, mut shown_paused) = (false, false);
    for (i, line) in lines.iter().enumerate() {
        if *line == pause_line {
            paused = true;
        } else if *line == resume_line {
            // Resumed for our own group markers alone, or for good after the report.
            paused = false;
            let next = lines.get(i + 1).copied().unwrap_or_default();
            if lines[i + 1..].contains(&pause_line.as_str()) {
                assert!(next.starts_with("::group::") || next == "::endgroup::", "resumed for {next:?}");
                assert_eq!(lines.get(i + 2).copied(), Some(pause_line.as_str()), "and paused right after");
            }
        } else if line.contains("forged") && !paused {
            // Outside the pause only our own escaped annotation may carry it.
            assert!(line.starts_with("::error title=migration-guard") && !line.contains('\n'), "{line}");
            assert!(line.contains("%0A::error file=x.sql::forged"), "{line}");
        } else if line.contains("forged") {
            shown_paused = true;
        }
    }
    assert!(lines[..pause].iter().all(|l| !l.contains("forged")));
    assert!(shown_paused, "the terminal report shows the error");
}

/// A long run is never silent in the log: a group per stage, and a line per migration as it
/// finishes.
#[test]
fn the_log_shows_each_stage_and_each_migration_as_it_finishes() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/fail");
    let output = ws.run(&server, &[]);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    let at = |wanted: &str| {
        lines.iter().position(|l| l.starts_with(wanted)).unwrap_or_else(|| panic!("{wanted:?} in {out}"))
    };
    let (load, apply) = (at("::group::Load the migrations"), at("::group::Apply 3 migrations"));
    let (first, second) = (at("[1/3] applied "), at("[2/3] FAILED "));
    assert!(load < apply && apply < first && first < second, "{out}");
    assert!(lines[second..].contains(&"::endgroup::"), "{out}");
    assert!(lines[first].contains("1_users.sql") && lines[first].ends_with(" ms)"), "{}", lines[first]);
}

#[test]
fn config_file_sets_inputs_and_names_its_lines() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/fail");
    std::fs::write(ws.dir.path().join("migration-guard.yml"), "# team settings\nfail-on: never\ncomment: on-failure\n")
        .unwrap();
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(0), "fail-on: never from the file\n{}", text(&output));
    assert!(server.matching("POST", "/repos/acme/shop/issues/7/comments").is_empty(), "on-failure and passing");
    // An input overrides the file.
    let output = ws.run(&server, &[("INPUT_FAIL_ON", "error")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    std::fs::write(ws.dir.path().join("migration-guard.yml"), "fail-on: never\ncomment: sometimes\n").unwrap();
    let output = ws.run(&server, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("migration-guard.yml:2: comment: \"sometimes\" is not one of always, on-failure or false"),
        "{err}"
    );
}

/// The inputs of `action.yml` and the env it passes to the container.
fn action_yml() -> Value {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    serde_saphyr::from_str::<Value>(&text).unwrap()
}

#[test]
fn action_yml_maps_every_input_to_an_underscored_env_variable() {
    let action = action_yml();
    assert_eq!(action["runs"]["using"], "docker");
    let inputs = action["inputs"].as_object().unwrap();
    let env = action["runs"]["env"].as_object().unwrap();
    assert!(inputs.len() >= 17, "{}", inputs.len());
    for (name, input) in inputs {
        assert!(input["description"].as_str().is_some_and(|d| !d.is_empty()), "{name} has a description");
        let key = format!("INPUT_{}", name.to_uppercase().replace('-', "_"));
        assert_eq!(env.get(&key).and_then(Value::as_str), Some(format!("${{{{ inputs.{name} }}}}").as_str()), "{key}");
    }
    for name in [
        "path",
        "format",
        "database-url",
        "postgres-image",
        "models",
        "models-command",
        "seed",
        "base-ref",
        "round-trip",
        "fail-on",
        "comment",
        "comment-key",
        "check-run",
        "artifact-name",
        "report-dir",
        "slack-webhook",
        "github-token",
    ] {
        assert!(inputs.contains_key(name), "input {name}");
    }
    assert_eq!(inputs["github-token"]["default"], "${{ github.token }}");
    assert_eq!(inputs["command"]["default"], "check");
    assert_eq!(action["runs"]["args"], serde_json::json!(["${{ inputs.command }}"]));
    for name in migration_guard::github::inputs::DEPLOY_INPUTS {
        assert!(inputs.contains_key(*name), "deploy input {name}");
    }
    let deploy = ["command", "migrations", "count", "current", "failed", "dry-run"];
    for output in ["status", "findings", "errors", "warnings", "drift", "heads", "report-dir"].into_iter().chain(deploy)
    {
        assert!(action["outputs"][output]["description"].is_string(), "output {output}");
    }
    assert!(action["branding"]["icon"].is_string() && action["branding"]["color"].is_string());
}

#[test]
fn config_file_accepts_every_input_but_the_token() {
    let action = action_yml();
    let mut names: Vec<&str> = action["inputs"].as_object().unwrap().keys().map(String::as_str).collect();
    // The token belongs in secrets; whether to trust the file cannot be said by the file.
    names.retain(|n| !matches!(*n, "github-token" | "config" | "trust-config"));
    names.retain(|n| !migration_guard::github::inputs::DEPLOY_INPUTS.contains(n));
    assert!(!migration_guard::config_file::KEYS.contains(&"trust-config"));
    for name in names {
        assert!(migration_guard::config_file::KEYS.contains(&name), "migration-guard.yml accepts {name}");
    }
}

#[test]
fn example_workflows_use_only_real_inputs() {
    let action = action_yml();
    let inputs = action["inputs"].as_object().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("examples/workflows")).unwrap() {
        let path = entry.unwrap().path();
        let workflow: Value = serde_saphyr::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for job in workflow["jobs"].as_object().unwrap().values() {
            for step in job["steps"].as_array().unwrap() {
                if step["uses"].as_str().is_some_and(|u| u.contains("/migration-guard@")) {
                    checked += 1;
                    for key in step["with"].as_object().unwrap().keys() {
                        assert!(inputs.contains_key(key), "{}: unknown input {key}", path.display());
                    }
                }
            }
        }
    }
    assert!(checked >= 2, "both example workflows use the action");
    let ci: Value =
        serde_saphyr::from_str::<Value>(&std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap())
            .unwrap();
    assert!(
        ci["jobs"]["test"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["run"].as_str().is_some_and(|r| r.contains(".ci/run")))
    );
}

/// The deploy workflows run the image of this version, and every `migration-guard` command
/// they run exists with the flags they give it.
#[test]
fn deploy_workflows_run_real_commands_of_this_version() {
    let image = format!("ghcr.io/migration-guard/migration-guard:{}", env!("CARGO_PKG_VERSION"));
    let mut commands = 0;
    for name in ["deploy-staging.yml", "deploy-production.yml", "rollback.yml"] {
        let path = root().join("examples/workflows").join(name);
        let workflow: Value = serde_saphyr::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for job in workflow["jobs"].as_object().unwrap().values() {
            assert_eq!(job["container"].as_str(), Some(image.as_str()), "{name}");
            let runs = job["steps"].as_array().unwrap().iter().filter_map(|s| s["run"].as_str());
            for run in runs.filter(|r| r.starts_with("migration-guard ")) {
                let words: Vec<&str> = run.split_whitespace().take_while(|w| *w != "|").collect();
                let help = bin().args([words[1], "--help"]).output().unwrap();
                assert!(help.status.success(), "{name}: no command {}", words[1]);
                let help = String::from_utf8_lossy(&help.stdout);
                for flag in words.iter().filter(|w| w.starts_with("--")) {
                    assert!(help.contains(&format!("{flag} ")), "{name}: {} has no {flag}", words[1]);
                }
                commands += 1;
            }
        }
    }
    assert!(commands >= 6, "{commands}");
}

#[test]
fn a_check_that_cannot_run_is_reported_to_the_workflow() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/pass");
    let output = ws.run(&server, &[("INPUT_PATH", "db/nowhere")]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let out = stdout(&output);
    assert!(out.contains("::error title=Migration Guard::db/nowhere: no such directory"), "{out}");
    assert!(ws.outputs().lines().any(|l| l == "status=error"), "{}", ws.outputs());
    assert!(ws.summary().contains("Migration Guard could not run"), "{}", ws.summary());
    assert!(server.requests().is_empty(), "nothing published for a check that did not run");
}

/// docs/action.md documents every input of action.yml, in its inputs table.
#[test]
fn every_input_is_documented() {
    let docs = std::fs::read_to_string(root().join("docs/action.md")).unwrap();
    for name in action_yml()["inputs"].as_object().unwrap().keys() {
        assert!(docs.contains(&format!("| `{name}` |")), "docs/action.md does not document the input {name}");
    }
}

#[test]
fn the_prefix_cache_input_keeps_the_merged_migrations_in_the_workspace() {
    let server = FakeGitHub::start(Behaviour::default());
    let ws = Workspace::new("github/fail");
    let inputs = [("INPUT_START_AFTER", "1"), ("INPUT_PREFIX_CACHE", ".migration-guard-cache")];
    let first = ws.run(&server, &inputs);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert!(
        ws.summary()
            .contains("prefix cache (.migration-guard-cache): the database after the first merged migration was saved"),
        "{}",
        ws.summary()
    );
    let archives = std::fs::read_dir(ws.dir.path().join(".migration-guard-cache")).unwrap().count();
    assert_eq!(archives, 2, "the archive and its sidecar");
    let second = ws.run(&server, &inputs);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let out = stdout(&second);
    assert!(out.lines().any(|l| l == "1/3 restored from the prefix cache"), "{out}");
    assert!(out.contains("[2/3] FAILED "), "the change still runs: {out}");
    assert!(ws.summary().contains("the first merged migration was restored in"), "{}", ws.summary());
    // Outside the workspace is refused, naming the input.
    let outside = ws.run(&server, &[("INPUT_PREFIX_CACHE", "/tmp")]);
    assert_eq!(outside.status.code(), Some(2), "{}", text(&outside));
    assert!(String::from_utf8_lossy(&outside.stderr).contains("input prefix-cache"), "{}", text(&outside));
}

/// The action runs the image released for this version: action.yml's image tag is the crate's
/// version (the release workflow publishes that tag, and refuses a tag whose version differs).
#[test]
fn action_yml_runs_the_image_of_the_crate_version() {
    let image = action_yml()["runs"]["image"].as_str().unwrap().to_string();
    let (name, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(name, "docker://ghcr.io/migration-guard/migration-guard", "{image}");
    assert_eq!(tag, env!("CARGO_PKG_VERSION"), "{image}");
    let release = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let workflow = serde_saphyr::from_str::<Value>(&release).unwrap();
    let steps: Vec<&Value> =
        workflow["jobs"].as_object().unwrap().values().flat_map(|j| j["steps"].as_array().unwrap()).collect();
    assert!(steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("docker/build-push-action@"))));
    // The workflow's own check names the same image, so a renamed owner fails the release.
    assert!(release.contains("image: docker://$image:$version"), "{release}");
}

/// The image smoke test (docker/smoke-test.sh, run where debootstrap and root are) builds what
/// the Dockerfile's runtime stage builds: the same install script, the binary and the helper at
/// the same paths, the entrypoint's command, the image's PATH.
#[test]
fn the_image_smoke_test_installs_what_the_dockerfile_does() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let smoke = std::fs::read_to_string(root().join("docker/smoke-test.sh")).unwrap();
    let runtime = dockerfile.split("# --- runtime").nth(1).unwrap();
    for shared in ["install-runtime.sh", "/usr/local/bin/migration-guard", "/usr/local/share/migration-guard/"] {
        assert!(runtime.contains(shared), "the Dockerfile's runtime stage has {shared}");
        assert!(smoke.contains(shared), "the smoke test has {shared}");
    }
    assert!(runtime.contains(r#"ENTRYPOINT ["migration-guard"]"#) && runtime.contains(r#"CMD ["check"]"#));
    assert!(smoke.contains("exec migration-guard check"));
    assert!(runtime.contains(r#"ENV PATH="/opt/venv/bin:${PATH}""#));
    assert!(smoke.contains("PATH=/opt/venv/bin:"));
    let base = runtime.lines().find_map(|l| l.strip_prefix("FROM debian:")).unwrap();
    assert!(base.starts_with("bookworm-") && smoke.contains("debootstrap --variant=minbase bookworm"), "{base}");
}

/// The docs match the code: every input of action.yml has its row in docs/action.md, and every
/// input described as true or false, and every choice it lists in backquotes that the binary
/// reads as a setting, is accepted; every flag `--help` lists is in the README.
#[test]
fn docs_match_the_code() {
    let docs = std::fs::read_to_string(root().join("docs/action.md")).unwrap();
    let action = action_yml();
    let mut refused = Vec::new();
    for (name, input) in action["inputs"].as_object().unwrap() {
        assert!(docs.contains(&format!("| `{name}` |")), "docs/action.md has no row for input {name}");
        let description = input["description"].as_str().unwrap();
        let key = format!("INPUT_{}", name.to_uppercase().replace('-', "_"));
        let mut values: Vec<String> = Vec::new();
        if description.contains("(true or false)") {
            values.extend(["true".to_string(), "false".to_string()]);
        }
        // `Default `x`.`: the default it names is a value the binary takes (the config file's
        // default is read only where it exists; named explicitly it must).
        if name != "config"
            && let Some((_, rest)) = description.split_once("Default `")
            && let Some((default, _)) = rest.split_once('`')
        {
            values.push(default.to_string());
        }
        for value in &values {
            let env = |k: &str| match k {
                "GITHUB_ACTIONS" => Some("true".to_string()),
                k if k == key => Some(value.to_string()),
                _ => None,
            };
            if let Err(e) = migration_guard::settings::CheckSettings::resolve(Default::default(), &env) {
                refused.push(format!("input {name}: {value:?} is refused: {e}"));
            }
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for command in ["check", "baseline", "graph", "diff", "status"] {
        let output = bin().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        for flag in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=').filter(|w| {
            w.starts_with("--") && w.len() > 2 && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        }) {
            if flag == "--help" || flag == "--version" {
                continue;
            }
            assert!(readme.contains(flag), "`{command} --help` lists {flag}, the README does not");
        }
    }
}
