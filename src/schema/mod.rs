//! Database schemas: reading one from the catalogs (`introspect`) into a sorted model (`model`),
//! comparing two (`diff`), and building the schema a project declares from DDL, a YAML model
//! file or a command's output (`declared`, `yaml`).

pub mod ddl_log;
pub mod declared;
pub mod delta;
pub mod diff;
pub mod drift;
pub mod introspect;
pub mod model;
pub mod yaml;

pub use delta::Delta;
pub use diff::{Action, Change, diff};
pub use introspect::{IntrospectError, introspect};
pub use model::{Kind, Schema};
