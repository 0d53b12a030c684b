//! Ironic's error format. Every failure leaves the API as
//! `{"error_message": "<JSON string>"}`, the inner document holding
//! `faultcode`, `faultstring` and `debuginfo`; clients parse both layers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrite_conductor::CallError;
use ferrite_store::StoreError;
use serde_json::json;

/// An error answered to the client, with the status Ironic uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Any status with a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400: the request is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 404: the resource (or endpoint at this version) does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 406: the request uses something newer than its microversion.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, message)
    }
    /// 409: conflicts, including a locked node.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    /// 409 NodeLocked, worded as Ironic words it.
    pub fn node_locked(node: impl std::fmt::Display, host: &str) -> Self {
        Self::conflict(format!(
            "Node {node} is locked by host {host}, please retry after the current operation is completed."
        ))
    }
    /// 404 for an endpoint that exists only from a later microversion.
    pub fn endpoint_not_found() -> Self {
        Self::not_found("The resource could not be found.")
    }
    /// 400 naming a schema violation of resource `what`.
    pub fn schema(what: &str, detail: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Schema error for {what}: {detail}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let inner = if self.status == StatusCode::NOT_ACCEPTABLE {
            // Ironic's version-negotiation middleware answers 406 in the
            // webob shape; clients only read the description.
            json!({
                "code": 406,
                "title": "Not Acceptable",
                "description": self.message,
            })
        } else {
            json!({
                "faultcode": if self.status.is_server_error() { "Server" } else { "Client" },
                "faultstring": self.message,
                "debuginfo": null,
            })
        };
        let body = json!({ "error_message": inner.to_string() }).to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => ApiError::not_found(err.to_string()),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Trimmed { .. } => ApiError::new(StatusCode::GONE, err.to_string()),
            StoreError::Db(_) | StoreError::Corrupt(_) => {
                tracing::error!(error = %err, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is temporarily unavailable; retry later.",
                )
            }
        }
    }
}

impl From<CallError> for ApiError {
    fn from(err: CallError) -> Self {
        let message = err.to_string();
        match err {
            CallError::NodeLocked { .. } => ApiError::conflict(message),
            CallError::Invalid(_) | CallError::Driver(_) => ApiError::bad_request(message),
            CallError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
            CallError::NotFound(_) => ApiError::not_found(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_are_double_encoded() {
        let response = ApiError::bad_request("nope").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let outer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let inner: serde_json::Value =
            serde_json::from_str(outer["error_message"].as_str().unwrap()).unwrap();
        assert_eq!(
            inner,
            json!({"faultcode": "Client", "faultstring": "nope", "debuginfo": null})
        );
    }
}
