//! Integration tests: the real `migration-guard` binary against real PostgreSQL started by its
//! own ephemeral provider. One test binary; modules by feature.

mod support;

mod action;
mod alembic;
mod check;
mod corpora;
mod deploy;
mod differential;
mod drift;
mod fake_github;
mod formats;
mod graph;
mod lint;
mod pr;
mod prefix_cache;
mod provision;
mod roundtrip;
mod schema;
mod schema_oracle;
mod security;
mod snapshots;
mod status;
mod waivers;
