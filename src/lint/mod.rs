//! Lock and rewrite lint traced from real execution: while the runner applies each statement,
//! the tracer records what it did to objects that existed before the migration (locks, rewrites,
//! constraint validation, scans) and the rules turn that record into findings. Owns no part of
//! applying migrations or deciding pass/fail.

pub mod rules;
pub mod trace;

pub use trace::Tracer;
