//! The action's inputs for the deploy commands (`command: status`, `plan`, `apply`,
//! `rollback`): in the action's container the command line holds the command alone, and the
//! `INPUT_*` variables fill what it left unset. Empty inputs are unset (action.yml defaults
//! every input to empty).

use crate::cli::{ChainTarget, Command, TargetArgs};
use std::path::PathBuf;

/// The inputs only the deploy commands read: the workflow's alone (the repository's config file
/// cannot say what to deploy).
pub const DEPLOY_INPUTS: &[&str] =
    &["command", "to", "plan", "dry-run", "lock-timeout", "statement-timeout", "retries", "evidence", "force", "drift"];

/// A setting the action's inputs give that the command cannot use.
#[derive(Debug, thiserror::Error)]
#[error("the {input} input: {message}")]
pub struct InputError {
    input: &'static str,
    message: String,
}

/// Fills the deploy command's unset options from `env` (`INPUT_*` variables); other commands
/// read their inputs themselves.
pub fn fill(command: &mut Command, env: &dyn Fn(&str) -> Option<String>) -> Result<(), InputError> {
    let input = |name: &str| crate::settings::input(env, name);
    let flag = |name: &'static str| match input(name).as_deref() {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(InputError { input: name, message: format!("{other:?} is neither true nor false") }),
    };
    match command {
        Command::Status(args) => chain(&mut args.chain, &input),
        Command::Plan(args) => {
            chain(&mut args.chain, &input);
            args.output = args.output.take().or_else(|| input("report-dir").map(PathBuf::from));
            args.drift |= flag("drift")?;
            args.evidence = args.evidence.take().or_else(|| input("evidence").map(PathBuf::from));
            args.python = args.python.take().or_else(|| input("python").map(PathBuf::from));
        }
        Command::Apply(args) => {
            target(&mut args.target, &input, &flag)?;
            args.to = args.to.take().or_else(|| input("to"));
            args.plan = args.plan.take().or_else(|| input("plan").map(PathBuf::from));
        }
        Command::Rollback(args) => {
            target(&mut args.target, &input, &flag)?;
            args.to = args.to.take().or_else(|| input("to"));
            args.evidence = args.evidence.take().or_else(|| input("evidence").map(PathBuf::from));
            args.force |= flag("force")?;
        }
        _ => {}
    }
    Ok(())
}

fn chain(args: &mut ChainTarget, input: &dyn Fn(&str) -> Option<String>) {
    if args.dir == std::path::Path::new(crate::cli::DEFAULT_DIR)
        && let Some(path) = input("path")
    {
        args.dir = PathBuf::from(path);
    }
    args.database_url = args.database_url.take().filter(|u| !u.is_empty()).or_else(|| input("database-url"));
    args.format = args.format.take().or_else(|| input("format"));
    args.slack_webhook = args.slack_webhook.take().or_else(|| input("slack-webhook"));
}

fn target(
    args: &mut TargetArgs,
    input: &dyn Fn(&str) -> Option<String>,
    flag: &dyn Fn(&'static str) -> Result<bool, InputError>,
) -> Result<(), InputError> {
    chain(&mut args.chain, input);
    args.dry_run |= flag("dry-run")?;
    // Their defaults are the command line's: an input replaces a default, never a flag given.
    if args.lock_timeout == crate::cli::DEFAULT_LOCK_TIMEOUT
        && let Some(value) = input("lock-timeout")
    {
        args.lock_timeout = value;
    }
    if args.statement_timeout == crate::cli::DEFAULT_STATEMENT_TIMEOUT
        && let Some(value) = input("statement-timeout")
    {
        args.statement_timeout = value;
    }
    if args.retries == crate::cli::DEFAULT_RETRIES
        && let Some(value) = input("retries")
    {
        args.retries = value
            .parse()
            .map_err(|_| InputError { input: "retries", message: format!("{value:?} is not a number of retries") })?;
    }
    args.python = args.python.take().or_else(|| input("python").map(PathBuf::from));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn filled(argv: &[&str], vars: &[(&str, &str)]) -> Result<Command, InputError> {
        let mut command = Cli::try_parse_from(argv).unwrap().command;
        let env = |k: &str| vars.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string());
        fill(&mut command, &env).map(|()| command)
    }

    #[test]
    fn inputs_fill_what_the_command_line_left_unset() {
        let vars = [
            ("INPUT_PATH", "db/migrations"),
            ("INPUT_DATABASE_URL", "postgres://u:pw@h/d"),
            ("INPUT_TO", "7"),
            ("INPUT_DRY_RUN", "true"),
            ("INPUT_LOCK_TIMEOUT", "3s"),
            ("INPUT_RETRIES", "5"),
            ("INPUT_FORMAT", ""),
        ];
        let Command::Apply(args) = filled(&["migration-guard", "apply"], &vars).unwrap() else { panic!() };
        assert_eq!(args.target.chain.dir, PathBuf::from("db/migrations"));
        assert_eq!(args.target.chain.database_url.as_deref(), Some("postgres://u:pw@h/d"));
        assert_eq!(args.target.chain.format, None, "an empty input is unset");
        assert_eq!((args.to.as_deref(), args.target.dry_run), (Some("7"), true));
        assert_eq!((args.target.lock_timeout.as_str(), args.target.retries), ("3s", 5));
        // What the command line says wins.
        let argv = ["migration-guard", "apply", "other", "--to", "2", "--lock-timeout", "9s"];
        let Command::Apply(args) = filled(&argv, &vars).unwrap() else { panic!() };
        assert_eq!(args.target.chain.dir, PathBuf::from("other"));
        assert_eq!((args.to.as_deref(), args.target.lock_timeout.as_str()), (Some("2"), "9s"));
    }

    #[test]
    fn bad_inputs_name_the_input() {
        let error = filled(&["migration-guard", "rollback"], &[("INPUT_FORCE", "yes")]).unwrap_err();
        assert_eq!(error.to_string(), "the force input: \"yes\" is neither true nor false");
        let error = filled(&["migration-guard", "apply"], &[("INPUT_RETRIES", "many")]).unwrap_err();
        assert_eq!(error.to_string(), "the retries input: \"many\" is not a number of retries");
    }
}
