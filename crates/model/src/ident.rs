//! Validation of identifiers as the API accepts them: UUIDs, logical names,
//! MAC addresses and traits.

use uuid::Uuid;

/// Names the nodes controller uses for its own sub-paths.
pub const RESERVED_NODE_NAMES: &[&str] = &[
    "detail",
    "validate",
    "states",
    "vendor_passthru",
    "management",
    "maintenance",
];

/// Parses a canonical hyphenated UUID (Ironic accepts no other form).
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::parse_str(s).ok()
}

/// Whether `s` is a valid logical name: RFC 3986 unreserved characters,
/// 1–255 long, not a UUID and not a reserved word.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        && parse_uuid(s).is_none()
        && !RESERVED_NODE_NAMES.contains(&s)
}

/// Normalises a MAC address to lower-case colon form, or `None` if it is not
/// six hex octets separated by colons or hyphens.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// Whether `s` is a valid trait: `CUSTOM_[A-Z0-9_]+` or an upper-case
/// standard name, at most 255 characters.
pub fn is_valid_trait(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.starts_with('_')
        && s != "CUSTOM_"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("n1"));
        assert!(is_valid_name("rack-1.node_2~a"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name("detail"));
        assert!(!is_valid_name("07a5a29e-ad5d-41ba-9b15-b2617e6f455e"));
        assert!(!is_valid_name(&"a".repeat(256)));
    }

    #[test]
    fn macs() {
        assert_eq!(
            normalize_mac("52:54:00:AB:cd:01").as_deref(),
            Some("52:54:00:ab:cd:01")
        );
        assert_eq!(
            normalize_mac("52-54-00-ab-cd-01").as_deref(),
            Some("52:54:00:ab:cd:01")
        );
        assert!(normalize_mac("52:54:00:ab:cd").is_none());
        assert!(normalize_mac("zz:54:00:ab:cd:01").is_none());
    }

    #[test]
    fn uuids_and_traits() {
        assert!(parse_uuid("07a5a29e-ad5d-41ba-9b15-b2617e6f455e").is_some());
        assert!(parse_uuid("07a5a29ead5d41ba9b15b2617e6f455e").is_none());
        assert!(parse_uuid("!@#$^*&%^").is_none());
        assert!(is_valid_trait("CUSTOM_GPU"));
        assert!(is_valid_trait("HW_CPU_X86_AVX2"));
        assert!(!is_valid_trait("custom_gpu"));
    }
}
