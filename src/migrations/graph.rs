//! Checks on the shape of a chain that need no database: duplicate versions.

use super::{Migration, Version};
use crate::findings::{Finding, Severity};
use std::collections::HashMap;

/// Finds problems in the chain's structure.
pub fn check(migrations: &[Migration]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut first_of: HashMap<&Version, &Migration> = HashMap::new();
    for m in migrations {
        let Some(version) = &m.version else { continue };
        // Equal versions may be spelled differently (`001` and `1`); `Version` compares numerically.
        if let Some(first) = first_of.get(version) {
            findings.push(
                Finding::new(
                    "duplicate-version",
                    Severity::Error,
                    format!(
                        "version {} is used twice: by {} and {}; the migration tool refuses to run (or silently skips one)",
                        version,
                        first.up.display_path(),
                        m.up.display_path()
                    ),
                )
                .in_migration(&m.id)
                .at(m.up.display_path(), Some(1))
                .with_help("give one of them a new version after the newest migration"),
            );
        } else {
            first_of.insert(version, m);
        }
    }
    findings
}
