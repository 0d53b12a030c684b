//! How webhook deliveries are signed, and how a receiver checks them.
//! The signature is HMAC-SHA256, keyed by the subscription's secret, over
//! `"{timestamp}.{body}"`: binding the timestamp lets a receiver refuse
//! replays of an old delivery, binding the body lets it refuse any change.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying `sha256=<hex digest>`.
pub const SIGNATURE_HEADER: &str = "X-Ferrite-Signature";
/// Header carrying the Unix time (seconds) the delivery was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Ferrite-Timestamp";
/// Header naming the subscription, so one receiver can serve several.
pub const WEBHOOK_HEADER: &str = "X-Ferrite-Webhook";

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `signature` (the header's value) is the one `secret` gives for
/// `body` at `timestamp`, compared in constant time. Receivers should also
/// refuse timestamps far from their own clock.
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(digest) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_only_with_its_secret_time_and_body() {
        let s = sign("0123456789abcdef", "1700000000", b"{\"events\":[]}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert!(verify(
            "0123456789abcdef",
            "1700000000",
            b"{\"events\":[]}",
            &s
        ));
        assert!(!verify(
            "0123456789abcdeX",
            "1700000000",
            b"{\"events\":[]}",
            &s
        ));
        assert!(!verify(
            "0123456789abcdef",
            "1700000001",
            b"{\"events\":[]}",
            &s
        ));
        assert!(!verify(
            "0123456789abcdef",
            "1700000000",
            b"{\"events\":[1]}",
            &s
        ));
        assert!(!verify(
            "0123456789abcdef",
            "1700000000",
            b"{}",
            "sha256=zz"
        ));
        assert!(!verify("0123456789abcdef", "1700000000", b"{}", "md5=00"));
    }
}
