//! `EventService` and its `Subscriptions` (EventDestination) collection:
//! enabled unless the simulator was started without it, in which case the
//! service reads `ServiceEnabled: false` and refuses subscriptions, as a
//! BMC without eventing does.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    AppState, RfError, RfResult, collection, json_response, link, no_content, ok, parse_object,
    required_str, type_error,
};
use crate::events::Subscription;

const SERVICE: &str = "/redfish/v1/EventService";
const SUBSCRIPTIONS: &str = "/redfish/v1/EventService/Subscriptions";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(SERVICE, get(event_service))
        .route(SUBSCRIPTIONS, get(subscriptions).post(subscribe))
        .route(
            "/redfish/v1/EventService/Subscriptions/{sid}",
            get(subscription).delete(unsubscribe),
        )
}

async fn event_service(State(fleet): State<AppState>) -> RfResult {
    let enabled = fleet.config().event_service;
    ok(json!({
        "@odata.id": SERVICE,
        "@odata.type": "#EventService.v1_7_0.EventService",
        "Id": "EventService",
        "Name": "Event Service",
        "ServiceEnabled": enabled,
        "DeliveryRetryAttempts": 0,
        "EventFormatTypes": ["Event"],
        "Status": {"State": if enabled { "Enabled" } else { "Disabled" }, "Health": "OK"},
        "Subscriptions": link(SUBSCRIPTIONS),
    }))
}

fn path_of(s: &Subscription) -> String {
    format!("{SUBSCRIPTIONS}/{}", s.id)
}

fn doc(s: &Subscription) -> Value {
    json!({
        "@odata.id": path_of(s),
        "@odata.type": "#EventDestination.v1_7_0.EventDestination",
        "Id": s.id.to_string(),
        "Name": format!("Subscription {}", s.id),
        "Destination": s.destination,
        "Context": s.context,
        "Protocol": "Redfish",
        "EventFormatType": "Event",
        "SubscriptionType": "RedfishEvent",
        "OriginResources": s.origins.iter().map(link).collect::<Vec<_>>(),
    })
}

async fn subscriptions(State(fleet): State<AppState>) -> RfResult {
    ok(collection(
        SUBSCRIPTIONS,
        "#EventDestinationCollection.EventDestinationCollection",
        "Event Subscriptions Collection",
        fleet.events.list().iter().map(path_of).collect(),
    ))
}

fn find(fleet: &AppState, sid: &str) -> Result<Subscription, RfError> {
    let id: u64 = sid.parse().map_err(|_| RfError::not_found())?;
    fleet
        .events
        .list()
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(RfError::not_found)
}

async fn subscription(State(fleet): State<AppState>, Path(sid): Path<String>) -> RfResult {
    ok(doc(&find(&fleet, &sid)?))
}

async fn unsubscribe(State(fleet): State<AppState>, Path(sid): Path<String>) -> RfResult {
    let s = find(&fleet, &sid)?;
    fleet.events.remove(s.id);
    no_content()
}

/// Creates a subscription: `Destination` (an http(s) URL) is required;
/// `Context` and `OriginResources` (links to systems) are optional.
async fn subscribe(State(fleet): State<AppState>, body: Bytes) -> RfResult {
    if !fleet.config().event_service {
        return Err(RfError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Base.1.8.ServiceDisabled",
            "The EventService is disabled.",
        ));
    }
    let req = parse_object(&body)?;
    let destination = required_str(&req, "Destination")?;
    if !(destination.starts_with("http://") || destination.starts_with("https://")) {
        return Err(RfError::value_not_in_list(
            "Destination",
            &json!(destination),
        ));
    }
    if let Some(p) = req.get("Protocol")
        && p.as_str() != Some("Redfish")
    {
        return Err(RfError::value_not_in_list("Protocol", p));
    }
    let context = match req.get("Context") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(c)) => c.clone(),
        Some(v) => return Err(type_error("Context", v)),
    };
    let mut origins = Vec::new();
    if let Some(list) = req.get("OriginResources") {
        let items = list
            .as_array()
            .ok_or_else(|| type_error("OriginResources", list))?;
        for item in items {
            let path = item
                .get("@odata.id")
                .and_then(Value::as_str)
                .ok_or_else(|| type_error("OriginResources", item))?;
            let system = path
                .strip_prefix("/redfish/v1/Systems/")
                .and_then(|id| fleet.resolve(id))
                .ok_or_else(|| RfError::value_not_in_list("OriginResources", item))?;
            origins.push(fleet.system_path(system));
        }
    }
    let sub = fleet
        .events
        .add(destination.to_string(), context, origins)
        .ok_or_else(|| RfError::conflict("The EventService holds no more subscriptions."))?;
    let mut resp = json_response(StatusCode::CREATED, &doc(&sub));
    if let Ok(v) = HeaderValue::from_str(&path_of(&sub)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}
