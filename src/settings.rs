//! Resolves what a run should do from, in order of precedence: command-line flags, GitHub
//! Action inputs (`INPUT_*`, read only when `GITHUB_ACTIONS=true`), then defaults.

use crate::cli::CheckArgs;
use crate::findings::FailOn;
use crate::migrations::Format;
use crate::postgres::ProvisionOptions;
use crate::roundtrip::RoundTrip;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A setting that cannot be used; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "{setting}: unknown format {value:?} (expected auto, sqlx, golang-migrate, goose, sql-migrate, dbmate, diesel or flyway)"
    )]
    Format { setting: &'static str, value: String },
    #[error("{setting}: {value:?} is not NAME=VALUE")]
    Placeholder { setting: &'static str, value: String },
    #[error("{setting}: unknown level {value:?} (expected error, warning or never)")]
    FailOn { setting: &'static str, value: String },
    #[error("database-url and postgres-image are both set; use one")]
    TwoServers,
    #[error("models and models-command are both set; use one")]
    TwoModels,
    #[error("{setting}: unknown value {value:?} (expected all, new or none)")]
    RoundTrip { setting: &'static str, value: String },
}

/// Everything `check` needs, resolved.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub dir: PathBuf,
    /// `None`: detect.
    pub format: Option<Format>,
    pub provision: ProvisionOptions,
    pub report_dir: Option<PathBuf>,
    pub placeholders: BTreeMap<String, String>,
    pub fail_on: FailOn,
    pub verbose: bool,
    /// The declared schema to check the migrated one against.
    pub models: Option<Models>,
    /// The git ref the change is compared with.
    pub base_ref: Option<String>,
    /// Which migrations are round-tripped.
    pub round_trip: RoundTrip,
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
}

/// Reads an action input: GitHub upper-cases the name and keeps hyphens, which some runners
/// drop for Docker actions, so the underscore spelling is read too. Empty means unset.
fn input(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let upper = name.to_uppercase();
    [format!("INPUT_{upper}"), format!("INPUT_{}", upper.replace('-', "_"))]
        .iter()
        .find_map(|key| env(key))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl CheckSettings {
    /// Merges flags over action inputs (when running in GitHub Actions) over defaults.
    pub fn resolve(args: CheckArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<CheckSettings, SettingsError> {
        let in_action = env("GITHUB_ACTIONS").as_deref() == Some("true");
        let input = |name: &str| if in_action { input(env, name) } else { None };

        let (format_setting, format_value) = match (args.format, input("format")) {
            (Some(v), _) => ("--format", Some(v)),
            (None, Some(v)) => ("input format", Some(v)),
            (None, None) => ("--format", None),
        };
        let format = match format_value.as_deref() {
            None | Some("auto") => None,
            Some(value) => Some(
                <Format as clap::ValueEnum>::from_str(value, true)
                    .map_err(|_| SettingsError::Format { setting: format_setting, value: value.to_string() })?,
            ),
        };

        let mut placeholders = BTreeMap::new();
        let mut raw: Vec<(&'static str, String)> = Vec::new();
        if let Some(list) = input("placeholders") {
            raw.extend(
                list.lines().map(|l| ("input placeholders", l.trim().to_string())).filter(|(_, l)| !l.is_empty()),
            );
        }
        raw.extend(args.placeholders.into_iter().map(|p| ("--placeholder", p)));
        for (setting, value) in raw {
            let Some((name, val)) = value.split_once('=') else {
                return Err(SettingsError::Placeholder { setting, value });
            };
            placeholders.insert(name.trim().to_string(), val.to_string());
        }

        let fail_on = match (args.fail_on, input("fail-on")) {
            (Some(level), _) => level,
            (None, Some(value)) => <FailOn as clap::ValueEnum>::from_str(&value, true)
                .map_err(|_| SettingsError::FailOn { setting: "input fail-on", value })?,
            (None, None) => FailOn::default(),
        };

        let database_url = args.database_url.filter(|u| !u.is_empty()).or_else(|| input("database-url"));
        let postgres_image = args.postgres_image.or_else(|| input("postgres-image"));
        if database_url.is_some() && postgres_image.is_some() {
            return Err(SettingsError::TwoServers);
        }
        let models = match (
            args.models.or_else(|| input("models").map(PathBuf::from)),
            args.models_command.filter(|c| !c.trim().is_empty()).or_else(|| input("models-command")),
        ) {
            (Some(_), Some(_)) => return Err(SettingsError::TwoModels),
            (Some(path), None) => Some(Models::File(path)),
            (None, Some(command)) => Some(Models::Command(command)),
            (None, None) => None,
        };
        let round_trip = match (args.round_trip, input("round-trip")) {
            (Some(mode), _) => mode,
            (None, Some(value)) => <RoundTrip as clap::ValueEnum>::from_str(&value, true)
                .map_err(|_| SettingsError::RoundTrip { setting: "input round-trip", value })?,
            (None, None) => RoundTrip::default(),
        };
        Ok(CheckSettings {
            dir: args.dir.or_else(|| input("path").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("migrations")),
            format,
            provision: ProvisionOptions {
                database_url,
                postgres_image,
                pg_bin: args.pg_bin.or_else(|| input("pg-bin").map(PathBuf::from)),
            },
            report_dir: args.report_dir.or_else(|| input("report-dir").map(PathBuf::from)),
            placeholders,
            fail_on,
            verbose: args.verbose || input("verbose").as_deref() == Some("true"),
            models,
            base_ref: args.base_ref.or_else(|| input("base-ref")),
            round_trip,
            seed: args.seed.or_else(|| input("seed").map(PathBuf::from)),
            seed_at: args.seed_at.or_else(|| input("seed-at")),
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
    fn bad_values_name_the_setting() {
        let env = env_of(&[]);
        let args = CheckArgs { format: Some("liquibase".into()), ..CheckArgs::default() };
        let err = CheckSettings::resolve(args, &env).unwrap_err().to_string();
        assert!(err.starts_with("--format: unknown format \"liquibase\""), "{err}");
        let args = CheckArgs { placeholders: vec!["nope".into()], ..CheckArgs::default() };
        assert!(CheckSettings::resolve(args, &env).unwrap_err().to_string().contains("--placeholder"));
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
