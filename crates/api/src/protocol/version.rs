//! Microversion negotiation (reference §1.2). Requests name a version in
//! `X-OpenStack-Ironic-API-Version` or `OpenStack-API-Version: baremetal
//! 1.N`; none means 1.1; `latest` means the maximum; anything outside the
//! range is 406. Every response, errors included, carries the range.

use axum::http::{HeaderMap, HeaderValue};
use ferrite_model::{MIN_VERSION, Version};

use super::error::ApiError;

/// The legacy request/response header naming the version.
pub const LEGACY_HEADER: &str = "x-openstack-ironic-api-version";
/// The standard header (`baremetal 1.N`).
pub const STANDARD_HEADER: &str = "openstack-api-version";
/// Response header: the lowest version served.
pub const MIN_HEADER: &str = "x-openstack-ironic-api-minimum-version";
/// Response header: the highest version served.
pub const MAX_HEADER: &str = "x-openstack-ironic-api-maximum-version";

/// The version a request was negotiated at; handlers read it as an
/// extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion(pub Version);

impl ApiVersion {
    /// Whether the request may use something introduced at `1.minor`.
    pub fn at_least(self, minor: u32) -> bool {
        self.0 >= Version(1, minor)
    }
}

/// The highest version this router serves, handed to handlers as an
/// extension so the root documents advertise what negotiation accepts.
/// It is [`MAX_VERSION`] except in tests of features written ahead of the
/// advertised maximum (see [`crate::router_up_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxVersion(pub Version);

/// Reads the requested version from the headers; `max` is the highest
/// version served.
pub fn negotiate(headers: &HeaderMap, max: Version) -> Result<Version, ApiError> {
    let raw = if let Some(v) = headers.get(LEGACY_HEADER) {
        Some(v.to_str().unwrap_or("").trim().to_string())
    } else if let Some(v) = headers.get(STANDARD_HEADER) {
        let text = v.to_str().unwrap_or("").trim().to_string();
        let mut parts = text.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some(service), Some(ver)) if service.eq_ignore_ascii_case("baremetal") => {
                Some(ver.to_string())
            }
            _ => None,
        }
    } else {
        None
    };
    let Some(raw) = raw else {
        return Ok(MIN_VERSION);
    };
    if raw.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let version: Version = raw.parse().map_err(|_| {
        ApiError::not_acceptable(format!("Invalid value for {LEGACY_HEADER} header: {raw}"))
    })?;
    let range = format!("[{MIN_VERSION}, {max}]");
    if version.0 != 1 {
        return Err(ApiError::not_acceptable(format!(
            "Mutually exclusive versions requested. Version {version} requested but not supported by this service. The supported version range is: {range}."
        )));
    }
    if version < MIN_VERSION || version > max {
        return Err(ApiError::not_acceptable(format!(
            "Version {version} was requested but the minor version is not supported by this service. The supported version range is: {range}."
        )));
    }
    Ok(version)
}

/// Adds the range headers (up to `max`), and the negotiated version when
/// there is one.
pub fn stamp(headers: &mut HeaderMap, negotiated: Option<Version>, max: Version) {
    headers.insert(MIN_HEADER, HeaderValue::from_static(min_str()));
    if let Ok(v) = HeaderValue::from_str(&max.to_string()) {
        headers.insert(MAX_HEADER, v);
    }
    if let Some(version) = negotiated
        && let Ok(v) = HeaderValue::from_str(&version.to_string())
    {
        headers.insert(LEGACY_HEADER, v);
    }
}

fn min_str() -> &'static str {
    "1.1"
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::MAX_VERSION;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            negotiate(&HeaderMap::new(), MAX_VERSION).unwrap(),
            MIN_VERSION
        );
        assert_eq!(
            negotiate(&headers(&[(LEGACY_HEADER, "latest")]), MAX_VERSION).unwrap(),
            MAX_VERSION
        );
        assert_eq!(
            negotiate(&headers(&[(LEGACY_HEADER, "1.5")]), MAX_VERSION).unwrap(),
            Version(1, 5)
        );
        assert_eq!(
            negotiate(&headers(&[(STANDARD_HEADER, "baremetal 1.7")]), MAX_VERSION).unwrap(),
            Version(1, 7)
        );
        for bad in ["1.999", "2.1", "1.0", "abc", "1"] {
            let err = negotiate(&headers(&[(LEGACY_HEADER, bad)]), MAX_VERSION).unwrap_err();
            assert_eq!(err.status.as_u16(), 406, "{bad}");
        }
        assert_eq!(min_str(), MIN_VERSION.to_string());
        // The maximum is the router's: a lower one refuses what it does not
        // reach and `latest` names it.
        let lowered = Version(1, 50);
        let h = headers(&[(LEGACY_HEADER, "1.51")]);
        assert_eq!(negotiate(&h, lowered).unwrap_err().status.as_u16(), 406);
        assert_eq!(negotiate(&h, MAX_VERSION).unwrap(), Version(1, 51));
        let latest = headers(&[(LEGACY_HEADER, "latest")]);
        assert_eq!(negotiate(&latest, lowered).unwrap(), lowered);
    }
}
