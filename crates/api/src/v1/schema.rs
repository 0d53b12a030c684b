//! Field checks for whole documents, with jsonschema-style messages
//! ("Schema error for port: …"). Resources call these from their
//! `validate` so create and PATCH accept exactly the same documents.

use ferrite_model::ident::{is_valid_name, normalize_mac, parse_uuid};
use serde_json::{Map, Value, json};

use crate::protocol::body::{parse_bool, show};
use crate::protocol::{ApiError, ApiResult};

/// Ironic's message for a malformed UUID.
pub fn expected_uuid(key: &str, value: &Value) -> ApiError {
    let shown = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    ApiError::bad_request(format!("Expected UUID for {key}: {shown}"))
}

/// A document under validation, named for messages.
pub struct Doc<'a> {
    pub what: &'a str,
    pub map: Map<String, Value>,
}

impl<'a> Doc<'a> {
    /// Starts validating `map` as a `what`.
    pub fn new(what: &'a str, map: Map<String, Value>) -> Self {
        Doc { what, map }
    }

    /// A 400 about this document.
    pub fn error(&self, detail: impl std::fmt::Display) -> ApiError {
        ApiError::schema(self.what, detail)
    }

    fn type_error(&self, key: &str, value: &Value, expected: &str) -> ApiError {
        self.error(format!(
            "{} is not of type '{expected}' for '{key}'",
            show(value)
        ))
    }

    /// A string (nullable unless `required`) of at most `max` characters.
    pub fn string(&mut self, key: &str, max: usize, required: bool) -> ApiResult<Option<String>> {
        match self.map.get(key) {
            None | Some(Value::Null) if required => {
                Err(self.error(format!("'{key}' is a required property")))
            }
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(s)) => Err(self.error(format!(
                "'{s}' is too long (at most {max} characters) for '{key}'"
            ))),
            Some(v) => Err(self.type_error(key, v, "string")),
        }
    }

    /// A logical name (RFC 3986 unreserved characters, not a UUID).
    pub fn name(&mut self, key: &str) -> ApiResult<()> {
        if let Some(name) = self.string(key, 255, false)?
            && !is_valid_name(&name)
        {
            return Err(ApiError::bad_request(format!(
                "Expected a logical name but received {name}."
            )));
        }
        Ok(())
    }

    /// A canonical UUID (nullable unless `required`).
    pub fn uuid(&mut self, key: &str, required: bool) -> ApiResult<()> {
        match self.map.get(key) {
            None | Some(Value::Null) if required => {
                Err(self.error(format!("'{key}' is a required property")))
            }
            None | Some(Value::Null) => Ok(()),
            Some(v) if v.as_str().and_then(parse_uuid).is_some() => Ok(()),
            Some(v) => Err(expected_uuid(key, v)),
        }
    }

    /// A MAC address, normalised to lower-case colon form.
    pub fn mac(&mut self, key: &str, required: bool) -> ApiResult<()> {
        let Some(address) = self.string(key, 17 * 2, required)? else {
            return Ok(());
        };
        let mac = normalize_mac(&address).ok_or_else(|| {
            ApiError::bad_request(format!("Expected a MAC address but received {address}."))
        })?;
        self.map.insert(key.into(), json!(mac));
        Ok(())
    }

    /// A boolean (boolean-like strings accepted); null becomes `default`.
    pub fn boolean(&mut self, key: &str, default: Option<bool>) -> ApiResult<()> {
        let value = match self.map.get(key) {
            None => return Ok(()),
            Some(Value::Null) => default.map_or(Value::Null, Value::Bool),
            Some(v) => {
                Value::Bool(parse_bool(v).ok_or_else(|| self.type_error(key, v, "boolean"))?)
            }
        };
        self.map.insert(key.into(), value);
        Ok(())
    }

    /// An object; null becomes `{}`.
    pub fn dict(&mut self, key: &str) -> ApiResult<()> {
        match self.map.get(key) {
            None | Some(Value::Object(_)) => Ok(()),
            Some(Value::Null) => {
                self.map.insert(key.into(), json!({}));
                Ok(())
            }
            Some(v) => Err(self.type_error(key, v, "object")),
        }
    }

    /// An integer.
    pub fn integer(&mut self, key: &str, required: bool) -> ApiResult<()> {
        match self.map.get(key) {
            None | Some(Value::Null) if required => {
                Err(self.error(format!("'{key}' is a required property")))
            }
            None | Some(Value::Null) => Ok(()),
            Some(v) if v.is_i64() => Ok(()),
            Some(v) => Err(self.type_error(key, v, "integer")),
        }
    }

    /// Decodes the checked document.
    pub fn decode<T: serde::de::DeserializeOwned>(self) -> ApiResult<T> {
        let what = self.what.to_string();
        serde_json::from_value(Value::Object(self.map)).map_err(|e| ApiError::schema(&what, e))
    }
}
