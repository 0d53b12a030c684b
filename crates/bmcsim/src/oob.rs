//! Random out-of-band power changes: someone pulls a plug, a PDU cycles,
//! an operator presses a button. Power-state sync code must notice these;
//! this task makes them happen at a configured rate.
//!
//! Changes form a Poisson process over the whole fleet (rate × systems per
//! hour), each hitting a uniformly chosen system, so the gaps between them
//! are exponentially distributed rather than suspiciously regular.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::fleet::Fleet;

/// Longest single wait, so a tiny rate still re-checks for shutdown.
const MAX_GAP: Duration = Duration::from_secs(3600);

/// Starts the task if the configured rate is positive.
pub(crate) fn spawn(fleet: Arc<Fleet>, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let per_hour = fleet.config().oob_power_change_rate * fleet.len() as f64;
    if per_hour <= 0.0 {
        return None;
    }
    let per_sec = per_hour / 3600.0;
    let mut rng = StdRng::seed_from_u64(fleet.config().seed ^ 0x00B0_0B00);
    Some(tokio::spawn(async move {
        let mut next = Instant::now();
        loop {
            // Inverse-CDF sample of an exponential gap; 1-u avoids ln(0).
            let u: f64 = rng.random();
            let gap =
                Duration::from_secs_f64((-(1.0 - u).ln() / per_sec).min(MAX_GAP.as_secs_f64()));
            next += gap;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = crate::server::stopped(&mut stop) => return,
            }
            let index = rng.random_range(0..fleet.len());
            if fleet.flip_oob(index) {
                tracing::debug!(system = %fleet.system_id(index), "out-of-band power change");
            }
        }
    }))
}
