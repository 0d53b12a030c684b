//! API microversions. Every response names the range Ferrite serves, and
//! every field, filter and verb carries the version that introduced it.

use std::fmt;
use std::str::FromStr;

/// An Ironic API microversion `major.minor`; ordering is numeric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32);

/// The oldest version served; requests that name none are served at it.
pub const MIN_VERSION: Version = Version(1, 1);

/// The newest version whose every feature Ferrite implements. Raise it only
/// together with the features of the versions in between.
pub const MAX_VERSION: Version = Version(1, 115);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// A version string that is not `N.N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version string {0:?}")]
pub struct BadVersion(pub String);

impl FromStr for Version {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return Err(bad());
        }
        Ok(Version(
            major.parse().map_err(|_| bad())?,
            minor.parse().map_err(|_| bad())?,
        ))
    }
}

impl Version {
    /// Shorthand for `Version(1, minor)`, the only major version there is.
    pub const fn v1(minor: u32) -> Version {
        Version(1, minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        assert_eq!("1.9".parse::<Version>().unwrap(), Version(1, 9));
        assert!(Version(1, 10) > Version(1, 9));
        assert_eq!(Version(1, 115).to_string(), "1.115");
        for bad in ["", "1", "1.", ".1", "a.b", "1.1.1", "-1.2", "1.x"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }
}
