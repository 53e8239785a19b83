//! Shows a long check moving while it runs: a live progress line on a terminal (stderr), and in
//! GitHub Actions a log group per stage with one line per migration as it finishes, so that a
//! run of minutes is never silent until the end.

use crate::report::{MigrationReport, MigrationStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where progress goes; cheap to clone (clones share the same line).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    kind: Kind,
}

#[derive(Debug, Clone, Default)]
enum Kind {
    /// Nothing is shown (tests, pipes, `--verbose` which prints its own lines).
    #[default]
    Silent,
    /// A progress line redrawn in place on stderr.
    Terminal(ProgressBar),
    /// Lines on stdout. `paused` is the token of `::stop-commands::` when commands are paused
    /// (the lines hold text from the pull request): group markers resume them for one line.
    Actions { paused: Option<String>, open: Arc<AtomicBool> },
}

impl Progress {
    /// Progress for this process: Actions lines when `in_actions`, else a progress line when
    /// stderr is a terminal and `verbose` is off, else nothing.
    pub fn detect(in_actions: bool, verbose: bool) -> Progress {
        let kind = if in_actions {
            Kind::Actions { paused: None, open: Arc::default() }
        } else if !verbose && std::io::stderr().is_terminal() && std::env::var_os("NO_PROGRESS").is_none() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style(STAGE));
            bar.enable_steady_tick(Duration::from_millis(250));
            Kind::Terminal(bar)
        } else {
            Kind::Silent
        };
        Progress { kind }
    }

    /// Nothing shown.
    pub fn silent() -> Progress {
        Progress::default()
    }

    /// Workflow commands are paused with `token` from now on: group markers resume them around
    /// themselves.
    pub fn paused(&mut self, token: &str) {
        if let Kind::Actions { paused, .. } = &mut self.kind {
            *paused = Some(token.to_string());
        }
    }

    /// A stage begins (`title` is ours, never text from the pull request).
    pub fn stage(&self, title: &str) {
        self.stage_done();
        self.command(&format!("::group::{title}"));
        if let Kind::Actions { open, .. } = &self.kind {
            open.store(true, Ordering::Relaxed);
        }
        if let Kind::Terminal(bar) = &self.kind {
            bar.set_style(style(STAGE));
            bar.set_message(title.to_string());
        }
    }

    /// The stage begun last ends.
    pub fn stage_done(&self) {
        if let Kind::Actions { open, .. } = &self.kind
            && open.swap(false, Ordering::Relaxed)
        {
            self.command("::endgroup::");
        }
    }

    /// Migration `index` of `total` (shown by `name`) starts.
    pub fn migration_starts(&self, index: usize, total: usize, name: &str) {
        if let Kind::Terminal(bar) = &self.kind {
            if bar.length() != Some(total as u64) {
                bar.set_style(style(MIGRATION));
            }
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(name.to_string());
        }
    }

    /// The first `count` of `total` migrations were restored from the prefix cache at once.
    pub fn restored(&self, count: usize, total: usize) {
        match &self.kind {
            Kind::Terminal(bar) => {
                bar.set_style(style(MIGRATION));
                bar.set_length(total as u64);
                bar.set_position(count as u64);
            }
            Kind::Actions { .. } => println!("{count}/{total} restored from the prefix cache"),
            Kind::Silent => {}
        }
    }

    /// Migration `index` of `total` finished as `report` says.
    pub fn migration_done(&self, index: usize, total: usize, report: &MigrationReport) {
        match &self.kind {
            Kind::Terminal(bar) => bar.set_position(index as u64 + 1),
            Kind::Actions { .. } => println!("{}", line(index, total, report)),
            Kind::Silent => {}
        }
    }

    /// Clears the progress line, or closes the open group, before the report (or an error)
    /// is printed.
    pub fn finish(&self) {
        match &self.kind {
            Kind::Terminal(bar) => bar.finish_and_clear(),
            Kind::Actions { .. } => self.stage_done(),
            Kind::Silent => {}
        }
    }

    /// Prints a workflow command in Actions, resuming paused commands for it alone.
    fn command(&self, command: &str) {
        if let Kind::Actions { paused, .. } = &self.kind {
            match paused {
                Some(token) => {
                    println!("{}", crate::github::workflow::resume_commands(token));
                    println!("{command}");
                    println!("{}", crate::github::workflow::pause_line(token));
                }
                None => println!("{command}"),
            }
        }
    }
}

/// The progress line during a stage, and while migrations apply.
const STAGE: &str = "{elapsed:>4} {wide_msg}";
const MIGRATION: &str = "{elapsed:>4} [{pos}/{len}] {wide_msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `[12/247] applied db/0012_users.up.sql (34 ms)`: one migration's outcome on one line.
fn line(index: usize, total: usize, report: &MigrationReport) -> String {
    let status = match report.status {
        MigrationStatus::Applied => "applied",
        MigrationStatus::Failed => "FAILED",
        MigrationStatus::Skipped => "skipped",
    };
    let round_trip = match report.round_trip.as_ref().map(|r| &r.status) {
        Some(crate::roundtrip::RoundTripStatus::Passed) => ", round trip passed",
        Some(crate::roundtrip::RoundTripStatus::Irreversible) => ", round trip: irreversible",
        Some(crate::roundtrip::RoundTripStatus::ReapplyFailed) => ", round trip: reapply failed",
        _ => "",
    };
    let path = crate::report::terminal::line(&report.path);
    format!("[{}/{total}] {status} {path} ({:.0} ms{round_trip})", index + 1, report.duration_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_migration_names_its_file_and_outcome_on_one_line() {
        let mut report = crate::report::sample::migration("0002", "users\n::error::x", MigrationStatus::Applied);
        report.duration_ms = 34.4;
        let text = line(1, 7, &report);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("[2/7] applied db/migrations/0002_users"), "{text}");
        assert!(text.ends_with("(34 ms)"), "{text}");
    }
}
