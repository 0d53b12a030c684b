//! The change feed through the API: consumers that come and go, webhook
//! delivery through a receiver outage, retention, the OpenAPI document.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod api;
mod conductors;
mod consumers;
mod webhooks;

/// A small deterministic generator for "random" disconnect points; the
/// seed is printed so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let seed = std::env::var("FEED_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("FEED_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
