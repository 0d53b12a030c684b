//! Redfish EventService subscriptions for one node: the conductor keeps
//! one per node whose BMC offers an enabled EventService, so a power
//! change reaches Ferrite when it happens instead of at the next poll.
//! Each subscription names the node's system in `OriginResources` (a BMC
//! serving several systems sends only that system's events) and carries
//! a `Context` the receiver checks, so events nobody subscribed to are
//! refused.

use ferrite_model::Node;
use serde::Deserialize;
use serde_json::json;

use super::client::{BmcClient, BmcClientExt, BmcError, HttpMethod};
use super::resources::ODataId;
use super::{connect, connect_system};
use crate::DriverError;

/// The service root's link to the EventService.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Root {
    event_service: Option<ODataId>,
}

/// What the EventService says about itself.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct EventService {
    service_enabled: Option<bool>,
    subscriptions: Option<ODataId>,
}

/// A subscription as the BMC lists it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Destination {
    destination: Option<String>,
}

/// The Subscriptions collection of the BMC, when it has an EventService
/// with `ServiceEnabled: true`; `None` otherwise (no events, keep polling).
async fn subscriptions_path(client: &dyn BmcClient) -> Result<Option<String>, DriverError> {
    let root: Root = client.get_as("/redfish/v1/").await?;
    let Some(service) = root.event_service else {
        return Ok(None);
    };
    let doc: EventService = client.get_as(&service.id).await?;
    if doc.service_enabled != Some(true) {
        return Ok(None);
    }
    Ok(Some(doc.subscriptions.map_or_else(
        || format!("{}/Subscriptions", service.id.trim_end_matches('/')),
        |s| s.id,
    )))
}

/// Subscribes `destination` to the events of the node's system with
/// `context` as the shared secret. Returns the new subscription's path,
/// or `None` when the BMC has no enabled EventService.
pub async fn subscribe(
    node: &Node,
    destination: &str,
    context: &str,
) -> Result<Option<String>, DriverError> {
    let (_, client, system) = connect_system(node).await?;
    let Some(collection) = subscriptions_path(&*client).await? else {
        return Ok(None);
    };
    let body = json!({
        "Destination": destination,
        "Context": context,
        "Protocol": "Redfish",
        "EventFormatType": "Event",
        "OriginResources": [{"@odata.id": system}],
    });
    let response = client.post(&collection, &body).await?;
    let path = response
        .location
        .or_else(|| {
            response
                .body
                .as_ref()
                .and_then(|b| b.get("@odata.id"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            DriverError::Failed(format!(
                "The BMC at {} created an event subscription but did not say where.",
                client.address()
            ))
        })?;
    Ok(Some(path))
}

/// The paths of every subscription on the node's BMC, or `None` when it
/// has no enabled EventService: one request tells which of a host's
/// subscriptions the BMC still has (one that restarts or is reset to
/// defaults forgets them).
pub async fn subscriptions(node: &Node) -> Result<Option<Vec<String>>, DriverError> {
    let (_, client) = connect(node)?;
    match subscriptions_path(&*client).await? {
        Some(collection) => Ok(Some(client.members(&collection).await?)),
        None => Ok(None),
    }
}

/// The subscriptions on the node's BMC whose `Destination` satisfies
/// `stale` (left behind by an earlier run of the subscriber).
pub async fn find_subscriptions(
    node: &Node,
    stale: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<String>, DriverError> {
    let (_, client) = connect(node)?;
    let Some(collection) = subscriptions_path(&*client).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for member in client.members(&collection).await? {
        let doc: Destination = client.get_as(&member).await?;
        if doc.destination.as_deref().is_some_and(stale) {
            out.push(member);
        }
    }
    Ok(out)
}

/// Removes the subscription at `path` from the BMC `node` describes (the
/// node as it was when it subscribed); one already gone is fine.
pub async fn unsubscribe(node: &Node, path: &str) -> Result<(), DriverError> {
    let (_, client) = connect(node)?;
    match client.request(HttpMethod::Delete, path, None).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(404) => Ok(()),
        Err(e) => Err(DriverError::from(e as BmcError)),
    }
}
