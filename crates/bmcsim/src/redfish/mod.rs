//! The Redfish resource tree, as axum routes over the shared [`Fleet`].
//!
//! Handlers see already-authenticated, fault-free requests with trailing
//! slashes removed (the front door in [`crate::server`] does that), and
//! answer with Redfish JSON: `@odata.id` / `@odata.type` on every resource
//! and the standard `error` object with `@Message.ExtendedInfo` on failure.

mod bios;
mod events;
mod hardware;
mod managers;
mod service;
mod storage;
mod systems;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::fleet::{Fleet, FleetError};

/// Router state: the fleet.
pub(crate) type AppState = Arc<Fleet>;

/// Every Redfish route.
pub(crate) fn router(fleet: AppState) -> Router {
    Router::new()
        .merge(service::routes())
        .merge(systems::routes())
        .merge(bios::routes())
        .merge(hardware::routes())
        .merge(storage::routes())
        .merge(events::routes())
        .merge(managers::routes())
        .fallback(|| async { RfError::not_found() })
        .method_not_allowed_fallback(|| async {
            RfError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Base.1.8.OperationNotAllowed",
                "The HTTP method is not allowed on this resource.",
            )
        })
        .with_state(fleet)
}

/// A Redfish error response.
#[derive(Debug, Clone)]
pub(crate) struct RfError {
    status: StatusCode,
    id: &'static str,
    message: String,
}

impl RfError {
    pub fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> RfError {
        RfError {
            status,
            id,
            message: message.into(),
        }
    }

    pub fn not_found() -> RfError {
        RfError::new(
            StatusCode::NOT_FOUND,
            "Base.1.8.ResourceMissingAtURI",
            "The resource at the URI was not found.",
        )
    }

    pub fn bad_request(id: &'static str, message: impl Into<String>) -> RfError {
        RfError::new(StatusCode::BAD_REQUEST, id, message)
    }

    pub fn value_not_in_list(property: &str, value: &Value) -> RfError {
        RfError::bad_request(
            "Base.1.8.PropertyValueNotInList",
            format!(
                "The value {value} for the property {property} is not in the list of acceptable values."
            ),
        )
    }

    pub fn conflict(message: impl Into<String>) -> RfError {
        RfError::new(StatusCode::CONFLICT, "Base.1.8.ResourceInUse", message)
    }

    /// The JSON error document.
    pub fn body(&self) -> Value {
        error_body(self.id, &self.message)
    }
}

/// The standard Redfish error object.
pub(crate) fn error_body(id: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": id,
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": id,
                "Message": message,
                "Severity": "Warning",
                "Resolution": "See the message and correct the request.",
            }]
        }
    })
}

impl From<FleetError> for RfError {
    fn from(e: FleetError) -> RfError {
        match e {
            FleetError::UnknownSystem(_) => RfError::not_found(),
            FleetError::NotPoweredOn(_) => RfError::conflict(e.to_string()),
            FleetError::BadOobState(_) => {
                RfError::bad_request("Base.1.8.PropertyValueNotInList", e.to_string())
            }
        }
    }
}

impl IntoResponse for RfError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, &self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"bmcsim\""),
            );
        }
        resp
    }
}

/// Handler result.
pub(crate) type RfResult = Result<Response, RfError>;

/// A JSON response with Redfish's headers.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    resp
}

/// 200 with a JSON resource.
pub(crate) fn ok(body: Value) -> RfResult {
    Ok(json_response(StatusCode::OK, &body))
}

/// 204, how sushy-tools answers successful actions and PATCHes.
pub(crate) fn no_content() -> RfResult {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert("OData-Version", HeaderValue::from_static("4.0"));
    Ok(resp)
}

/// Decodes a JSON request body, answering `MalformedJSON` when it is not.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, RfError> {
    serde_json::from_slice(body).map_err(|e| {
        RfError::bad_request(
            "Base.1.8.MalformedJSON",
            format!("The request body submitted was malformed JSON and could not be parsed: {e}"),
        )
    })
}

/// Decodes a JSON object body.
pub(crate) fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, RfError> {
    match parse_body::<Value>(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(RfError::bad_request(
            "Base.1.8.MalformedJSON",
            "The request body must be a JSON object.",
        )),
    }
}

/// Looks a system up by the id in its URL.
pub(crate) fn system(fleet: &Fleet, id: &str) -> Result<usize, RfError> {
    fleet.inventory().resolve(id).ok_or_else(RfError::not_found)
}

/// A `{"@odata.id": ...}` link.
pub(crate) fn link(path: impl Into<String>) -> Value {
    json!({ "@odata.id": path.into() })
}

/// A resource collection document.
pub(crate) fn collection(
    odata_id: &str,
    odata_type: &str,
    name: &str,
    members: Vec<String>,
) -> Value {
    json!({
        "@odata.id": odata_id,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members.into_iter().map(link).collect::<Vec<_>>(),
    })
}

/// The usual healthy `Status`.
pub(crate) fn status_ok() -> Value {
    json!({"State": "Enabled", "Health": "OK", "HealthRollup": "OK"})
}

/// `PropertyMissing` for `name`.
pub(crate) fn property_missing(name: &str) -> RfError {
    RfError::bad_request(
        "Base.1.8.PropertyMissing",
        format!("The property {name} is a required property and must be included in the request."),
    )
}

/// A required property, or Redfish's missing-property error.
pub(crate) fn required<'a>(
    map: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'a Value, RfError> {
    map.get(name).ok_or_else(|| property_missing(name))
}

/// A required string property, with Redfish's missing/type errors.
pub(crate) fn required_str<'a>(
    map: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'a str, RfError> {
    let v = required(map, name)?;
    v.as_str().ok_or_else(|| type_error(name, v))
}

/// `PropertyValueTypeError` for `name`.
pub(crate) fn type_error(name: &str, v: &Value) -> RfError {
    RfError::bad_request(
        "Base.1.8.PropertyValueTypeError",
        format!(
            "The value {v} for the property {name} is of a different type than the property can accept."
        ),
    )
}

/// Maps a string property onto a Redfish enumeration.
pub(crate) fn enum_value<T: std::str::FromStr>(name: &str, v: &Value) -> Result<T, RfError> {
    let s = v.as_str().ok_or_else(|| type_error(name, v))?;
    s.parse::<T>()
        .map_err(|_| RfError::value_not_in_list(name, v))
}
