//! The report: one serializable data model of a check's outcome, built from what the stages
//! returned. Renderers (`json`, `markdown`, `sarif`, `junit`, `terminal`) turn it into text; none
//! of them decides pass or fail, which `status` already holds.

pub mod json;
pub mod junit;
pub mod markdown;
#[cfg(test)]
pub(crate) mod sample;
pub mod sarif;
pub mod terminal;

use crate::findings::{FailOn, Finding, Severity, Status};
use crate::postgres::Provider;
use crate::runner::StatementError;
use serde::Serialize;

/// Version of the JSON shape; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a check found, in the order the pipeline produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub status: Status,
    pub fail_on: FailOn,
    pub summary: Summary,
    /// Absent when the check stopped before a server was provided.
    pub database: Option<Database>,
    pub chain: ChainInfo,
    /// Which migrations the change under review added or edited.
    pub scope: ScopeSummary,
    pub migrations: Vec<MigrationReport>,
    /// The findings that count: on changed migrations, or about the whole chain.
    pub findings: Vec<Finding>,
    /// Findings on merged migrations: listed for reference, never counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_findings: Vec<Finding>,
    /// Differences between the declared models (before) and the migrated database (after);
    /// absent when no models were declared or the chain did not apply completely.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Vec<crate::schema::drift::Drift>>,
    /// Shape of the revision history (heads, branch points, Mermaid diagram).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<crate::migrations::graph::Summary>,
    /// Every waiver in the changed migrations, with the findings it waived (none: it waived
    /// nothing); waived findings never count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<crate::waivers::WaiverReport>,
    /// The baseline file, when one was read: the findings it holds and its stale entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::baseline::BaselineReport>,
    /// What the merged prefix cache did, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<crate::prefix_cache::CacheReport>,
    /// False when the lint trace was off: locks and rewrites were not traced.
    #[serde(skip_serializing_if = "is_on")]
    pub lint: bool,
}

fn is_on(lint: &bool) -> bool {
    *lint
}

/// How the change under review was told from the history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScopeSummary {
    /// What it was decided from, e.g. `compared with origin/main`.
    pub basis: String,
    /// Migrations judged.
    pub changed: usize,
    /// Migrations replayed only.
    pub merged: usize,
    /// Why every migration was judged when no base could tell them apart, said once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// The program that wrote the report.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// Counts for the status line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub migrations: usize,
    pub applied: usize,
    pub failed: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Wall time of the whole check.
    pub duration_ms: f64,
}

/// The server the chain ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    pub provider: Provider,
    pub server_version: String,
    /// Why the server is not of the PostgreSQL major that was asked for, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_note: Option<String>,
}

/// The migration chain that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct ChainInfo {
    pub format: String,
    pub dir: String,
}

/// What happened to one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationStatus {
    Applied,
    Failed,
    /// Not run because an earlier migration failed.
    Skipped,
}

/// One migration's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub id: String,
    /// Changed by the change under review (judged), or merged (replayed only).
    pub scope: crate::scope::MigrationScope,
    pub name: String,
    /// File (or directory) of the up script.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_path: Option<String>,
    pub status: MigrationStatus,
    pub duration_ms: f64,
    /// Whether it ran inside a transaction, and why not.
    pub transaction: crate::migrations::Transaction,
    pub statements: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StatementError>,
    /// A failed migration without a transaction left its earlier statements applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partially_applied: bool,
    /// What the migration changed in the schema (snapshot before its up → after).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::schema::Change>,
    /// How its up → down → up round trip went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip: Option<crate::roundtrip::RoundTripResult>,
    /// For a failed migration: the state it left the database in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_failure: Option<crate::roundtrip::AfterFailure>,
    /// Why the lint trace did not see all of the migration (e.g. an Alembic revision that
    /// cannot be rendered as SQL offline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_note: Option<String>,
}

impl Report {
    /// Builds the report and its summary; `status` follows `fail_on` over `findings`, the
    /// findings that count.
    pub fn new(
        fail_on: FailOn,
        database: Option<Database>,
        chain: ChainInfo,
        migrations: Vec<MigrationReport>,
        mut findings: Vec<Finding>,
        duration_ms: f64,
    ) -> Report {
        // Stable order for readers and snapshots: by file, then line, then rule.
        findings.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let summary = Summary {
            migrations: migrations.len(),
            applied: migrations.iter().filter(|m| m.status == MigrationStatus::Applied).count(),
            failed: migrations.iter().filter(|m| m.status == MigrationStatus::Failed).count(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
            duration_ms,
        };
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool { name: env!("CARGO_PKG_NAME"), version: env!("CARGO_PKG_VERSION") },
            status: fail_on.status(&findings),
            fail_on,
            summary,
            database,
            chain,
            scope: ScopeSummary::default(),
            migrations,
            findings,
            merged_findings: Vec::new(),
            drift: None,
            graph: None,
            waivers: Vec::new(),
            baseline: None,
            prefix_cache: None,
            lint: true,
        }
    }

    /// Adds the revision history's shape.
    pub fn with_graph(mut self, graph: crate::migrations::graph::Summary) -> Report {
        self.graph = Some(graph);
        self
    }
}

/// Milliseconds with one decimal, as reports show them.
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Every file renderer's output with its file name in the report directory: `report.json`,
/// `report.md`, `merged.md` (the merged migrations and their findings), `report.sarif`,
/// `report.xml`.
pub fn files(report: &Report) -> [(&'static str, String); 5] {
    [
        ("report.json", json::render(report)),
        ("report.md", markdown::render(report)),
        ("merged.md", markdown::render_merged(report)),
        ("report.sarif", sarif::render(report)),
        ("report.xml", junit::render(report)),
    ]
}

impl Report {
    /// The migrations the change under review added or edited.
    pub fn changed_migrations(&self) -> impl Iterator<Item = &MigrationReport> {
        self.migrations.iter().filter(|m| m.scope == crate::scope::MigrationScope::Changed)
    }

    /// Findings the waivers silenced, in waiver order.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.waivers.iter().flat_map(|w| &w.waived)
    }
}
