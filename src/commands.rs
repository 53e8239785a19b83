//! The pipeline: load → provision → run → report, and the mapping of outcomes to exit codes
//! (0 pass, 1 failing findings, 2 bad input or environment, 130/143 interrupted). The only
//! module that knows the order of the stages.

use crate::alembic;
use crate::baseline::{self, Baseline, Fingerprints};
use crate::cli::{
    ApplyArgs, BaselineArgs, ChainTarget, CheckArgs, Cli, Command, DiffArgs, GraphArgs, PlanArgs, RollbackArgs,
    StatusArgs, TargetArgs,
};
use crate::data;
use crate::findings::{self, Finding, Status};
use crate::github;
use crate::github::deployed::Outcome;
use crate::lint::Tracer;
use crate::migrations::git::Comparison;
use crate::migrations::{self, Chain, Format, LoadOptions};
use crate::postgres::{ProvisionOptions, ScratchDatabase, Server};
use crate::prefix_cache::PrefixCache;
use crate::progress::Progress;
use crate::report::{self, ChainInfo, Database, MigrationStatus, Report, ScopeSummary};
use crate::roundtrip;
use crate::schema::{self, declared, declared::Source};
use crate::scope::{Base, Scope};
use crate::settings::{CheckSettings, Models};
use crate::waivers::Waivers;
use anyhow::Context;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Exit status for bad input or a broken environment.
pub const EXIT_USAGE: u8 = 2;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // reqwest and sqlx share rustls; pick its crypto provider once for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime.block_on(run(cli))
}

async fn run(mut cli: Cli) -> ExitCode {
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
        && let Err(error) = github::inputs::fill(&mut cli.command, &|k: &str| std::env::var(k).ok())
    {
        eprintln!("error: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    match cli.command {
        Command::Check(args) => interruptible(check_command(*args)).await,
        Command::Baseline(args) => interruptible(baseline_command(*args)).await,
        Command::Diff(args) => interruptible(diff_command(args)).await,
        Command::Status(args) => interruptible(deploying(status_command(args))).await,
        Command::Apply(args) => interruptible(deploying(apply_command(args))).await,
        Command::Rollback(args) => interruptible(deploying(rollback_command(args))).await,
        Command::Plan(args) => interruptible(deploying(plan_command(args))).await,
        Command::Graph(args) => match graph_command(args) {
            Ok(code) => code,
            Err(error) => {
                print_error(&error);
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

/// Runs `work` as its own task so that a panic or a signal still drops (and so cleans up) the
/// server it started before we exit.
async fn interruptible(work: impl Future<Output = anyhow::Result<ExitCode>> + Send + 'static) -> ExitCode {
    let mut task = tokio::spawn(work);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match terminate.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    let code = tokio::select! {
        joined = &mut task => return match joined {
            Ok(Ok(code)) => code,
            Ok(Err(error)) => {
                print_error(&error);
                ExitCode::from(EXIT_USAGE)
            }
            Err(join) => {
                eprintln!("error: internal error ({join}); the temporary PostgreSQL was cleaned up");
                ExitCode::from(EXIT_USAGE)
            }
        },
        _ = tokio::signal::ctrl_c() => 130,
        _ = sigterm => 143,
    };
    task.abort();
    let _ = task.await;
    // The task's servers are gone; the databases we made on servers we do not own are not.
    let dropped = crate::postgres::drop_registered().await;
    if dropped.is_empty() {
        eprintln!("interrupted; the temporary PostgreSQL was stopped and removed");
    } else {
        eprintln!("interrupted; dropped the scratch database(s) {}", dropped.join(", "));
    }
    ExitCode::from(code)
}

/// A deploy command whose failure to start (a refusal, an unreachable target) is told to the
/// workflow too, as `check`'s is: an error annotation, `status=error` and the job summary.
async fn deploying(work: impl Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    let result = work.await;
    if let Err(error) = &result
        && let Ok(Some(ctx)) = github::context::Context::from_env(&|k: &str| std::env::var(k).ok())
    {
        github::publish_failure(&ctx, &format!("{error:#}").replace(['\n', '\r'], " "));
    }
    result
}

/// Prints an error chain as `error:` / `caused by:` lines, each on one line: the text may hold
/// file names or server messages from the pull request, which must not start lines of their own.
fn print_error(error: &anyhow::Error) {
    let one_line = |text: String| text.replace(['\n', '\r'], " ");
    eprintln!("error: {}", one_line(error.to_string()));
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {}", one_line(cause.to_string()));
    }
}

async fn check_command(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let env = |key: &str| std::env::var(key).ok();
    let mut settings = CheckSettings::resolve(args, &env)?;
    // Inside Actions, hide secrets from the log before anything else is printed.
    for line in github::masks(&settings) {
        println!("{line}");
    }
    let context = if settings.publish.is_some() { github::Context::from_env(&env)? } else { None };
    if settings.scope.base_ref.is_none() {
        // A push is judged against the commit the branch pointed at before it.
        settings.scope.base_ref = context.as_ref().and_then(|c| c.push_before.clone());
    }
    // What the check prints holds text from the pull request (file names, SQL, PostgreSQL's
    // messages): the runner must not take any of it for a workflow command.
    let paused = context.as_ref().map(|_| github::workflow::pause_commands());
    settings.progress = Progress::detect(env("GITHUB_ACTIONS").as_deref() == Some("true"), settings.verbose);
    if let Some(token) = &paused {
        settings.progress.paused(token);
    }
    let checked = check(&settings).await;
    settings.progress.finish();
    let report = match checked {
        Ok(report) => report,
        Err(error) => {
            if let (Some(context), Some(token)) = (&context, &paused) {
                println!("{}", github::workflow::resume_commands(token));
                github::publish_failure(context, &format!("{error:#}"));
            }
            return Err(error);
        }
    };
    report::terminal::print(&report);
    let files = match &settings.report_dir {
        Some(dir) => write_reports(dir, &report)?,
        None => Vec::new(),
    };
    if let Some(token) = &paused {
        println!("{}", github::workflow::resume_commands(token));
    }
    // The exit status comes from the report alone; publishing below cannot change it unless
    // the user asked for that with fail-on-publish-error.
    let mut code = match report.status {
        Status::Pass => ExitCode::SUCCESS,
        Status::Fail => ExitCode::from(1),
    };
    if let (Some(publish), Some(context)) = (&settings.publish, &context) {
        let backoff = github::retry::Backoff::from_env(&env);
        let publishing = github::publish(context, publish, &report, settings.report_dir.as_deref(), &files, backoff);
        let failed = match tokio::time::timeout(publish.deadline, publishing).await {
            Ok(published) => {
                println!("{}", github::describe(&published));
                !published.errors.is_empty()
            }
            Err(_) => {
                let message = format!(
                    "publishing gave up after {} s (publish-timeout); the check's result stands",
                    publish.deadline.as_secs()
                );
                println!("{}", github::workflow::notice(github::CHECK_NAME, &message));
                true
            }
        };
        if failed && publish.fail_on_publish_error {
            eprintln!("error: publishing the report failed and fail-on-publish-error is set");
            code = ExitCode::from(EXIT_USAGE);
        }
    }
    Ok(code)
}

fn write_reports(dir: &std::path::Path, report: &Report) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("--report-dir {}: cannot create", dir.display()))?;
    let mut paths = Vec::new();
    for (name, text) in report::files(report) {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("--report-dir: cannot write {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The `--format` flag of `graph`, `diff` and `status`: `None` (or `auto`) detects it.
fn format_flag(value: Option<&str>) -> anyhow::Result<Option<Format>> {
    match value {
        None | Some("auto") => Ok(None),
        Some(value) => <Format as clap::ValueEnum>::from_str(value, true)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("--format: unknown format {value:?}")),
    }
}

/// `graph`: prints the history, a Mermaid diagram, or the graph summary as JSON.
fn graph_command(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let format = format_flag(args.format.as_deref())?;
    let dir = args.dir.unwrap_or_else(|| std::path::PathBuf::from("migrations"));
    let chain = migrations::load(&dir, &LoadOptions { format, ..LoadOptions::default() })?;
    let summary = migrations::graph::summary(&chain.migrations);
    if args.mermaid {
        print!("{}", summary.mermaid);
    } else if args.json {
        let value = serde_json::json!({
            "format": chain.format,
            "dir": migrations::display_path(&chain.dir),
            "migrations": chain.migrations.len(),
            "order": chain.migrations.iter().map(|m| &m.id).collect::<Vec<_>>(),
            "graph": summary,
            "findings": chain.findings,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", migrations::graph::history(&chain.migrations));
        for f in &chain.findings {
            let location =
                f.file.as_deref().map(|file| format!("{file}:{}: ", f.line.unwrap_or(1))).unwrap_or_default();
            eprintln!("{location}{} [{}] {}", f.severity, f.rule, f.message);
        }
    }
    // As `check` would fail on them: two heads, a cycle, a missing parent, a duplicate.
    let broken = chain.findings.iter().any(|f| f.severity == findings::Severity::Error);
    Ok(if broken { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `baseline`: checks every migration and writes the findings that count to the baseline file.
async fn baseline_command(args: BaselineArgs) -> anyhow::Result<ExitCode> {
    let env = |key: &str| std::env::var(key).ok();
    let mut settings = CheckSettings::resolve(args.check, &env)?;
    settings.scope.all = true;
    settings.publish = None;
    let output = args.output.or_else(|| settings.baseline.clone()).unwrap_or_else(|| baseline::DEFAULT_FILE.into());
    let checked = run_check(&settings, false).await?;
    report::terminal::print(&checked.report);
    // A failing migration is a fact to fix, not a finding to accept.
    let accepted: Vec<Finding> =
        checked.report.findings.iter().filter(|f| f.rule != roundtrip::MIGRATION_FAILED).cloned().collect();
    let count = baseline::write(&output, &Fingerprints::new(&checked.chain), &accepted)?;
    println!(
        "wrote {count} finding(s) to {}: commit it, and `check` counts only findings that are not in it",
        migrations::display_path(&output)
    );
    Ok(ExitCode::SUCCESS)
}

/// A finished check: the report, and the chain it is about.
struct Checked {
    report: Report,
    chain: Chain,
}

/// Loads the chain, applies it to a throwaway database and builds the report.
pub async fn check(settings: &CheckSettings) -> anyhow::Result<Report> {
    Ok(run_check(settings, true).await?.report)
}

/// The base to judge the chain against, as the settings say.
fn base(chain: &Chain, settings: &CheckSettings) -> anyhow::Result<Base> {
    Ok(match &settings.scope.base_ref {
        Some(reference) => Base::Given(Comparison::new(chain, reference)?),
        None if settings.scope.all => Base::Missing("scope: all".to_string()),
        None => match Comparison::discover(chain) {
            Ok(comparison) => Base::Discovered(comparison),
            Err(reason) => Base::Missing(reason),
        },
    })
}

/// The check; with `use_baseline`, findings in the baseline file are left out.
async fn run_check(settings: &CheckSettings, use_baseline: bool) -> anyhow::Result<Checked> {
    let started = Instant::now();
    let options = LoadOptions {
        format: settings.format,
        placeholders: settings.placeholders.clone(),
        locations: settings.locations.clone(),
        roles: settings.provision.roles.clone(),
        role_prefix: settings.provision.role_prefix.clone(),
    };
    let progress = &settings.progress;
    if let Some(requirements) = &settings.python_requirements {
        progress.stage("Install the Python requirements");
        crate::python::install_requirements(&settings.python, requirements).await?;
        progress.stage_done();
    }
    progress.stage("Load the migrations");
    let chain = migrations::load(&settings.dir, &options)?;
    if settings.verbose {
        for note in &chain.notes {
            eprintln!("{note}");
        }
        eprintln!("{} migrations loaded from {}", chain.migrations.len(), migrations::display_path(&chain.dir));
    }
    // Read before anything runs, so that a broken file stops the check at once.
    let baseline = if use_baseline { Baseline::find(settings.baseline.as_deref())? } else { None };
    let base = base(&chain, settings)?;
    let scope = Scope::resolve(&chain, &settings.scope, &base, &settings.start_after_setting)?;
    if settings.verbose {
        let (changed, merged) = scope.counts();
        eprintln!("{changed} changed and {merged} merged migrations ({})", scope.basis);
    }
    let mut findings = chain.findings.clone();
    if let Some(comparison) = base.comparison() {
        findings.extend(migrations::base::check(&chain, comparison)?);
    }
    for id in &settings.irreversible {
        if !chain.migrations.iter().any(|m| m.id == *id) {
            anyhow::bail!("irreversible: no migration has the id {id:?}");
        }
    }
    let alembic = chain.format == Format::Alembic;
    // Alembic refuses to load a history with these problems; they are already reported.
    let blocked = alembic && chain.findings.iter().any(|f| alembic::apply::BLOCKING.contains(&f.rule.as_str()));
    let mut prefix_cache = None;
    let (database, reports, drift) = if blocked {
        (None, alembic::apply::skipped(&chain, &scope), None)
    } else {
        let driver = if alembic { alembic::run::preflight(&settings.python).await? } else { String::new() };
        // Bad --seed / --round-trip settings fail before a server is started.
        let seed = data::Seed::load(settings.seed.as_deref(), settings.seed_at.as_deref(), &chain)?;
        let mut plan = roundtrip::Plan::new(&chain, settings.round_trip, &scope, &settings.irreversible, seed);
        plan.timeout = settings.migration_timeout;
        // Snapshots around each judged migration serve these rules (and its round trip) only.
        let effect_rules = [&crate::rules::DESTRUCTIVE, &crate::rules::INCOMPATIBLE, &crate::rules::DATA_CHANGED];
        plan.effects = effect_rules.iter().any(|rule| !settings.rules.is_off(rule.id));
        plan.trace = settings.lint;
        findings.extend(plan.one_way_findings(&chain));
        plan.progress = progress.clone();
        progress.stage("Provision PostgreSQL");
        let server = Server::start(&settings.provision).await?;
        progress.stage_done();
        if settings.verbose {
            eprintln!("PostgreSQL {} ({:?}, {})", server.version(), server.provider(), server.location());
        }
        plan.cache = settings.prefix_cache.as_deref().map(|dir| {
            let url = settings.provision.database_url.as_deref();
            let (roles, prefix) = (&settings.provision.roles, settings.provision.role_prefix.as_deref());
            PrefixCache::new(dir, &chain, &plan, &server, roles, url, prefix)
        });
        let tracer = Tracer::new(settings.lint, server.version_num());
        progress.stage(&format!("Apply {} migrations", chain.migrations.len()));
        let applied = if alembic {
            let url = settings.provision.database_url.as_deref();
            match alembic::steps::AlembicSteps::new(&chain, &settings.python, &driver, url, tracer, settings.verbose) {
                Ok(steps) => apply_alembic(&server, &chain, steps, &plan).await,
                Err(e) => Err(e.into()),
            }
        } else {
            apply_chain(&server, &chain, tracer, &plan).await
        };
        let (applied, tracer) = match applied {
            Ok((applied, tracer)) => (Ok(applied), Some(tracer)),
            Err(e) => (Err(e), None),
        };
        progress.stage_done();
        let lint_findings = tracer.map(|mut t| t.take()).unwrap_or_default();
        let drift = match (&applied, &settings.models) {
            // Drift is only meaningful for a chain that applied completely.
            (Ok(applied), Some(models)) if applied.migrations.iter().all(|m| m.status == MigrationStatus::Applied) => {
                progress.stage("Compare with the models");
                let drift = check_drift(&server, &applied.database, models, &settings.python, &options).await;
                progress.stage_done();
                Some(drift)
            }
            _ => None,
        };
        let database = Database {
            provider: server.provider(),
            server_version: server.version().to_string(),
            version_note: server.version_note().map(str::to_string),
        };
        for warning in server.shutdown().await {
            eprintln!("warning: {warning}");
        }
        let applied = applied?;
        findings.extend(applied.findings);
        findings.extend(lint_findings);
        prefix_cache = applied.cache;
        (Some(database), applied.migrations, drift)
    };
    let drift = match drift.transpose() {
        Ok(Some(drift)) => {
            Some(drift.into_iter().filter(|c| !schema::drift::ignored(c, &settings.drift_ignore)).collect::<Vec<_>>())
        }
        Err(error) => match error.downcast_ref() {
            // Models PostgreSQL refuses are a finding on the models; the rest of the report stands.
            Some(schema::declared::DeclaredError::Refused { path, line, message }) => {
                findings.push(schema::drift::refused(path, *line, message));
                None
            }
            _ => return Err(error),
        },
        Ok(None) => None,
    };
    let models_file = match &settings.models {
        Some(Models::File(path)) => Some(migrations::display_path(path)),
        // The module's file, where the working directory's import finds it.
        Some(Models::SqlAlchemy(target)) => {
            let module = PathBuf::from(target.split_once(':').map_or(target.as_str(), |(m, _)| m).replace('.', "/"));
            [module.with_extension("py"), module.join("__init__.py")]
                .into_iter()
                .find(|file| file.is_file())
                .map(|file| migrations::display_path(&file))
        }
        _ => None,
    };
    findings.extend(schema::drift::findings(drift.as_deref().unwrap_or_default(), models_file.as_deref()));
    // Severities as configured, then what the change is not judged on: merged migrations,
    // waivers, the baseline.
    let findings = findings::without_overlaps(settings.rules.apply(findings));
    let (findings, merged_findings) = scope.split(&chain, findings);
    let (findings, waivers) = Waivers::collect(&chain, &scope).apply(findings);
    let drift_checked = drift.is_some();
    let (findings, baseline) = match &baseline {
        Some(baseline) => {
            let judged = |e: &baseline::Entry| match &e.migration {
                Some(id) => chain.migrations.iter().position(|m| m.id == *id).is_none_or(|i| scope.is_changed(i)),
                None => e.rule != schema::drift::RULE || drift_checked,
            };
            let (kept, report) = baseline.apply(&Fingerprints::new(&chain), findings, judged);
            (kept, Some(report))
        }
        None => (findings, None),
    };
    let mut report = Report::new(
        settings.fail_on,
        database,
        ChainInfo { format: chain.format.to_string(), dir: migrations::display_path(&chain.dir) },
        reports,
        findings,
        report::millis(started.elapsed()),
    )
    .with_graph(migrations::graph::summary(&chain.migrations));
    let (changed, merged) = scope.counts();
    report.scope = ScopeSummary { basis: scope.basis.clone(), changed, merged, notice: scope.notice.clone() };
    report.merged_findings = merged_findings;
    report.waivers = waivers;
    report.baseline = baseline;
    report.prefix_cache = prefix_cache;
    report.lint = settings.lint;
    report.drift = drift.as_deref().map(schema::drift::entries);
    Ok(Checked { report, chain })
}

/// Diffs the declared models against the migrated database.
async fn check_drift(
    server: &Server,
    migrated: &ScratchDatabase,
    models: &Models,
    python: &Path,
    options: &LoadOptions,
) -> anyhow::Result<Vec<schema::Change>> {
    let source = match models {
        Models::File(path) => Source::file(path).context("--models")?,
        Models::Command(command) => Source::Command(command.clone()),
        Models::SqlAlchemy(target) => Source::SqlAlchemy { target: target.clone(), python: python.to_path_buf() },
    };
    Ok(schema::drift::check(server, migrated, &source, options).await?)
}

/// `status DIR --database-url URL`: the target's bookkeeping against the chain; exit 1 when it
/// needs a person (unknown, edited or dirty), 0 otherwise (pending migrations are normal).
async fn status_command(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (chain, mut conn, shown) = open_chain_target(&args.chain).await?;
    let status = crate::bookkeeping::status(&mut conn, &chain)
        .await
        .with_context(|| format!("{shown}: cannot read {}", crate::bookkeeping::table(chain.format)))?;
    let text = crate::bookkeeping::to_text(&status, &chain);
    print_as(args.json, &status, || text.clone())?;
    publish_deployed(&Outcome::status(&status, &text), &args.chain).await;
    Ok(ExitCode::from(u8::from(status.needs_attention())))
}

/// The chain, a connection to its target and the target's URL as shown (secrets masked).
async fn open_chain_target(args: &ChainTarget) -> anyhow::Result<(migrations::Chain, sqlx::PgConnection, String)> {
    let format = format_flag(args.format.as_deref())?;
    let chain = migrations::load(&args.dir, &LoadOptions { format, ..LoadOptions::default() })?;
    let Some(url) = args.database_url.as_deref().filter(|u| !u.is_empty()) else {
        anyhow::bail!(
            "--database-url is not set: the target database (also DATABASE_URL, or the action's database-url input)"
        );
    };
    let shown = declared::redact(url);
    let conn =
        crate::bookkeeping::connect(url).await.with_context(|| format!("--database-url {shown}: cannot connect"))?;
    Ok((chain, conn, shown))
}

/// `apply DIR --database-url URL`: runs the pending migrations on the target; exit 1 when one
/// failed (it and those after it are not applied), 2 when it could not start.
async fn apply_command(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let plan = match &args.plan {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("--plan {}: cannot read it", path.display()))?;
            Some(serde_json::from_str(&text).with_context(|| format!("--plan {}: not a plan.json", path.display()))?)
        }
        None => None,
    };
    let (chain, mut conn, shown, mut options) = open_target(&args.target).await?;
    options.to = args.to;
    options.plan = plan;
    let deployed = crate::deploy::apply(&mut conn, &chain, &options).await.with_context(|| shown)?;
    print_deployed(&deployed, &args.target).await
}

/// `plan DIR --database-url URL`: what apply would do on the target, read only.
async fn plan_command(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let (chain, mut conn, shown) = open_chain_target(&args.chain).await?;
    let findings = args.evidence.as_deref().map(crate::deploy::evidence_findings).transpose()?;
    let python = crate::settings::python_or_default(args.python.clone());
    let mut plan = crate::plan::plan(&mut conn, &chain, &python)
        .await
        .with_context(|| format!("{shown}: cannot read the target"))?;
    for m in &mut plan.pending {
        m.findings =
            findings.iter().flatten().filter(|f| f.migration.as_deref() == Some(m.id.as_str())).cloned().collect();
    }
    if args.drift {
        let server = Server::start(&ProvisionOptions::default()).await?;
        let drift = crate::plan::drift(&mut conn, &chain, &server, &python).await;
        for warning in server.shutdown().await {
            eprintln!("warning: {warning}");
        }
        plan.drift =
            Some(drift.with_context(|| format!("--drift: cannot build the chain's schema at {shown}'s version"))?);
    }
    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir).with_context(|| format!("--output {}: cannot create it", dir.display()))?;
        std::fs::write(dir.join("plan.json"), serde_json::to_string_pretty(&plan)?)
            .with_context(|| format!("--output {}: cannot write plan.json", dir.display()))?;
        std::fs::write(dir.join("plan.md"), crate::plan::to_markdown(&plan))
            .with_context(|| format!("--output {}: cannot write plan.md", dir.display()))?;
    }
    print_as(args.json, &plan, || crate::plan::to_text(&plan))?;
    publish_deployed(&Outcome::plan(&plan), &args.chain).await;
    Ok(ExitCode::SUCCESS)
}

/// `rollback DIR --database-url URL --to VERSION`: runs the downs after VERSION; exit 1 when
/// one failed, 2 when it could not start (one-way migrations, downs no round trip proved).
async fn rollback_command(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let Some(to) = args.to else {
        anyhow::bail!("rollback needs --to VERSION (the action's to input): the migration to roll back to");
    };
    let proved = args.evidence.as_deref().map(crate::deploy::proved_by).transpose()?;
    let (chain, mut conn, shown, session) = open_target(&args.target).await?;
    let options = crate::deploy::RollbackOptions { to, proved, force: args.force, session };
    let deployed = crate::deploy::rollback(&mut conn, &chain, &options).await.with_context(|| shown)?;
    print_deployed(&deployed, &args.target).await
}

/// The chain, a connection to the target, its URL as shown (secrets masked) and the session
/// options of `apply` and `rollback`.
async fn open_target(
    args: &TargetArgs,
) -> anyhow::Result<(migrations::Chain, sqlx::PgConnection, String, crate::deploy::ApplyOptions)> {
    let (chain, conn, shown) = open_chain_target(&args.chain).await?;
    let options = crate::deploy::ApplyOptions {
        to: None,
        dry_run: args.dry_run,
        lock_timeout: args.lock_timeout.clone(),
        statement_timeout: args.statement_timeout.clone(),
        retries: args.retries,
        plan: None,
        python: crate::settings::python_or_default(args.python.clone()),
        url: args.chain.database_url.clone().unwrap_or_default(),
    };
    Ok((chain, conn, shown, options))
}

async fn print_deployed(deployed: &crate::deploy::Deployed, args: &TargetArgs) -> anyhow::Result<ExitCode> {
    let text = crate::deploy::to_text(deployed);
    print_as(args.json, deployed, || text.clone())?;
    publish_deployed(&Outcome::deployed(deployed, &text), &args.chain).await;
    Ok(ExitCode::from(u8::from(deployed.failed.is_some())))
}

/// Publishes what a deploy command did where it runs (step outputs and job summary in Actions,
/// Slack where a webhook is set); what cannot be published is a warning, never the exit status.
async fn publish_deployed(outcome: &Outcome, target: &ChainTarget) {
    let env = |k: &str| std::env::var(k).ok();
    let ctx = github::context::Context::from_env(&env).unwrap_or_else(|e| {
        eprintln!("warning: {e}");
        None
    });
    let webhook = target.slack_webhook.as_deref().map(str::trim).filter(|w| !w.is_empty());
    let backoff = github::retry::Backoff::from_env(&env);
    for error in github::deployed::publish(outcome, ctx.as_ref(), webhook, backoff).await {
        eprintln!("warning: {error}");
    }
}

/// Prints `value` as JSON with `--json`, else its text.
fn print_as(json: bool, value: &impl serde::Serialize, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

/// `diff A B`: prints the changes from A to B; exit 0 when equal, 1 when not.
async fn diff_command(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let format = format_flag(args.format.as_deref())?;
    let options = LoadOptions { format, ..LoadOptions::default() };
    let python = crate::settings::python_or_default(args.python.clone());
    let before = Source::parse(&args.before, &python)?;
    let after = Source::parse(&args.after, &python)?;
    let needs_server = !matches!((&before, &after), (Source::Url(_), Source::Url(_)));
    let server = if needs_server {
        let provision = ProvisionOptions {
            database_url: args.database_url,
            postgres_image: None,
            pg_bin: args.pg_bin,
            postgres_version: args
                .postgres_version
                .map(|value| crate::settings::postgres_version("--postgres-version".into(), value))
                .transpose()?,
            ..ProvisionOptions::default()
        };
        Some(Server::start(&provision).await?)
    } else {
        None
    };
    let schemas = async {
        let a = declared::read(server.as_ref(), &before, &options).await?;
        let b = declared::read(server.as_ref(), &after, &options).await?;
        Ok::<_, declared::DeclaredError>((a, b))
    }
    .await;
    if let Some(server) = server {
        for warning in server.shutdown().await {
            eprintln!("warning: {warning}");
        }
    }
    let (a, b) = schemas?;
    let changes = schema::diff(&a, &b);
    if args.json {
        println!("{}", schema::diff::to_json(&changes));
    } else {
        print!("{}", schema::diff::to_text(&changes));
    }
    Ok(if changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Applies the chain on a new scratch database through the stairway: snapshots, per-migration
/// changes, round trips and the seed, as the settings ask.
async fn apply_chain(
    server: &Server,
    chain: &Chain,
    tracer: Tracer,
    plan: &roundtrip::Plan,
) -> anyhow::Result<(roundtrip::Applied, Tracer)> {
    let mut steps = roundtrip::SqlSteps::new(chain, tracer, plan.effects);
    let applied = roundtrip::apply_chain(server, chain, &mut steps, plan).await?;
    Ok((applied, steps.into_observer()))
}

/// Applies an Alembic chain through the stairway, the project's own Alembic running each step.
async fn apply_alembic(
    server: &Server,
    chain: &Chain,
    mut steps: alembic::steps::AlembicSteps<'_>,
    plan: &roundtrip::Plan,
) -> anyhow::Result<(roundtrip::Applied, Tracer)> {
    let mut applied = roundtrip::apply_chain(server, chain, &mut steps, plan).await?;
    let tracer = steps.finish(&mut applied.migrations);
    Ok((applied, tracer))
}
