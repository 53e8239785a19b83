//! Random numbers for names and tokens that concurrent runs must not share and pull request
//! content cannot guess: scratch database and role names, the workflow-command pause token.

use std::hash::{BuildHasher, Hasher};

/// 64 random bits, from the standard library's per-process random hash keys (seeded by the
/// operating system) mixed with the time.
pub fn u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

/// `bits / 4` random hex digits (`bits` a multiple of 64).
pub fn hex(bits: usize) -> String {
    (0..bits / 64).map(|_| format!("{:016x}", u64())).collect()
}
