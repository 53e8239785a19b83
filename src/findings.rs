//! Findings: the problems every stage reports, their severities, and the pass/fail policy.
//! Findings are data, never errors; no stage decides the exit status on its own.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How bad a finding is; ordered so that `Error > Warning > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in the chain, pointing at a file and line where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case rule id, e.g. `migration-failed`.
    pub rule: String,
    pub severity: Severity,
    /// Id of the migration the finding belongs to, if any.
    pub migration: Option<String>,
    /// Path of the file, relative to the working directory (the repository root in Actions).
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
    /// One-paragraph explanation of what is wrong.
    pub message: String,
    /// How to fix it, when there is a known fix.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub help: Option<String>,
}

impl Finding {
    /// A finding of `rule` with `severity` and `message`; locate it with the builder methods.
    pub fn new(rule: &str, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.to_string(),
            severity,
            migration: None,
            file: None,
            line: None,
            message: message.into(),
            help: None,
        }
    }

    /// A finding of a stage rule, at its default severity.
    pub fn of(rule: &crate::rules::StageRule, message: impl Into<String>) -> Self {
        Finding::new(rule.id, rule.severity, message)
    }

    /// Attaches the migration id.
    pub fn in_migration(mut self, id: impl Into<String>) -> Self {
        self.migration = Some(id.into());
        self
    }

    /// Attaches the file and line.
    pub fn at(mut self, file: impl Into<String>, line: Option<u32>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    /// Attaches a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Which findings make the check fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Errors fail the check (default).
    #[default]
    Error,
    /// Errors and warnings fail the check.
    Warning,
    /// Nothing fails the check; findings are only reported.
    Never,
}

/// Overall outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

impl FailOn {
    /// Whether a finding of `severity` fails the check under this policy.
    pub fn fails(self, severity: Severity) -> bool {
        match self {
            FailOn::Error => severity >= Severity::Error,
            FailOn::Warning => severity >= Severity::Warning,
            FailOn::Never => false,
        }
    }

    /// The status of a check that produced `findings`.
    pub fn status<'a>(self, findings: impl IntoIterator<Item = &'a Finding>) -> Status {
        if findings.into_iter().any(|f| self.fails(f.severity)) { Status::Fail } else { Status::Pass }
    }
}

/// Per-rule severity overrides (`--rule RULE=error|warning|info|off`), applied to every
/// finding by its rule id whatever stage produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleLevels(BTreeMap<String, Option<Severity>>);

impl RuleLevels {
    /// Parses `RULE=LEVEL`; `None` as level means `off`. The error explains the expected form.
    pub fn parse(spec: &str) -> Result<(String, Option<Severity>), String> {
        let (rule, level) = spec.split_once('=').ok_or_else(|| "expected RULE=error|warning|info|off".to_string())?;
        let rule = rule.trim();
        if rule.is_empty() || !rule.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(format!("{rule:?} is not a rule id (kebab-case, e.g. missing-downgrade)"));
        }
        let level = match level.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Error),
            "warning" | "warn" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            "off" | "none" => None,
            other => return Err(format!("unknown level {other:?} (expected error, warning, info or off)")),
        };
        Ok((rule.to_string(), level))
    }

    /// Sets the level of `rule`; a later setting wins.
    pub fn set(&mut self, rule: String, level: Option<Severity>) {
        self.0.insert(rule, level);
    }

    /// True when `rule` is turned off.
    pub fn is_off(&self, rule: &str) -> bool {
        matches!(self.0.get(rule), Some(None))
    }

    /// True when no rule is overridden.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Re-grades findings as configured and drops those of rules turned off.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter_map(|mut f| match self.0.get(&f.rule) {
                None => Some(f),
                Some(None) => None,
                Some(Some(severity)) => {
                    f.severity = *severity;
                    Some(f)
                }
            })
            .collect()
    }
}

/// Lint rules whose finding says the same as a rule judging the schema change, on the same
/// statement: (lint rule, the rule that covers it).
const COVERED: &[(&str, &str)] =
    &[("drop-table", "destructive-change"), ("drop-column", "destructive-change"), ("rename", "backward-incompatible")];

/// Reports one problem once: drops a lint finding when the schema-change rule that covers it
/// fired on the same migration, file and line (a rule turned off covers nothing).
pub fn without_overlaps(findings: Vec<Finding>) -> Vec<Finding> {
    let key = |f: &Finding| (f.migration.clone(), f.file.clone(), f.line);
    let covering: std::collections::HashSet<_> = findings
        .iter()
        .filter(|f| COVERED.iter().any(|(_, by)| *by == f.rule))
        .map(|f| (f.rule.clone(), key(f)))
        .collect();
    findings
        .into_iter()
        .filter(|f| !COVERED.iter().any(|(lint, by)| *lint == f.rule && covering.contains(&(by.to_string(), key(f)))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_lint_findings_are_dropped_only_where_covered() {
        let at =
            |rule: &str, line| Finding::new(rule, Severity::Warning, "m").in_migration("2").at("2.sql", Some(line));
        let kept = without_overlaps(vec![
            at("destructive-change", 1),
            at("drop-table", 1),
            at("drop-table", 5),
            at("rename", 1),
        ]);
        let rules: Vec<(&str, Option<u32>)> = kept.iter().map(|f| (f.rule.as_str(), f.line)).collect();
        assert_eq!(rules, [("destructive-change", Some(1)), ("drop-table", Some(5)), ("rename", Some(1))]);
    }

    #[test]
    fn rule_levels_regrade_and_drop() {
        let mut levels = RuleLevels::default();
        for spec in ["missing-downgrade=error", "empty-upgrade=off"] {
            let (rule, level) = RuleLevels::parse(spec).unwrap();
            levels.set(rule, level);
        }
        let found = levels.apply(vec![
            Finding::new("missing-downgrade", Severity::Warning, "m"),
            Finding::new("empty-upgrade", Severity::Warning, "e"),
            Finding::new("cycle", Severity::Error, "c"),
        ]);
        let graded: Vec<(&str, Severity)> = found.iter().map(|f| (f.rule.as_str(), f.severity)).collect();
        assert_eq!(graded, [("missing-downgrade", Severity::Error), ("cycle", Severity::Error)]);
        assert!(RuleLevels::parse("cycle").unwrap_err().contains("RULE="));
        assert!(RuleLevels::parse("cycle=loud").unwrap_err().contains("\"loud\""));
        assert!(RuleLevels::parse("Cycle X=off").is_err());
    }

    #[test]
    fn fail_on_thresholds() {
        let warn = Finding::new("x", Severity::Warning, "w");
        let err = Finding::new("y", Severity::Error, "e");
        assert_eq!(FailOn::Error.status([&warn]), Status::Pass);
        assert_eq!(FailOn::Warning.status([&warn]), Status::Fail);
        assert_eq!(FailOn::Error.status([&warn, &err]), Status::Fail);
        assert_eq!(FailOn::Never.status([&err]), Status::Pass);
    }
}
