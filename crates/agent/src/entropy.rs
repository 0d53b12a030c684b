//! Randomness that never blocks. Early in a ramdisk's life the kernel's
//! random pool may not be initialised yet (no RDRAND under emulation, no
//! hardware RNG driver), and getrandom(2) without flags — what
//! `Uuid::new_v4` uses — then blocks its thread until it is: a blocked
//! tokio worker stalls the whole command API, and the conductor sees an
//! agent that accepts connections and never answers. Nothing the agent
//! randomises needs cryptographic strength (command ids, heartbeat jitter,
//! the erase pattern's seed), so it draws from std's `RandomState`, whose
//! keys come from the kernel without waiting (GRND_INSECURE), mixed with
//! the clock.

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// 64 unpredictable-enough bits, without ever blocking.
pub fn u64() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A version-4 UUID for ids that must be unique, not secret.
pub fn uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&u64().to_le_bytes());
    bytes[8..].copy_from_slice(&u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| uuid()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|u| u.get_version_num() == 4));
    }
}
