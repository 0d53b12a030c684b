//! Vendor passthru (base version): driver-specific methods reached through
//! the API, on a node or on a driver.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrite_conductor::DriverCall;
use serde_json::{Value, json};

use super::node_ctx::NodeCtx;
use crate::App;
use crate::protocol::{ApiError, ApiResult, JsonBody, Params};

fn method_param(query: Option<&str>) -> ApiResult<String> {
    Params::parse(query)
        .get("method")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("Missing argument: \"method\"."))
}

/// `GET /v1/nodes/{node}/vendor_passthru/methods`.
pub async fn node_methods(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(
        app.conductor
            .call(node.uuid, DriverCall::VendorMethods)
            .await?,
    ))
}

/// `<ANY> /v1/nodes/{node}/vendor_passthru?method=…`: 200 with the result
/// for synchronous methods, 202 for asynchronous ones.
pub async fn node_call(
    NodeCtx { app, node, .. }: NodeCtx,
    method: Method,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let name = method_param(query.as_deref())?;
    let args = if body.is_null() { json!({}) } else { body };
    let call = DriverCall::VendorPassthru {
        method: name,
        http_method: method.to_string(),
        args,
    };
    let answer = app.conductor.call(node.uuid, call).await?;
    let result = answer.get("return").cloned().unwrap_or(Value::Null);
    let status = if answer
        .get("async")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)).into_response())
}

/// `GET /v1/drivers/{name}/vendor_passthru/methods`: no hardware type in
/// this build offers driver-level methods.
pub async fn driver_methods(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    super::drivers::find(&app, &name)?;
    Ok(Json(json!({})))
}

/// `<ANY> /v1/drivers/{name}/vendor_passthru?method=…`.
pub async fn driver_call(
    State(app): State<App>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    super::drivers::find(&app, &name)?;
    let method = method_param(query.as_deref())?;
    Err(ApiError::bad_request(format!(
        "Unsupported method ({method}) passed through to vendor extension."
    )))
}
