//! Deciding which requests fail, how, and how late they are answered.
//!
//! Random failures use a counter-based hash rather than a shared RNG: the
//! n-th request's fate is `hash(seed, n)`, which needs only one atomic
//! increment (no lock) and makes a run with a given seed and request order
//! reproducible.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::config::FailureKind;
use crate::fleet::Fleet;
use crate::inventory::{mix, unit};

/// The fleet-wide random failure settings, changeable at run time.
#[derive(Debug)]
pub(crate) struct FailurePolicy {
    rate_bits: AtomicU64,
    kinds: AtomicU8,
    counter: AtomicU64,
    seed: u64,
}

fn mask(kinds: &[FailureKind]) -> u8 {
    kinds.iter().fold(0, |m, k| m | (1 << k.index()))
}

impl FailurePolicy {
    pub fn new(rate: f64, kinds: &[FailureKind], seed: u64) -> FailurePolicy {
        FailurePolicy {
            rate_bits: AtomicU64::new(rate.to_bits()),
            kinds: AtomicU8::new(mask(kinds)),
            counter: AtomicU64::new(0),
            seed: mix(seed ^ 0xFA11),
        }
    }

    pub fn set(&self, rate: f64, kinds: &[FailureKind]) {
        self.kinds.store(mask(kinds), Relaxed);
        self.rate_bits.store(rate.to_bits(), Relaxed);
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Relaxed))
    }

    pub fn kinds(&self) -> Vec<FailureKind> {
        let m = self.kinds.load(Relaxed);
        FailureKind::ALL
            .into_iter()
            .filter(|k| m & (1 << k.index()) != 0)
            .collect()
    }

    /// Draws the fate of the next request: `None` (served) or a kind.
    fn draw(&self) -> Option<FailureKind> {
        let rate = self.rate();
        if rate <= 0.0 {
            return None;
        }
        let h = mix(self.seed ^ self.counter.fetch_add(1, Relaxed));
        if unit(h) >= rate {
            return None;
        }
        let kinds = self.kinds();
        if kinds.is_empty() {
            return None;
        }
        Some(kinds[(mix(h) % kinds.len() as u64) as usize])
    }

    /// A jitter sample in `[0, 1)`.
    fn jitter(&self) -> f64 {
        unit(mix(self.seed
            ^ 0x7177
            ^ self.counter.fetch_add(1, Relaxed).rotate_left(17)))
    }
}

/// What the front door does with one Redfish request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Wait this long before doing anything else.
    pub delay: Duration,
    /// Fail this way instead of serving the request.
    pub fault: Option<FailureKind>,
}

impl Fleet {
    /// Decides latency and failure for a request, counting it against the
    /// system it addresses (if any). A fault pinned to that system wins
    /// over the random policy; a counted fault is used up here.
    pub(crate) fn verdict(&self, system: Option<usize>) -> Verdict {
        let cfg = self.config();
        let mut base = cfg.latency;
        let mut pinned = None;
        if let Some(mut s) = system.and_then(|i| self.lock(i)) {
            s.requests += 1;
            if let Some(f) = s.fault.as_mut() {
                if let Some(ms) = f.latency_ms {
                    base = Duration::from_millis(u64::from(ms));
                }
                if let Some(kind) = f.kind {
                    match f.remaining {
                        None => pinned = Some(kind),
                        Some(0) => {}
                        Some(n) => {
                            pinned = Some(kind);
                            f.remaining = Some(n - 1);
                        }
                    }
                    if f.remaining == Some(0) {
                        f.kind = None;
                        f.remaining = None;
                        if f.latency_ms.is_none() {
                            s.fault = None;
                        }
                    }
                }
            }
        }
        let jitter = if cfg.latency_jitter.is_zero() {
            Duration::ZERO
        } else {
            cfg.latency_jitter.mul_f64(self.failures.jitter())
        };
        let fault = pinned.or_else(|| self.failures.draw());
        if let Some(kind) = fault {
            self.stats.fault(kind);
        }
        Verdict {
            delay: base + jitter,
            fault,
        }
    }
}

/// Bodies served by the `garbage` failure, rotated so clients meet every
/// flavour: truncated JSON, an HTML error page, binary noise.
pub(crate) fn garbage_body(n: u64) -> &'static [u8] {
    const BODIES: [&[u8]; 3] = [
        b"{\"@odata.id\": \"/redfish/v1/Systems/sys-0\", \"PowerState\": \"O",
        b"<html><head><title>502 Proxy Error</title></head><body>upstream sent garbage</body></html>",
        b"\x00\x1f\x8b\xff\xfe{{{{not json",
    ];
    BODIES[(n % BODIES.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::state::SystemFault;

    #[test]
    fn random_rate_is_roughly_honoured() {
        let p = FailurePolicy::new(0.25, &[FailureKind::ServerError, FailureKind::Drop], 1);
        let n = 20_000;
        let fails: Vec<_> = (0..n).filter_map(|_| p.draw()).collect();
        let ratio = fails.len() as f64 / n as f64;
        assert!((0.22..0.28).contains(&ratio), "{ratio}");
        assert!(fails.contains(&FailureKind::Drop));
        assert!(!fails.contains(&FailureKind::Timeout));
        p.set(0.0, &[]);
        assert!((0..1000).all(|_| p.draw().is_none()));
    }

    #[test]
    fn counted_pinned_fault_recovers() {
        let f = Fleet::new(Config {
            systems: 2,
            ..Config::default()
        })
        .unwrap();
        f.set_fault(
            0,
            SystemFault {
                kind: Some(FailureKind::ServerError),
                remaining: Some(2),
                latency_ms: None,
            },
        )
        .unwrap();
        assert_eq!(f.verdict(Some(0)).fault, Some(FailureKind::ServerError));
        assert_eq!(f.verdict(Some(1)).fault, None, "other systems unaffected");
        assert_eq!(f.verdict(Some(0)).fault, Some(FailureKind::ServerError));
        assert_eq!(f.verdict(Some(0)).fault, None);
        assert_eq!(f.snapshot(0).unwrap().fault, None);
        assert_eq!(f.snapshot(0).unwrap().requests, 3);
        assert_eq!(f.stats().faults_500, 2);
    }

    #[test]
    fn pinned_latency_replaces_base() {
        let f = Fleet::new(Config {
            systems: 1,
            latency: Duration::from_millis(5),
            ..Config::default()
        })
        .unwrap();
        assert_eq!(f.verdict(Some(0)).delay, Duration::from_millis(5));
        f.set_fault(
            0,
            SystemFault {
                kind: None,
                remaining: None,
                latency_ms: Some(250),
            },
        )
        .unwrap();
        assert_eq!(f.verdict(Some(0)).delay, Duration::from_millis(250));
        assert_eq!(f.verdict(None).delay, Duration::from_millis(5));
    }
}
