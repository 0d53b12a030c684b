//! Errors returned by the client, and decoding of Ironic's error body.
//!
//! Ironic wraps every error as `{"error_message": "<JSON text>"}` where the
//! inner text is either `{"faultcode", "faultstring", "debuginfo"}` (errors
//! raised by the API's controllers) or `{"code", "title", "description"}`
//! (errors raised by the web framework: unknown path, bad version header).
//! Callers mostly want the HTTP status and the one human-readable sentence, so
//! [`Error::Api`] carries exactly those, plus the raw body for diagnostics.

use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong talking to an Ironic-API endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a non-success status. `faultstring` is the
    /// message Ironic's error body carries (the inner `faultstring` or
    /// `description`), or the raw body when it is not in Ironic's shape.
    #[error("HTTP {status}: {faultstring}")]
    Api {
        /// HTTP status code (4xx or 5xx).
        status: u16,
        /// The human-readable error message decoded from the body.
        faultstring: String,
        /// The body exactly as received, for diagnostics and tests of the shape.
        body: String,
    },
    /// The request never got a response (connection refused, reset, timeout).
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// A success response whose body is not what the API documents.
    #[error("cannot decode response of {what}: {source}")]
    Decode {
        /// Which request produced it.
        what: String,
        /// The underlying JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A wait gave up before the node reached the state waited for.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last_seen}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long was waited.
        waited: Duration,
        /// The last provision state observed.
        last_seen: String,
    },
    /// A wait ended because the node landed in a state it will not leave on
    /// its own (e.g. `deploy failed`) instead of the one waited for.
    #[error("node {node} reached {state:?} instead of {expected:?}: {last_error}")]
    WaitFailed {
        /// The node's identifier as given to the wait.
        node: String,
        /// The state it reached.
        state: String,
        /// The state that was expected.
        expected: String,
        /// The node's `last_error`, or an empty string.
        last_error: String,
    },
    /// The base URL given to the builder cannot be used.
    #[error("invalid base URL {0:?}")]
    InvalidUrl(String),
}

impl Error {
    /// The HTTP status of an API error, `None` for other kinds. Lets callers
    /// branch on 404/409 without matching the enum.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed: a 409 that says
    /// the node is locked (a conductor holds its reservation) and 503 (no
    /// conductor or worker free). python-ironicclient retries these too. A 409
    /// for a duplicate name is not retryable: retrying cannot fix it.
    pub fn is_retryable(&self) -> bool {
        self.status() == Some(503) || self.is_node_locked()
    }

    /// Whether this is Ironic's `NodeLocked` conflict specifically (409 whose
    /// message says the node is locked), as opposed to other 409s such as a
    /// duplicate name, which retrying cannot fix.
    pub fn is_node_locked(&self) -> bool {
        match self {
            Error::Api {
                status: 409,
                faultstring,
                ..
            } => {
                let f = faultstring.to_ascii_lowercase();
                f.contains("locked") || f.contains("please retry")
            }
            _ => false,
        }
    }
}

/// Extracts the human-readable message from an Ironic error body.
///
/// Accepts the double-encoded form (the normal one), an already-decoded
/// `error_message` object (some proxies re-encode), and anything else by
/// falling back to the raw text, so that an error is never lost to a decoding
/// problem.
pub fn decode_error_body(body: &str) -> String {
    let Ok(outer) = serde_json::from_str::<Value>(body) else {
        return body.trim().to_string();
    };
    let inner = match outer.get("error_message") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return s.clone(),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => outer.clone(),
    };
    for key in ["faultstring", "description", "title"] {
        if let Some(Value::String(s)) = inner.get(key)
            && !s.is_empty()
        {
            return s.clone();
        }
    }
    body.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_faultstring_from_double_encoded_body() {
        let body = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node x could not be found.\", \"debuginfo\": null}"}"#;
        assert_eq!(decode_error_body(body), "Node x could not be found.");
    }

    #[test]
    fn decodes_framework_errors_by_description() {
        let body = r#"{"error_message": "{\"code\": 406, \"title\": \"Not Acceptable\", \"description\": \"Version 1.999 was requested\"}"}"#;
        assert_eq!(decode_error_body(body), "Version 1.999 was requested");
        let body = r#"{"error_message": "{\"code\": 404, \"title\": \"Not Found\", \"description\": \"\"}"}"#;
        assert_eq!(decode_error_body(body), "Not Found");
    }

    #[test]
    fn falls_back_to_raw_text() {
        assert_eq!(decode_error_body("  oops \n"), "oops");
        assert_eq!(
            decode_error_body(r#"{"error_message": "plain words"}"#),
            "plain words"
        );
        assert_eq!(
            decode_error_body(r#"{"error_message": {"faultstring": "already decoded"}}"#),
            "already decoded"
        );
    }

    #[test]
    fn classifies_retryable_and_locked() {
        let locked = Error::Api {
            status: 409,
            faultstring: "Node abc is locked by host h, please retry after the current operation is completed.".into(),
            body: String::new(),
        };
        assert!(locked.is_retryable());
        assert!(locked.is_node_locked());
        let dup = Error::Api {
            status: 409,
            faultstring: "A node with name n1 already exists.".into(),
            body: String::new(),
        };
        assert!(!dup.is_retryable());
        assert!(!dup.is_node_locked());
        let bad = Error::Api {
            status: 400,
            faultstring: "x".into(),
            body: String::new(),
        };
        assert!(!bad.is_retryable());
        assert_eq!(bad.status(), Some(400));
    }
}
