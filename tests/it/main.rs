//! Integration tests: the real `migration-guard` binary against real PostgreSQL started by its
//! own ephemeral provider. One test binary; modules by feature.

// Not every feature module uses every helper.
#[allow(dead_code)]
mod support;

mod action;
mod check;
mod fake_github;
