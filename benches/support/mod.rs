//! Helpers shared by the benchmarks: medians and the shared corpora.

use std::path::PathBuf;
use std::time::Duration;

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `name` under the shared corpora (`MIGRATION_GUARD_CORPUS`, default `../shared/corpus` next to
/// the repository), when it exists.
#[allow(dead_code)] // not every benchmark reads the corpora by name
pub fn corpus_dir(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    Some(base.join(name)).filter(|d| d.is_dir())
}
