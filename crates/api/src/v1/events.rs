//! `POST /v1/events` (1.54): port binding events from the networking
//! service (networking-baremetal). Ironic validates and logs them and does
//! nothing else; Ferrite does the same, so Neutron deployments that send
//! them keep working, and every malformed event is a 400 naming the problem.

use axum::Router;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::routing::post;
use ferrite_model::ident::{normalize_mac, parse_uuid};
use serde_json::{Map, Value};

use super::schema::expected_uuid;
use crate::App;
use crate::protocol::body::show;
use crate::protocol::{ApiError, ApiResult, ApiVersion, JsonBody, Obj};

/// The event types the networking service sends.
pub const NETWORK_EVENTS: &[&str] = &[
    "network.bind_port",
    "network.unbind_port",
    "network.delete_port",
];

/// Keys of one network event; the first four are required.
const EVENT_KEYS: &[&str] = &[
    "event",
    "port_id",
    "mac_address",
    "status",
    "device_id",
    "binding:host_id",
    "binding:vnic_type",
];

/// How many of [`EVENT_KEYS`] every event must carry.
const REQUIRED_KEYS: usize = 4;

/// How messages name one event ("Schema error for event: …").
const WHAT: &str = "event";

/// The routes of this endpoint, relative to `/v1`.
pub fn routes() -> Router<App> {
    Router::new().route("/events", post(receive))
}

/// `POST /v1/events`: validates the batch, logs each event, answers 204.
pub async fn receive(
    Extension(version): Extension<ApiVersion>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    if !version.at_least(54) {
        return Err(ApiError::endpoint_not_found());
    }
    let events = parse(&body)?;
    for e in &events {
        let text = |key: &str| e.get(key).and_then(Value::as_str).unwrap_or("");
        tracing::info!(
            event = text("event"),
            port_id = text("port_id"),
            mac_address = text("mac_address"),
            status = text("status"),
            device_id = text("device_id"),
            host_id = text("binding:host_id"),
            vnic_type = text("binding:vnic_type"),
            "received external event"
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the body `{events: [≥1 event]}` and returns the events.
pub fn parse(body: &Value) -> ApiResult<Vec<Map<String, Value>>> {
    let obj = Obj::new("events", body)?;
    obj.only(&["events"])?;
    let items = match obj.map().get("events") {
        None => return Err(obj.error("'events' is a required property")),
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(obj.error("[] is too short"));
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(obj.type_error(other, "array")),
    };
    items.iter().map(check_event).collect()
}

/// Checks one network event.
fn check_event(value: &Value) -> ApiResult<Map<String, Value>> {
    let event = Obj::new(WHAT, value)?;
    event.only(EVENT_KEYS)?;
    for key in &EVENT_KEYS[..REQUIRED_KEYS] {
        event.required_str(key)?;
    }
    for key in &EVENT_KEYS[REQUIRED_KEYS..] {
        event.opt_str(key, 255)?;
    }
    let kind = event.required_str("event")?;
    if !NETWORK_EVENTS.contains(&kind) {
        let allowed: Vec<String> = NETWORK_EVENTS.iter().map(|e| format!("'{e}'")).collect();
        return Err(event.error(format!(
            "{} is not one of [{}]",
            show(&Value::String(kind.to_string())),
            allowed.join(", ")
        )));
    }
    for key in ["port_id", "device_id", "binding:host_id"] {
        if let Some(id) = event.opt_str(key, 255)?
            && parse_uuid(id).is_none()
        {
            return Err(expected_uuid(key, &Value::String(id.to_string())));
        }
    }
    let mac = event.required_str("mac_address")?;
    if normalize_mac(mac).is_none() {
        return Err(ApiError::bad_request(format!(
            "Expected a MAC address but received {mac}."
        )));
    }
    Ok(event.map().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "event": "network.bind_port",
            "port_id": "11111111-2222-3333-4444-555555555555",
            "mac_address": "52:54:00:aa:bb:cc",
            "status": "ACTIVE",
            "device_id": null,
            "binding:host_id": "66666666-7777-8888-9999-000000000000",
            "binding:vnic_type": "baremetal",
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut e = event();
        e[key] = value;
        json!({"events": [e]})
    }

    #[test]
    fn good_events_pass() {
        assert_eq!(parse(&json!({"events": [event()]})).unwrap().len(), 1);
        let minimal = json!({"events": [{"event": "network.delete_port",
            "port_id": "11111111-2222-3333-4444-555555555555",
            "mac_address": "52:54:00:aa:bb:cc", "status": "DOWN"}]});
        assert!(parse(&minimal).is_ok());
    }

    #[test]
    fn bad_events_are_named() {
        let msg = |body: Value| parse(&body).unwrap_err().message;
        assert!(msg(json!({})).contains("'events' is a required property"));
        assert!(msg(json!({"events": []})).contains("is too short"));
        assert!(msg(json!({"events": {}})).contains("not of type 'array'"));
        assert!(msg(json!({"events": [event()], "x": 1})).contains("'x' was unexpected"));
        assert!(msg(with("event", json!("network.fly"))).contains("'network.fly' is not one of"));
        assert_eq!(
            msg(with("port_id", json!("nope"))),
            "Expected UUID for port_id: nope"
        );
        assert!(msg(with("mac_address", json!("zz"))).contains("MAC address"));
        assert!(msg(with("status", json!(1))).contains("not of type 'string'"));
        assert!(msg(with("bogus", json!(1))).contains("'bogus' was unexpected"));
        assert!(msg(with("device_id", json!("x"))).contains("device_id"));
        let mut missing = event();
        missing.as_object_mut().map(|m| m.remove("status"));
        assert!(msg(json!({"events": [missing]})).contains("'status' is a required property"));
    }
}
