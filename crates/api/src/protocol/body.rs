//! Request bodies: read with a size cap, parsed as JSON, and checked field
//! by field with jsonschema-style messages ("Schema error for node: …")
//! so every bad input is a 400 that names the problem.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;

/// Largest body accepted unless the app configures otherwise.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Reads the whole request body (at most `limit` bytes) before anything
/// else looks at the request. A server that answers — a 404 from the node
/// lookup, a 406 from version negotiation — while the body is still on
/// the wire has to drop the connection, and the client's next request on
/// that keep-alive connection then fails with "closed without response".
/// Bodies are small JSON documents, so buffering them costs nothing.
pub async fn buffered(request: Request, limit: usize) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Err(_) => {
            let mut refused = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes."),
            )
            .into_response();
            // The rest of the body is still unread: this connection is done.
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(refused)
        }
    }
}

/// A parsed JSON body (`Value::Null` when the body is empty).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        // Already buffered and bounded by the pipeline (`buffered`).
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_err(|e| ApiError::bad_request(format!("Unreadable request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON in request body: {e}")))
    }
}

/// Describes a JSON value the way jsonschema messages do.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// A JSON object being validated as resource `what`.
pub struct Obj<'a> {
    what: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Requires `value` to be an object.
    pub fn new(what: &'a str, value: &'a Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => Ok(Obj { what, map }),
            Value::Null => Err(ApiError::bad_request(format!(
                "Missing request body for {what}."
            ))),
            other => Err(ApiError::schema(
                what,
                format!("{} is not of type 'object'", show(other)),
            )),
        }
    }

    /// The raw map.
    pub fn map(&self) -> &Map<String, Value> {
        self.map
    }

    /// Refuses keys outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let unexpected: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("'{k}'"))
            .collect();
        match unexpected.len() {
            0 => Ok(()),
            1 => Err(self.error(format!(
                "Additional properties are not allowed ({} was unexpected)",
                unexpected[0]
            ))),
            _ => Err(self.error(format!(
                "Additional properties are not allowed ({} were unexpected)",
                unexpected.join(", ")
            ))),
        }
    }

    /// A 400 about this object.
    pub fn error(&self, detail: impl std::fmt::Display) -> ApiError {
        ApiError::schema(self.what, detail)
    }

    /// Whether the key is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// A required string.
    pub fn required_str(&self, key: &str) -> Result<&'a str, ApiError> {
        match self.map.get(key) {
            None => Err(self.error(format!("'{key}' is a required property"))),
            Some(v) => v.as_str().ok_or_else(|| self.type_error(v, "string")),
        }
    }

    /// An optional, nullable string no longer than `max`.
    pub fn opt_str(&self, key: &str, max: usize) -> Result<Option<&'a str>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
            Some(Value::String(s)) => {
                Err(self.error(format!("'{s}' is too long (at most {max} characters)")))
            }
            Some(v) => Err(self.type_error(v, "string")),
        }
    }

    /// An optional boolean; boolean-like strings are accepted as Ironic does.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| self.type_error(v, "boolean")),
        }
    }

    /// An optional object.
    pub fn opt_dict(&self, key: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(v) => Err(self.type_error(v, "object")),
        }
    }

    /// An optional, nullable canonical UUID.
    pub fn opt_uuid(&self, key: &str) -> Result<Option<Uuid>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => ferrite_model::ident::parse_uuid(s)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("Expected UUID for {key}: {s}"))),
            Some(v) => Err(self.type_error(v, "string")),
        }
    }

    /// The jsonschema type error.
    pub fn type_error(&self, value: &Value, expected: &str) -> ApiError {
        self.error(format!("{} is not of type '{expected}'", show(value)))
    }
}

/// Ironic's boolean coercion: JSON booleans and the usual strings.
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool_str(s),
        _ => None,
    }
}

/// Boolean-like strings ("true", "yes", "1", "on" and their opposites).
pub fn parse_bool_str(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unexpected_keys_are_named() {
        let v = json!({"driver": "fake-hardware", "bogus_field": 1});
        let obj = Obj::new("node", &v).unwrap();
        let err = obj.only(&["driver"]).unwrap_err();
        assert_eq!(
            err.message,
            "Schema error for node: Additional properties are not allowed ('bogus_field' was unexpected)"
        );
    }

    #[test]
    fn types_are_checked() {
        let v = json!({"driver": 5, "maintenance": "yes", "uuid": "nope"});
        let obj = Obj::new("node", &v).unwrap();
        assert_eq!(
            obj.required_str("driver").unwrap_err().message,
            "Schema error for node: 5 is not of type 'string'"
        );
        assert_eq!(obj.opt_bool("maintenance").unwrap(), Some(true));
        assert!(obj.opt_uuid("uuid").is_err());
        assert!(Obj::new("node", &json!([1])).is_err());
    }
}
