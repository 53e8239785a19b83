//! Alembic projects: finding the revision files from `alembic.ini`, reading them with a real
//! Python parser, and applying or reverting one revision at a time through the project's own
//! Alembic. The chain model and graph checks stay in `migrations`.

pub mod apply;
pub mod config;
pub mod run;
pub mod script;
pub mod steps;

pub use config::Project;
pub use script::Function;
use std::path::PathBuf;

/// What the revision graph and the runner need from one revision file besides the common
/// `Migration` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The revision file.
    pub file: PathBuf,
    /// Line of `revision = ...`.
    pub revision_line: u32,
    /// Line of `down_revision = ...` (the revision line when there is none).
    pub down_revision_line: u32,
    /// `branch_labels`.
    pub branch_labels: Vec<String>,
    /// `depends_on`: revisions (or branch labels) that must be applied first without being
    /// parents in the history.
    pub depends_on: Vec<String>,
    /// Line of `depends_on = ...`.
    pub depends_on_line: u32,
    /// `def upgrade()`, if present.
    pub upgrade: Option<Function>,
    /// `def downgrade()`, if present.
    pub downgrade: Option<Function>,
}
