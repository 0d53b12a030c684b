//! The change feed's background work in the conductor process: trimming
//! the log to its retention, and delivering it to webhook subscriptions.

pub mod signature;
pub(crate) mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use ferrite_store::events::Retention;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::config::secs;
use crate::engine::Engine;

/// The `[feed]` section: retention of the change feed and webhook
/// delivery. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// Events older than this many seconds are trimmed; 0 keeps them
    /// regardless of age.
    pub retention_max_age: f64,
    /// At most this many of the newest events are kept; 0 for no limit.
    pub retention_max_count: u64,
    /// How often the trimming task runs, in seconds.
    pub trim_interval: f64,
    /// Longest wait for a webhook receiver to answer one delivery.
    pub webhook_timeout: f64,
    /// Wait after a first failed delivery; doubled after each further
    /// failure in a row, up to `webhook_max_backoff`.
    pub webhook_initial_backoff: f64,
    /// Longest wait between two attempts: bounds how late delivery
    /// resumes after a receiver comes back.
    pub webhook_max_backoff: f64,
    /// Most events in one delivery POST.
    pub webhook_batch: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            retention_max_age: 7.0 * 24.0 * 3600.0,
            retention_max_count: 1_000_000,
            trim_interval: 60.0,
            webhook_timeout: 10.0,
            webhook_initial_backoff: 1.0,
            webhook_max_backoff: 60.0,
            webhook_batch: 100,
        }
    }
}

impl FeedConfig {
    /// The retention policy the settings describe.
    pub fn retention(&self) -> Retention {
        Retention {
            max_age: secs(self.retention_max_age),
            max_count: Some(self.retention_max_count).filter(|n| *n > 0),
        }
    }

    /// The wait before the next attempt after `failures` failures in a row.
    pub fn backoff(&self, failures: u32) -> Duration {
        let first = secs(self.webhook_initial_backoff).unwrap_or(Duration::from_secs(1));
        let max = secs(self.webhook_max_backoff).unwrap_or(first).max(first);
        let doublings = failures.saturating_sub(1).min(30);
        first.saturating_mul(1u32 << doublings).min(max)
    }
}

/// One pass of the trimming task: deletes what retention no longer keeps,
/// a bounded batch per transaction so other writes interleave.
pub(crate) async fn trim(engine: Arc<Engine>) {
    let retention = engine.config.feed.retention();
    if retention.max_age.is_none() && retention.max_count.is_none() {
        return;
    }
    let mut total = 0;
    loop {
        match engine.store.trim_events(retention).await {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => {
                warn!(error = %e, "trimming the change feed failed");
                break;
            }
        }
    }
    if total > 0 {
        debug!(events = total, "change feed trimmed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let c = FeedConfig {
            webhook_initial_backoff: 0.5,
            webhook_max_backoff: 3.0,
            ..FeedConfig::default()
        };
        let waits: Vec<f64> = (1..=6).map(|f| c.backoff(f).as_secs_f64()).collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(3));
    }

    #[test]
    fn zero_means_unbounded_retention() {
        let c = FeedConfig {
            retention_max_age: 0.0,
            retention_max_count: 0,
            ..FeedConfig::default()
        };
        assert_eq!(c.retention(), Retention::default());
        let d = FeedConfig::default().retention();
        assert_eq!(d.max_count, Some(1_000_000));
        assert_eq!(d.max_age, Some(Duration::from_secs(604_800)));
    }
}
