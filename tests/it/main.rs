//! Integration tests: the real `migration-guard` binary against real PostgreSQL started by its
//! own ephemeral provider. One test binary; modules by feature.

mod support;

mod check;
mod corpora;
mod drift;
mod formats;
mod provision;
mod roundtrip;
mod schema;
mod schema_oracle;
